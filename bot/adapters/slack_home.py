"""Publish a user's App Home over Slack's Web API (`views.publish`, issue 15).

The home is refreshed after work is done (a click, an opened tab); a home that
Slack will not take must not fail that work, so a failure is logged (Slack's
code, never the view) and reported as False. With the `hash` of the home the
click came from, Slack refuses (`hash_conflict`) to overwrite a home that was
published again meanwhile: the newer one stays.
"""

from __future__ import annotations

import logging

from slack_sdk.web.async_client import AsyncWebClient

from bot.adapters.slack_web import call
from bot.domain.errors import DeliveryError

log = logging.getLogger(__name__)


class SlackHome:
    """Publish home views with the bot token."""

    def __init__(self, client: AsyncWebClient) -> None:
        self._client = client

    def __repr__(self) -> str:
        return "SlackHome()"

    async def publish(
        self, user_id: str, view: dict[str, object], *, view_hash: str | None = None
    ) -> str | None:
        """Publish `view` as the user's home; return its new hash, None (logged) if Slack
        did not take it (or "" if Slack named no hash)."""
        extra = {} if view_hash is None else {"hash": view_hash}
        try:
            response = await call(
                "views.publish", self._client.views_publish(user_id=user_id, view=view, **extra)
            )
        except DeliveryError as exc:
            log.warning("views.publish failed", extra={"error": exc.code})
            return None
        published = (response.get("view") or {}).get("hash")
        return published if isinstance(published, str) else ""
