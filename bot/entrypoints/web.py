"""Serve the Slack app over HTTP: POST /slack/events, GET /healthz, and room for more routes.

Bolt verifies each request's signature and age (401 otherwise) before any
listener runs; aiohttp refuses bodies over `max_body` bytes (413) before Bolt
sees them. Two holes in front of Bolt are closed here: a timestamp header that
is not a number gets 401 (slack_sdk's verifier would raise: a 500 and a logged
traceback for anyone who sends one), and a body Bolt cannot parse or route (not
UTF-8, a `payload` that is not a JSON object, a view without its parts) gets
400 instead of escaping as a 500. `configure(application)` adds more routes
(`bot.health.add_ops_routes` for /healthz, /readyz, /metrics); a plain /healthz
is served only if it adds none.
"""

from __future__ import annotations

import asyncio
import logging
import socket
from collections.abc import Awaitable, Callable
from typing import Final

from aiohttp import web
from slack_bolt.adapter.aiohttp import to_aiohttp_response, to_bolt_request
from slack_bolt.async_app import AsyncApp

log = logging.getLogger(__name__)

EVENTS_PATH: Final = "/slack/events"
HEALTH_PATH: Final = "/healthz"
# Slack's payloads are a few kB; a long slash text in CJK script, percent-encoded, can reach a
# few hundred kB (Slack allows 40,000 characters): let it through to get the grammar's own
# "too long" answer instead of Slack's generic error. Anything larger is not from Slack.
MAX_BODY_BYTES: Final = 512 * 1024
SHUTDOWN_TIMEOUT_SECONDS: Final = 10.0

TIMESTAMP_HEADER: Final = "X-Slack-Request-Timestamp"
# What Bolt raises on a body it cannot read: bad UTF-8 or JSON (ValueError), a payload
# that is a list (AttributeError) or lacks the keys its matchers index (LookupError).
MALFORMED: Final = (ValueError, LookupError, AttributeError, TypeError)

Configure = Callable[[web.Application], None]


def _numeric(timestamp: str | None) -> bool:
    """Tell whether a timestamp header is absent (Bolt answers 401) or an integer."""
    if timestamp is None:
        return True
    try:
        int(timestamp)
    except ValueError:
        return False
    return True


def build_web_application(
    bolt_app: AsyncApp,
    *,
    ready: Callable[[], bool] = lambda: True,
    configure: Configure | None = None,
    max_body: int = MAX_BODY_BYTES,
) -> web.Application:
    """Build the aiohttp application that hands Slack's requests to Bolt."""

    async def events(request: web.Request) -> web.Response:
        if not _numeric(request.headers.get(TIMESTAMP_HEADER)):
            return web.json_response({"error": "invalid request"}, status=401)
        try:
            bolt_response = await bolt_app.async_dispatch(await to_bolt_request(request))
        except MALFORMED as exc:
            # Raised by Bolt's own parsing and routing (listeners' errors never get here).
            log.warning("malformed Slack request refused", extra={"error_type": type(exc).__name__})
            return web.json_response({"error": "malformed request"}, status=400)
        return await to_aiohttp_response(bolt_response)

    async def healthz(_request: web.Request) -> web.Response:
        if ready():
            return web.Response(text="ok")
        return web.Response(status=503, text="not ready")

    application = web.Application(client_max_size=max_body)
    application.router.add_post(EVENTS_PATH, events)
    if configure is not None:
        configure(application)
    if not any(
        r.method == "GET" and r.resource is not None and r.resource.canonical == HEALTH_PATH
        for r in application.router.routes()
    ):
        application.router.add_get(HEALTH_PATH, healthz)
    return application


class HttpServer:
    """A running HTTP server: where it listens, and how to stop it."""

    def __init__(self, runner: web.AppRunner, host: str, port: int) -> None:
        self._runner = runner
        self.host = host
        self.port = port
        self.accepting = True

    @property
    def url(self) -> str:
        """Return the base URL (loopback when bound to every interface)."""
        host = "127.0.0.1" if self.host in ("0.0.0.0", "") else self.host  # noqa: S104
        return f"http://{host}:{self.port}"

    async def close(self) -> None:
        """Stop accepting, let requests in progress finish, release the port."""
        self.accepting = False
        await self._runner.cleanup()


async def start_http(  # noqa: PLR0913  keyword server settings
    bolt_app: AsyncApp,
    host: str = "0.0.0.0",  # noqa: S104 - a container's port is published by its runtime
    port: int = 3000,
    *,
    configure: Configure | None = None,
    max_body: int = MAX_BODY_BYTES,
    shutdown_timeout: float = SHUTDOWN_TIMEOUT_SECONDS,
    sock: socket.socket | None = None,
) -> HttpServer:
    """Start serving and return at once; port 0 picks a free port (see `HttpServer.port`).

    With `sock` (a socket bound and listening already, shared by worker processes:
    `bot.entrypoints.workers`) it accepts there instead of binding `host:port`.
    """
    server: HttpServer | None = None
    application = build_web_application(
        bolt_app,
        ready=lambda: server is not None and server.accepting,
        configure=configure,
        max_body=max_body,
    )
    runner = web.AppRunner(
        application, handle_signals=False, access_log=None, shutdown_timeout=shutdown_timeout
    )
    await runner.setup()
    site: web.BaseSite = (
        web.TCPSite(runner, host, port) if sock is None else web.SockSite(runner, sock)
    )
    await site.start()
    bound = port
    for address in runner.addresses:
        if isinstance(address, tuple):
            bound = int(address[1])
            break
    server = HttpServer(runner, host, bound)
    log.info("listening for Slack", extra={"host": host, "port": bound, "path": EVENTS_PATH})
    return server


async def serve_http(  # noqa: PLR0913  keyword server settings
    bolt_app: AsyncApp,
    host: str = "0.0.0.0",  # noqa: S104 - see start_http
    port: int = 3000,
    *,
    stop: asyncio.Event | None = None,
    configure: Configure | None = None,
    on_started: Callable[[HttpServer], Awaitable[None]] | None = None,
    max_body: int = MAX_BODY_BYTES,
    shutdown_timeout: float = SHUTDOWN_TIMEOUT_SECONDS,
) -> None:
    """Serve until `stop` is set (or the task is cancelled), then close the server."""
    server = await start_http(
        bolt_app,
        host,
        port,
        configure=configure,
        max_body=max_body,
        shutdown_timeout=shutdown_timeout,
    )
    try:
        if on_started is not None:
            await on_started(server)
        await (stop if stop is not None else asyncio.Event()).wait()
    finally:
        await server.close()
