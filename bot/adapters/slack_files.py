"""Put export files into Slack threads with the external upload flow, streaming from disk.

`SlackFiles` implements `bot.tracking.ports.FileDelivery`. slack_sdk's
`files_upload_v2` reads the whole file into memory, so the three steps run
separately: `files.getUploadURLExternal` (name, length) through the
`AsyncWebClient`, the bytes POSTed to the upload URL straight from the file
(aiohttp streams it in small reads), then `files.completeUploadExternal`
(channel and thread), the call that makes the file visible. Keeping them apart
lets the tracker save its state between the invisible steps and the visible one.

`completeUploadExternal` takes only conversation ids (`C…`, `G…`, `D…`), not a
user id; `open_thread` posts to a user id (their DM with the app, `chat:write`
only, no `im:write` for `conversations.open`) and returns the DM's `D…` id
from Slack's answer, so the file can be shared under that message.

Slack's errors leave here as `DeliveryUnavailable` (try again later: network,
rate limits, 5xx) or `DeliveryRefused` (no point retrying: channel gone, bot
not in it, bad token), translated by `bot.adapters.slack_web` (which the
notifier uses too); messages carry Slack's error code, never the token.
"""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Final

import aiohttp
from slack_sdk.web.async_client import AsyncWebClient

from bot.adapters import slack_web
from bot.adapters.slack_web import call
from bot.domain.blocks import Message
from bot.domain.errors import DeliveryRefused, DeliveryUnavailable
from bot.tracking.ports import ShareState, Thread, UploadSlot

UPLOAD_CONNECT_SECONDS: Final = 10.0
UPLOAD_READ_SECONDS: Final = 120.0  # between two reads of the upload's answer
# No total: a large file takes as long as it takes, as long as it keeps moving.
UPLOAD_TIMEOUT: Final = aiohttp.ClientTimeout(
    total=None, connect=UPLOAD_CONNECT_SECONDS, sock_read=UPLOAD_READ_SECONDS
)


class SlackFiles:
    """Upload files into threads and update messages, over Slack's Web API.

    `session` carries the uploads' bytes: the runtime's keep-alive one
    (`SlackConnections.session(UPLOAD_TIMEOUT, trust_env=True)`), which is not
    closed here; without one, a session of its own is made on first use.
    """

    def __init__(
        self, client: AsyncWebClient, *, session: aiohttp.ClientSession | None = None
    ) -> None:
        self._client = client
        self._session = session
        self._owns_session = session is None

    def __repr__(self) -> str:
        return "SlackFiles()"

    async def start_upload(self, file_name: str, size: int) -> UploadSlot:
        """Ask for an upload URL for a file of `size` bytes (`files.getUploadURLExternal`)."""
        response = await call(
            "files.getUploadURLExternal",
            self._client.files_getUploadURLExternal(filename=file_name, length=size),
        )
        file_id, upload_url = response.get("file_id"), response.get("upload_url")
        if not isinstance(file_id, str) or not isinstance(upload_url, str):
            raise DeliveryUnavailable("Slack answered files.getUploadURLExternal without a URL")
        return UploadSlot(file_id=file_id, upload_url=upload_url)

    async def send_file(self, slot: UploadSlot, path: Path, size: int) -> None:
        """POST the file's bytes to the upload URL, read from disk as they are sent."""
        session = self._http()
        try:
            stream = await asyncio.to_thread(path.open, "rb")
        except OSError as exc:
            reason = exc.strerror or type(exc).__name__
            raise DeliveryUnavailable(f"the file to upload could not be read ({reason})") from exc
        try:
            headers = {"Content-Type": "application/octet-stream", "Content-Length": str(size)}
            async with session.post(slot.upload_url, data=stream, headers=headers) as response:
                body = (await response.content.read(300)).decode("utf-8", "replace")
                status = response.status
        except (aiohttp.ClientError, TimeoutError) as exc:
            raise DeliveryUnavailable(
                f"the upload to Slack broke off ({type(exc).__name__})"
            ) from exc
        finally:
            await asyncio.to_thread(stream.close)
        if status == 200:
            return
        detail = f"Slack answered the upload with HTTP {status}: {body.strip()[:100]}"
        if status == 429 or status >= 500:
            raise DeliveryUnavailable(detail)
        raise DeliveryRefused(detail, code=str(status))

    async def complete_upload(
        self, file_id: str, *, title: str, channel_id: str, thread_ts: str | None
    ) -> None:
        """Share the uploaded file into the channel, in the thread if `thread_ts`."""
        await call(
            "files.completeUploadExternal",
            self._client.files_completeUploadExternal(
                files=[{"id": file_id, "title": title}],
                channel_id=channel_id,
                thread_ts=thread_ts,
            ),
        )

    async def share_state(self, file_id: str, channel_id: str) -> ShareState:
        """Ask `files.info` whether the file is shared in the channel, or "unknown"."""
        try:
            response = await call("files.info", self._client.files_info(file=file_id))
        except DeliveryRefused:
            return "unknown"  # no such method, scope or file: Slack cannot tell us
        found = response.get("file")
        if not isinstance(found, dict):
            return "unknown"
        places: set[str] = set()
        shares = found.get("shares")
        if isinstance(shares, dict):
            for kind in ("public", "private"):
                places.update(shares.get(kind) or {})
        for key in ("channels", "groups", "ims"):
            places.update(found.get(key) or ())
        return "shared" if channel_id in places else "unshared"

    async def update_message(self, channel_id: str, ts: str, message: Message) -> None:
        """Replace a message's text and blocks (`chat.update`)."""
        await slack_web.update_message(self._client, channel_id, ts, message)

    async def post_message(
        self, channel_id: str, message: Message, *, thread_ts: str | None = None
    ) -> str | None:
        """Post a message, as a thread reply if `thread_ts`; return its ts."""
        posted = await slack_web.post_message(
            self._client, channel_id, message, thread_ts=thread_ts
        )
        return posted.ts

    async def open_thread(self, channel_id: str, message: Message) -> Thread:
        """Post a message to thread under; return where it landed (a user id: their DM's id)."""
        posted = await slack_web.post_message(self._client, channel_id, message)
        if posted.ts is None:
            raise DeliveryUnavailable("Slack answered chat.postMessage without a ts")
        return Thread(posted.channel_id, posted.ts)

    async def aclose(self) -> None:
        """Close the upload session if this object made it (a session given stays open)."""
        if self._session is not None and self._owns_session:
            await self._session.close()
            self._session = None

    def _http(self) -> aiohttp.ClientSession:
        if self._session is None:
            # trust_env: HTTPS_PROXY/HTTP_PROXY/NO_PROXY, as for every outbound call.
            self._session = aiohttp.ClientSession(timeout=UPLOAD_TIMEOUT, trust_env=True)
        return self._session
