"""Run an export request, from audit entry to the message that reports it.

Slash command, modal and CLI all come through `ExportService`, so they share
one order of events: audit entry (`pending`), HSS call, audit outcome, then
the reply. A crash between the first two leaves a visible `pending` entry; a
command seen before (same dedupe key) never reaches HSS a second time.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import replace

from bot.domain.errors import AuditUnavailable, DuplicateCommand, HssError, HssOutcomeUnknown
from bot.domain.model import ExportRequest
from bot.domain.types import (
    Actor,
    Duplicate,
    ExportResult,
    Failed,
    Outcome,
    ReplyTo,
    Submitted,
)
from bot.ports import AuditLog, Hss, Notifier, TaskFollower

log = logging.getLogger(__name__)

Count = Callable[[str], None]


def ignore_count(_outcome: str) -> None:
    """Count nothing (the default when no metrics are wired)."""


class ExportService:
    """Run export requests under the service account, audited, and report them.

    `count(outcome)` is told every export's outcome (submitted, failed,
    duplicate): the metrics hook, kept free of Prometheus here.
    """

    def __init__(
        self,
        hss: Hss,
        audit: AuditLog,
        notifier: Notifier,
        follower: TaskFollower | None = None,
        *,
        count: Count = ignore_count,
    ) -> None:
        self._hss = hss
        self._count = count
        self._audit = audit
        self._notifier = notifier
        self._follower = follower

    async def export(  # noqa: PLR0913  keyword-only: dedupe key, Workflow step, approver
        self,
        actor: Actor,
        request: ExportRequest,
        reply: ReplyTo,
        *,
        dedupe_key: str | None = None,
        step: str | None = None,
        approved_by: str | None = None,
    ) -> ExportResult:
        """Audit, call HSS, audit the outcome, tell the user; never raise for expected failures.

        A `Submitted` comes back with `announced`: where the task was announced.

        `step`: the Workflow Builder execution (`function_execution_id`) this export
        runs for; the follower completes it once the file is delivered.
        `approved_by`: the approver who let this export run (two-person rule), on record.
        """
        result = await self._submit(actor, request, dedupe_key, approved_by)
        self._count(type(result).__name__.lower())
        match result:
            case Submitted():
                announced = await self._notifier.export_submitted(reply, actor, request, result)
                result = replace(result, announced=announced)
                if self._follower is not None:
                    await self._follower.follow(result, actor, request, announced, step=step)
            case Failed():
                await self._notifier.export_failed(reply, actor, result)
            case Duplicate():
                log.info("duplicate command ignored", extra={"audit_entry": result.entry_id})
        return result

    async def _submit(
        self, actor: Actor, request: ExportRequest, dedupe_key: str | None, approved_by: str | None
    ) -> ExportResult:
        try:
            entry_id = await self._audit.record_pending(
                actor, request.as_audit_record(), dedupe_key, approved_by=approved_by
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
