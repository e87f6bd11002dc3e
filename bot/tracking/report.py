"""The last steps of every task: its final state, the summary, the audit record, the message.

A task a Workflow Builder step started then completes that step: success with
the outputs (task id, file name, a permalink to the file's thread) once the
file is delivered, or an error saying why not. Each reporting step happens
once and is saved when done (`summary_done`, `audit_done`, `message_done`,
`step_done`), so a crash between them repeats none; `audit_done` is saved with
the message step's save (one transaction fewer), since a delivery recorded
again is kept once by the audit log (`AuditLog.record_delivery`). The summary
(`bot.tracking.summaries`) comes first so the audit record notes it. The step is
completed with the bot token (`functions.completeSuccess` accepts the token of
the app that owns the function), never with the event's short-lived workflow
token, which is neither stored nor valid by then. The task message is
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
from bot.tracking.model import (
    TrackedTask,
    TrackState,
    audit_delivery,
    step_error,
    step_outputs,
)
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
    """Post the summary, write the audit record, the message, then finish the Workflow step.

    Each once, each saved when done. On the `last_try` (giving up after
    unexpected errors) a step that fails again is logged and marked done, so
    the task settles.
    """
    if not task.summary_done:
        summarized = await _summary_step(job, task, last_try=last_try)
        if summarized is None:
            return
        task = summarized
    if not task.audit_done:
        audited = await _audit_step(job, task, last_try=last_try)
        if audited is None:
            return
        task = audited
    if not task.message_done and not await _message_step(job, task, last_try=last_try):
        return
    step_left = task.step_execution_id is not None and not task.step_done
    if step_left:
        if not task.message_done:
            # Saved before the step is finished: a crash then never posts the message twice.
            task = await job.save(task, message_done=True)
        if not await _finish_step(job, task, last_try=last_try):
            return
    await job.save(
        task,
        message_done=True,
        step_done=task.step_done or step_left,
        attempts=0,
        lease_owner=None,
        lease_until=None,
    )


async def _summary_step(job: Job, task: TrackedTask, *, last_try: bool) -> TrackedTask | None:
    """Post the file's summary in its thread; None when it is to be retried later."""
    try:
        return await summarize(job, task)
    except SummaryLater:
        await job.retry_later(task)
        return None
    except (LeaseLost, TaskStoreUnavailable):
        raise
    except Exception:
        if not last_try:
            raise
        log.exception("summary not posted", extra={"task_id": task.task_id})
    return await job.save(task, summary_done=True, summary_note="the bot hit an error")


async def _audit_step(job: Job, task: TrackedTask, *, last_try: bool) -> TrackedTask | None:
    """Record the delivery in the audit log; None when it is to be retried later."""
    try:
        return await job.leases.shielded(task.task_id, _audit_once(job, task))
    except AuditUnavailable as exc:
        if not last_try:
            log.warning(
                "delivery not audited yet",
                extra={"task_id": task.task_id, "error": str(exc)},
            )
            await job.retry_later(task)
            return None
        log.error("delivery not audited", extra={"task_id": task.task_id})
    except (LeaseLost, TaskStoreUnavailable):
        raise
    except Exception:
        if not last_try:
            raise
        log.exception("delivery not audited", extra={"task_id": task.task_id})
    return await job.save(task, audit_done=True)


async def _message_step(job: Job, task: TrackedTask, *, last_try: bool) -> bool:
    """Tell the channel; False when it is to be retried later, True when done or given up."""
    try:
        await _tell(job, task)
    except DeliveryUnavailable as exc:
        if not last_try and task.attempts + 1 < job.config.max_attempts:
            log.warning(
                "message not updated yet",
                extra={"task_id": task.task_id, "error": str(exc)},
            )
            await job.retry_later(task)
            return False
        log.error("message not updated", extra={"task_id": task.task_id, "error": str(exc)})
    except DeliveryRefused as exc:
        log.error("message refused", extra={"task_id": task.task_id, "error": str(exc)})
    except (LeaseLost, TaskStoreUnavailable):
        raise
    except Exception:
        if not last_try:
            raise
        log.exception("message not updated", extra={"task_id": task.task_id})
    return True


async def _finish_step(job: Job, task: TrackedTask, *, last_try: bool) -> bool:
    """Complete or fail the task's Workflow step; False if it is to be tried again later."""
    execution = task.step_execution_id
    assert execution is not None  # only called for a task a step started
    ids = {"task_id": task.task_id, "function_execution_id": execution}
    if job.steps is None:
        log.error("workflow step not completed: no Slack client for steps", extra=ids)
        return True
    try:
        if task.state == "done":
            outputs = step_outputs(task, await _permalink(job, task))
            await job.steps.complete(execution, outputs)
        else:
            await job.steps.fail(execution, step_error(task))
    except DeliveryUnavailable as exc:
        if not last_try and task.attempts + 1 < job.config.max_attempts:
            log.warning("workflow step not completed yet", extra={**ids, "error": str(exc)})
            await job.retry_later(task)
            return False
        log.error("workflow step not completed", extra={**ids, "error": str(exc)})
    except DeliveryRefused as exc:
        # Slack no longer runs it (completed before a crash, or timed out): nothing to redo.
        log.error("workflow step completion refused", extra={**ids, "error": str(exc)})
    except (LeaseLost, TaskStoreUnavailable):
        raise
    except Exception:
        if not last_try:
            raise
        log.exception("workflow step not completed", extra=ids)
    log.info("workflow step finished", extra={**ids, "state": task.state})
    return True


async def _permalink(job: Job, task: TrackedTask) -> str:
    """Link the message the file is threaded under; its ts if Slack gives no link."""
    assert job.steps is not None
    if task.thread_ts is None:
        return ""
    try:
        return await job.steps.permalink(task.channel_id, task.thread_ts)
    except (DeliveryUnavailable, DeliveryRefused) as exc:
        log.warning("no permalink", extra={"task_id": task.task_id, "error": str(exc)})
        return task.thread_ts


async def _audit_once(job: Job, task: TrackedTask) -> TrackedTask:
    delivery, error = audit_delivery(task)
    await job.audit.record_delivery(task.entry_id, delivery=delivery, error=error)
    # Saved with the message step's save: a crash before it records the delivery again,
    # which the audit log keeps once (`record_delivery`), and the message is not posted yet.
    return job.stage(task, audit_done=True)


async def _tell(job: Job, task: TrackedTask) -> None:
    if task.thread_ts is None:
        await job.delivery.post_message(task.channel_id, progress_message(task))
        return
    await job.delivery.update_message(task.channel_id, task.thread_ts, progress_message(task))
    notice = thread_notice(task)
    if notice is not None:
        await job.delivery.post_message(task.channel_id, notice, thread_ts=task.thread_ts)
