"""Run the bot until told to stop: HTTP mode or Socket Mode, with a graceful shutdown.

Both modes build the same `Runtime`, start the task tracker, check the bot
token with `auth.test` (for /readyz), serve until SIGTERM or SIGINT, then drain
in-flight work (bounded by SHUTDOWN_GRACE_SECONDS) and close.
"""

from __future__ import annotations

import asyncio
import socket
from collections.abc import Callable
from typing import Final

from aiohttp import web

from bot.bootstrap import build_runtime, run_until_stopped, start_http_runtime
from bot.entrypoints.socket import run_socket_mode
from bot.health import create_ops_app
from bot.settings import Settings

# On every answer of a worker process (WEB_CONCURRENCY > 1): which one answered.
WORKER_HEADER: Final = "X-Bot-Worker"


async def run_http(
    settings: Settings,
    host: str,
    port: int,
    *,
    sock: socket.socket | None = None,
    worker: int | None = None,
) -> None:
    """Serve Slack's requests and the operations routes over HTTP until stopped.

    As worker `worker` of `bot.entrypoints.workers` it accepts on the shared `sock`,
    names itself in `X-Bot-Worker`, and only worker 0 runs the once-per-host work.
    """
    runtime = await build_runtime(settings)
    runtime.start_background(run_once=worker in (None, 0))
    await runtime.check_slack()
    server = await start_http_runtime(
        runtime, host, port, sock=sock, configure=None if worker is None else _named(worker)
    )

    async def serving() -> None:
        try:
            await asyncio.Event().wait()
        finally:
            await server.close()

    await run_until_stopped(runtime, serving)


def _named(worker: int) -> Callable[[web.Application], None]:
    value = str(worker)

    async def name(_request: web.Request, response: web.StreamResponse) -> None:
        response.headers[WORKER_HEADER] = value

    def configure(application: web.Application) -> None:
        application.on_response_prepare.append(name)

    return configure


async def run_socket(settings: Settings, host: str, port: int) -> None:
    """Serve over Socket Mode; /healthz, /readyz and /metrics stay on HTTP at `port`."""
    assert settings.SLACK_APP_TOKEN is not None  # checked by load_settings(["slack_socket"])
    runtime = await build_runtime(settings, socket_mode=True)
    runtime.start_background()
    await runtime.check_slack()
    ops = web.AppRunner(
        create_ops_app(runtime.readiness_checks(), runtime.metrics, runtime.lifecycle),
        handle_signals=False,
        access_log=None,
    )
    await ops.setup()
    await web.TCPSite(ops, host, port).start()
    app_token = settings.SLACK_APP_TOKEN.get_secret_value()

    async def serving() -> None:
        await run_socket_mode(runtime.app, app_token)

    try:
        await run_until_stopped(runtime, serving, stop_serving_first=True)
    finally:
        await ops.cleanup()  # /healthz answers 503 through the drain, then goes
