"""The one use case: run an export request, from audit entry to the message that reports it.

Slash command, modal and CLI all come through `ExportService`, so they share
one order of events: audit entry (`pending`), HSS call, audit outcome, then
the reply. A crash between the first two leaves a visible `pending` entry; a
command seen before (same dedupe key) never reaches HSS a second time.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal, Protocol

from bot.domain.errors import (
    AuditUnavailable,
    BotError,
    DuplicateCommand,
    HssError,
    HssOutcomeUnknown,
)
from bot.domain.model import ExportRequest
from bot.domain.types import Actor, CreatedTask, Outcome
from bot.ports import AuditLog, Hss

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class ReplyTo:
    """Where the answer to a command goes: the channel, and Slack's fallback URL if any."""

    channel_id: str
    response_url: str | None = None


@dataclass(frozen=True)
class Announcement:
    """Where a task's follow-up goes: where its announcement landed, the message to thread under.

    `channel_id` is a channel or DM id (`C…`, `G…`, `D…`), or a user id when
    the follow-up must go to that user's DM with the app and no message is
    there yet. `ts` is the announcement to thread under; None if there is none.
    """

    channel_id: str
    ts: str | None = None


@dataclass(frozen=True)
class Submitted:
    """HSS took the export; `audit_complete` is False if the outcome could not be recorded."""

    entry_id: int
    task: CreatedTask
    audit_complete: bool = True


@dataclass(frozen=True)
class Failed:
    """HSS (or the audit log) refused or failed the export; the error is safe to show."""

    entry_id: int | None
    error: BotError


@dataclass(frozen=True)
class Duplicate:
    """The command was seen before (a retry or double submit); nothing was sent again."""

    entry_id: int


ExportResult = Submitted | Failed | Duplicate


class Notifier(Protocol):
    """Tells the people who asked what came of an export (Slack, or a terminal)."""

    async def export_submitted(
        self, reply: ReplyTo, actor: Actor, request: ExportRequest, result: Submitted
    ) -> Announcement | None:
        """Announce the task_id; return where the follow-up goes, or None if shown nowhere."""
        ...

    async def export_failed(self, reply: ReplyTo, actor: Actor, result: Failed) -> None:
        """Explain why no export was started."""
        ...


class TaskFollower(Protocol):
    """Follows a submitted task until its file is delivered (issue 5)."""

    async def follow(
        self,
        result: Submitted,
        actor: Actor,
        request: ExportRequest,
        announcement: Announcement | None,
    ) -> None:
        """Start tracking the task, delivering where `announcement` says; return quickly.

        None means the task_id reached no one the bot can write to again: the
        follower picks a place the user will look (Slack: their DM with the app).
        """
        ...


class ExportService:
    """Run export requests under the service account, audited, and report them.

    `count(outcome)` is told every command's outcome (submitted, failed,
    duplicate, invalid, denied): the metrics hook, kept free of Prometheus here.
    """

    def __init__(
        self,
        hss: Hss,
        audit: AuditLog,
        notifier: Notifier,
        follower: TaskFollower | None = None,
        *,
        count: Callable[[str], None] = lambda _outcome: None,
    ) -> None:
        self._hss = hss
        self._count = count
        self._audit = audit
        self._notifier = notifier
        self._follower = follower

    async def export(
        self,
        actor: Actor,
        request: ExportRequest,
        reply: ReplyTo,
        *,
        dedupe_key: str | None = None,
    ) -> ExportResult:
        """Audit, call HSS, audit the outcome, tell the user; never raise for expected failures."""
        result = await self._submit(actor, request, dedupe_key)
        self._count(type(result).__name__.lower())
        match result:
            case Submitted():
                announced = await self._notifier.export_submitted(reply, actor, request, result)
                if self._follower is not None:
                    await self._follower.follow(result, actor, request, announced)
            case Failed():
                await self._notifier.export_failed(reply, actor, result)
            case Duplicate():
                log.info("duplicate command ignored", extra={"audit_entry": result.entry_id})
        return result

    async def _submit(
        self, actor: Actor, request: ExportRequest, dedupe_key: str | None
    ) -> ExportResult:
        try:
            entry_id = await self._audit.record_pending(
                actor, request.as_audit_record(), dedupe_key
            )
        except DuplicateCommand as dup:
            return Duplicate(dup.entry_id)
        except AuditUnavailable as exc:
            # Nothing is sent to HSS unless it is on record first.
            return Failed(None, exc)
        try:
            task = await self._hss.create_export_task(request)
        except HssError as exc:
            log.warning(
                "export failed",
                extra={"audit_entry": entry_id, "hss_request_id": exc.request_id, "code": exc.code},
            )
            await self._record_failure(entry_id, exc)
            return Failed(entry_id, exc)
        try:
            await self._audit.record_outcome(
                entry_id, "submitted", task_id=task.task_id, hss_request_id=task.request_id
            )
        except AuditUnavailable:
            # The task exists: say so and keep its id in front of the user; the pending
            # entry stays visible in the log for an operator to reconcile.
            log.error("audit outcome not recorded", extra={"audit_entry": entry_id})
            return Submitted(entry_id, task, audit_complete=False)
        log.info(
            "export submitted",
            extra={
                "audit_entry": entry_id,
                "task_id": task.task_id,
                "hss_request_id": task.request_id,
                "source": actor.source,
            },
        )
        return Submitted(entry_id, task)

    async def _record_failure(self, entry_id: int, exc: HssError) -> None:
        try:
            outcome: Outcome = "unknown" if isinstance(exc, HssOutcomeUnknown) else "failed"
            await self._audit.record_outcome(
                entry_id, outcome, hss_request_id=exc.request_id, error=str(exc)
            )
        except AuditUnavailable:
            log.error("audit outcome not recorded", extra={"audit_entry": entry_id})

    async def refuse(
        self,
        actor: Actor,
        outcome: Literal["invalid", "denied"],
        error: BotError,
        request: ExportRequest | None = None,
    ) -> int | None:
        """Record a refused command (bad input, access denied); return the entry id if written."""
        self._count(outcome)
        record = request.as_audit_record() if request is not None else None
        try:
            return await self._audit.record_refusal(actor, outcome, str(error), record)
        except AuditUnavailable:
            log.error("refusal not recorded", extra={"outcome": outcome})
            return None
