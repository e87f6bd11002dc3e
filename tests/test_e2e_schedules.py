"""Schedules end to end (issue 15): the real runtime, fake Slack and HSS, a clock that jumps.

`save` → `schedule … every monday 09:00 tz=Europe/Berlin` → `schedules` → the clock
jumps past Monday 09:00 Berlin: the run is audited as the schedule's, its task
announced in the channel, the file and summary in its thread → next Monday: the
second thread shows what changed and a PNG chart of the runs → pause, resume,
unschedule. Two runtimes on one PostgreSQL at the same due time export once.
"""

from __future__ import annotations

import asyncio
import json
import struct
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import pytest
from db_fixtures import Db, postgres_db
from e2e_harness import Bot, MovableClock, bot_settings, running_bot
from slack_harness import ALICE, EXPORTS, wait_for

from bot.bootstrap import Runtime, build_runtime
from bot.domain import home
from emulators.fake_hss import FakeHss
from emulators.fake_slack import FakeSlack, Posted

FRIDAY = datetime(2026, 3, 20, 12, 0, tzinfo=UTC).timestamp()
# Monday 23 March 2026, 09:00 in Berlin is 08:00 UTC (CET); on 30 March, 07:00 UTC (CEST).
FIRST_MONDAY = datetime(2026, 3, 23, 8, 0, 30, tzinfo=UTC).timestamp()
NEXT_MONDAY = datetime(2026, 3, 30, 7, 0, 30, tzinfo=UTC).timestamp()
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
CHART_MAX_BYTES = 200_000  # a small picture for a thread, not a report
SAVE = "save weekly status=running risky=yes"
SCHEDULE = "schedule weekly every monday 09:00 tz=Europe/Berlin"
BOB = "U0BOB"


@dataclass
class Scene:
    """The running bot and the clock its due work reads."""

    bot: Bot
    clock: MovableClock


@pytest.fixture
async def scene(tmp_path: Path) -> AsyncIterator[Scene]:
    """The bot as `serve` wires it, on Friday 20 March 2026 at noon; #exports may export."""
    clock = MovableClock(FRIDAY)
    async with (
        FakeHss(file_format="xlsx") as hss,
        running_bot(tmp_path, hss, clock=clock) as running,
    ):
        yield Scene(running, clock)


async def said(bot: Bot, text: str) -> str:
    """Type `/hss-export <text>`; return all it showed the user (the ack, then its answer)."""
    before = len(bot.private_replies())
    delivery = await bot.slash(text)
    assert delivery.status == 200, delivery.text
    await bot.settle()
    later = [r.all_text for r in bot.private_replies()[before:]]
    return "\n".join([json.dumps(delivery.json, ensure_ascii=False), *later])


def task_head(bot: Bot, task_id: str) -> Posted:
    """Return the top-level message in #exports that announced `task_id`."""
    [head] = [p for p in bot.channel_posts() if p.thread_ts is None and task_id in p.all_text]
    return head


def thread_text(bot: Bot, head: Posted) -> str:
    """Return all the bot posted in a task message's thread."""
    return "\n".join(p.all_text for p in bot.channel_posts() if p.thread_ts == head.ts)


async def settle_tasks(runtime: Runtime, hss: FakeHss, count: int, seconds: float = 30.0) -> None:
    """Wait until HSS has `count` tasks and the tracker has followed each to its end."""
    await wait_for(lambda: len(hss.tasks) >= count, seconds)
    deadline = time.monotonic() + seconds
    for task_id in list(hss.tasks):
        while True:
            task = await runtime.tasks.get(task_id)
            if task is not None and task.settled:
                break
            assert time.monotonic() < deadline, f"task {task_id} not settled: {task}"
            await asyncio.sleep(0.05)


def png_size(data: bytes) -> tuple[int, int]:
    """Return a PNG's width and height from its IHDR chunk, after checking its signature."""
    assert data.startswith(PNG_SIGNATURE)
    assert data[12:16] == b"IHDR"
    width, height = struct.unpack(">II", data[16:24])
    return int(width), int(height)


async def test_a_weekly_schedule_runs_twice_with_changes_and_a_chart(scene: Scene) -> None:
    """Save, schedule, two Mondays: two audited runs, two threads, the second with a chart."""
    bot = scene.bot
    await said(bot, SAVE)
    answer = await said(bot, SCHEDULE)
    assert "Scheduled `weekly`" in answer
    assert "First run Mon 2026-03-23 09:00 CET" in answer  # Berlin time
    listing = await said(bot, "schedules")
    assert "`weekly`" in listing
    assert "next run Mon 2026-03-23 09:00 CET" in listing
    assert bot.hss.calls_for("create") == []

    scene.clock.jump_to(FIRST_MONDAY)
    await settle_tasks(bot.runtime, bot.hss, 1)
    [first_task] = bot.hss.tasks
    entries = [e for e in await bot.entries() if e.task_id == first_task]
    [entry] = entries
    assert (entry.source, entry.schedule, entry.saved_export) == ("schedule", "weekly", "weekly")
    assert entry.outcome == "submitted"
    first_head = task_head(bot, first_task)
    first_thread = thread_text(bot, first_head)
    assert "Export summary:" in first_thread
    assert [f.filename for f in bot.slack.files if f.thread_ts == first_head.ts] == [
        f"container-export-{first_task}.xlsx"
    ]
    listing = await said(bot, "schedules")
    # On the workspace's address, from the bot's auth.test at start.
    link = f"https://fake.slack.com/archives/{first_head.channel}/p{first_head.ts.replace('.', '')}"
    assert link in listing  # the last result's thread
    assert "next run Mon 2026-03-30 09:00 CEST" in listing

    scene.clock.jump_to(NEXT_MONDAY)
    await settle_tasks(bot.runtime, bot.hss, 2)
    [second_task] = [t for t in bot.hss.tasks if t != first_task]
    second_head = task_head(bot, second_task)
    assert "Changed since" in thread_text(bot, second_head)
    shared = [f for f in bot.slack.files if f.thread_ts == second_head.ts]
    assert sorted(f.filename for f in shared) == sorted(
        [f"container-export-{second_task}.xlsx", "weekly-runs.png"]
    )
    [chart] = [f for f in shared if f.filename == "weekly-runs.png"]
    assert chart.data is not None
    assert 0 < len(chart.data) <= CHART_MAX_BYTES
    width, height = png_size(chart.data)
    assert 300 <= width <= 1000
    assert 150 <= height <= 600
    assert not [f for f in bot.slack.files if f.thread_ts == first_head.ts and ".png" in f.filename]
    assert (await bot.verify()).ok


async def test_run_now_of_a_scheduled_export_is_one_of_its_runs(scene: Scene) -> None:
    """Monday's run, then Bob exports the same filters, then Alice's Run now in #exports: it
    compares with Monday's run (not Bob's export) and is charted; next Monday compares with
    it, and its chart counts three runs."""
    bot = scene.bot
    await said(bot, SAVE)
    await said(bot, SCHEDULE)
    scene.clock.jump_to(FIRST_MONDAY)
    await settle_tasks(bot.runtime, bot.hss, 1)
    await bot.slash("status=running risky=yes", user_id=BOB)  # the same filters, typed
    await settle_tasks(bot.runtime, bot.hss, 2)
    await bot.send(bot.slack.home.opened(ALICE))
    await wait_for(lambda: bot.slack.home.has(ALICE))
    await bot.send(bot.slack.home.click(home.RUN_SAVED, value="weekly"))
    await settle_tasks(bot.runtime, bot.hss, 3)
    run_now_task = list(bot.hss.tasks)[-1]
    run_now = task_head(bot, run_now_task)
    await wait_for(lambda: "weekly-runs.png" in files_in(bot, run_now))
    scene.clock.jump_to(NEXT_MONDAY)
    await settle_tasks(bot.runtime, bot.hss, 4)
    next_run = task_head(bot, list(bot.hss.tasks)[-1])
    await wait_for(lambda: "weekly-runs.png" in files_in(bot, next_run))

    assert run_now.channel == EXPORTS
    assert f"<@{ALICE}> ran it" in thread_text(bot, run_now)  # Monday's run, not Bob's
    assert f"<@{BOB}> ran it" not in thread_text(bot, run_now)
    assert f"<@{ALICE}> ran it" in thread_text(bot, next_run)  # compared with Run now
    charts = [f.title for f in bot.slack.files if f.filename == "weekly-runs.png"]
    assert charts == ["weekly: last 2 runs", "weekly: last 3 runs"]
    [entry] = [e for e in await bot.entries() if e.task_id == run_now_task]
    assert (entry.source, entry.saved_export, entry.schedule) == ("home", "weekly", "weekly")


def files_in(bot: Bot, head: Posted) -> list[str]:
    """Return the names of the files shared in a task message's thread."""
    return [f.filename for f in bot.slack.files if f.thread_ts == head.ts]


@pytest.mark.parametrize(
    "again",
    [
        ["unschedule weekly"],
        ["forget weekly", "save weekly status=running risky=no"],
    ],
    ids=["deleted-and-scheduled-again", "forgotten-saved-again-and-scheduled"],
)
async def test_a_schedule_made_again_under_an_old_name_is_not_compared_with_the_old_runs(
    scene: Scene, again: list[str]
) -> None:
    """`weekly` runs, is deleted (or its saved export forgotten and saved anew) and scheduled
    again: the new schedule's first run says nothing changed since the old one's, no chart."""
    bot = scene.bot
    await said(bot, SAVE)
    await said(bot, SCHEDULE)
    scene.clock.jump_to(FIRST_MONDAY)
    await settle_tasks(bot.runtime, bot.hss, 1)
    [first_task] = bot.hss.tasks
    for text in again:
        await said(bot, text)
    assert "Scheduled `weekly`" in await said(bot, SCHEDULE)

    scene.clock.jump_to(NEXT_MONDAY)
    await settle_tasks(bot.runtime, bot.hss, 2)
    [second_task] = [t for t in bot.hss.tasks if t != first_task]
    second_thread = thread_text(bot, task_head(bot, second_task))
    assert "Export summary:" in second_thread
    assert "Changed since" not in second_thread
    assert [f.filename for f in bot.slack.files if f.filename.endswith(".png")] == []
    runs = [e for e in await bot.entries() if e.task_id is not None]
    assert [(e.schedule, e.source) for e in runs] == [("weekly", "schedule")] * 2


async def test_pause_resume_and_unschedule_by_slash_command(scene: Scene) -> None:
    """Each change is answered and audited; a paused schedule lists as paused; gone is gone."""
    bot = scene.bot
    await said(bot, SAVE)
    await said(bot, SCHEDULE)
    assert "paused: it runs again on `resume`" in await said(bot, "pause weekly")
    assert "*paused*" in await said(bot, "schedules")
    resumed = await said(bot, "resume weekly")
    assert "resumed" in resumed
    assert "Next run Mon 2026-03-23 09:00 CET" in resumed
    assert "deleted; the saved export stays" in await said(bot, "unschedule weekly")
    assert "No schedules yet" in await said(bot, "schedules")
    assert "`weekly`" in await said(bot, "saved")
    await bot.settle()
    changes = [e.outcome for e in await bot.entries()]
    assert changes == ["saved", "scheduled", "paused", "resumed", "unscheduled"]
    scene.clock.jump_to(FIRST_MONDAY)
    await bot.settle()
    assert bot.hss.calls_for("create") == []


async def test_each_schedule_word_is_acknowledged_with_what_it_does(scene: Scene) -> None:
    """The first answer names the word's own work, not the listing's "Looking up the schedules"."""
    bot = scene.bot
    await said(bot, SAVE)
    acks = {}
    for word in (SCHEDULE, "schedules", "pause weekly", "resume weekly", "unschedule weekly"):
        delivery = await bot.slash(word)
        acks[word.split()[0]] = delivery.json["text"]
        await bot.settle()
    assert acks == {
        "schedule": "Scheduling weekly…",
        "schedules": "Looking up the schedules…",
        "pause": "Pausing weekly…",
        "resume": "Resuming weekly…",
        "unschedule": "Unscheduling weekly…",
    }


async def test_the_run_shares_the_apps_user_group_cache(tmp_path: Path) -> None:
    """Access by user group: the run is admitted from the group the command read (one gate)."""
    clock = MovableClock(FRIDAY)
    async with FakeHss(file_format="xlsx") as hss, FakeSlack() as slack:
        slack.usergroups["S0SECOPS"] = [ALICE]
        async with running_bot(
            tmp_path, hss, slack=slack, clock=clock,
            ALLOWED_CHANNEL_IDS="", ALLOWED_USERGROUP_IDS="S0SECOPS",
        ) as bot:  # fmt: skip
            await said(bot, SAVE)
            await said(bot, SCHEDULE)
            reads = len(slack.calls_to("usergroups.users.list"))
            clock.jump_to(FIRST_MONDAY)
            await settle_tasks(bot.runtime, hss, 1)
            assert len(slack.calls_to("usergroups.users.list")) == reads == 1


async def test_thread_links_are_on_the_workspace_auth_test_names(tmp_path: Path) -> None:
    """On GovSlack too: `schedules` and the App Home link the last run's thread on the
    workspace's own address (auth.test's `url`), with no Slack call of their own."""
    clock = MovableClock(FRIDAY)
    gov = "https://agency.slack-gov.com/"
    async with (
        FakeHss(file_format="xlsx") as hss,
        FakeSlack(workspace_url=gov) as slack,
        running_bot(tmp_path, hss, slack=slack, clock=clock) as bot,
    ):
        await said(bot, SAVE)
        await said(bot, SCHEDULE)
        clock.jump_to(FIRST_MONDAY)
        await settle_tasks(bot.runtime, hss, 1)
        checks = len(slack.calls_to("auth.test"))
        listing = await said(bot, "schedules")
        await bot.send(slack.home.opened(ALICE))
        await wait_for(lambda: slack.home.has(ALICE))
        home = json.dumps(slack.home.of(ALICE).view["blocks"])
        [task_id] = hss.tasks
        head = task_head(bot, task_id)

    link = f"{gov}archives/{head.channel}/p{head.ts.replace('.', '')}"
    assert f"<{link}|its thread>" in listing
    assert f"<{link}|its thread>" in home
    assert "https://slack.com/" not in listing + home
    assert len(slack.calls_to("auth.test")) == checks
    assert slack.calls_to("chat.getPermalink") == []


@asynccontextmanager
async def second_runtime(
    hss: FakeHss, slack: FakeSlack, url: str, clock: MovableClock
) -> AsyncIterator[Runtime]:
    """Start one more bot process's runtime (its lease loop, no HTTP) on the same database."""
    runtime = await build_runtime(bot_settings(hss, slack, url), clock=clock)
    try:
        runtime.start_background()
        yield runtime
    finally:
        await runtime.drain_and_close()


@pytest.mark.postgres
async def test_two_runtimes_on_one_postgresql_export_a_due_time_once(tmp_path: Path) -> None:
    """Two bot processes share a PostgreSQL and a due time: one export, one run on record."""
    db = postgres_db()
    clock = MovableClock(FRIDAY)
    try:
        async with FakeHss(file_format="xlsx") as hss, FakeSlack() as slack:
            async with (
                running_bot(tmp_path, hss, slack=slack, audit_db_url=db.url, clock=clock) as bot,
                second_runtime(hss, slack, db.url, clock),
            ):
                await said(bot, SAVE)
                await said(bot, SCHEDULE)
                clock.jump_to(FIRST_MONDAY)
                await settle_tasks(bot.runtime, hss, 1)
                await moved_on(db, NEXT_MONDAY - 30)
            assert len(hss.calls_for("create")) == 1
            runs = await asyncio.to_thread(db.sql, "SELECT outcome FROM schedule_runs")
            assert runs == [("submitted",)]
    finally:
        db.drop()


async def moved_on(db: Db, next_due_at: float, seconds: float = 20.0) -> None:
    """Wait until the schedule's run is finished: its next due time is `next_due_at`."""
    deadline = time.monotonic() + seconds
    query = "SELECT next_due_at FROM schedules"
    while await asyncio.to_thread(db.sql, query) != [(next_due_at,)]:
        assert time.monotonic() < deadline, await asyncio.to_thread(db.sql, query)
        await asyncio.sleep(0.1)
