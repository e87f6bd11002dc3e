"""The summary step: once the file is in the thread, read it and post what it holds (issue 13).

It is the first of the reporting steps (`bot.tracking.report`), so the audit's
delivery record, written next, notes its result (rows, or why there is none)
in the same record: one record per delivery, the hash chain unchanged. The
price is that the audit record and the task message's final update wait for
the parse, at most `SUMMARY_TIMEOUT_SECONDS`.

The file is read from the spool the delivery step kept (`keep`), by path, in
`SummaryWorker`'s process: its bytes never enter the bot's process. The spool
is removed when the step ends, whatever happened. A task resumed after a
restart, maybe on another replica, finds no spool: the file is downloaded
again from HSS under the task's own enterprise project (it was just exported,
and is at most `SUMMARY_MAX_BYTES`), rather than leaving that thread without
a summary. A file over that size, a file that cannot be read, a worker that
crashed or ran out of time: the thread gets one line saying why, and the
tracker carries on. The message is posted once: `summary_done` is saved right
after it (a crash in between, milliseconds, posts it again, as for every
message of the tracker).

"What changed": each summarized export's digest is kept (`DigestStore`) under
its filter key, the hash of the exact request it sent (profile, query, body),
so the previous export with the same filters, whoever ran it, is compared.
A schedule's run is keyed by its schedule instead (its id), so it is compared
with the previous run of that schedule even if the saved fields changed in
between, and never with the runs of an earlier schedule of the same name
(deleted, or its saved export forgotten, then scheduled again). Runs recorded
before schedules had ids carry only the name: they keep the old key (name and
channel). From a schedule's second run on, its thread also gets a chart of
the last runs (`bot.reading.chart`, drawn in a thread, uploaded like the
file), its times in the schedule's zone.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import logging
import tempfile
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Final, Protocol

from bot.domain.blocks import Message
from bot.domain.errors import (
    DeliveryRefused,
    DeliveryUnavailable,
    HssError,
    ScheduleStoreUnavailable,
    SpoolFailed,
)
from bot.domain.task_messages import size_text
from bot.reading import Digest, DigestError, Expected, Report, UnreadableExport, thread_message
from bot.reading.chart import MAX_POINTS, RunPoint, point_of, render_runs_chart
from bot.reading.render_blocks import render_no_summary
from bot.tracking.job import Job
from bot.tracking.model import TrackedTask, hss_reason
from bot.tracking.ports import DigestStore, ScheduleLookup, StoredDigest
from bot.tracking.spool import download_to_disk, remove

log = logging.getLogger(__name__)

CHART_AFTER_RUNS: Final = 2  # a schedule's chart comes with its second run


class Reader(Protocol):
    """What reads a file into a `Report` (`bot.reading.SummaryWorker`)."""

    async def summarize(
        self, source: Path, expected: Expected | None = None, *, export_size: int | None = None
    ) -> Report:
        """Read one export; never raise for a bad file or a failed reader."""
        ...


@dataclass
class Summaries:
    """The reader, the digests and the size limit, plus the spools kept for summarizing."""

    reader: Reader
    digests: DigestStore
    max_bytes: int
    closing: bool = False  # set at shutdown: a read cut short then is no reason to give up
    # A schedule's runs as PNG (points, title, the schedule's zone), and where its zone is read.
    chart: Callable[[list[RunPoint], str, str], bytes] = render_runs_chart
    schedules: ScheduleLookup | None = None
    _kept: dict[str, Path] = field(default_factory=dict)

    def keep(self, task_id: str, path: Path) -> None:
        """Keep a delivered file's spool until its summary is done."""
        old = self._kept.pop(task_id, None)
        if old is not None and old != path:
            remove(old)
        self._kept[task_id] = path

    def take(self, task_id: str) -> Path | None:
        """Return (and forget) the task's kept spool, if this process still has it."""
        path = self._kept.pop(task_id, None)
        return path if path is not None and path.exists() else None

    async def aclose(self) -> None:
        """At shutdown: remove every kept spool (a resumed task downloads again)."""
        self.closing = True
        paths, self._kept = list(self._kept.values()), {}
        for path in paths:
            await asyncio.to_thread(remove, path)


def filter_key(record: Mapping[str, Any] | None, channel_id: str | None = None) -> str | None:
    """Return the hash two exports share when their filters are the same, or None.

    Same filters means the same request: the profile (when the record names
    one), the exact query and the exact body. Canonical JSON, so key order
    does not matter; nothing is left out. A schedule's run (the record names
    its schedule) shares its key with the runs of the same schedule: by its id,
    or, for a run recorded before schedules had ids, by its name and channel.
    """
    if not record or "body" not in record:
        return None
    schedule = record.get("schedule")
    schedule_id = record.get("schedule_id")
    shown: dict[str, Any]
    if isinstance(schedule_id, str) and schedule_id:
        shown = {"schedule_id": schedule_id}
    elif isinstance(schedule, str) and schedule:
        shown = {"schedule": schedule, "channel": channel_id}
    else:
        shown = {"query": record.get("query"), "body": record["body"]}
    if record.get("profile") is not None and not schedule:
        shown["profile"] = record["profile"]
    text = json.dumps(shown, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(text.encode()).hexdigest()


async def summarize(job: Job, task: TrackedTask) -> TrackedTask:
    """Post the summary of a delivered file in its thread, once; save `summary_done`."""
    summaries = job.summaries
    if summaries is None or task.state != "done":
        if summaries is not None:
            _drop(summaries, task.task_id)
        # Nothing is posted: the message step's save writes it (the audit step stages too).
        return job.stage(task, summary_done=True)
    async with job.leases.kept(task.task_id):
        report = await _read(job, summaries, task)
        if summaries.closing:  # the reader was stopped under this read: summarize after restart
            raise SummaryLater
        message = await _message(summaries, task, report)
    try:
        await job.delivery.post_message(task.channel_id, message, thread_ts=task.thread_ts)
    except DeliveryUnavailable as exc:
        if task.attempts + 1 < job.config.max_attempts:
            extra = {"task_id": task.task_id, "error": str(exc)}
            log.warning("summary not posted yet", extra=extra)
            raise SummaryLater from exc
        log.error("summary not posted", extra={"task_id": task.task_id, "error": str(exc)})
    except DeliveryRefused as exc:
        log.error("summary refused", extra={"task_id": task.task_id, "error": str(exc)})
    rows = report.summary.rows if report.summary is not None else None
    note = None if rows is not None else (report.reason or "the file could not be read")
    log.info(
        "summary posted",
        extra={"task_id": task.task_id, "rows": rows, "seconds": round(report.seconds, 3)},
    )
    # Saved before the chart: whatever the chart does, the summary is not posted again.
    done = await job.save(task, summary_done=True, summary_rows=rows, summary_note=note)
    try:
        await post_chart(job, summaries, done)
    except Exception as exc:  # noqa: BLE001  best effort: a chart never fails the summary step
        extra = {"task_id": task.task_id, "error_type": type(exc).__name__}
        log.warning("chart not posted", extra=extra)
    return done


class SummaryLater(Exception):
    """Slack was away, or the bot is stopping: hand the task back, summarize on the next try."""


async def _read(job: Job, summaries: Summaries, task: TrackedTask) -> Report:
    """Read the kept spool, or download the file again; remove the spool in any case."""
    limit = summaries.max_bytes
    kept = summaries.take(task.task_id)
    if task.file_size is not None and task.file_size > limit:
        if kept is not None:
            await asyncio.to_thread(remove, kept)
        return _none(
            f"the file is {size_text(task.file_size)}; the bot summarizes files up to "
            f"{size_text(limit)}"
        )
    source = kept or await _download_again(job, task, limit)
    if isinstance(source, Report):
        return source
    try:
        request = task.request or {}
        try:
            headers = (request.get("body") or {}).get("export_headers")
            expected = Expected.from_export_headers(headers) if headers else None
        except (UnreadableExport, IndexError, TypeError) as exc:
            return _none(f"the request's export_headers cannot be read ({exc})")
        return await summaries.reader.summarize(source, expected, export_size=export_size(request))
    finally:
        await asyncio.to_thread(remove, source)


async def _download_again(job: Job, task: TrackedTask, limit: int) -> Path | Report:
    """Fetch the file from HSS again (the spool stayed with another process)."""
    if task.file_id is None:
        return _none("HSS named no file")
    try:
        fetched = await download_to_disk(
            job.hss,
            task.file_id,
            task.enterprise_project_id,
            limit=limit,
            spool_dir=job.config.spool_dir,
        )
    except HssError as exc:
        return _none(f"the file could not be fetched again from HSS ({hss_reason(exc)})")
    except SpoolFailed as exc:
        return _none(str(exc))
    if fetched is None:
        return _none(f"the file is over {size_text(limit)}, the most the bot summarizes")
    return fetched.path


async def _message(summaries: Summaries, task: TrackedTask, report: Report) -> Message:
    """Render the thread message, with the changes since the last export of the same filters."""
    if report.summary is None or report.digest is None:
        return render_no_summary(report.reason or "the file could not be read")
    key = filter_key(task.request, task.channel_id)
    if key is None:
        return thread_message(report)
    stored = await summaries.digests.previous(key, task.task_id, task.created_at)
    previous = None
    if stored is not None:
        try:
            previous = Digest.from_json(stored.digest)
        except DigestError as exc:
            extra = {"task_id": stored.task_id, "error": str(exc)}
            log.warning("earlier digest unreadable", extra=extra)
    await summaries.digests.add(
        StoredDigest(
            filter_key=key,
            task_id=task.task_id,
            entry_id=task.entry_id,
            user_id=task.user_id,
            created_at=task.created_at,
            digest=report.digest.to_json(),
        )
    )
    if previous is None or stored is None:
        return thread_message(report)
    since = datetime.fromtimestamp(stored.created_at, UTC)
    return thread_message(report, previous, since=since, by=stored.user_id)


async def post_chart(job: Job, summaries: Summaries, task: TrackedTask) -> None:
    """After a schedule's second run on, upload a chart of its last runs into the thread.

    Best effort, after `summary_done` is saved: a failure is logged (by the caller, for
    anything but Slack's) and the tracker carries on.
    """
    schedule = (task.request or {}).get("schedule")
    key = filter_key(task.request, task.channel_id)
    if not schedule or key is None:
        return
    stored = await summaries.digests.recent(key, MAX_POINTS)
    points = []
    for digest in stored:
        try:
            points.append(point_of(digest.created_at, Digest.from_json(digest.digest)))
        except DigestError:
            continue
    if len(points) < CHART_AFTER_RUNS:
        return
    title = f"Schedule {schedule}: the last {len(points)} runs"
    zone = await _zone_of(summaries, task.request or {})
    png = await asyncio.to_thread(summaries.chart, points, title, zone)
    path = await asyncio.to_thread(_spool_png, png, job.config.spool_dir)
    try:
        slot = await job.delivery.start_upload(f"{schedule}-runs.png", len(png))
        await job.delivery.send_file(slot, path, len(png))
        await job.delivery.complete_upload(
            slot.file_id,
            title=f"{schedule}: last {len(points)} runs",
            channel_id=task.channel_id,
            thread_ts=task.thread_ts,
        )
    except (DeliveryUnavailable, DeliveryRefused) as exc:
        log.warning("chart not uploaded", extra={"task_id": task.task_id, "error": str(exc)})
    finally:
        await asyncio.to_thread(remove, path)


async def _zone_of(summaries: Summaries, record: Mapping[str, Any]) -> str:
    """Return the zone of the run's schedule; UTC when it is gone, unknown or unreadable."""
    schedule_id = record.get("schedule_id")
    if summaries.schedules is None or not isinstance(schedule_id, str):
        return "UTC"
    try:
        schedule = await summaries.schedules.by_id(schedule_id)
    except ScheduleStoreUnavailable:
        log.warning("schedule not read: its chart shows UTC")
        return "UTC"
    return "UTC" if schedule is None else schedule.tz


def _spool_png(png: bytes, spool_dir: Path | None) -> Path:
    with tempfile.NamedTemporaryFile(
        "wb", suffix=".png", dir=spool_dir, delete=False, prefix="chart-"
    ) as out:
        out.write(png)
    return Path(out.name)


def export_size(record: Mapping[str, Any]) -> int | None:
    """Return the `export_size` the request asked for (a query parameter, sent as text)."""
    value = str((record.get("query") or {}).get("export_size") or "")
    return int(value) if value.isdecimal() else None


def _none(reason: str) -> Report:
    return Report(None, None, reason)


def _drop(summaries: Summaries, task_id: str) -> None:
    path = summaries.take(task_id)
    if path is not None:
        remove(path)
