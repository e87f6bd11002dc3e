"""Keep requests held for an approver in the audit log's database (`pending_approvals`).

One row per held export, keyed by its random id. A decision is one conditional
`UPDATE … WHERE id = :id AND status = 'pending' AND expires_at > :now`: two
approvers clicking at once, a double click, a Slack retry or two replicas make
exactly one change, and only the caller whose update changed the row goes on to
export. Expiry is due work claimed with the shared lease (`claim_leased`), so
one replica marks a request expired and updates its message, also after a
restart. Library errors leave this module only as `ApprovalStoreUnavailable`,
without the database password.
"""

from __future__ import annotations

import json
from typing import Any, Final

from sqlalchemy import (
    BigInteger,
    CheckConstraint,
    Column,
    Double,
    Index,
    MetaData,
    String,
    Table,
    Text,
    select,
    update,
)
from sqlalchemy.engine import Row

from bot.adapters.claims import claim_leased
from bot.adapters.sql import SqlStore
from bot.domain.approvals import APPROVAL_STATUSES, Approval, ApprovalStatus
from bot.domain.errors import ApprovalStoreUnavailable
from bot.domain.types import Actor

SCHEMA_LOCK_KEY: Final = 0x6873735F61707072  # "hss_appr"

metadata = MetaData()

pending_approvals = Table(
    "pending_approvals",
    metadata,
    Column("id", String(64), primary_key=True),
    Column("entry_id", BigInteger, nullable=False),  # the `awaiting_approval` audit entry
    Column("team_id", String(255), nullable=False),
    Column("user_id", String(255), nullable=False),
    Column("channel_id", String(255), nullable=False),
    Column("source", String(16), nullable=False),
    # The request exactly as audited (`{"query", "body"}` JSON): what runs on approval.
    Column("request", Text, nullable=False),
    Column("reasons", Text, nullable=False),  # JSON list: the conditions met, in words
    Column("reply_channel", String(255), nullable=False),
    Column("message_channel", String(255), nullable=True),
    Column("message_ts", String(64), nullable=True),
    Column("status", String(16), nullable=False),
    Column("created_at", Double, nullable=False),
    Column("expires_at", Double, nullable=False),
    Column("decided_by", String(255), nullable=True),
    Column("decided_at", Double, nullable=True),
    Column("reason", Text, nullable=True),
    Column("task_id", String(256), nullable=True),
    Column("lease_owner", String(255), nullable=True),
    Column("lease_until", Double, nullable=True),
    CheckConstraint(
        "status IN (" + ", ".join(f"'{s}'" for s in APPROVAL_STATUSES) + ")",
        name="pending_approvals_status",
    ),
    Index("pending_approvals_due", "status", "expires_at"),
)


class SqlApprovalStore(SqlStore):
    """Held exports over SQLAlchemy Core (implements `bot.ports.ApprovalStore`)."""

    tables = metadata
    schema_lock_key = SCHEMA_LOCK_KEY
    error = ApprovalStoreUnavailable
    what = "approval store"

    async def add(self, approval: Approval) -> None:
        """Insert a held request."""
        async with self._guard(), self._engine.begin() as conn:
            await conn.execute(pending_approvals.insert().values(**_columns(approval)))

    async def get(self, approval_id: str) -> Approval | None:
        """Return one held request, or None (an id nobody issued)."""
        query = select(pending_approvals).where(pending_approvals.c.id == approval_id)
        async with self._guard(), self._engine.connect() as conn:
            row = (await conn.execute(query)).one_or_none()
        return None if row is None else _approval(row)

    async def set_message(self, approval_id: str, channel: str, ts: str) -> None:
        """Remember where the approval message with the buttons was posted."""
        await self._update(
            pending_approvals.c.id == approval_id, message_channel=channel, message_ts=ts
        )

    async def decide(
        self,
        approval_id: str,
        status: ApprovalStatus,
        *,
        by: str,
        at: float,
        reason: str | None = None,
    ) -> bool:
        """Approve or deny, once: True only for the one caller whose update changed the row."""
        if status not in ("approved", "denied"):
            raise ValueError(f"an approver approves or denies, not {status!r}")
        a = pending_approvals.c
        changed = await self._update(
            (a.id == approval_id) & (a.status == "pending") & (a.expires_at > at),
            status=status,
            decided_by=by,
            decided_at=at,
            reason=reason,
        )
        return changed == 1

    async def expire(self, approval_id: str, owner: str, at: float) -> bool:
        """Mark a claimed, still-pending request expired; False if decided meanwhile."""
        a = pending_approvals.c
        changed = await self._update(
            (a.id == approval_id) & (a.status == "pending") & (a.lease_owner == owner),
            status="expired",
            decided_at=at,
            lease_owner=None,
            lease_until=None,
        )
        return changed == 1

    async def set_task(self, approval_id: str, task_id: str) -> None:
        """Remember the HSS task an approved request started."""
        await self._update(pending_approvals.c.id == approval_id, task_id=task_id)

    async def claim_due(
        self, owner: str, now: float, lease_seconds: float, limit: int
    ) -> list[Approval]:
        """Lease up to `limit` pending requests whose time is up (the expiry's due work)."""
        a = pending_approvals
        async with self._guard(), self._locking.begin() as conn:
            rows = await claim_leased(
                conn,
                a,
                due=(a.c.status == "pending") & (a.c.expires_at <= now),
                order_by=a.c.expires_at,
                owner=owner,
                now=now,
                lease_seconds=lease_seconds,
                limit=limit,
            )
        return [_approval(row) for row in rows]

    async def release(self, owner: str, approval_ids: list[str]) -> None:
        """Give up `owner`'s leases so any worker may claim these at once."""
        if approval_ids:
            a = pending_approvals.c
            await self._update(
                a.id.in_(approval_ids) & (a.lease_owner == owner),
                lease_owner=None,
                lease_until=None,
            )

    async def pending_involving(self, user_id: str, *, as_approver: bool) -> list[Approval]:
        """Return pending requests by `user_id`, and all pending ones if they may approve."""
        a = pending_approvals.c
        query = select(pending_approvals).where(a.status == "pending").order_by(a.created_at)
        if not as_approver:
            query = query.where(a.user_id == user_id)
        async with self._guard(), self._engine.connect() as conn:
            rows = (await conn.execute(query)).all()
        return [_approval(row) for row in rows]

    async def _update(self, where: Any, **values: Any) -> int:
        async with self._guard(), self._engine.begin() as conn:
            result = await conn.execute(update(pending_approvals).where(where).values(**values))
        return int(result.rowcount)


open_approval_store = SqlApprovalStore.open


def _columns(approval: Approval) -> dict[str, Any]:
    actor = approval.requester
    return {
        "id": approval.id,
        "entry_id": approval.entry_id,
        "team_id": actor.team_id,
        "user_id": actor.user_id,
        "channel_id": actor.channel_id,
        "source": actor.source,
        "request": json.dumps(approval.record, ensure_ascii=False),
        "reasons": json.dumps(list(approval.reasons), ensure_ascii=False),
        "reply_channel": approval.reply_channel,
        "message_channel": approval.message_channel,
        "message_ts": approval.message_ts,
        "status": approval.status,
        "created_at": approval.created_at,
        "expires_at": approval.expires_at,
        "decided_by": approval.decided_by,
        "decided_at": approval.decided_at,
        "reason": approval.reason,
        "task_id": approval.task_id,
        "lease_owner": approval.lease_owner,
        "lease_until": approval.lease_until,
    }


def _approval(row: Row[Any]) -> Approval:
    d = dict(row._mapping)
    actor = Actor(d.pop("team_id"), d.pop("user_id"), d.pop("channel_id"), d.pop("source"))
    return Approval(
        requester=actor,
        record=json.loads(d.pop("request")),
        reasons=tuple(json.loads(d.pop("reasons"))),
        **d,
    )


__all__ = ["SqlApprovalStore", "open_approval_store"]
