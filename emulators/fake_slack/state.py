"""The fake Slack's state: its settings, what it received, and what every API family uses.

The helpers here are shared by more than one family: faults and delays, the app's
DMs, triggers and response_urls, signing, the Block Kit checks of messages and acks.

Each family (`chat`, `views`, `files`, `users`, `socket_mode`, `workflow`, `interactions`)
is a subclass of `SlackState`; `server.FakeSlack` combines them and serves the Web API.
"""

from __future__ import annotations

import asyncio
import itertools
import json
import secrets
import time
from collections.abc import Iterable, Mapping
from typing import Any

from aiohttp import web

from emulators.fake_slack.home import FakeHome
from emulators.fake_slack.records import (
    DEFAULT_APP_TOKEN,
    DEFAULT_BOT_TOKEN,
    DEFAULT_SIGNING_SECRET,
    TRIGGER_TTL_SECONDS,
    Call,
    OpenedView,
    Posted,
    ResponsePost,
    SignedRequest,
    StepCompletion,
    UploadedFile,
    _Execution,
    _Fault,
    _ResponseUrl,
    _Socket,
    _Trigger,
    _Upload,
    sign,
)
from emulators.slack_models import message_problems, view_problems


class SlackState:
    """What every part of the fake shares: its settings, its records, and the helpers on them."""

    def __init__(  # noqa: PLR0913  one keyword per behaviour a test switches
        self,
        *,
        bot_token: str = DEFAULT_BOT_TOKEN,
        app_token: str = DEFAULT_APP_TOKEN,
        signing_secret: str = DEFAULT_SIGNING_SECRET,
        team_id: str = "T0FAKE",
        bot_user_id: str = "U0BOT",
        trigger_ttl: float = TRIGGER_TTL_SECONDS,
        scopes: Iterable[str] | None = None,
        keep_bytes: bool = True,
        files_info: bool = True,
        check_block_kit: bool = True,
        workspace_url: str = "https://fake.slack.com/",
    ) -> None:
        """Configure the fake; `scopes=None` grants every scope, else only those listed.

        `workspace_url`: the workspace's address, as auth.test returns it in `url`
        (Slack: `"url": "https://subarachnoidspace.slack.com/"`); permalinks are on it.

        `keep_bytes=False` hashes uploads without holding them (memory stays flat
        for any size); `files_info=False` makes `files.info` unknown, as when
        Slack cannot say where a file was shared.
        """
        self.bot_token = bot_token
        self.app_token = app_token
        self.signing_secret = signing_secret
        self.team_id = team_id
        self.bot_user_id = bot_user_id
        self.trigger_ttl = trigger_ttl
        # Configuration tests change.
        self.scopes: tuple[str, ...] | None = (
            None if scopes is None else tuple(dict.fromkeys(scopes))
        )
        self.keep_bytes = keep_bytes
        self.files_info = files_info
        self.check_block_kit = check_block_kit
        self.workspace_url = workspace_url
        self.usergroups: dict[str, list[str]] = {}
        # users.info: user id -> IANA zone (`tz`); a user not listed is `user_not_found`.
        self.user_zones: dict[str, str] = {}
        self.channel_errors: dict[str, str] = {}  # chat.* on this channel -> this error
        self.response_urls_broken = False  # response_url posts answer 500
        # Records.
        self.calls: list[Call] = []
        self.messages: list[Posted] = []
        self.ephemerals: list[Posted] = []
        self.responses: list[ResponsePost] = []
        self.views: list[OpenedView] = []
        self.files: list[UploadedFile] = []
        self.refusals: list[str] = []  # Block Kit refused: "<where>: <problem>"
        self.socket_connections = 0
        self.connections = 0  # TCP connections accepted, whatever they carried (keep-alive: few)
        self._drops: dict[str, int] = {}  # method -> calls to answer by closing the connection
        self.step_completions: list[StepCompletion] = []  # functions.complete*, in order
        self._executions: dict[str, _Execution] = {}  # function_execution_id -> its state
        self._faults: list[_Fault] = []
        self._dms: dict[str, str] = {}  # user id -> the app's DM with that user
        self._delays: dict[str, float] = {}
        self._stopping = asyncio.Event()
        self._triggers: dict[str, _Trigger] = {}
        self._response_urls: dict[str, _ResponseUrl] = {}
        self._uploads: dict[str, _Upload] = {}
        self._sockets: list[_Socket] = []
        self._socket_ready = asyncio.Condition()
        self._ts = itertools.count(1)
        self._ids = itertools.count(1)
        self._runner: web.AppRunner | None = None
        self._listener: asyncio.Server | None = None
        self._busy: dict[Any, int] = {}  # connection (aiohttp's RequestHandler) -> calls it serves
        self._port = 0
        self.home = FakeHome(self)  # the App Home tab: views.publish, app_home_opened, clicks

    def _refuse(self, where: str, problems: list[str]) -> list[str]:
        """Record what Slack would refuse in what `where` received; return the problems."""
        self.refusals += [f"{where}: {problem}" for problem in problems]
        return problems

    @property
    def url(self) -> str:
        """Return the server's base URL."""
        return f"http://127.0.0.1:{self._port}"

    @property
    def api_url(self) -> str:
        """Return the Web API base URL, for SLACK_API_URL."""
        return f"{self.url}/api/"

    # --- configuration -----------------------------------------------------------------

    def fail(  # noqa: PLR0913  one keyword per way Slack fails
        self,
        method: str,
        error: str = "internal_error",
        *,
        status: int = 200,
        retry_after: int | None = None,
        times: int = 1,
        channel: str | None = None,
    ) -> None:
        """Make the next `times` calls of `method` (on `channel`, if given) fail this way.

        `status=429` answers like Slack's rate limiter (Retry-After header, error
        `ratelimited`); `status>=500` answers a bare server error; else `ok: false`.
        """
        self._faults.append(_Fault(method, error, status, retry_after, times, channel))

    def delay(self, method: str, seconds: float) -> None:
        """Make every later call of `method` wait `seconds` before it is answered (0: no wait).

        The call is recorded when it arrives; its answer (a fault's, if one is
        set) comes after the wait, as from a slow Slack.
        """
        self._delays[method] = seconds

    def drop_connection(self, method: str, *, times: int = 1) -> None:
        """Close the connection of the next `times` calls of `method`, unanswered and unrecorded.

        What a client sees when Slack closed an idle keep-alive connection just as
        it sent its request on it: the connection ends without an answer, and
        nothing was done (no message posted).
        """
        self._drops[method] = self._drops.get(method, 0) + times

    def dm_with(self, user_id: str) -> str:
        """Return the id of the app's DM with a user (what a post to the user id lands in)."""
        if user_id not in self._dms:
            self._dms[user_id] = f"D{next(self._ids):08d}"
        return self._dms[user_id]

    # --- what the bot did --------------------------------------------------------------

    def calls_to(self, method: str) -> list[Call]:
        """Return the calls of one Web API method, in order."""
        return [c for c in self.calls if c.method == method]

    def messages_in(self, channel: str) -> list[Posted]:
        """Return the messages posted to one channel (a user id: the app's DM with the user)."""
        channel = self._dms.get(channel, channel)
        return [m for m in self.messages if m.channel == channel]

    def view(self, view_id: str | None = None) -> OpenedView:
        """Return an opened view (the latest if no id is given)."""
        if view_id is None:
            return self.views[-1]
        return next(v for v in self.views if v.id == view_id)

    def everything_received(self) -> str:
        """Return every parameter, message and response the fake received, as one text."""
        parts = [json.dumps(c.params, ensure_ascii=False, default=str) for c in self.calls]
        parts += [json.dumps(r.body, ensure_ascii=False) for r in self.responses]
        parts += [f.data.decode("utf-8", "replace") for f in self.files if f.data is not None]
        return "\n".join(parts)

    # --- shared by the API families ----------------------------------------------------

    def issue_trigger(self, user_id: str) -> str:
        """Mint a trigger_id, valid for one views.open within a few seconds."""
        trigger_id = f"{next(self._ids)}.{secrets.token_hex(6)}"
        self._triggers[trigger_id] = _Trigger(user_id, time.monotonic() + self.trigger_ttl)
        return trigger_id

    def issue_response_url(self, channel_id: str, user_id: str) -> str:
        """Mint a response_url for a command in a channel."""
        key = secrets.token_hex(8)
        self._response_urls[key] = _ResponseUrl(channel_id, user_id)
        return f"{self.url}/response/{key}"

    def _signed(
        self,
        body: bytes,
        timestamp: int | None,
        secret: str | None,
        trigger_id: str | None,
        response_url: str | None,
    ) -> SignedRequest:
        ts = int(time.time()) if timestamp is None else timestamp
        headers = sign(self.signing_secret if secret is None else secret, body, ts)
        return SignedRequest(body, headers, trigger_id, response_url)

    def _channel_error(self, channel: str) -> str | None:
        if not channel:
            return "channel_not_found"
        if channel in self.channel_errors:
            return self.channel_errors[channel]
        # The bot is in no DM but its own (a user id addresses the app's DM with that user).
        if channel.startswith("D") and channel not in self._dms.values():
            return "channel_not_found"
        return None

    def _message_refused(self, method: str, text: Any, blocks: list[Any] | None) -> list[str]:
        message = {"text": text} if blocks is None else {"text": text, "blocks": blocks}
        return self._refuse(method, message_problems(message))

    def _check_ack(self, where: str, body: Mapping[str, Any]) -> None:
        """Check an ack's payload as Slack does: a message, or a view to update or push."""
        if body.get("response_action") in ("update", "push"):
            self._refuse(where, view_problems(body.get("view")))
        elif "text" in body or "blocks" in body:
            self._refuse(where, message_problems(body))

    def _next_ts(self) -> str:
        return f"{int(time.time())}.{next(self._ts):06d}"
