"""The two-person rule: hold an export for an approver, decide it once, expire it, run it.

Order of events, each on record before the next: the held request is audited
(`awaiting_approval`, the exact request inside the chain) and stored under a
random id before anyone is asked; a decision is won by one conditional update
(two approvers, a double click, a Slack retry or another replica lose it and
change nothing), then audited (who, when, why), and only then does an approved
export run, through `ExportService.export` like any other, as the requester
with source `approval`, its approver on record and the id as its dedupe key.
A refused click (the requester, a non-approver, after expiry) is audited as a
refusal of the one who clicked. The request is read from the store, never
from what Slack sends back.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import Any, Final

from bot.access import AccessControl
from bot.domain import approval_blocks as ui
from bot.domain.approvals import Approval, new_approval_id
from bot.domain.errors import ApprovalStoreUnavailable, AuditUnavailable, DuplicateCommand
from bot.domain.model import ExportRequest
from bot.domain.types import Actor, ReplyTo, Submitted
from bot.ports import ApprovalMessenger, ApprovalStore, AuditLog
from bot.usecases.export import ExportService

log = logging.getLogger(__name__)

Describe = Callable[[ExportRequest], dict[str, Any]]
Clock = Callable[[], float]

NO_SUCH_REQUEST: Final = "This approval request is unknown (it may belong to another install)."
UNAVAILABLE: Final = "The approval could not be recorded right now; nothing was run. Try again."


@dataclass(frozen=True)
class Held:
    """What became of holding a request: the approval (None if it could not be recorded)."""

    approval: Approval | None
    error: str | None = None


class ApprovalService:
    """Hold, decide and expire exports that need a second person."""

    def __init__(  # noqa: PLR0913, PLR0917  the use case's collaborators, wired once in bootstrap
        self,
        store: ApprovalStore,
        audit: AuditLog,
        access: AccessControl,
        exports: ExportService,
        messenger: ApprovalMessenger,
        describe: Describe,
        *,
        ttl_seconds: float,
        approval_channel: str | None = None,
        clock: Clock = time.time,
    ) -> None:
        self._store = store
        self._audit = audit
        self._access = access
        self._exports = exports
        self._messenger = messenger
        self._describe = describe
        self._ttl = ttl_seconds
        self._channel = approval_channel
        self._clock = clock

    @property
    def approvers(self) -> str:
        """Name who may approve, as Slack mentions."""
        return self._access.approvals.approvers_in_words()

    async def hold(
        self,
        actor: Actor,
        request: ExportRequest,
        reply: ReplyTo,
        reasons: tuple[str, ...],
        *,
        dedupe_key: str | None = None,
    ) -> Held:
        """Audit the held request, store it, post it for the approvers; nothing reaches HSS."""
        record = request.as_audit_record()
        try:
            entry_id = await self._audit.record_pending(
                actor, record, dedupe_key, awaiting_approval=True
            )
        except DuplicateCommand:
            return Held(None)  # a Slack retry of a command already held: nothing to add
        except AuditUnavailable as exc:
            return Held(None, str(exc))
        now = self._clock()
        approval = Approval(
            id=new_approval_id(),
            entry_id=entry_id,
            requester=actor,
            record=record,
            reasons=reasons,
            reply_channel=reply.channel_id,
            created_at=now,
            expires_at=now + self._ttl,
        )
        try:
            await self._store.add(approval)
        except ApprovalStoreUnavailable as exc:
            log.error("approval not stored", extra={"audit_entry": entry_id})
            return Held(None, str(exc))
        message = ui.approval_request(approval, self._describe(request), self.approvers)
        posted = await self._messenger.post(self._channel or actor.channel_id, message)
        if posted is not None and posted.ts is not None:
            await self._store.set_message(approval.id, posted.channel_id, posted.ts)
            approval = replace(approval, message_channel=posted.channel_id, message_ts=posted.ts)
        else:
            # Held and on record all the same: `/hss-export approvals` lists it for approvers.
            log.error("approval request not posted", extra={"audit_entry": entry_id})
        log.info("export held for approval", extra={"audit_entry": entry_id})
        return Held(approval)

    async def approve(self, approval_id: str, clicker: Actor, reply: ReplyTo) -> None:
        """Run the held export if `clicker` may approve it and wins the decision."""
        approval = await self._admissible(approval_id, clicker, reply)
        if approval is None:
            return
        now = self._clock()
        if not await self._store.decide(approval_id, "approved", by=clicker.user_id, at=now):
            await self._lost(approval_id, clicker, reply)
            return
        try:
            await self._audit.record_decision(approval.entry_id, "approved", by=clicker.user_id)
        except AuditUnavailable:
            log.error("approval decision not recorded", extra={"audit_entry": approval.entry_id})
        requester = replace(approval.requester, source="approval")
        result = await self._exports.export(
            requester,
            approval.request(),
            ReplyTo(approval.reply_channel),
            dedupe_key=f"approval:{approval_id}",
            approved_by=clicker.user_id,
        )
        task_id = result.task.task_id if isinstance(result, Submitted) else None
        if task_id is not None:
            await self._store.set_task(approval_id, task_id)
        await self._close(approval, ui.approved_outcome(clicker.user_id, task_id), tell=False)

    async def deny(
        self, approval_id: str, clicker: Actor, reply: ReplyTo, reason: str | None
    ) -> None:
        """Deny the held export (with an optional reason) if `clicker` may decide it."""
        approval = await self._admissible(approval_id, clicker, reply)
        if approval is None:
            return
        reason = (reason or "").strip()[: ui.REASON_MAX] or None
        now = self._clock()
        won = await self._store.decide(
            approval_id, "denied", by=clicker.user_id, at=now, reason=reason
        )
        if not won:
            await self._lost(approval_id, clicker, reply)
            return
        try:
            await self._audit.record_decision(
                approval.entry_id, "denied_by_approver", by=clicker.user_id, reason=reason
            )
        except AuditUnavailable:
            log.error("denial not recorded", extra={"audit_entry": approval.entry_id})
        await self._close(approval, ui.denied_outcome(clicker.user_id, reason), tell=True)

    async def may_decide(self, approval_id: str, clicker: Actor, reply: ReplyTo) -> bool:
        """Check before opening the deny modal: refuse (and audit) a click that may not decide."""
        return await self._admissible(approval_id, clicker, reply) is not None

    async def waiting(self, actor: Actor) -> tuple[list[Approval], list[Approval]]:
        """Return (yours, waiting on an approver) and (waiting on you), for `approvals`."""
        mine = await self._store.pending_involving(actor.user_id, as_approver=False)
        rule = self._access.approvals
        if not (rule.approvers or rule.approver_groups):
            return mine, []
        candidates = await self._store.pending_involving(actor.user_id, as_approver=True)
        on_me = []
        for approval in candidates:
            decision = await self._access.may_approve(actor.user_id, approval.requester.user_id)
            if decision.allowed:
                on_me.append(approval)
        return mine, on_me

    # --- internals ----------------------------------------------------------------------

    async def _admissible(
        self, approval_id: str, clicker: Actor, reply: ReplyTo
    ) -> Approval | None:
        """Return the pending approval `clicker` may decide; else refuse, audit, and None."""
        try:
            approval = await self._store.get(approval_id)
        except ApprovalStoreUnavailable:
            await self._messenger.tell(reply, clicker.user_id, ui.refused_click(UNAVAILABLE))
            return None
        if approval is None:
            await self._messenger.tell(reply, clicker.user_id, ui.refused_click(NO_SUCH_REQUEST))
            return None
        if approval.status != "pending":
            await self._messenger.tell(reply, clicker.user_id, ui.refused_click(_settled(approval)))
            return None
        why: str | None = None
        if self._clock() >= approval.expires_at:
            why = "This request has expired: nothing was run. Ask the requester to ask again."
        else:
            decision = await self._access.may_approve(clicker.user_id, approval.requester.user_id)
            why = None if decision.allowed else decision.reason
        if why is None:
            return approval
        await self._refuse(approval, clicker, why)
        await self._messenger.tell(reply, clicker.user_id, ui.refused_click(why))
        return None

    async def _refuse(self, approval: Approval, clicker: Actor, why: str) -> None:
        who = replace(clicker, source="approval")
        try:
            await self._audit.record_refusal(
                who, "denied", f"{why} (approval of entry {approval.entry_id})", approval.record
            )
        except AuditUnavailable:
            log.error("refused approval click not recorded", extra={"user": clicker.user_id})

    async def _lost(self, approval_id: str, clicker: Actor, reply: ReplyTo) -> None:
        """Someone else (or this same click, retried) decided first: say so, run nothing."""
        current = await self._store.get(approval_id)
        if current is None:
            return
        if current.decided_by == clicker.user_id:
            return  # a double click or a Slack retry: already done
        if current.status == "pending":  # lost only to the clock
            why = "This request has expired: nothing was run."
        else:
            why = _settled(current)
        await self._messenger.tell(reply, clicker.user_id, ui.refused_click(why))

    async def _close(self, approval: Approval, outcome: str, *, tell: bool) -> None:
        await close(self._messenger, approval, outcome, tell=tell)


class ApprovalExpiry:
    """The expiry of held requests, as due work of the one lease worker (`DueWork`).

    Its unique key is the approval id; the claim is the store's leased claim, and
    `handle` marks a claimed request expired only if it is still pending (an
    approver's decision within the time wins), then audits, tells, updates.
    """

    kind: Final = "approval_expiry"

    def __init__(
        self,
        store: ApprovalStore,
        audit: AuditLog,
        messenger: ApprovalMessenger,
        *,
        clock: Clock = time.time,
    ) -> None:
        self._store = store
        self._audit = audit
        self._messenger = messenger
        self._clock = clock

    async def claim_due(
        self, owner: str, now: float, lease_seconds: float, limit: int
    ) -> list[Approval]:
        """Lease pending requests whose time is up (the clock given is the worker's)."""
        return await self._store.claim_due(owner, now, lease_seconds, limit)

    def key(self, item: Approval) -> str:
        """The unique key of this work: the approval id."""
        return item.id

    async def handle(self, item: Approval, owner: str) -> None:
        """Mark one claimed request expired (once), audit it, tell the requester, close it."""
        if not await self._store.expire(item.id, owner, self._clock()):
            return  # decided meanwhile
        try:
            await self._audit.record_decision(item.entry_id, "expired", by=None)
        except AuditUnavailable:
            log.error("expiry not recorded", extra={"audit_entry": item.entry_id})
        await close(self._messenger, item, ui.expired_outcome(item.expires_at), tell=True)

    async def release(self, owner: str, keys: list[str]) -> None:
        """Give the leases back (a worker stopping)."""
        await self._store.release(owner, keys)

    async def run_once(self, owner: str, *, limit: int = 20, lease_seconds: float = 60) -> int:
        """Claim what is due now and handle it; return how many (tests, operators)."""
        claimed = await self.claim_due(owner, self._clock(), lease_seconds, limit)
        for item in claimed:
            await self.handle(item, owner)
        return len(claimed)


async def close(
    messenger: ApprovalMessenger, approval: Approval, outcome: str, *, tell: bool
) -> None:
    """Update the approval message (its buttons go) and, if asked, tell the requester."""
    if approval.message_channel and approval.message_ts:
        closed = ui.approval_closed(approval, outcome)
        await messenger.update(approval.message_channel, approval.message_ts, closed)
    if tell:
        await messenger.tell(
            ReplyTo(approval.reply_channel), approval.requester.user_id, ui.told_requester(outcome)
        )


def _settled(approval: Approval) -> str:
    if approval.status == "approved":
        return f"Already approved by <@{approval.decided_by}>."
    if approval.status == "denied":
        return f"Already denied by <@{approval.decided_by}>."
    return "This request has expired: nothing was run."
