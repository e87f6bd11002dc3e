"""Finish Workflow Builder steps over Slack's Web API (`bot.tracking.ports.StepCompletion`).

The tracker calls these long after the `function_executed` event, maybe from
another replica or after a restart, so they use the bot's own client
(`SLACK_BOT_TOKEN`): `functions.completeSuccess` and `functions.completeError`
accept the bot token of the app that owns the function. The event's workflow
token (`xwfp-…`) lives only as long as the execution, and is a secret: it is
used in the listener for an immediate `fail()`, and never stored. Errors leave
as `DeliveryError`s (see `bot.adapters.slack_web`), Slack's code named.
"""

from __future__ import annotations

from slack_sdk.web.async_client import AsyncWebClient

from bot.adapters.slack_web import call
from bot.domain.errors import DeliveryRefused


class SlackSteps:
    """Complete, fail and link Workflow steps with the bot token."""

    def __init__(self, client: AsyncWebClient) -> None:
        self._client = client

    def __repr__(self) -> str:
        return "SlackSteps()"

    async def permalink(self, channel_id: str, ts: str) -> str:
        """Return a link to a message (`chat.getPermalink`)."""
        response = await call(
            "chat.getPermalink",
            self._client.chat_getPermalink(channel=channel_id, message_ts=ts),
        )
        link = response.get("permalink")
        if not isinstance(link, str) or not link:
            raise DeliveryRefused("Slack gave no permalink", code="no_permalink")
        return link

    async def complete(self, execution_id: str, outputs: dict[str, str]) -> None:
        """Mark the step done with its outputs (`functions.completeSuccess`)."""
        await call(
            "functions.completeSuccess",
            self._client.functions_completeSuccess(
                function_execution_id=execution_id, outputs=outputs
            ),
        )

    async def fail(self, execution_id: str, error: str) -> None:
        """Mark the step failed, saying why (`functions.completeError`)."""
        await call(
            "functions.completeError",
            self._client.functions_completeError(function_execution_id=execution_id, error=error),
        )
