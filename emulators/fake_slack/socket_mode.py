"""Socket Mode: apps.connections.open, the WebSocket, envelopes sent and acks awaited."""

from __future__ import annotations

import asyncio
import json
import secrets
import urllib.parse
from typing import Any

from aiohttp import WSMsgType, web

from emulators.fake_slack.records import SLACK_ACK_SECONDS, SignedRequest, _Socket
from emulators.fake_slack.state import SlackState
from emulators.fake_slack.wire import _ok


class SocketMode(SlackState):
    """apps.connections.open and the Socket Mode connection, from Slack's side."""

    async def _m_apps_connections_open(self, _params: dict[str, Any]) -> web.Response:
        return _ok(url=f"ws://127.0.0.1:{self._port}/socket-mode")

    async def wait_for_socket(self, connections: int = 1, wait_seconds: float = 5.0) -> None:
        """Wait until the app has opened `connections` Socket Mode connections in all."""
        async with asyncio.timeout(wait_seconds), self._socket_ready:
            await self._socket_ready.wait_for(
                lambda: self.socket_connections >= connections and bool(self._sockets)
            )

    async def drop_sockets(self) -> None:
        """Close every Socket Mode connection from Slack's side (the app should reconnect)."""
        for sock in list(self._sockets):
            await sock.ws.close()

    async def socket_dispatch(
        self, kind: str, payload: dict[str, Any], ack_seconds: float = SLACK_ACK_SECONDS
    ) -> dict[str, Any]:
        """Send an envelope (`slash_commands`, `interactive`) and return the app's ack payload."""
        await self.wait_for_socket()
        sock = self._sockets[-1]
        envelope_id = secrets.token_hex(8)
        future: asyncio.Future[dict[str, Any]] = asyncio.get_running_loop().create_future()
        sock.acks[envelope_id] = future
        await sock.ws.send_json(
            {
                "envelope_id": envelope_id,
                "type": kind,
                "payload": payload,
                "accepts_response_payload": True,
                "retry_attempt": 0,
                "retry_reason": "",
            }
        )
        async with asyncio.timeout(ack_seconds):
            ack = await future
        self._check_ack("socket ack", ack)
        return ack

    async def socket_send(self, request: SignedRequest) -> dict[str, Any]:
        """Send what `slash_command` / `view_submission` built over Socket Mode; return the ack."""
        form = dict(urllib.parse.parse_qsl(request.body.decode()))
        if "payload" in form:
            return await self.socket_dispatch("interactive", json.loads(form["payload"]))
        return await self.socket_dispatch("slash_commands", form)

    async def _socket(self, request: web.Request) -> web.WebSocketResponse:
        ws = web.WebSocketResponse()
        await ws.prepare(request)
        sock = _Socket(ws)
        self._sockets.append(sock)
        self.socket_connections += 1
        await ws.send_json(
            {"type": "hello", "num_connections": 1, "connection_info": {"app_id": "A0FAKE"}}
        )
        async with self._socket_ready:
            self._socket_ready.notify_all()
        try:
            async for message in ws:
                if message.type != WSMsgType.TEXT:
                    continue
                data = json.loads(message.data)
                future = sock.acks.pop(str(data.get("envelope_id")), None)
                if future is not None and not future.done():
                    future.set_result(data.get("payload") or {})
        finally:
            self._sockets.remove(sock)
        return ws
