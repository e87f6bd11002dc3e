"""Make the uploaded file visible in the thread, exactly once, and settle a share left unknown.

Nothing is visible in Slack until `files.completeUploadExternal` shares the
uploaded file, and that call is made only after the task was moved to
`sharing` (with the Slack file id) by an update guarded by our lease: a worker
that lost its lease cannot reach it. The window left is between Slack sharing
the file and the database saying `done`: the call and the save run as one
shielded step that a shutdown lets finish, so only a hard crash (SIGKILL,
power loss) in those milliseconds, or a share call whose answer is lost,
leaves a task in `sharing`. The share keeps renewing its lease while it runs,
and the call is cut off at half a lease (its answer then counts as lost), so no
other worker can take the task while Slack may still be sharing the file.

The next worker never uploads again: it asks Slack (`files.info`) where the
file is. Shared: done. Positively unshared a lease period after the attempt
(Slack fills in shares within seconds): it shares that same file. Slack cannot
say (no `files:read` scope, Slack down): the task ends `done` with a note and
the download command in the message. At most once, never twice.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

from bot.domain.errors import DeliveryError, DeliveryRefused, DeliveryUnavailable
from bot.tracking.job import Job
from bot.tracking.model import UNCONFIRMED, TrackedTask
from bot.tracking.ports import ShareState
from bot.tracking.report import finish

log = logging.getLogger(__name__)


async def share(job: Job, task: TrackedTask, **changes: Any) -> None:
    """Save `sharing` (with `changes`) under the lease, share the file, finish: one step.

    Run it shielded (`Leases.shielded`). The lease is renewed throughout, and
    the share call is cut off after half a lease: its answer then counts as
    lost, and the task is not due again for another lease period, by when
    Slack has settled the call.
    """
    lease_seconds = job.config.lease_seconds
    # Not due again (for `resolve_sharing`) until Slack has had a lease period to settle.
    settled = job.clock() + lease_seconds
    task = await job.save(task, lease_until=settled, next_poll_at=settled, **changes)
    async with job.leases.kept(task.task_id):
        try:
            async with asyncio.timeout(lease_seconds / 2):
                await job.delivery.complete_upload(
                    task.slack_file_id or "",
                    title=task.file_name or task.task_id,
                    channel_id=task.channel_id,
                    thread_ts=task.thread_ts,
                )
        except DeliveryRefused as exc:
            # Slack said no, so nothing was shared: "failed" is the truth.
            await finish(job, task, "failed", f"Slack refused the file: {exc}", None)
            return
        except (DeliveryUnavailable, TimeoutError) as exc:
            # Shared or not, we cannot tell yet: `resolve_sharing` asks Slack once it knows.
            detail = str(exc) or "no answer within half a lease"
            log.warning("share outcome unknown", extra={"task_id": task.task_id, "error": detail})
            await job.save(
                task,
                next_poll_at=job.clock() + lease_seconds,
                lease_owner=None,
                lease_until=None,
            )
            return
        await finish(job, task, "done", None, None)


async def resolve_sharing(job: Job, task: TrackedTask) -> None:
    """Settle a share whose outcome is unknown (a crash, a timeout) without sharing twice.

    Slack fills in a file's shares shortly after `completeUploadExternal`, so
    "unshared" is believed only once a lease period has passed since the
    attempt; then the same file is shared. If Slack cannot say, the task ends
    `done` with a note and the download command: at most once, never twice.
    """
    state: ShareState
    try:
        state = await job.delivery.share_state(task.slack_file_id or "", task.channel_id)
    except DeliveryError as exc:
        log.warning("cannot check share", extra={"task_id": task.task_id, "error": str(exc)})
        state = "unknown"
    if state == "shared":
        await finish(job, task, "done", None, None)
    elif state == "unknown":
        await finish(job, task, "done", UNCONFIRMED, None)
    else:
        # Due means a lease period has passed since the attempt (see `share`).
        await job.leases.shielded(task.task_id, share(job, task))
