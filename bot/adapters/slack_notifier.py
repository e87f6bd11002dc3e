"""Deliver the bot's answers through Slack's Web API, falling back so a task_id is never lost.

`SlackNotifier` implements `bot.ports.Notifier`. The channel message goes by
`chat.postMessage`; when the bot cannot post there (not in the channel, a DM,
rate limits that outlast the retries, Slack down) the same message goes to the
command's `response_url` as `in_channel`, then to the user's DM with the app.
If every route fails the task_id is still in the audit entry, and logged.

`export_submitted` says where the follow-up (the file, notices) goes: the
channel message's thread; else the user's DM with the app, since the bot
cannot post in that channel later either. A `response_url` cannot be threaded
under, so after one the task message is posted in the DM too, saying the file
comes there. Posting to a user id reaches that DM with `chat:write` alone, and
Slack's answer names the DM's `D…` id, which file shares need.

Every post goes through `bot.adapters.slack_web`, as the file delivery's do;
a route that fails is logged with Slack's error code and the next one tried.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Coroutine
from typing import TYPE_CHECKING, Any, Final

import aiohttp
from slack_sdk.http_retry.builtin_async_handlers import (
    AsyncConnectionErrorRetryHandler,
    AsyncRateLimitErrorRetryHandler,
)
from slack_sdk.web.async_client import AsyncWebClient
from slack_sdk.webhook.async_client import AsyncWebhookClient

from bot.adapters import slack_web
from bot.adapters.proxy import proxy_for
from bot.adapters.slack_web import SLACK_FAILURES as SLACK_FAILURES  # re-exported for callers
from bot.adapters.slack_web import error_of as error_of  # re-exported for callers
from bot.domain import blocks, task_messages
from bot.domain.blocks import Message
from bot.domain.errors import AuditUnavailable, DeliveryError, DeliveryRefused, SettingsError
from bot.domain.model import ExportRequest
from bot.domain.types import Actor, Announcement, AuditEntry, Failed, ReplyTo, Submitted
from bot.settings import Settings

if TYPE_CHECKING:
    from bot.adapters.audit_store import Appended

log = logging.getLogger(__name__)

SLACK_TIMEOUT_SECONDS: Final = 10


def slack_retry_handlers() -> list[Any]:
    """Return the retry handlers every Slack client here uses: rate limits and connection errors."""
    return [
        AsyncConnectionErrorRetryHandler(max_retry_count=2),
        AsyncRateLimitErrorRetryHandler(max_retry_count=3),
    ]


def build_web_client(
    settings: Settings, *, session: aiohttp.ClientSession | None = None
) -> AsyncWebClient:
    """Build the Web API client from settings: bot token, `SLACK_API_URL`, retry handlers.

    `session`: the process's keep-alive session (`SlackConnections.session`,
    bounding each call by `SLACK_TIMEOUT_SECONDS`), which the client never
    closes; without one, slack_sdk opens a connection per call.
    """
    if settings.SLACK_BOT_TOKEN is None:
        raise SettingsError(["SLACK_BOT_TOKEN is required (xoxb-…, from the app's OAuth page)"])
    base_url = str(settings.SLACK_API_URL)
    client = AsyncWebClient(
        token=settings.SLACK_BOT_TOKEN.get_secret_value(),
        base_url=base_url if base_url.endswith("/") else base_url + "/",
        timeout=SLACK_TIMEOUT_SECONDS,
        retry_handlers=slack_retry_handlers(),
        session=session,
    )
    # slack_sdk takes HTTPS_PROXY itself but ignores NO_PROXY: decide here. It passes
    # `proxy` with each request, with a session given or not (see bot.adapters.slack_http).
    client.proxy = proxy_for(base_url)
    return client


def connect_like(client: AsyncWebClient, model: AsyncWebClient) -> None:
    """Give `client` the base URL, timeout, retry handlers, proxy and session of `model`.

    For a client someone else built from the token alone (Bolt's own): it then
    reaches the same Slack, through the same proxy, with the same retries, over
    the same keep-alive connections. Bolt copies these attributes, the session
    included, into the client it makes for each request (`context.client`), so
    those calls share them too. The session stays `model`'s owner's to close.
    """
    client.base_url = model.base_url
    client.timeout = model.timeout
    client.retry_handlers = list(model.retry_handlers)
    client.proxy = model.proxy
    client.session = model.session


def build_webhook(url: str) -> AsyncWebhookClient:
    """Build a client for one `response_url`, with the same retry handlers."""
    client = AsyncWebhookClient(
        url, timeout=SLACK_TIMEOUT_SECONDS, retry_handlers=slack_retry_handlers()
    )
    client.proxy = proxy_for(url)  # see build_web_client
    return client


class SlackNotifier:
    """Post export outcomes to Slack: the channel first, then the fallbacks."""

    def __init__(
        self,
        client: AsyncWebClient,
        *,
        webhook: Callable[[str], AsyncWebhookClient] = build_webhook,
    ) -> None:
        self._client = client
        self._webhook = webhook

    async def export_submitted(
        self, reply: ReplyTo, actor: Actor, request: ExportRequest, result: Submitted
    ) -> Announcement | None:
        """Announce the task; return where the follow-up goes, or None if no one saw it.

        In the channel: that message. Through the `response_url` only: the same
        message in the user's DM, saying the file comes there (or, if even that
        fails, the user id, for the tracker to open the DM later). Only in the
        DM: that message. Nowhere: None (the task_id is in the log and audit).
        """
        message = blocks.submitted(
            user_id=actor.user_id,
            record=request.as_audit_record(),
            task_id=result.task.task_id,
            request_id=result.task.request_id,
            audit_complete=result.audit_complete,
        )
        context = {"task_id": result.task.task_id, "audit_entry": result.entry_id}
        posted = await self.post_in_channel(reply.channel_id, message, context)
        if posted is not None:
            return posted
        if await self._to_response_url(reply, message, "in_channel", context):
            in_dm = task_messages.follow_up_here(message, reply.channel_id)
            posted = await self.post_in_channel(actor.user_id, in_dm, context)
            return posted or Announcement(actor.user_id)
        return await self._to_dm(actor.user_id, message, context)

    async def export_failed(self, reply: ReplyTo, actor: Actor, result: Failed) -> None:
        """Tell the requester, privately, why no export was started."""
        message = blocks.failed(result.error, entry_id=result.entry_id)
        context = {"audit_entry": result.entry_id}
        await self.tell_user(reply, actor, message, context)

    async def tell_user(
        self, reply: ReplyTo, actor: Actor, message: Message, context: dict[str, Any]
    ) -> bool:
        """Show a message to one user only: response_url, ephemeral, then DM; True if shown."""
        if await self._to_response_url(reply, message, "ephemeral", context):
            return True
        try:
            await slack_web.post_ephemeral(self._client, reply.channel_id, actor.user_id, message)
        except DeliveryError as exc:
            log.warning("chat.postEphemeral failed", extra={**context, "error": exc.code})
        else:
            return True
        return await self._to_dm(actor.user_id, message, context) is not None

    async def post_in_channel(
        self, channel_id: str, message: Message, context: dict[str, Any]
    ) -> Announcement | None:
        """Post to a channel (a user id: their DM with the app); return where it landed.

        None (logged) if Slack refused. The channel returned is Slack's: for a
        user id, the DM's `D…` id.
        """
        try:
            posted = await slack_web.post_message(self._client, channel_id, message, unfurl=False)
        except DeliveryError as exc:
            log.warning("chat.postMessage failed", extra={**context, "error": exc.code})
            return None
        if posted.ts is None:
            return None
        return Announcement(posted.channel_id, posted.ts)

    async def _to_response_url(
        self, reply: ReplyTo, message: Message, response_type: str, context: dict[str, Any]
    ) -> bool:
        if not reply.response_url:
            return False
        webhook = self._webhook(reply.response_url)
        try:
            await slack_web.send_to_response_url(webhook, message, response_type)
        except DeliveryRefused as exc:
            log.warning("response_url post refused", extra={**context, "error": exc.code})
            return False
        except DeliveryError as exc:
            log.warning("response_url post failed", extra={**context, "error": exc.code})
            return False
        return True

    async def _to_dm(
        self, user_id: str, message: Message, context: dict[str, Any]
    ) -> Announcement | None:
        # Posting to a user id lands in the user's Messages tab with the app (chat:write only).
        posted = await self.post_in_channel(user_id, message, context)
        if posted is None:
            log.error("message could not be delivered to anyone; see the audit log", extra=context)
        return posted


class AuditChannelMirror:
    """Mirror each audit record as one line in `AUDIT_CHANNEL_ID` (best effort, never raises).

    Pass it as `open_audit_log(..., on_append=mirror)`. The audit log awaits
    `on_append` after each commit, so with `spawn` (e.g. `Lifecycle.spawn`) the
    entry is read and posted in the background, and neither the read nor a slow
    or rate-limited Slack delays the HSS call that follows the audit entry.
    """

    def __init__(
        self,
        client: AsyncWebClient,
        channel_id: str,
        *,
        spawn: Callable[[Coroutine[Any, Any, None]], object] | None = None,
    ) -> None:
        self._client = client
        self._channel_id = channel_id
        self._spawn = spawn

    async def __call__(self, record: Appended) -> None:
        """Mirror one record's entry: in the background with `spawn`, else now."""
        if self._spawn is not None:
            self._spawn(self.mirror(record))
        else:
            await self.mirror(record)

    async def mirror(self, record: Appended) -> None:
        """Read the entry as it stood once `record` was written, and post its line."""
        try:
            entry = await record.entry()
        except AuditUnavailable as exc:
            log.warning(
                "audit mirror could not read the entry",
                extra={"audit_entry": record.entry_id, "error_type": type(exc).__name__},
            )
            return
        if entry is not None:
            await self.post(entry)

    async def post(self, entry: AuditEntry) -> None:
        """Post one entry's line."""
        task = f" · task `{blocks.escape(entry.task_id)}`" if entry.task_id else ""
        record = entry.extra.get("record") or {}
        # The record's chain hash, kept here out of the database's reach: `audit verify`
        # cannot see a rewrite of the whole chain, a comparison with these lines can.
        chained = f" · record {record['seq']} hash `{record['hash']}`" if "hash" in record else ""
        text = (
            f"audit #{entry.id} · <@{entry.user_id}> in <#{entry.channel_id}> · {entry.source} · "
            f"*{entry.outcome}*{task} · {blocks.summarize(entry.request)}{chained}"
        )
        try:
            await slack_web.post_message(self._client, self._channel_id, Message(text))
        except DeliveryError as exc:
            log.warning(
                "audit mirror post failed", extra={"audit_entry": entry.id, "error": exc.code}
            )
