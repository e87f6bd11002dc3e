"""`hss-export-bot serve | socket | start | demo`: run the bot.

- `serve`: HTTP mode, Slack's requests on `POST /slack/events` at `0.0.0.0:$PORT`, in
  WEB_CONCURRENCY worker processes (default: one per CPU; `bot.entrypoints.workers`).
- `socket`: Socket Mode (no public URL); `/healthz`, `/readyz`, `/metrics` still on `$PORT`.
- `start`: what `./dev run` calls: Socket Mode when `SLACK_APP_TOKEN` is set, HTTP mode
  when only the signing secret is, and the local demo when no credential is set at all.
- `demo`: the local demo, whatever is configured.
"""

from __future__ import annotations

import argparse
import asyncio
import socket
from collections.abc import Iterable
from typing import Any

from bot.settings import Settings, Use, load_settings


def register(sub: Any) -> None:
    """Add `serve`, `socket`, `start` and `demo` to the parser."""
    serve = sub.add_parser("serve", help="run in HTTP mode (POST /slack/events on $PORT)")
    serve.add_argument("--host", default="0.0.0.0", help="address to bind (default 0.0.0.0)")  # noqa: S104
    serve.add_argument("--port", type=int, default=None, help="port (default $PORT or 3000)")
    serve.set_defaults(handler=_serve)

    socket = sub.add_parser("socket", help="run in Socket Mode (needs SLACK_APP_TOKEN)")
    socket.add_argument("--host", default="0.0.0.0", help="address for /healthz and /metrics")  # noqa: S104
    socket.add_argument("--port", type=int, default=None, help="ops port (default $PORT or 3000)")
    socket.set_defaults(handler=_socket)

    start = sub.add_parser(
        "start", help="Socket Mode or HTTP mode from .env; the local demo without credentials"
    )
    start.set_defaults(handler=_start)

    demo = sub.add_parser("demo", help="run the local demo against loopback HSS and Slack fakes")
    demo.add_argument("--keep", action="store_true", help="keep serving after the demo commands")
    demo.set_defaults(handler=_demo)


def _serve(args: argparse.Namespace) -> int:
    settings = _load(["hss", "slack_http"])
    from bot.entrypoints.runner import run_http  # lazy: `export` and `--help` stay light
    from bot.entrypoints.workers import available_cpus, serve_workers

    port = args.port or settings.PORT
    count = settings.WEB_CONCURRENCY or available_cpus()
    if count == 1:
        asyncio.run(run_http(settings, args.host, port))
        return 0

    def worker(sock: socket.socket, index: int) -> int:
        asyncio.run(run_http(settings, args.host, port, sock=sock, worker=index))
        return 0

    return serve_workers(count, args.host, port, settings.SHUTDOWN_GRACE_SECONDS, worker)


def _socket(args: argparse.Namespace) -> int:
    settings = _load(["hss", "slack_socket"])
    from bot.entrypoints.runner import run_socket  # lazy: `export` and `--help` stay light

    asyncio.run(run_socket(settings, args.host, args.port or settings.PORT))
    return 0


def _start(args: argparse.Namespace) -> int:
    # Only to choose the mode: `serve` or `socket` then reads (and reports) everything.
    settings = _load([], uses=())
    if not settings.has_slack_credentials and not settings.has_hss_credentials:
        print("No Slack or HSS credentials configured: running the local demo.\n")
        return _demo(argparse.Namespace(keep=False))
    args.host, args.port = "0.0.0.0", None  # noqa: S104
    if settings.SLACK_APP_TOKEN is not None:
        return _socket(args)
    return _serve(args)


def _demo(args: argparse.Namespace) -> int:
    from bot.demo import run_demo  # lazy: only the demo needs the emulators

    return asyncio.run(run_demo(keep_serving=args.keep))


def _load(needs: list[Any], uses: Iterable[Use] | None = None) -> Settings:
    settings = load_settings(needs, uses=uses)
    from bot.observability import configure_from_settings

    configure_from_settings(settings)
    return settings
