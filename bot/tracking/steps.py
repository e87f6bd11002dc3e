"""Take the next step of one export task, by its state, and survive a step that breaks.

`take_step` is what the lease loop (`bot.tracking.worker`) runs for each
claimed task. A step that fails in a way nobody foresaw (a bug, a full disk)
is retried with backoff at most `max_attempts` times and not past the task's
deadline; then the task ends `failed` (or `done`, unconfirmed, if the file may
be shared) and the user is told.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Coroutine, Mapping
from typing import Any, Final

from bot.domain.errors import LeaseLost, TaskStoreUnavailable
from bot.tracking.deliver import deliver
from bot.tracking.job import Job
from bot.tracking.model import ACTIVE_STATES, TrackedTask, may_retry
from bot.tracking.poll import poll
from bot.tracking.report import report
from bot.tracking.share import resolve_sharing

log = logging.getLogger(__name__)

StepFn = Callable[[Job, TrackedTask], Coroutine[Any, Any, None]]
# The step each active state calls for; a final state only has its reporting left.
STEPS: Final[Mapping[str, StepFn]] = {
    "tracking": poll,
    "delivering": deliver,
    "sharing": resolve_sharing,
}


async def take_step(job: Job, task: TrackedTask) -> None:
    """Take the task's next step; log, never raise, what goes wrong (the lease then runs out)."""
    try:
        try:
            await STEPS.get(task.state, report)(job, task)
        except (LeaseLost, TaskStoreUnavailable):
            raise
        except Exception as exc:
            # A bug must not stop the other tasks: log it, try this one again later from
            # the state last saved (never the claimed one: the file may be shared by now).
            log.exception("unexpected error following a task", extra={"task_id": task.task_id})
            await _after_bug(job, job.leases.last_saved(task), exc)
    except LeaseLost:
        log.warning("lease lost; another worker has the task", extra={"task_id": task.task_id})
    except TaskStoreUnavailable as exc:
        log.warning("task store unavailable", extra={"task_id": task.task_id, "error": str(exc)})
    except Exception:
        # Even giving up failed: the lease runs out and a worker tries again then.
        log.exception("could not settle a failing task", extra={"task_id": task.task_id})
    finally:
        job.leases.forget(task.task_id)


async def _after_bug(job: Job, task: TrackedTask, exc: Exception) -> None:
    """Retry a step that failed unexpectedly; past `max_attempts` or the deadline, end it.

    Ending it never takes the failing step again. An active task ends
    `failed` (`done`, unconfirmed, if the file may already be shared) and is
    reported as usual, once. A finished task was failing in its first
    reporting step not yet done (the summary, the audit record, the message, the Workflow
    step): that
    step is marked done, logged, and the rest is tried once.
    """
    attempts = task.attempts + 1
    if may_retry(task, attempts, job.clock(), job.config):
        await job.retry_later(task)
        return
    reason = (
        f"the bot hit an unexpected error ({type(exc).__name__}) {attempts} "
        f"time{'s' if attempts != 1 else ''} and stopped; its log has the details"
    )
    log.error(
        "giving up on a task",
        extra={"task_id": task.task_id, "state": task.state, "attempts": attempts},
    )
    if task.state == "sharing":
        task = await job.save(task, state="done", error=f"delivery not confirmed: {reason}")
    elif task.state in ACTIVE_STATES:
        if task.file_id is None:
            reason += f"; once HSS has finished it, fetch the file with {task.download_command}"
        task = await job.save(task, state="failed", error=reason, error_request_id=None)
    elif not task.summary_done:
        log.error("summary not posted", extra=_ids(task))
        note = "the bot hit an unexpected error"
        task = await job.save(task, summary_done=True, summary_note=note)
    elif not task.audit_done:
        log.error("delivery not audited; an operator must record it", extra=_ids(task))
        task = await job.save(task, audit_done=True)
    elif not task.message_done:
        log.error("task message not updated", extra=_ids(task))
        task = await job.save(task, message_done=True)
    else:
        log.error("workflow step not completed", extra=_ids(task))
        task = await job.save(task, step_done=True)
    await report(job, task, last_try=True)


def _ids(task: TrackedTask) -> dict[str, Any]:
    """Return the ids an operator needs to find a task in the audit log and HSS."""
    return {"task_id": task.task_id, "audit_entry": task.entry_id}
