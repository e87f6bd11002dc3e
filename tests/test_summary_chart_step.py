"""The summary step of a schedule's run: the chart is best effort after the summary is saved."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import pytest

from bot.domain.blocks import Message
from bot.domain.saved import ScheduledExport
from bot.reading import Report
from bot.reading.chart import RunPoint
from bot.reading.digest import Digest
from bot.tracking.job import Job
from bot.tracking.model import TrackedTask, TrackerConfig
from bot.tracking.ports import StoredDigest
from bot.tracking.summaries import Summaries, summarize

REQUEST = {"schedule": "weekly", "query": {}, "body": {"status": "Running"}}


class _Leases:
    """The lease: kept while reading, saves by replacing the task's fields."""

    @asynccontextmanager
    async def kept(self, _task_id: str) -> AsyncIterator[None]:
        yield

    async def save(self, task: TrackedTask, **changes: Any) -> TrackedTask:
        return replace(task, **changes)


@dataclass
class _Thread:
    """Slack's thread: the messages posted into it."""

    posted: list[str] = field(default_factory=list)

    async def post_message(
        self, channel_id: str, message: Message, *, thread_ts: str | None = None
    ) -> None:
        self.posted.append(message.text)


class _Reader:
    async def summarize(self, *_args: Any, **_kwargs: Any) -> Report:
        return Report(None, None, "the file could not be read")


class _Digests:
    """Two earlier runs of the schedule: enough for a chart."""

    async def recent(self, _key: str, _limit: int) -> list[StoredDigest]:
        digest = Digest(identity=None, rows=1, containers=1, risk_columns=(), sums=(), entries=())
        return [StoredDigest("k", f"t{i}", i, "U1", 1000.0 * i, digest.to_json()) for i in (1, 2)]


def _broken_chart(_points: list[RunPoint], _title: str, _tz: str) -> bytes:
    raise RuntimeError("matplotlib: no such font")


@dataclass
class _Charts:
    """A renderer that keeps the zone each chart was asked in."""

    zones: list[str] = field(default_factory=list)

    def __call__(self, _points: list[RunPoint], _title: str, tz: str) -> bytes:
        self.zones.append(tz)
        raise RuntimeError("no upload in this test")


class _Schedules:
    """The schedule store: one schedule, in Berlin."""

    async def by_id(self, schedule_id: str) -> ScheduledExport | None:
        if schedule_id != "sched-1":
            return None
        return ScheduledExport(
            "sched-1", "T1", "weekly", "U1", "C0REPORTS", "0 9 * * 1", "Europe/Berlin", "", 0, 0
        )


def _job(tmp_path: Path, summaries: Summaries, thread: _Thread) -> Job:
    """The job of a delivered task whose spool is kept (a file that cannot be read)."""
    spool = tmp_path / "file.xlsx"
    spool.write_bytes(b"not a spreadsheet")
    summaries.keep("task-1", spool)
    return Job(
        hss=None,  # type: ignore[arg-type]
        delivery=thread,  # type: ignore[arg-type]
        audit=None,  # type: ignore[arg-type]
        config=TrackerConfig(spool_dir=tmp_path),
        leases=_Leases(),  # type: ignore[arg-type]
        clock=lambda: 0.0,
        summaries=summaries,
    )


def _task(request: dict[str, Any]) -> TrackedTask:
    return TrackedTask(
        "task-1", 1, "C0REPORTS", "1.0", "U1", None, request, None, "done", 0, 0, 5, 60, 0
    )


async def test_a_chart_that_fails_neither_fails_the_step_nor_reposts_the_summary(
    tmp_path: Path,
) -> None:
    """The renderer raises: the summary is posted once and saved done; the step carries on."""
    summaries = Summaries(_Reader(), _Digests(), 10_000, chart=_broken_chart)  # type: ignore[arg-type]
    thread = _Thread()
    done = await summarize(_job(tmp_path, summaries, thread), _task(REQUEST))
    assert done.summary_done
    assert len(thread.posted) == 1


@pytest.mark.parametrize(
    ("schedule_id", "zone"),
    [("sched-1", "Europe/Berlin"), ("gone-since", "UTC"), (None, "UTC")],
)
async def test_the_chart_is_drawn_in_the_zone_of_the_runs_schedule(
    tmp_path: Path, schedule_id: str | None, zone: str
) -> None:
    """The run's schedule is in Berlin: its chart's times too; a schedule gone, or a run
    recorded before schedule ids: UTC."""
    charts = _Charts()
    summaries = Summaries(
        _Reader(),  # type: ignore[arg-type]
        _Digests(),  # type: ignore[arg-type]
        10_000,
        chart=charts,
        schedules=_Schedules(),
    )
    request = REQUEST if schedule_id is None else {**REQUEST, "schedule_id": schedule_id}
    await summarize(_job(tmp_path, summaries, _Thread()), _task(request))
    assert charts.zones == [zone]
