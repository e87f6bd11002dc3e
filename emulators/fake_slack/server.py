"""`FakeSlack`: the API families on one loopback server, each call checked and recorded.

`/api/<method>` is checked against the bot token (or a running step's workflow token, or
the app token for apps.connections.open) and, if given, the bot's scopes; every call is
recorded, errors are injectable per method and channel, answers delayable per method.
"""

from __future__ import annotations

import asyncio
import contextlib
import hmac
import time
from collections.abc import Mapping
from typing import Any, Final

from aiohttp import web
from aiohttp.typedefs import Handler

from emulators.fake_slack.chat import ChatApi
from emulators.fake_slack.files import FilesApi
from emulators.fake_slack.interactions import Interactions
from emulators.fake_slack.records import Call
from emulators.fake_slack.socket_mode import SocketMode
from emulators.fake_slack.users import UsersApi
from emulators.fake_slack.views import ViewsApi
from emulators.fake_slack.wire import _bearer, _error, _ok, _params
from emulators.fake_slack.workflow import WorkflowApi

# The bot scope Slack requires for each Web API method the fake answers (None: no bot scope).
METHOD_SCOPES: Final[Mapping[str, str | None]] = {
    "chat.postMessage": "chat:write",
    "chat.postEphemeral": "chat:write",
    "chat.update": "chat:write",
    "chat.getPermalink": None,  # Slack: no scope required
    "functions.completeSuccess": None,  # Slack: no scope required
    "functions.completeError": None,
    "files.getUploadURLExternal": "files:write",
    "files.completeUploadExternal": "files:write",
    "files.info": "files:read",
    "usergroups.users.list": "usergroups:read",
    "users.info": "users:read",
    "views.open": None,
    "views.publish": None,  # Slack: no scope required
    "auth.test": None,
    "apps.connections.open": None,  # an app-level token's connections:write, not a bot scope
}


class FakeSlack(ChatApi, ViewsApi, FilesApi, UsersApi, SocketMode, WorkflowApi, Interactions):
    """Slack's Web API, response_urls, file uploads and Socket Mode, on a loopback port."""

    # --- lifecycle ---------------------------------------------------------------------

    async def start(self) -> FakeSlack:
        """Listen on a free loopback port."""
        self._stopping.clear()
        app = web.Application(middlewares=[self._busy_while_answering])
        app.router.add_route("*", "/api/{method}", self._api)
        app.router.add_post("/response/{key}", self._response_url)
        app.router.add_post("/upload/{file_id}", self._upload)
        app.router.add_get("/socket-mode", self._socket)
        self._runner = web.AppRunner(app, handle_signals=False)
        await self._runner.setup()
        server = self._runner.server
        assert server is not None  # made by setup()

        def accept() -> asyncio.Protocol:  # called once per TCP connection accepted
            self.connections += 1
            return server()

        self._listener = await asyncio.get_running_loop().create_server(accept, "127.0.0.1", 0)
        self._port = int(self._listener.sockets[0].getsockname()[1])
        return self

    def close_idle_connections(self) -> int:
        """Close every keep-alive connection now idle, as a server does after its idle timeout.

        A connection serving a call closes once it is answered. Returns how many
        connections were open.
        """
        server = self._runner.server if self._runner is not None else None
        handlers = server.connections if server is not None else []
        for handler in handlers:
            if handler in self._busy:
                handler.close()  # once the answer is written
            else:
                handler.force_close()
        return len(handlers)

    @web.middleware
    async def _busy_while_answering(
        self, request: web.Request, handler: Handler
    ) -> web.StreamResponse:
        """Note which connections are serving a call (`close_idle_connections` spares them)."""
        protocol = request.protocol
        self._busy[protocol] = self._busy.get(protocol, 0) + 1
        try:
            return await handler(request)
        finally:
            if (left := self._busy.pop(protocol) - 1) > 0:
                self._busy[protocol] = left

    async def stop(self) -> None:
        """Close Socket Mode connections and stop listening."""
        self._stopping.set()  # cut short any delayed answer, so stopping never waits on one
        for sock in list(self._sockets):
            await sock.ws.close()
        if self._listener is not None:
            self._listener.close()
        if self._runner is not None:
            await self._runner.cleanup()  # closes the connections still open
            self._runner = None
        if self._listener is not None:
            await self._listener.wait_closed()
            self._listener = None

    async def __aenter__(self) -> FakeSlack:
        return await self.start()

    async def __aexit__(self, exc_type: object, *_exc: object) -> None:
        await self.stop()
        if exc_type is None and self.check_block_kit and self.refusals:
            raise AssertionError(
                "Slack would refuse Block Kit the bot sent:\n" + "\n".join(self.refusals)
            )

    # --- the Web API -------------------------------------------------------------------

    async def _api(self, request: web.Request) -> web.StreamResponse:
        method = request.match_info["method"]
        if self._drops.get(method, 0) > 0:
            self._drops[method] -= 1
            request.protocol.force_close()  # no answer: the client sees the connection end
            return web.Response()
        return await self._answer(request, method)

    async def _answer(self, request: web.Request, method: str) -> web.StreamResponse:
        params = await _params(request)
        token = _bearer(request) or str(params.pop("token", "") or "")
        params.pop("token", None)
        self.calls.append(Call(method, params, time.time()))
        if (pause := self._delays.get(method, 0.0)) > 0:
            # Interrupted by `stop()`: a slow answer must not hold the server's shutdown.
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._stopping.wait(), pause)
        expected = self.app_token if method == "apps.connections.open" else self.bot_token
        if not token:
            return _error("not_authed")
        if not hmac.compare_digest(token, expected) and not self._workflow_token_ok(method, token):
            return _error("invalid_auth")
        if (missing := self._missing_scope(method)) is not None:
            return missing
        fault = self._fault(method, params)
        if fault is not None:
            return fault
        handler = getattr(self, "_m_" + method.replace(".", "_"), None)
        if handler is None:
            return _error("unknown_method", status=404)
        if method.startswith("functions.complete"):
            params = {**params, "_token": token}  # which token completed it is recorded
        result: web.StreamResponse = await handler(params)
        return result

    def _missing_scope(self, method: str) -> web.Response | None:
        """Answer like Slack when the bot lacks the scope `method` requires, else None."""
        needed = METHOD_SCOPES.get(method)
        if self.scopes is None or needed is None or needed in self.scopes:
            return None
        return _error("missing_scope", needed=needed, provided=",".join(self.scopes))

    def _fault(self, method: str, params: Mapping[str, Any]) -> web.Response | None:
        for fault in self._faults:
            if fault.method != method or fault.times <= 0:
                continue
            if fault.channel is not None and params.get("channel", params.get("channel_id")) != (
                fault.channel
            ):
                continue
            fault.times -= 1
            if fault.status == 429:
                headers = {"Retry-After": str(fault.retry_after or 0)}
                return _error("ratelimited", status=429, headers=headers)
            if fault.status >= 500:
                return web.Response(status=fault.status, text="upstream connect error")
            return _error(fault.error, status=fault.status)
        return None

    async def _m_auth_test(self, _params: dict[str, Any]) -> web.Response:
        return _ok(
            url=self.workspace_url,
            team="Fake",
            user="hss-export",
            team_id=self.team_id,
            user_id=self.bot_user_id,
            bot_id="B0FAKE",
            is_enterprise_install=False,
        )
