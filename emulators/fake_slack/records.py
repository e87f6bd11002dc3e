"""What the fake Slack records and hands out: messages, views, files, signed requests.

Plain dataclasses a test reads (`Posted`, `ResponsePost`, `OpenedView`, `UploadedFile`,
`StepCompletion`, `Call`), what the fake sends the app (`SignedRequest`, signed by `sign`
as Slack signs, and `Delivery`, what the app answered), the fake's own tokens and
Slack's time limits, and the private state behind them.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
from dataclasses import dataclass, field
from typing import Any, Final, Literal

from aiohttp import web

DEFAULT_BOT_TOKEN: Final = "xoxb-fake-bot-token-0000"  # noqa: S105 - the fake's own
DEFAULT_APP_TOKEN: Final = "xapp-1-fake-app-token-0000"  # noqa: S105 - the fake's own
DEFAULT_SIGNING_SECRET: Final = "fake-signing-secret-0000"  # noqa: S105 - the fake's own
SLACK_ACK_SECONDS: Final = 3.0  # Slack shows "operation_timeout" after this
TRIGGER_TTL_SECONDS: Final = 3.0
RESPONSE_URL_USES: Final = 5
UPLOAD_READ_CHUNK: Final = 256 * 1024


def sign(secret: str, body: bytes, timestamp: int) -> dict[str, str]:
    """Return Slack's signature headers (v0) for a request body sent at `timestamp`."""
    base = b"v0:" + str(timestamp).encode() + b":" + body
    digest = hmac.new(secret.encode(), base, hashlib.sha256).hexdigest()
    return {
        "X-Slack-Request-Timestamp": str(timestamp),
        "X-Slack-Signature": f"v0={digest}",
    }


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


@dataclass(frozen=True)
class StepCompletion:
    """A functions.completeSuccess / completeError call, and which kind of token made it."""

    method: str
    execution_id: str
    outputs: dict[str, Any]
    error: str | None
    token: Literal["bot", "workflow"]


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


@dataclass
class _Execution:
    """A step execution the fake started: its workflow token and the outputs it must give."""

    token: str
    required: tuple[str, ...]
    declared: tuple[str, ...]
    event_id: str | None
    started: int  # when the event was first sent (Unix seconds): a retry carries the same times
    running: bool = True


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
