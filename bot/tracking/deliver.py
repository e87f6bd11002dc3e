"""Bring a finished export's file from HSS to Slack, invisible until the share.

Download (spooled to disk, hashed), `getUploadURLExternal` and the byte upload
may be repeated freely: an unshared upload is invisible and Slack discards it.
Only then does the task move to `sharing` (`bot.tracking.share`). With
summaries on, the spool of a file small enough is kept for the summary step
(`bot.tracking.summaries`), which removes it. A task whose
announcement reached no thread first gets its task message in the user's DM,
to share the file under.
"""

from __future__ import annotations

import asyncio
import logging
from pathlib import Path

from bot.domain.errors import (
    BotError,
    DeliveryRefused,
    DeliveryUnavailable,
    HssAuthError,
    HssError,
    HssUnavailable,
    SpoolFailed,
)
from bot.domain.task_messages import progress_message, size_text
from bot.tracking.job import Job
from bot.tracking.model import TrackedTask, hss_reason
from bot.tracking.report import finish
from bot.tracking.share import share
from bot.tracking.spool import download_to_disk, remove

log = logging.getLogger(__name__)


async def deliver(job: Job, task: TrackedTask) -> None:
    """Download, upload unshared, then share: everything before the share may be redone."""
    file_id, file_name = task.file_id, task.file_name or task.task_id
    if file_id is None:
        await finish(job, task, "failed", "no file to deliver (HSS named none)", None)
        return
    try:
        if task.thread_ts is None:
            task = await _open_thread(job, task)
        async with job.leases.kept(task.task_id):
            fetched = await download_to_disk(
                job.hss_of(task),
                file_id,
                task.enterprise_project_id,
                limit=job.config.upload_max_bytes,
                spool_dir=job.config.spool_dir,
            )
            if fetched is None:
                slot = None
            else:
                kept = False
                try:
                    slot = await job.delivery.start_upload(file_name, fetched.size)
                    await job.delivery.send_file(slot, fetched.path, fetched.size)
                    kept = _keep_for_summary(job, task, fetched.path, fetched.size)
                finally:
                    if not kept:
                        await asyncio.to_thread(remove, fetched.path)
    except (HssUnavailable, HssAuthError, DeliveryUnavailable, SpoolFailed) as exc:
        await _failed(job, task, exc, retry=True)
        return
    except (HssError, DeliveryRefused) as exc:
        await _failed(job, task, exc, retry=False)
        return
    if fetched is None or slot is None:
        limit = size_text(job.config.upload_max_bytes)
        await finish(job, task, "too_large", f"larger than the upload limit ({limit})", None)
        return
    sharing = share(
        job,
        task,
        state="sharing",
        file_size=fetched.size,
        sha256=fetched.sha256,
        slack_file_id=slot.file_id,
    )
    await job.leases.shielded(task.task_id, sharing)


def _keep_for_summary(job: Job, task: TrackedTask, path: Path, size: int) -> bool:
    """Keep the spool for the summary step when the file will be summarized (see summaries)."""
    summaries = job.summaries
    if summaries is None or size > summaries.max_bytes:
        return False
    summaries.keep(task.task_id, path)
    return True


async def _open_thread(job: Job, task: TrackedTask) -> TrackedTask:
    """Post the task message where the task has none (the user's DM), to share the file under.

    A crash between the post and the save posts it again on the next try:
    a second message, never a second file.
    """
    where = await job.delivery.open_thread(task.channel_id, progress_message(task))
    log.info("thread opened for the file", extra={"task_id": task.task_id})
    return await job.save(task, channel_id=where.channel_id, thread_ts=where.ts)


async def _failed(job: Job, task: TrackedTask, exc: BotError, *, retry: bool) -> None:
    """Retry a failed delivery after the backoff, or end the task `failed` saying why."""
    request_id = exc.request_id if isinstance(exc, HssError) else None
    detail = hss_reason(exc) if isinstance(exc, HssError) else str(exc)
    reason = f"could not deliver the file: {detail}"
    if retry and task.attempts + 1 < job.config.max_attempts:
        log.warning("delivery failed; retrying", extra={"task_id": task.task_id})
        await job.retry_later(task, error=reason, error_request_id=request_id)
        return
    await finish(job, task, "failed", reason, request_id)
