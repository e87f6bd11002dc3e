"""The last steps of every task: its final state, the summary, the audit record, the message.

Each reporting step happens once and is saved when done (`summary_done`,
`audit_done`, `message_done`), so a crash between them repeats none. The
summary (`bot.tracking.summaries`) comes first so the audit record notes it. The task message is
updated in place (its thread holds the file); a task with no message (its
announcement reached no one) gets a new one.
"""

from __future__ import annotations

import logging

from bot.domain.errors import (
    AuditUnavailable,
    DeliveryRefused,
    DeliveryUnavailable,
    LeaseLost,
    TaskStoreUnavailable,
)
from bot.domain.task_messages import progress_message, thread_notice
from bot.tracking.job import Job
from bot.tracking.model import TrackedTask, TrackState, audit_delivery
from bot.tracking.summaries import SummaryLater, summarize

log = logging.getLogger(__name__)


async def finish(
    job: Job, task: TrackedTask, state: TrackState, error: str | None, request_id: str | None
) -> None:
    """Save the task's final state, then report it."""
    task = await job.save(task, state=state, error=error, error_request_id=request_id, attempts=0)
    log.info("task finished", extra={"task_id": task.task_id, "state": state})
    await report(job, task)


async def report(job: Job, task: TrackedTask, *, last_try: bool = False) -> None:
    """Write the audit record, then the message: each once, each saved when done.

    On the `last_try` (giving up after unexpected errors) a step that fails
    again is logged and marked done, so the task settles.
    """
    if not task.summary_done:
        try:
            task = await summarize(job, task)
        except SummaryLater:
            await job.retry_later(task)
            return
        except (LeaseLost, TaskStoreUnavailable):
            raise
        except Exception:
            if not last_try:
                raise
            log.exception("summary not posted", extra={"task_id": task.task_id})
            task = await job.save(task, summary_done=True, summary_note="the bot hit an error")
    if not task.audit_done:
        try:
            task = await job.leases.shielded(task.task_id, _audit_once(job, task))
        except AuditUnavailable as exc:
            if not last_try:
                log.warning(
                    "delivery not audited yet",
                    extra={"task_id": task.task_id, "error": str(exc)},
                )
                await job.retry_later(task)
                return
            log.error("delivery not audited", extra={"task_id": task.task_id})
            task = await job.save(task, audit_done=True)
        except (LeaseLost, TaskStoreUnavailable):
            raise
        except Exception:
            if not last_try:
                raise
            log.exception("delivery not audited", extra={"task_id": task.task_id})
            task = await job.save(task, audit_done=True)
    if not task.message_done:
        try:
            await _tell(job, task)
        except DeliveryUnavailable as exc:
            if not last_try and task.attempts + 1 < job.config.max_attempts:
                log.warning(
                    "message not updated yet",
                    extra={"task_id": task.task_id, "error": str(exc)},
                )
                await job.retry_later(task)
                return
            log.error("message not updated", extra={"task_id": task.task_id, "error": str(exc)})
        except DeliveryRefused as exc:
            log.error("message refused", extra={"task_id": task.task_id, "error": str(exc)})
        except (LeaseLost, TaskStoreUnavailable):
            raise
        except Exception:
            if not last_try:
                raise
            log.exception("message not updated", extra={"task_id": task.task_id})
    await job.save(task, message_done=True, attempts=0, lease_owner=None, lease_until=None)


async def _audit_once(job: Job, task: TrackedTask) -> TrackedTask:
    delivery, error = audit_delivery(task)
    await job.audit.record_delivery(task.entry_id, delivery=delivery, error=error)
    return await job.save(task, audit_done=True)


async def _tell(job: Job, task: TrackedTask) -> None:
    if task.thread_ts is None:
        await job.delivery.post_message(task.channel_id, progress_message(task))
        return
    await job.delivery.update_message(task.channel_id, task.thread_ts, progress_message(task))
    notice = thread_notice(task)
    if notice is not None:
        await job.delivery.post_message(task.channel_id, notice, thread_ts=task.thread_ts)
