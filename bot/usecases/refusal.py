"""Decide whether a command may run, and put every refusal on record.

The one place that turns who, from where and what into a verdict: access
first (`AccessControl`, bounded in time), then the command's own validity. A
refused command is audited as `invalid` or `denied`, with the request when
there is one, and counted. Callers answer the user only once the refusal is
on record (see `bot.entrypoints.refusals`), so the user's `history` that
follows the answer lists it, on whichever replica it runs.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Literal

from bot.access import AccessControl
from bot.domain.errors import AccessDenied, AuditUnavailable, InvalidCommand
from bot.domain.model import ExportRequest
from bot.domain.types import Actor
from bot.ports import AuditLog
from bot.usecases.export import Count, ignore_count

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Refused:
    """A command that will not run, and why; the error's text is safe to show and audit.

    `undecided`: denied only because the user groups could not be read in time.
    """

    outcome: Literal["invalid", "denied"]
    error: AccessDenied | InvalidCommand
    request: ExportRequest | None = None
    undecided: bool = False


class Gatekeeper:
    """Admit or refuse commands; record each refusal in the audit log."""

    def __init__(self, access: AccessControl, audit: AuditLog, *, count: Count = ignore_count):
        self._access = access
        self._audit = audit
        self._count = count

    async def check(
        self,
        actor: Actor,
        *,
        request: ExportRequest | None = None,
        invalid: InvalidCommand | None = None,
    ) -> Refused | None:
        """Return why `actor` may not run this command, or None if it may.

        Access comes first: someone who may not export learns nothing about
        their command's mistakes. `request` is what the command asks for, if it
        parsed; `invalid` lists its problems, if it did not.
        """
        decision = await self._access.check(actor.user_id, actor.channel_id)
        if not decision.allowed:
            return Refused("denied", AccessDenied(decision.reason), request, decision.undecided)
        if invalid is not None:
            return Refused("invalid", invalid)
        return None

    async def record(self, actor: Actor, refused: Refused) -> int | None:
        """Audit a refusal (and count it); return its entry id, or None if it was not written."""
        self._count(refused.outcome)
        record = refused.request.as_audit_record() if refused.request is not None else None
        try:
            return await self._audit.record_refusal(
                actor, refused.outcome, str(refused.error), record
            )
        except AuditUnavailable:
            log.error("refusal not recorded", extra={"outcome": refused.outcome})
            return None
