"""Run the bot until told to stop: HTTP mode or Socket Mode, with a graceful shutdown.

Both modes build the same `Runtime`, start the task tracker, check the bot
token with `auth.test` (for /readyz), serve until SIGTERM or SIGINT, then drain
in-flight work (bounded by SHUTDOWN_GRACE_SECONDS) and close.
"""

from __future__ import annotations

import asyncio

from aiohttp import web

from bot.bootstrap import build_runtime, run_until_stopped, start_http_runtime
from bot.entrypoints.socket import run_socket_mode
from bot.health import create_ops_app
from bot.settings import Settings


async def run_http(settings: Settings, host: str, port: int) -> None:
    """Serve Slack's requests and the operations routes over HTTP until stopped."""
    runtime = await build_runtime(settings)
    runtime.start_background()
    await runtime.check_slack()
    server = await start_http_runtime(runtime, host, port)

    async def serving() -> None:
        try:
            await asyncio.Event().wait()
        finally:
            await server.close()

    await run_until_stopped(runtime, serving)


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
