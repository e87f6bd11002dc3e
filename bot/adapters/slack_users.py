"""Read a Slack user's time zone (`users.info`, scope `users:read`) for their schedules.

A schedule typed without `tz=` runs in its owner's Slack zone. Slack's answer
is a hint, never a reason to refuse: a failed call, an unknown user or an empty
zone all read as None, and the caller falls back to SCHEDULE_DEFAULT_TZ.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any, Final

from slack_sdk.web.async_client import AsyncWebClient

from bot.adapters.slack_web import SLACK_FAILURES, error_of

log = logging.getLogger(__name__)

LOOKUP_SECONDS: Final = 2.0


class SlackUserZones:
    """`UserZones` over `users.info`: the user's IANA zone name, or None."""

    def __init__(self, client: AsyncWebClient, *, timeout: float = LOOKUP_SECONDS) -> None:
        self._client = client
        self._timeout = timeout

    async def zone_of(self, user_id: str) -> str | None:
        """Return the user's Slack time zone (`tz`), or None when Slack cannot say."""
        try:
            async with asyncio.timeout(self._timeout):
                response: Any = await self._client.users_info(user=user_id)
        except SLACK_FAILURES as exc:  # TimeoutError included
            log.warning("users.info failed", extra={"error": error_of(exc)})
            return None
        user = response.get("user") or {}
        zone = user.get("tz") if isinstance(user, dict) else None
        return zone if isinstance(zone, str) and zone else None
