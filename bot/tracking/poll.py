"""Ask HSS how the export task is doing, and move the task on from its answer.

Running (or HSS briefly away): look again later, the interval doubling up to
the maximum, until the deadline, where the task gives up and says so. Failed
at HSS, or refused for good: `failed`. Finished with a file: `delivering`, and
the delivery starts at once.
"""

from __future__ import annotations

from dataclasses import replace

from bot.domain.errors import HssError
from bot.tracking.deliver import deliver
from bot.tracking.job import Job
from bot.tracking.model import (
    GiveUp,
    TrackedTask,
    after_unfinished,
    hss_reason,
    safe_file_name,
    transient,
)
from bot.tracking.report import finish


async def poll(job: Job, task: TrackedTask) -> None:
    """Poll HSS once for the task and take the step its answer calls for."""
    try:
        status = await job.hss_of(task).get_export_task(task.task_id, task.enterprise_project_id)
    except HssError as exc:
        if transient(exc):
            await _poll_later(job, task, str(exc), exc.request_id)
        else:
            await finish(job, task, "failed", hss_reason(exc), exc.request_id)
        return
    task = replace(task, polls=task.polls + 1)
    if status.task_status == "running":
        await _poll_later(job, task, None, None)
    elif status.task_status == "failure":
        reason = "HSS reports that the export task failed"
        await finish(job, task, "failed", reason, status.request_id)
    elif not status.file_id:
        reason = "HSS reports success but names no file"
        await finish(job, task, "failed", reason, status.request_id)
    else:
        # Not saved on its own: the delivery's first save writes it (thread, share, retry,
        # or end). Until then nothing outside has happened that a crash would repeat; the
        # next worker asks HSS again and downloads again, which is all delivering redoes.
        task = job.stage(
            task,
            state="delivering",
            file_id=status.file_id,
            file_name=safe_file_name(status.file_name, task.task_id),
            attempts=0,
            error=None,
            error_request_id=None,
        )
        await deliver(job, task)


async def _poll_later(
    job: Job, task: TrackedTask, error: str | None, request_id: str | None
) -> None:
    decision = after_unfinished(task, job.clock(), job.config, error)
    if isinstance(decision, GiveUp):
        await finish(job, task, "gave_up", decision.reason, request_id)
        return
    await job.save(
        task,
        next_poll_at=decision.at,
        poll_interval=decision.interval,
        error=error,
        error_request_id=request_id,
        lease_owner=None,
        lease_until=None,
    )
