"""A fake Slack on 127.0.0.1: the Web API calls the bot makes, response_urls, uploads, Socket Mode.

It plays both sides Slack plays: the server the bot calls (`/api/<method>`,
checked against the bot token and, if given, the bot's scopes; every call
recorded, errors injectable per method and channel, answers delayable per
method), and the client that calls the bot (`slash_command` and
`view_submission` build requests signed with the signing secret, like Slack's;
`deliver` posts one with Slack's 3-second patience; `socket_dispatch` sends an
envelope over Socket Mode and returns the ack). Files go through Slack's
external upload flow: the upload URL is read as a stream (any size, hashed on
the fly, bytes kept only if asked), a completed upload is recorded in `files`,
and `files.info` says where a file is shared. As in Slack, `chat.postMessage`
to a user id posts in that user's DM with the app and answers with the DM's
`D…` id (`dm_with`), the id `files.completeUploadExternal` needs: it refuses a
user id. Every view, message, response_url post and ack is checked with
slack_sdk's Block Kit models (`emulators.slack_models`) and refused as Slack
would; each refusal is kept in `refusals`, and leaving the fake with any raises,
so a test cannot pass over Block Kit that Slack would refuse
(`check_block_kit=False` for a test that sends such Block Kit on purpose).
`manifest_scopes()` reads the bot scopes the app manifest grants, so tests and
the demo can refuse what the real app could not do. Tests and the
local demo use it; it imports nothing from `bot`.

Workflow Builder steps and shortcuts (issue 16): `function_executed` builds
a step execution's signed event, `global_shortcut` a shortcut run from
anywhere; `functions.completeSuccess`/`completeError` are recorded in
`step_completions` with the kind of token used, and `chat.getPermalink` links
posted messages (see the section of that name below).

The App Home tab (issue 15) is `FakeSlack.home` (`emulators.fake_slack_home`):
`views.publish` checked as Slack checks a home view, the signed
`app_home_opened` event and clicks in a published home.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import hmac
import itertools
import json
import secrets
import time
import urllib.parse
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any, Final, Literal, overload
from zoneinfo import ZoneInfo

import aiohttp
from aiohttp import WSMsgType, web

from emulators.fake_slack_home import FakeHome
from emulators.slack_models import message_problems, view_problems

DEFAULT_BOT_TOKEN: Final = "xoxb-fake-bot-token-0000"  # noqa: S105 - the fake's own
DEFAULT_APP_TOKEN: Final = "xapp-1-fake-app-token-0000"  # noqa: S105 - the fake's own
DEFAULT_SIGNING_SECRET: Final = "fake-signing-secret-0000"  # noqa: S105 - the fake's own
SLACK_ACK_SECONDS: Final = 3.0  # Slack shows "operation_timeout" after this
TRIGGER_TTL_SECONDS: Final = 3.0
RESPONSE_URL_USES: Final = 5
UPLOAD_READ_CHUNK: Final = 256 * 1024
MANIFEST: Final = Path(__file__).resolve().parent.parent / "manifest.yml"  # in a checkout
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


def sign(secret: str, body: bytes, timestamp: int) -> dict[str, str]:
    """Return Slack's signature headers (v0) for a request body sent at `timestamp`."""
    base = b"v0:" + str(timestamp).encode() + b":" + body
    digest = hmac.new(secret.encode(), base, hashlib.sha256).hexdigest()
    return {
        "X-Slack-Request-Timestamp": str(timestamp),
        "X-Slack-Signature": f"v0={digest}",
    }


# --- records ---------------------------------------------------------------------------


@dataclass(frozen=True)
class Call:
    """One Web API call the fake received (the token is checked, never recorded)."""

    method: str
    params: dict[str, Any]
    at: float


@dataclass
class Posted:
    """A message the bot posted (chat.postMessage / chat.postEphemeral), as Slack keeps it."""

    channel: str
    text: str | None
    blocks: list[dict[str, Any]]
    ts: str
    thread_ts: str | None = None
    ephemeral_user: str | None = None

    @property
    def all_text(self) -> str:
        """Return the notification text and every text in the blocks, for assertions."""
        return (self.text or "") + "\n" + _block_text(self.blocks)


@dataclass(frozen=True)
class ResponsePost:
    """A message the bot sent to a response_url."""

    url: str
    channel: str
    user_id: str
    body: dict[str, Any]

    @property
    def response_type(self) -> str:
        """Return `in_channel` or `ephemeral` (Slack's default)."""
        return str(self.body.get("response_type") or "ephemeral")

    @property
    def all_text(self) -> str:
        """Return the text and every text in the blocks, for assertions."""
        return str(self.body.get("text") or "") + "\n" + _block_text(self.body.get("blocks"))


@dataclass
class OpenedView:
    """A modal the bot opened with views.open."""

    id: str
    hash: str
    trigger_id: str
    user_id: str
    view: dict[str, Any]


@dataclass(frozen=True)
class UploadedFile:
    """A file shared by files.completeUploadExternal, as the channel shows it.

    One record per completed share; `data` is the bytes received, or None when
    the fake was told not to keep them (`keep_bytes=False`).
    """

    id: str
    filename: str
    title: str | None
    size: int
    sha256: str
    channel_id: str | None
    thread_ts: str | None
    initial_comment: str | None
    data: bytes | None = field(default=None, repr=False)


@dataclass(frozen=True)
class SignedRequest:
    """A request Slack would send the app: body, headers, and the ids it carries."""

    body: bytes
    headers: dict[str, str]
    trigger_id: str | None = None
    response_url: str | None = None

    def with_headers(self, **headers: str) -> SignedRequest:
        """Return a copy with some headers replaced (to forge or age a request)."""
        return SignedRequest(
            self.body, {**self.headers, **headers}, self.trigger_id, self.response_url
        )


@dataclass(frozen=True)
class Delivery:
    """What the app answered Slack: status, body, and how long it took."""

    status: int | None
    text: str
    elapsed: float

    @property
    def timed_out(self) -> bool:
        """Tell whether Slack would have shown the user a timeout."""
        return self.status is None or self.elapsed > SLACK_ACK_SECONDS

    @property
    def json(self) -> dict[str, Any]:
        """Return the body as JSON (an empty dict for an empty body)."""
        loaded = json.loads(self.text) if self.text.strip() else {}
        return loaded if isinstance(loaded, dict) else {}


@dataclass
class _Fault:
    method: str
    error: str
    status: int
    retry_after: int | None
    times: int
    channel: str | None


@dataclass
class _Trigger:
    user_id: str
    expires: float
    used: bool = False


@dataclass
class _ResponseUrl:
    channel: str
    user_id: str
    uses_left: int = RESPONSE_URL_USES


@dataclass
class _Upload:
    """A file id handed out by files.getUploadURLExternal, and what its URL received."""

    filename: str
    length: int
    size: int = 0
    sha256: str | None = None  # set once the upload URL received the bytes
    data: bytes | None = None


@dataclass
class _Socket:
    ws: web.WebSocketResponse
    acks: dict[str, asyncio.Future[dict[str, Any]]] = field(default_factory=dict)


def _block_text(blocks: Any) -> str:
    """Collect every `text` string inside Block Kit JSON."""
    found: list[str] = []

    def walk(node: Any) -> None:
        if isinstance(node, dict):
            for key, value in node.items():
                if key == "text" and isinstance(value, str):
                    found.append(value)
                else:
                    walk(value)
        elif isinstance(node, list):
            for item in node:
                walk(item)

    walk(blocks)
    return "\n".join(found)


# --- the fake --------------------------------------------------------------------------


class FakeSlack:
    """Slack's Web API, response_urls, file uploads and Socket Mode, on a loopback port."""

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
    ) -> None:
        """Configure the fake; `scopes=None` grants every scope, else only those listed.

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
        self._port = 0
        self.home = FakeHome(self)  # the App Home tab: views.publish, app_home_opened, clicks

    # --- lifecycle ---------------------------------------------------------------------

    async def start(self) -> FakeSlack:
        """Listen on a free loopback port."""
        self._stopping.clear()
        app = web.Application()
        app.router.add_route("*", "/api/{method}", self._api)
        app.router.add_post("/response/{key}", self._response_url)
        app.router.add_post("/upload/{file_id}", self._upload)
        app.router.add_get("/socket-mode", self._socket)
        self._runner = web.AppRunner(app, handle_signals=False)
        await self._runner.setup()
        await web.TCPSite(self._runner, "127.0.0.1", 0).start()
        self._port = int(self._runner.addresses[0][1])
        return self

    async def stop(self) -> None:
        """Close Socket Mode connections and stop listening."""
        self._stopping.set()  # cut short any delayed answer, so stopping never waits on one
        for sock in list(self._sockets):
            await sock.ws.close()
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    async def __aenter__(self) -> FakeSlack:
        return await self.start()

    async def __aexit__(self, exc_type: object, *_exc: object) -> None:
        await self.stop()
        if exc_type is None and self.check_block_kit and self.refusals:
            raise AssertionError(
                "Slack would refuse Block Kit the bot sent:\n" + "\n".join(self.refusals)
            )

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

    # --- Slack calling the app ---------------------------------------------------------

    def slash_command(  # noqa: PLR0913  one keyword per field of the payload
        self,
        text: str,
        *,
        user_id: str = "U0ALICE",
        channel_id: str = "C0EXPORTS",
        command: str = "/hss-export",
        trigger_id: str | None = None,
        timestamp: int | None = None,
        secret: str | None = None,
    ) -> SignedRequest:
        """Build the signed request Slack sends when a user types the command."""
        trigger_id = trigger_id or self.issue_trigger(user_id)
        response_url = self.issue_response_url(channel_id, user_id)
        form = {
            "token": "deprecated-verification-token",
            "team_id": self.team_id,
            "team_domain": "fake",
            "channel_id": channel_id,
            "channel_name": "directmessage" if channel_id.startswith("D") else "exports",
            "user_id": user_id,
            "user_name": user_id.lower(),
            "command": command,
            # Slack escapes these three in the text it sends, as in every message.
            "text": text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;"),
            "api_app_id": "A0FAKE",
            "is_enterprise_install": "false",
            "response_url": response_url,
            "trigger_id": trigger_id,
        }
        body = urllib.parse.urlencode(form).encode()
        return self._signed(body, timestamp, secret, trigger_id, response_url)

    def view_submission(
        self,
        view_id: str | None = None,
        values: Mapping[str, Any] | None = None,
        *,
        user_id: str | None = None,
        timestamp: int | None = None,
        secret: str | None = None,
    ) -> SignedRequest:
        """Build the signed request Slack sends when the user submits an opened modal.

        `values` maps block_id to what the user chose: a string (option value,
        text, `YYYY-MM-DD`), a list of option values, an int (datetimepicker
        epoch seconds), or None to clear. Untouched inputs keep their initial values.
        """
        opened = self.view(view_id)
        user_id = user_id or opened.user_id
        state = self._state(opened.view, values or {})
        trigger_id = self.issue_trigger(user_id)
        view = {
            **opened.view,
            "id": opened.id,
            "team_id": self.team_id,
            "hash": opened.hash,
            "root_view_id": opened.id,
            "app_id": "A0FAKE",
            "bot_id": "B0FAKE",
            "state": {"values": state},
        }
        payload = {
            "type": "view_submission",
            "team": {"id": self.team_id, "domain": "fake"},
            "user": {"id": user_id, "username": user_id.lower(), "team_id": self.team_id},
            "api_app_id": "A0FAKE",
            "token": "deprecated-verification-token",
            "trigger_id": trigger_id,
            "view": view,
            "response_urls": [],
            "is_enterprise_install": False,
        }
        body = urllib.parse.urlencode({"payload": json.dumps(payload)}).encode()
        return self._signed(body, timestamp, secret, trigger_id, None)

    # --- block_actions (button clicks; issue 14) ---------------------------------------

    def button_click(  # noqa: PLR0913  one keyword per field of the payload
        self,
        message: Posted,
        action_id: str,
        *,
        user_id: str = "U0ALICE",
        value: str | None = None,
        timestamp: int | None = None,
        secret: str | None = None,
    ) -> SignedRequest:
        """Build the signed `block_actions` request Slack sends when `user_id` clicks a button.

        The button is found in `message`'s blocks by `action_id` (its value sent
        unless `value` overrides it, as a forger would); the payload has the
        fields of Slack's documented block_actions payload: user, team,
        container (message ts, channel, ephemeral or not), channel, the message,
        a response_url and trigger_id minted here, and the one action.
        """
        button = next(
            (
                element
                for block in message.blocks
                if block.get("type") == "actions"
                for element in block.get("elements", [])
                if element.get("action_id") == action_id
            ),
            None,
        )
        if button is None:
            raise AssertionError(f"no button {action_id!r} in the message")
        trigger_id = self.issue_trigger(user_id)
        response_url = self.issue_response_url(message.channel, user_id)
        payload = {
            "type": "block_actions",
            "user": {"id": user_id, "username": user_id.lower(), "team_id": self.team_id},
            "api_app_id": "A0FAKE",
            "token": "deprecated-verification-token",
            "container": {
                "type": "message",
                "message_ts": message.ts,
                "channel_id": message.channel,
                "is_ephemeral": message.ephemeral_user is not None,
            },
            "trigger_id": trigger_id,
            "team": {"id": self.team_id, "domain": "fake"},
            "enterprise": None,
            "is_enterprise_install": False,
            "channel": {"id": message.channel, "name": "approvals"},
            "message": {"type": "message", "ts": message.ts, "text": message.text,
                        "blocks": message.blocks},
            "response_url": response_url,
            "actions": [
                {
                    "action_id": action_id,
                    "block_id": next(
                        b.get("block_id", "") for b in message.blocks if button in
                        b.get("elements", [])
                    ),
                    "value": button.get("value") if value is None else value,
                    "type": "button",
                    "text": button.get("text"),
                    "action_ts": f"{time.time():.6f}",
                }
            ],
        }  # fmt: skip
        body = urllib.parse.urlencode({"payload": json.dumps(payload)}).encode()
        return self._signed(body, timestamp, secret, trigger_id, response_url)

    def last_message_with(self, action_id: str) -> Posted:
        """Return the newest message or ephemeral (or response_url post) holding a button."""
        found = [
            m
            for m in [*self.messages, *self.ephemerals]
            if any(
                e.get("action_id") == action_id
                for b in m.blocks
                if b.get("type") == "actions"
                for e in b.get("elements", [])
            )
        ]
        if not found:
            raise AssertionError(f"no message with a {action_id!r} button")
        return max(found, key=lambda m: float(m.ts))

    async def deliver(self, url: str, request: SignedRequest) -> Delivery:
        """POST a request to the app as Slack does, giving up after Slack's 3 seconds."""
        headers = {"Content-Type": "application/x-www-form-urlencoded", **request.headers}
        started = time.monotonic()
        timeout = aiohttp.ClientTimeout(total=SLACK_ACK_SECONDS + 0.5)
        async with aiohttp.ClientSession(timeout=timeout) as session:
            try:
                async with session.post(url, data=request.body, headers=headers) as response:
                    text = await response.text()
                    delivery = Delivery(response.status, text, time.monotonic() - started)
            except TimeoutError:
                return Delivery(None, "", time.monotonic() - started)
        with contextlib.suppress(ValueError):
            self._check_ack("ack", delivery.json)
        return delivery

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

    # --- Socket Mode -------------------------------------------------------------------

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

    # --- the Web API -------------------------------------------------------------------

    async def _api(self, request: web.Request) -> web.StreamResponse:
        method = request.match_info["method"]
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
            url="https://fake.slack.com/",
            team="Fake",
            user="hss-export",
            team_id=self.team_id,
            user_id=self.bot_user_id,
            bot_id="B0FAKE",
            is_enterprise_install=False,
        )

    async def _m_apps_connections_open(self, _params: dict[str, Any]) -> web.Response:
        return _ok(url=f"ws://127.0.0.1:{self._port}/socket-mode")

    def _channel_error(self, channel: str) -> str | None:
        if not channel:
            return "channel_not_found"
        if channel in self.channel_errors:
            return self.channel_errors[channel]
        # The bot is in no DM but its own (a user id addresses the app's DM with that user).
        if channel.startswith("D") and channel not in self._dms.values():
            return "channel_not_found"
        return None

    async def _m_chat_postMessage(self, params: dict[str, Any]) -> web.Response:
        channel = str(params.get("channel") or "")
        if (error := self._channel_error(channel)) is not None:
            return _error(error)
        if _is_user_id(channel):
            channel = self.dm_with(channel)
        if not params.get("text") and not params.get("blocks"):
            return _error("no_text")
        blocks = _json_list(params.get("blocks"))
        if blocks is None:
            return _error("invalid_blocks")
        if problems := self._message_refused("chat.postMessage", params.get("text"), blocks):
            return _error("invalid_blocks", response_metadata={"messages": problems})
        posted = Posted(
            channel, params.get("text"), blocks, self._next_ts(), params.get("thread_ts")
        )
        self.messages.append(posted)
        return _ok(channel=channel, ts=posted.ts, message={"text": posted.text, "ts": posted.ts})

    async def _m_chat_postEphemeral(self, params: dict[str, Any]) -> web.Response:
        channel = str(params.get("channel") or "")
        if (error := self._channel_error(channel)) is not None:
            return _error(error)
        if not params.get("user"):
            return _error("user_not_in_channel")
        blocks = _json_list(params.get("blocks")) or []
        if problems := self._message_refused("chat.postEphemeral", params.get("text"), blocks):
            return _error("invalid_blocks", response_metadata={"messages": problems})
        posted = Posted(
            channel, params.get("text"), blocks, self._next_ts(), ephemeral_user=params["user"]
        )
        self.ephemerals.append(posted)
        return _ok(message_ts=posted.ts)

    async def _m_chat_update(self, params: dict[str, Any]) -> web.Response:
        blocks = _json_list(params.get("blocks"))
        if problems := self._message_refused("chat.update", params.get("text"), blocks):
            return _error("invalid_blocks", response_metadata={"messages": problems})
        for posted in self.messages:
            if posted.channel == params.get("channel") and posted.ts == params.get("ts"):
                posted.text = params.get("text", posted.text)
                posted.blocks = _json_list(params.get("blocks")) or posted.blocks
                return _ok(channel=posted.channel, ts=posted.ts, text=posted.text)
        return _error("message_not_found")

    async def _m_views_open(self, params: dict[str, Any]) -> web.Response:
        trigger_id = str(params.get("trigger_id") or "")
        trigger = self._triggers.get(trigger_id)
        if trigger is None:
            return _error("invalid_trigger_id")
        if trigger.used:
            return _error("exchanged_trigger_id")
        if time.monotonic() > trigger.expires:
            return _error("expired_trigger_id")
        view = params.get("view")
        if isinstance(view, str):
            view = json.loads(view)
        problems = self._refuse("views.open", _view_problems(view) + view_problems(view))
        if problems or not isinstance(view, dict):
            return _error("invalid_arguments", response_metadata={"messages": problems})
        trigger.used = True
        opened = OpenedView(
            id=f"V{next(self._ids):08d}",
            hash=secrets.token_hex(6),
            trigger_id=trigger_id,
            user_id=trigger.user_id,
            view=view,
        )
        self.views.append(opened)
        return _ok(view={**view, "id": opened.id, "hash": opened.hash, "state": {"values": {}}})

    async def _m_views_publish(self, params: dict[str, Any]) -> web.Response:
        return await self.home.publish(params)

    async def _m_usergroups_users_list(self, params: dict[str, Any]) -> web.Response:
        group = str(params.get("usergroup") or "")
        if group not in self.usergroups:
            return _error("no_such_subteam")
        return _ok(users=list(self.usergroups[group]))

    async def _m_users_info(self, params: dict[str, Any]) -> web.Response:
        user = str(params.get("user") or "")
        if user not in self.user_zones:
            return _error("user_not_found")
        zone = self.user_zones[user]
        # Slack sends the zone's name, its label and its offset now, in seconds.
        offset = datetime.now(ZoneInfo(zone)).utcoffset() if zone else None
        return _ok(
            user={
                "id": user,
                "team_id": self.team_id,
                "tz": zone,
                "tz_label": zone,
                "tz_offset": int(offset.total_seconds()) if offset else 0,
            }
        )

    async def _m_files_getUploadURLExternal(self, params: dict[str, Any]) -> web.Response:
        filename = str(params.get("filename") or "")
        try:
            length = int(params.get("length") or -1)
        except ValueError:
            length = -1
        if not filename or length < 0:
            return _error("invalid_arguments")
        file_id = f"F{next(self._ids):08d}"
        self._uploads[file_id] = _Upload(filename, length)
        return _ok(upload_url=f"{self.url}/upload/{file_id}", file_id=file_id)

    async def _m_files_completeUploadExternal(self, params: dict[str, Any]) -> web.Response:
        items = _json_list(params.get("files"))
        if not items:
            return _error("invalid_arguments")
        channel_id = params.get("channel_id")
        if channel_id and _is_user_id(str(channel_id)):
            # Slack: "input must match regex pattern: ^[CGDZ][A-Z0-9]{8,}$" (no user ids).
            return _error("invalid_arguments")
        if channel_id and (error := self._channel_error(str(channel_id))) is not None:
            return _error(error)
        done = []
        for item in items:
            upload = self._uploads.get(str(item.get("id")))
            if upload is None or upload.sha256 is None:
                return _error("file_not_found")
            if upload.size != upload.length:
                return _error("file_size_mismatch")
            # Every completion is recorded, so a bot sharing one file twice shows it.
            self.files.append(
                UploadedFile(
                    id=str(item["id"]),
                    filename=upload.filename,
                    title=item.get("title"),
                    size=upload.size,
                    sha256=upload.sha256,
                    channel_id=str(channel_id) if channel_id else None,
                    thread_ts=params.get("thread_ts"),
                    initial_comment=params.get("initial_comment"),
                    data=upload.data,
                )
            )
            done.append({"id": item["id"], "title": item.get("title"), "name": upload.filename})
        return _ok(files=done)

    async def _m_files_info(self, params: dict[str, Any]) -> web.Response:
        if not self.files_info:
            return _error("unknown_method", status=404)
        file_id = str(params.get("file") or "")
        upload = self._uploads.get(file_id)
        if upload is None:
            return _error("file_not_found")
        shares: dict[str, dict[str, list[dict[str, Any]]]] = {}
        for shared in self.files:
            if shared.id != file_id or not shared.channel_id:
                continue
            kind = "public" if shared.channel_id.startswith("C") else "private"
            share = {"thread_ts": shared.thread_ts} if shared.thread_ts else {}
            shares.setdefault(kind, {}).setdefault(shared.channel_id, []).append(share)
        file = {
            "id": file_id,
            "name": upload.filename,
            "size": upload.size,
            "channels": sorted(shares.get("public", {})),
            "groups": sorted(c for c in shares.get("private", {}) if not c.startswith("D")),
            "ims": sorted(c for c in shares.get("private", {}) if c.startswith("D")),
            "shares": shares,
        }
        return _ok(file=file)

    async def _upload(self, request: web.Request) -> web.Response:
        """Read the upload URL's body as a stream: any size, hashed, bytes kept if asked."""
        upload = self._uploads.get(request.match_info["file_id"])
        if upload is None:
            return web.Response(status=404, text="not found")
        digest, size, kept = hashlib.sha256(), 0, bytearray()
        async for chunk in request.content.iter_chunked(UPLOAD_READ_CHUNK):
            digest.update(chunk)
            size += len(chunk)
            if self.keep_bytes:
                kept += chunk
        upload.size, upload.sha256 = size, digest.hexdigest()
        upload.data = bytes(kept) if self.keep_bytes else None
        return web.Response(text=f"OK - {size}")

    async def _response_url(self, request: web.Request) -> web.Response:
        hook = self._response_urls.get(request.match_info["key"])
        if hook is None or hook.uses_left <= 0:
            return web.Response(status=404, text="expired_url")
        if self.response_urls_broken:
            return web.Response(status=500, text="internal_error")
        try:
            body = await request.json()
        except ValueError:
            return web.Response(status=400, text="invalid_payload")
        if not isinstance(body, dict):
            return web.Response(status=400, text="invalid_payload")
        if self._refuse("response_url", message_problems(body)):
            return web.Response(status=400, text="invalid_blocks")
        hook.uses_left -= 1
        self.responses.append(ResponsePost(str(request.url), hook.channel, hook.user_id, body))
        return web.Response(text="ok")

    # --- Workflow Builder steps and shortcuts (issue 16) ------------------------------------
    #
    # `function_executed` events are shaped like Slack's documented event and bolt-python's
    # own test payload (tests/scenario_tests_async/test_function.py): a JSON event_callback
    # whose event carries the function, its inputs, the execution ids and a workflow token
    # (`xwfp-…`). As in Slack, that token works only while the execution runs, and only
    # for the step's own calls here (functions.complete*); the bot token works any time.

    def function_executed(  # noqa: PLR0913  one keyword per field of the payload
        self,
        inputs: Mapping[str, Any],
        *,
        function: Mapping[str, Any] | None = None,
        execution_id: str | None = None,
        event_id: str | None = None,
        enterprise_id: str | None = None,
        timestamp: int | None = None,
        secret: str | None = None,
    ) -> SignedRequest:
        """Build the signed event Slack sends when a workflow reaches the app's step.

        `function` is the step's definition as the manifest declares it
        (`callback_id`, `title`, `input_parameters`, `output_parameters`); its
        required outputs are what `functions.completeSuccess` must then receive.
        The same `execution_id` and `event_id` again make a retry of the event.
        """
        definition = dict(function or {"callback_id": "hss_container_export"})
        execution_id = execution_id or f"Fx{next(self._ids):010d}"
        execution = self._executions.get(execution_id)
        if execution is None:
            outputs = _parameter_list(definition.get("output_parameters"))
            required = tuple(p["name"] for p in outputs if p.get("is_required"))
            declared = tuple(p["name"] for p in outputs)
            execution = _Execution(f"xwfp-{secrets.token_hex(12)}", required, declared, event_id)
            self._executions[execution_id] = execution
        now = int(time.time())
        event = {
            "type": "function_executed",
            "function": {
                "id": f"Fn{definition['callback_id'][:8].upper()}",
                "callback_id": definition["callback_id"],
                "title": definition.get("title", ""),
                "description": definition.get("description", ""),
                "type": "app",
                "input_parameters": _parameter_list(definition.get("input_parameters")),
                "output_parameters": _parameter_list(definition.get("output_parameters")),
                "app_id": "A0FAKE",
                "date_created": now - 3600,
                "date_updated": now - 60,
                "date_deleted": 0,
            },
            "inputs": dict(inputs),
            "function_execution_id": execution_id,
            "workflow_execution_id": f"Wx{execution_id[2:]}",
            "event_ts": f"{now}.000100",
            "bot_access_token": execution.token,
        }
        body: dict[str, Any] = {
            "token": "deprecated-verification-token",
            "team_id": self.team_id,
            "api_app_id": "A0FAKE",
            "event": event,
            "type": "event_callback",
            "event_id": execution.event_id or event_id or f"Ev{next(self._ids):010d}",
            "event_time": now,
            "authorizations": [
                {
                    "enterprise_id": enterprise_id,
                    "team_id": None if enterprise_id else self.team_id,
                    "user_id": self.bot_user_id,
                    "is_bot": True,
                    "is_enterprise_install": enterprise_id is not None,
                }
            ],
            "is_ext_shared_channel": False,
        }
        if enterprise_id:
            body["enterprise_id"] = enterprise_id
        execution.event_id = str(body["event_id"])
        raw = json.dumps(body).encode()
        signed = self._signed(raw, timestamp, secret, None, None)
        return signed.with_headers(**{"Content-Type": "application/json"})

    def global_shortcut(
        self,
        callback_id: str,
        *,
        user_id: str = "U0ALICE",
        enterprise_id: str | None = None,
        timestamp: int | None = None,
        secret: str | None = None,
    ) -> SignedRequest:
        """Build the signed request Slack sends when a user picks a global shortcut.

        It names no channel (a global shortcut is run from anywhere). With an
        `enterprise_id` it is an org-wide install's payload: `team` is null and
        the workspace is only in `user.team_id`.
        """
        trigger_id = self.issue_trigger(user_id)
        payload = {
            "type": "shortcut",
            "token": "deprecated-verification-token",
            "action_ts": f"{int(time.time())}.000200",
            "team": None if enterprise_id else {"id": self.team_id, "domain": "fake"},
            "user": {"id": user_id, "username": user_id.lower(), "team_id": self.team_id},
            "is_enterprise_install": enterprise_id is not None,
            "enterprise": {"id": enterprise_id, "name": "Fake Org"} if enterprise_id else None,
            "callback_id": callback_id,
            "trigger_id": trigger_id,
        }
        body = urllib.parse.urlencode({"payload": json.dumps(payload)}).encode()
        return self._signed(body, timestamp, secret, trigger_id, None)

    def completions_of(self, execution_id: str) -> list[StepCompletion]:
        """Return every functions.complete* call the app made for one execution."""
        return [c for c in self.step_completions if c.execution_id == execution_id]

    def _workflow_token_ok(self, method: str, token: str) -> bool:
        """Accept a running execution's workflow token for the step's own calls."""
        if not method.startswith("functions.complete"):
            return False
        return any(
            e.running and hmac.compare_digest(e.token, token) for e in self._executions.values()
        )

    def _token_kind(self, token: str) -> Literal["bot", "workflow"]:
        return "workflow" if token.startswith("xwfp-") else "bot"

    async def _m_chat_getPermalink(self, params: dict[str, Any]) -> web.Response:
        channel, ts = str(params.get("channel") or ""), str(params.get("message_ts") or "")
        if not any(m.channel == channel and m.ts == ts for m in self.messages):
            return _error("message_not_found")
        return _ok(channel=channel, permalink=f"https://fake.slack.com/archives/{channel}/p{ts}")

    async def _m_functions_completeSuccess(self, params: dict[str, Any]) -> web.Response:
        return self._complete("functions.completeSuccess", params)

    async def _m_functions_completeError(self, params: dict[str, Any]) -> web.Response:
        return self._complete("functions.completeError", params)

    def _complete(self, method: str, params: dict[str, Any]) -> web.Response:
        execution_id = str(params.get("function_execution_id") or "")
        execution = self._executions.get(execution_id)
        token = str(params.get("_token") or "")
        if execution is None:
            return _error("function_execution_not_found")
        if not execution.running:
            return _error("execution_not_in_running_state")
        outputs: dict[str, Any] = {}
        error: str | None = None
        if method == "functions.completeSuccess":
            raw = params.get("outputs")
            loaded = json.loads(raw) if isinstance(raw, str) else raw
            if not isinstance(loaded, dict):
                return _error("invalid_arguments")
            missing = [name for name in execution.required if name not in loaded]
            unknown = [
                name for name in loaded if execution.declared and name not in execution.declared
            ]
            if missing or unknown:
                return _error(
                    "parameter_validation_failed",
                    errors=[f"missing output {n}" for n in missing]
                    + [f"unknown output {n}" for n in unknown],
                )
            outputs = loaded
        else:
            error = str(params.get("error") or "")
            if not error:
                return _error("invalid_arguments")
        execution.running = False  # its workflow token dies with it, as in Slack
        self.step_completions.append(
            StepCompletion(method, execution_id, outputs, error, self._token_kind(token))
        )
        return _ok()

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

    def _state(
        self, view: Mapping[str, Any], values: Mapping[str, Any]
    ) -> dict[str, dict[str, Any]]:
        """Fill `view.state.values` the way Slack's client does: initial values, then edits."""
        state: dict[str, dict[str, Any]] = {}
        unknown = set(values) - {b.get("block_id") for b in view.get("blocks", ())}
        if unknown:
            raise KeyError(f"no input with block_id {sorted(unknown)}")
        for block in view.get("blocks", ()):
            if block.get("type") != "input":
                continue
            element = block["element"]
            block_id = block["block_id"]
            given = values.get(block_id, _UNTOUCHED)
            state[block_id] = {element["action_id"]: _element_state(element, given)}
        return state


_UNTOUCHED: Final = object()


def _element_state(element: Mapping[str, Any], given: Any) -> dict[str, Any]:
    kind = element["type"]
    out: dict[str, Any] = {"type": kind}
    options = {o["value"]: o for o in element.get("options", ())}
    if kind in {"static_select", "radio_buttons"}:
        if given is _UNTOUCHED:
            out["selected_option"] = element.get("initial_option")
        elif given is None:
            out["selected_option"] = None
        else:
            out["selected_option"] = options[given]  # a user can only pick offered options
    elif kind in {"multi_static_select", "checkboxes"}:
        if given is _UNTOUCHED:
            out["selected_options"] = list(element.get("initial_options", ()))
        else:
            out["selected_options"] = [options[v] for v in given or ()]
    elif kind in {"plain_text_input", "number_input"}:
        out["value"] = element.get("initial_value") if given is _UNTOUCHED else given
    elif kind == "datetimepicker":
        out["selected_date_time"] = (
            element.get("initial_date_time") if given is _UNTOUCHED else given
        )
    elif kind == "datepicker":
        out["selected_date"] = element.get("initial_date") if given is _UNTOUCHED else given
    elif kind == "conversations_select":
        # Untouched: the initial conversation (the current one is unknown to the fake).
        initial = element.get("initial_conversation")
        out["selected_conversation"] = initial if given is _UNTOUCHED else given
    else:
        raise ValueError(f"the fake does not know input element {kind!r}")
    return out


def _view_problems(view: Any) -> list[str]:  # noqa: C901, PLR0912  a checklist of Slack's view rules
    """Check the Block Kit rules Slack enforces on views.open that a bot can get wrong."""
    if not isinstance(view, dict):
        return ["view must be an object"]
    problems: list[str] = []
    if view.get("type") != "modal":
        problems.append("view.type must be modal")
    title = (view.get("title") or {}).get("text", "")
    if not 0 < len(title) <= 24:
        problems.append("view.title must be 1-24 characters")
    if len(view.get("private_metadata") or "") > 3000:
        problems.append("private_metadata must be at most 3000 characters")
    blocks: Sequence[Mapping[str, Any]] = view.get("blocks") or ()
    if len(blocks) > 100:
        problems.append("at most 100 blocks")
    seen: set[str] = set()
    for index, block in enumerate(blocks):
        block_id = block.get("block_id")
        if block_id is not None:
            if block_id in seen:
                problems.append(f"blocks[{index}]: duplicate block_id {block_id}")
            seen.add(block_id)
        if block.get("type") != "input":
            continue
        element = block.get("element") or {}
        if not element.get("action_id") or not (block.get("label") or {}).get("text"):
            problems.append(f"blocks[{index}]: input needs a label and an element action_id")
        offered = [o.get("value") for o in element.get("options", ())]
        for option in element.get("options", ()):
            if len(option.get("text", {}).get("text", "")) > 75:
                problems.append(f"blocks[{index}]: option text longer than 75 characters")
        initial = element.get("initial_option")
        if initial is not None and initial not in element.get("options", ()):
            problems.append(f"blocks[{index}]: initial_option is not one of the options")
        for chosen in element.get("initial_options", ()):
            if chosen.get("value") not in offered or chosen not in element.get("options", ()):
                problems.append(f"blocks[{index}]: initial_options must be among the options")
        if element.get("type") == "checkboxes" and len(offered) > 10:
            problems.append(f"blocks[{index}]: checkboxes take at most 10 options")
    return problems


async def _params(request: web.Request) -> dict[str, Any]:
    """Merge query string, form and JSON body, as Slack accepts all three."""
    params: dict[str, Any] = dict(request.query)
    if request.content_type == "application/json":
        body = await request.json()
        if isinstance(body, dict):
            params.update(body)
    elif request.can_read_body:
        params.update(dict(await request.post()))
    return params


def _is_user_id(channel: str) -> bool:
    """Tell whether a channel argument is a user id (`U…`, or `W…` on Enterprise Grid)."""
    return channel[:1] in ("U", "W")


def _bearer(request: web.Request) -> str | None:
    header = request.headers.get("Authorization", "")
    return header[7:] if header.startswith("Bearer ") else None


def _json_list(value: Any) -> list[Any] | None:
    if value is None:
        return []
    if isinstance(value, str):
        try:
            value = json.loads(value)
        except ValueError:
            return None
    return value if isinstance(value, list) else None


def _ok(**data: Any) -> web.Response:
    return web.json_response({"ok": True, **data})


def _error(
    error: str, *, status: int = 200, headers: dict[str, str] | None = None, **data: Any
) -> web.Response:
    return web.json_response({"ok": False, "error": error, **data}, status=status, headers=headers)


@overload
def manifest_scopes(
    path: str | Path = ..., *, missing_ok: Literal[False] = ...
) -> tuple[str, ...]: ...
@overload
def manifest_scopes(path: str | Path = ..., *, missing_ok: bool) -> tuple[str, ...] | None: ...
def manifest_scopes(
    path: str | Path = MANIFEST, *, missing_ok: bool = False
) -> tuple[str, ...] | None:
    """Return the bot scopes an app manifest grants (`oauth_config.scopes.bot`), in order.

    The default is the checkout's `manifest.yml`. With `missing_ok`, a missing
    file (an installed package has none) gives None, which `FakeSlack` reads as
    "every scope". A small reader, not pyyaml: the demo runs on runtime
    dependencies only. It understands block and flow lists, quotes and comments.
    """
    try:
        text = Path(path).read_text(encoding="utf-8")
    except FileNotFoundError:
        if missing_ok:
            return None
        raise
    found = _yaml_list(text, ("oauth_config", "scopes", "bot"))
    if found is None:
        raise ValueError(f"{path}: no oauth_config.scopes.bot list")
    return found


def _yaml_list(text: str, keys: tuple[str, ...]) -> tuple[str, ...] | None:  # noqa: C901  a small YAML reader: one branch per line shape
    """Return the list of plain scalars at a key path of a simple YAML mapping, or None."""
    path: list[tuple[int, str]] = []  # (indent, key) of the mappings enclosing the line
    items: list[str] | None = None
    for raw in text.splitlines():
        line = _uncomment(raw).rstrip()
        if not line.strip() or line.lstrip().startswith(("---", "...")):
            continue
        indent = len(line) - len(line.lstrip(" "))
        body = line.strip()
        if body.startswith("- ") or body == "-":
            # A block sequence may sit at its key's own indent.
            while path and path[-1][0] > indent:
                path.pop()
            if items is not None and tuple(k for _, k in path) == keys:
                items.append(_scalar(body[1:]))
            continue
        key, sep, value = body.partition(":")
        if not sep or (value and not value.startswith(" ")):
            continue  # not a `key: value` line this reader needs
        while path and path[-1][0] >= indent:
            path.pop()
        path.append((indent, _scalar(key)))
        if tuple(k for _, k in path) == keys:
            value = value.strip()
            if value.startswith("[") and value.endswith("]"):
                return tuple(_scalar(v) for v in value[1:-1].split(",") if v.strip())
            items = []
        elif items is not None and len(path) <= len(keys):
            break  # left the list's mapping
    return None if items is None else tuple(items)


def _uncomment(line: str) -> str:
    """Drop a `#` comment (at the start or after a space), leaving quoted text alone."""
    quote: str | None = None
    for index, char in enumerate(line):
        if quote is not None:
            quote = None if char == quote else quote
        elif char in "'\"" and (index == 0 or line[index - 1] in " [,"):
            quote = char  # a quoted scalar, not an apostrophe inside a word
        elif char == "#" and (index == 0 or line[index - 1] in " \t"):
            return line[:index]
    return line


def _scalar(text: str) -> str:
    text = text.strip()
    if len(text) >= 2 and text[0] == text[-1] and text[0] in "'\"":
        return text[1:-1]
    return text


__all__ = [
    "DEFAULT_APP_TOKEN",
    "DEFAULT_BOT_TOKEN",
    "DEFAULT_SIGNING_SECRET",
    "MANIFEST",
    "METHOD_SCOPES",
    "Call",
    "Delivery",
    "FakeSlack",
    "OpenedView",
    "Posted",
    "ResponsePost",
    "SignedRequest",
    "UploadedFile",
    "manifest_scopes",
    "sign",
]


# --- Workflow Builder steps (issue 16) ---------------------------------------------------


@dataclass(frozen=True)
class StepCompletion:
    """A functions.completeSuccess / completeError call, and which kind of token made it."""

    method: str
    execution_id: str
    outputs: dict[str, Any]
    error: str | None
    token: Literal["bot", "workflow"]


@dataclass
class _Execution:
    """A step execution the fake started: its workflow token and the outputs it must give."""

    token: str
    required: tuple[str, ...]
    declared: tuple[str, ...]
    event_id: str | None
    running: bool = True


def _parameter_list(parameters: Any) -> list[dict[str, Any]]:
    """Turn the manifest's parameters into the event's list of specs, each with `is_required`.

    The manifest says `{properties: {name: spec}, required: [names]}` (Slack's
    manifest reference; an older form puts `is_required` in each spec instead).
    """
    if not isinstance(parameters, Mapping):
        return []
    properties = parameters.get("properties", parameters)
    required = set(parameters.get("required") or ())
    if not isinstance(properties, Mapping):
        return []
    return [
        {
            **{k: v for k, v in spec.items() if k != "name"},
            "name": name,
            "is_required": bool(spec.get("is_required")) or name in required,
        }
        for name, spec in properties.items()
        if isinstance(spec, Mapping)
    ]
