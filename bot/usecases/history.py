"""Read a user's latest audit entries: exports, refusals, changes and their schedules' runs."""

from __future__ import annotations

from typing import Final

from bot.domain.types import Actor, AuditEntry
from bot.ports import AuditLog

HISTORY_LENGTH: Final = 10


class CommandHistory:
    """Answer `history`: the caller's own latest entries, newest first."""

    def __init__(self, audit: AuditLog, *, length: int = HISTORY_LENGTH) -> None:
        self._audit = audit
        self._length = length

    async def latest(self, actor: Actor) -> list[AuditEntry]:
        """Return the actor's latest entries; raise `AuditUnavailable` if the log cannot be read."""
        return await self._audit.history(actor.user_id, self._length)
