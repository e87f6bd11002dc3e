"""A request held for a second person: what it is, who asked, and what became of it.

Pure values (no I/O). The held request is the audit record itself
(`ExportRequest.as_audit_record()`), so what the approver is shown, what the
chain holds and what runs are one and the same; `request()` rebuilds the call
from it. The id is random and unguessable, and it is all a button carries.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from typing import Any, Final, Literal

from bot.domain.model import ExportRequest
from bot.domain.types import Actor

ApprovalStatus = Literal["pending", "approved", "denied", "expired"]
APPROVAL_STATUSES: Final[tuple[ApprovalStatus, ...]] = ("pending", "approved", "denied", "expired")
ID_BYTES: Final = 18  # 144 bits: no one guesses another request's id


def new_approval_id() -> str:
    """Return a fresh, unguessable approval id (URL-safe text, 24 characters)."""
    return secrets.token_urlsafe(ID_BYTES)


@dataclass(frozen=True)
class Approval:
    """One held export, as the approval store keeps it.

    `entry_id`: the `awaiting_approval` audit entry. `reply_channel`: where the
    requester asked (the task id goes there). `message_channel`/`message_ts`:
    the approval message with the buttons. Times are Unix seconds.
    """

    id: str
    entry_id: int
    requester: Actor
    record: dict[str, Any]
    reasons: tuple[str, ...]
    reply_channel: str
    created_at: float
    expires_at: float
    status: ApprovalStatus = "pending"
    message_channel: str | None = None
    message_ts: str | None = None
    decided_by: str | None = None
    decided_at: float | None = None
    reason: str | None = None
    task_id: str | None = None
    lease_owner: str | None = None
    lease_until: float | None = None

    def request(self) -> ExportRequest:
        """Rebuild the exact request that was held."""
        return ExportRequest.from_audit_record(self.record)
