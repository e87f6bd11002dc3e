"""Post and update the two-person rule's messages in Slack (implements `ApprovalMessenger`).

Built on `SlackNotifier` (posting, telling one person with its fallbacks) and
`slack_web.update_message`; Slack's failures are logged, never raised: the
decision is already in the database and the audit chain.
"""

from __future__ import annotations

import logging

from slack_sdk.web.async_client import AsyncWebClient

from bot.adapters import slack_web
from bot.adapters.slack_notifier import SlackNotifier
from bot.domain.blocks import Message
from bot.domain.errors import DeliveryError
from bot.domain.types import Actor, Announcement, ReplyTo

log = logging.getLogger(__name__)


class SlackApprovalMessenger:
    """The approval messages, through the bot's Web API client."""

    def __init__(self, client: AsyncWebClient, notifier: SlackNotifier) -> None:
        self._client = client
        self._notifier = notifier

    async def post(self, channel_id: str, message: Message) -> Announcement | None:
        """Post the approval request; None (logged) if Slack refused."""
        return await self._notifier.post_in_channel(channel_id, message, {"what": "approval"})

    async def update(self, channel_id: str, ts: str, message: Message) -> None:
        """Replace the approval message (its buttons go)."""
        try:
            await slack_web.update_message(self._client, channel_id, ts, message)
        except DeliveryError as exc:
            log.warning("chat.update of an approval failed", extra={"error": exc.code})

    async def tell(self, reply: ReplyTo, user_id: str, message: Message) -> None:
        """Show one person a message (response_url, ephemeral, then DM)."""
        actor = Actor("", user_id, reply.channel_id, "approval")
        await self._notifier.tell_user(reply, actor, message, {"what": "approval"})
