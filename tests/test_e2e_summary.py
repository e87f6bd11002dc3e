"""The summary in the thread (issue 13), end to end through the real app.

The fake HSS writes real xlsx files (xlsxwriter) with seeded rows that move
between exports; the bot reads them (python-calamine, in its worker process)
and posts the summary, and what changed since the last export with the same
filters, into the file's thread. Counts are checked against the rows the fake
wrote (`Task.rows`), never against the bot's own reading.
"""

from __future__ import annotations

import asyncio
import gc
import resource
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

from e2e_harness import Bot, bot_settings
from slack_harness import ALICE, EXPORTS, wait_for

from bot.adapters.task_store import open_task_store
from bot.bootstrap import build_runtime, start_http_runtime
from bot.domain.types import AuditEntry
from emulators.fake_hss import FakeHss, Task
from emulators.fake_slack import FakeSlack, Posted

FILTERS = "status=running"
OTHER_FILTERS = "status=running cluster_type=cce"
SUMMARY = "Export summary:"
NO_SUMMARY = "No summary of this file:"


@asynccontextmanager
async def bot_on(
    tmp_path: Path, hss: FakeHss, slack: FakeSlack, **overrides: Any
) -> AsyncIterator[Bot]:
    """Run the app as `serve` wires it on an already running fake Slack (so it can restart)."""
    settings = bot_settings(hss, slack, f"sqlite:///{tmp_path / 'audit.db'}", **overrides)
    runtime = await build_runtime(settings)
    try:
        runtime.start_background()
        await runtime.check_slack()
        server = await start_http_runtime(runtime, "127.0.0.1", 0)
        try:
            yield Bot(runtime, server, hss, slack)
        finally:
            await server.close()
    finally:
        await runtime.drain_and_close()


async def export(bot: Bot, text: str) -> tuple[Task, Posted]:
    """Run `/hss-export <text>`, wait for its task to settle; return it and its task message."""
    before = set(bot.hss.tasks)
    delivery = await bot.slash(text)
    assert delivery.status == 200
    await wait_for(lambda: set(bot.hss.tasks) - before != set(), 15)
    [task_id] = set(bot.hss.tasks) - before
    await wait_settled(bot, task_id)
    [head] = [p for p in bot.channel_posts() if p.thread_ts is None and task_id in p.all_text]
    return bot.hss.tasks[task_id], head


async def wait_settled(bot: Bot, task_id: str, seconds: float = 30.0) -> None:
    """Wait until the tracker has settled the task (file, summary, audit, message)."""
    deadline = time.monotonic() + seconds
    while True:
        task = await bot.runtime.tasks.get(task_id)
        if task is not None and task.settled:
            return
        assert time.monotonic() < deadline, f"task {task_id} not settled: {task}"
        await asyncio.sleep(0.05)


def replies(bot: Bot, head: Posted) -> list[Posted]:
    """Return the bot's posts in a task message's thread, in order."""
    return [p for p in bot.channel_posts() if p.thread_ts == head.ts]


def summaries_in(bot: Bot, head: Posted) -> list[Posted]:
    """Return the summary (or no-summary) replies in the thread."""
    return [p for p in replies(bot, head) if SUMMARY in p.all_text or NO_SUMMARY in p.all_text]


async def delivery_record(bot: Bot, task_id: str) -> dict[str, Any]:
    """Return the delivery part of the audit entry of a task."""
    entries: list[AuditEntry] = await bot.entries()
    [entry] = [e for e in entries if e.task_id == task_id]
    assert entry.delivery is not None
    return entry.delivery


def expected_counts(task: Task) -> list[str]:
    """Return the lines the summary must show, computed from the rows the fake wrote."""
    rows = task.rows
    risky = sum(1 for r in rows if r["risky"])
    sums = {k: sum(r[k] for r in rows) for k in ("fatal_risk", "high_risk", "medium_risk")}
    return [
        f"{SUMMARY} {len(rows):,} containers",
        f"{risky:,} risky, {len(rows) - risky:,} not",
        f"fatal {sums['fatal_risk']:,} · high {sums['high_risk']:,} · "
        f"medium {sums['medium_risk']:,}",
    ]


def severity(row: dict[str, Any]) -> tuple[int, int, int, int]:
    """Order risk counts as the diff does: fatal, then high, medium, low."""
    return (row["fatal_risk"], row["high_risk"], row["medium_risk"], row["low_risk"])


async def test_the_thread_gets_the_file_then_a_summary_counting_the_rows(tmp_path: Path) -> None:
    """After the file, the thread gets one summary whose counts are those of the rows written."""
    async with (
        FakeSlack() as slack,
        FakeHss(file_format="xlsx") as hss,
        bot_on(tmp_path, hss, slack) as bot,
    ):
        task, head = await export(bot, FILTERS)
        [shared] = [f for f in slack.files if f.thread_ts == head.ts]
        [summary] = summaries_in(bot, head)
        assert shared.filename == task.file_name
        for line in expected_counts(task):
            assert line in summary.all_text, (line, summary.all_text)
        assert "Changed since" not in summary.all_text  # the first export: nothing to compare
        record = await delivery_record(bot, task.task_id)
        assert record["summary"] == {"rows": len(task.rows)}
        assert await bot.runtime.digests.count() == 1  # type: ignore[union-attr]


async def test_same_filters_again_show_exactly_what_changed(tmp_path: Path) -> None:
    """A second export with the same filters lists the new, gone, riskier and less risky ones."""
    async with (
        FakeSlack() as slack,
        FakeHss(file_format="xlsx") as hss,
        bot_on(tmp_path, hss, slack) as bot,
    ):
        first, _ = await export(bot, FILTERS)
        second, head = await export(bot, FILTERS)
        [summary] = summaries_in(bot, head)
    before = {r["container_id"]: r for r in first.rows}
    after = {r["container_id"]: r for r in second.rows}
    both = before.keys() & after.keys()
    new, gone = after.keys() - before.keys(), before.keys() - after.keys()
    up = {k for k in both if severity(after[k]) > severity(before[k])}
    down = {k for k in both if severity(after[k]) < severity(before[k])}
    assert new
    assert gone
    assert up or down
    text = summary.all_text
    tally = f"{len(new)} new, {len(gone)} gone, {len(up)} riskier, {len(down)} less risky"
    assert tally in text, text
    assert f"<@{ALICE}> ran it" in text
    assert "<!date^" in text
    for key in new:
        assert after[key]["container_name"] in text
    for key in gone:
        assert before[key]["container_name"] in text


def thread_posts(slack: FakeSlack) -> list[Any]:
    """Return the chat.postMessage calls made into a thread (the summary's, here)."""
    return [c for c in slack.calls_to("chat.postMessage") if c.params.get("thread_ts")]


async def test_a_different_filter_gets_no_diff(tmp_path: Path) -> None:
    """An export with other filters is summarized but compared with nothing."""
    async with (
        FakeSlack() as slack,
        FakeHss(file_format="xlsx") as hss,
        bot_on(tmp_path, hss, slack) as bot,
    ):
        await export(bot, FILTERS)
        task, head = await export(bot, OTHER_FILTERS)
        [summary] = summaries_in(bot, head)
    assert f"{SUMMARY} {len(task.rows):,} containers" in summary.all_text
    assert "Changed since" not in summary.all_text


async def test_an_export_stopped_at_export_size_says_so(tmp_path: Path) -> None:
    """export_size=7 from the stored request: the summary counts 7 and says it was capped."""
    async with (
        FakeSlack() as slack,
        FakeHss(file_format="xlsx") as hss,
        bot_on(tmp_path, hss, slack) as bot,
    ):
        task, head = await export(bot, f"{FILTERS} export_size=7")
        [summary] = summaries_in(bot, head)
    assert len(task.rows) == 7
    assert f"{SUMMARY} 7 containers" in summary.all_text
    assert "capped at 7 rows: narrow the filters for the rest" in summary.all_text


async def test_a_corrupt_file_is_delivered_with_one_line_why_no_summary(tmp_path: Path) -> None:
    """Junk from HSS: the file reaches the thread, one line says why, the audit notes it."""
    async with FakeSlack() as slack, FakeHss(file_format="xlsx") as hss:
        hss.file_override = b"PK\x03\x04 this is not a spreadsheet" + bytes(range(256)) * 8
        async with bot_on(tmp_path, hss, slack) as bot:
            task, head = await export(bot, FILTERS)
            [shared] = [f for f in slack.files if f.thread_ts == head.ts]
            [line] = summaries_in(bot, head)
            record = await delivery_record(bot, task.task_id)
            stored = await bot.runtime.tasks.get(task.task_id)
    assert shared.size == len(hss.file_override)
    assert line.text is not None
    assert line.text.startswith(NO_SUMMARY)
    assert "\n" not in line.text
    assert stored is not None
    assert stored.state == "done"
    assert stored.settled
    assert set(record["summary"]) == {"none"}
    assert record["summary"]["none"] in line.text


async def test_a_file_over_the_summary_limit_gets_one_line(tmp_path: Path) -> None:
    """A file larger than SUMMARY_MAX_BYTES is delivered; the thread says it is too big to read."""
    async with (
        FakeSlack() as slack,
        FakeHss(file_format="xlsx") as hss,
        bot_on(tmp_path, hss, slack, SUMMARY_MAX_BYTES=1000) as bot,
    ):
        task, head = await export(bot, FILTERS)
        [line] = summaries_in(bot, head)
        record = await delivery_record(bot, task.task_id)
    assert len([f for f in slack.files if f.thread_ts == head.ts]) == 1
    assert "summarizes files up to" in (line.text or "")
    assert "summarizes files up to" in record["summary"]["none"]


async def test_summaries_off_post_nothing_more(tmp_path: Path) -> None:
    """SUMMARIES_ENABLED=false: the file and nothing else in the thread, no digest kept."""
    async with (
        FakeSlack() as slack,
        FakeHss(file_format="xlsx") as hss,
        bot_on(tmp_path, hss, slack, SUMMARIES_ENABLED=False) as bot,
    ):
        task, head = await export(bot, FILTERS)
        assert summaries_in(bot, head) == []
        assert "summary" not in await delivery_record(bot, task.task_id)
        assert bot.runtime.digests is None


async def test_a_restart_between_share_and_summary_posts_one_summary(tmp_path: Path) -> None:
    """The first process shares the file and dies before the summary: the next posts it once."""
    async with FakeSlack() as slack, FakeHss(file_format="xlsx") as hss:
        # Slow polling in the first process: a failed summary post waits seconds to be retried.
        async with bot_on(tmp_path, hss, slack, TASK_POLL_INITIAL_SECONDS=3.0) as first:
            await first.slash(FILTERS)
            await wait_for(lambda: bool(hss.tasks) and bool(first.channel_posts()), 15)
            slack.fail("chat.postMessage", "internal_error", channel=EXPORTS)  # the summary's
            await wait_for(lambda: bool(slack.files) and bool(thread_posts(slack)), 15)
        [task] = hss.tasks.values()
        store = await open_task_store(f"sqlite:///{tmp_path / 'audit.db'}")
        between = await store.get(task.task_id)
        await store.aclose()
        assert between is not None
        assert (between.state, between.summary_done, between.audit_done) == ("done", False, False)
        async with bot_on(tmp_path, hss, slack) as second:
            await wait_settled(second, task.task_id)
            stored = await second.runtime.tasks.get(task.task_id)
            [head] = [p for p in second.channel_posts() if p.thread_ts is None]
            found = summaries_in(second, head)
            record = await delivery_record(second, task.task_id)
    assert len(slack.files) == 1
    assert len(found) == 1
    assert f"{SUMMARY} {len(task.rows):,} containers" in found[0].all_text
    assert record["summary"] == {"rows": len(task.rows)}
    assert stored is not None
    assert stored.summary_done
    assert len(hss.calls_for("download")) == 2  # the spool stayed with the first process


async def test_digests_are_pruned_with_the_audit_retention(tmp_path: Path) -> None:
    """The daily prune removes digests older than AUDIT_RETENTION_DAYS, keeps newer ones."""
    async with (
        FakeSlack() as slack,
        FakeHss(file_format="xlsx") as hss,
        bot_on(tmp_path, hss, slack) as bot,
    ):
        await export(bot, FILTERS)
        digests = bot.runtime.digests
        assert digests is not None
        assert await digests.prune(time.time() - 86400) == 0
        assert await digests.count() == 1
        assert await digests.prune(time.time() + 1) == 1
        assert await digests.count() == 0
        async with bot_on(tmp_path, hss, slack, AUDIT_RETENTION_DAYS=1) as bot:
            await export(bot, FILTERS)
            digests = bot.runtime.digests
            assert digests is not None
            assert await digests.count() == 1  # the daily prune ran at start, keeping today's


def current_rss() -> int:
    """Return this process's resident set size now, in bytes (Linux)."""
    pages = int(Path("/proc/self/statm").read_text().split()[1])
    return pages * resource.getpagesize()


async def test_the_bot_process_does_not_grow_by_the_file(tmp_path: Path) -> None:
    """A big export is read in the worker: while it is, the bot's RSS grows by less than the file.

    Measured from the moment the file is shared (the summary starts right
    then), so the download and upload, which the fakes in this process also
    buffer, are not counted. What remains is the report coming back (its
    digest is capped at 5000 containers, about 3 MB as objects); reading the
    file in-process instead grew the process by 69 MB.
    """
    async with (
        FakeSlack(keep_bytes=False) as slack,
        FakeHss(file_format="xlsx", population_size=80_000) as hss,
        bot_on(tmp_path, hss, slack) as bot,
    ):
        await bot.slash(FILTERS)
        await wait_for(lambda: bool(hss.tasks), 60)
        [task] = hss.tasks.values()
        gc.collect()
        await wait_for(lambda: bool(slack.files), 60)
        baseline, peak = current_rss(), 0
        stop = asyncio.Event()

        async def sample() -> None:
            nonlocal peak
            while not stop.is_set():
                peak = max(peak, current_rss())
                await asyncio.sleep(0.01)

        sampler = asyncio.create_task(sample())
        await wait_settled(bot, task.task_id, 120)
        stop.set()
        await sampler
        [head] = [p for p in bot.channel_posts() if p.thread_ts is None]
        [summary] = summaries_in(bot, head)
    assert f"{SUMMARY} {len(task.rows):,} containers" in summary.all_text
    assert task.file_size > 1_000_000
    assert peak - baseline < task.file_size, (peak - baseline, task.file_size)
