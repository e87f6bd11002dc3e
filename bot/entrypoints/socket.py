"""Serve the Slack app over Socket Mode: no public URL, one outbound WebSocket that reconnects.

slack_sdk's Socket Mode client reconnects on its own when Slack closes the
connection, refreshes it, or pings stop coming back.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable

from slack_bolt.adapter.socket_mode.async_handler import AsyncSocketModeHandler
from slack_bolt.async_app import AsyncApp

log = logging.getLogger(__name__)


async def run_socket_mode(
    app: AsyncApp,
    app_token: str,
    *,
    stop: asyncio.Event | None = None,
    on_connected: Callable[[], Awaitable[None]] | None = None,
    ping_interval: float = 10.0,
) -> None:
    """Connect with the app-level token (xapp-…) and serve until `stop` is set or cancelled."""
    handler = AsyncSocketModeHandler(app, app_token, ping_interval=ping_interval)
    # The WebSocket goes where the Web API goes (wss-primary.slack.com beside slack.com):
    # slack_sdk reads HTTPS_PROXY but not NO_PROXY, so the Web API's decision is reused.
    handler.client.proxy = app.client.proxy
    try:
        await handler.connect_async()  # type: ignore[no-untyped-call]
        log.info("connected to Slack in Socket Mode")
        if on_connected is not None:
            await on_connected()
        await (stop if stop is not None else asyncio.Event()).wait()
    finally:
        await handler.close_async()  # type: ignore[no-untyped-call]
