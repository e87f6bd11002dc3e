"""Schedule runs with a fake clock: DST, replicas, crashes, downtime, revoked access, pause."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import pytest
from db_fixtures import BACKENDS, Db, database
from schedule_support import ALICE, GROUP, Bot, Clock, World, at

from bot.access import ApprovalPolicy
from bot.adapters.task_store import open_task_store
from bot.domain import schedule_messages
from bot.domain.approval_rules import Always
from bot.domain.grammar import ScheduleAdd, parse_command
from bot.domain.saved import REFUSALS_BEFORE_PAUSE
from bot.tracking.lease import Leases
from bot.tracking.model import TrackerConfig
from bot.tracking.worker import LeaseWorker
from bot.usecases.schedule_runs import ScheduleRuns

START = at("2026-03-20T12:00")  # a Friday before Berlin's spring-forward (29 March 2026)


@pytest.fixture(params=BACKENDS)
def db(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Db]:
    """Yield an empty database, once per backend."""
    with database(request.param, tmp_path) as found:
        yield found


@pytest.fixture
async def world(db: Db) -> AsyncIterator[World]:
    """A world on the test database with Alice's saved export `weekly`."""
    made = World(db.url, Clock(START))
    made.saved.put("weekly", {"status": "running", "risky": "yes"})
    yield made
    await made.aclose()


async def scheduled(world: World, bot: Bot, text: str) -> str:
    """Have Alice schedule `weekly` with `text`; return the schedule id."""
    parsed = parse_command(f"schedule weekly {text}")
    assert isinstance(parsed, ScheduleAdd)
    answer = await bot.service.schedule(ALICE, "weekly", parsed.schedule)
    assert answer.schedule is not None, answer.message.text
    return answer.schedule.id


async def due_times(bot: Bot, schedule_id: str) -> list[float]:
    """Return the due times that ran, oldest first."""
    return sorted(run.due_at for run in await bot.store.runs(schedule_id, limit=50))


async def test_a_0900_schedule_stays_0900_in_berlin_across_the_dst_change(world: World) -> None:
    """09:00 CET is 08:00 UTC, 09:00 CEST is 07:00 UTC: each runs once, at its local 09:00."""
    bot = await world.bot()
    sid = await scheduled(world, bot, "every monday 09:00 tz=Europe/Berlin")
    for now in (at("2026-03-23T08:00"), at("2026-03-30T07:00"), at("2026-03-30T07:01")):
        world.clock.now = now
        await bot.runs.run_once("w1")
    assert await due_times(bot, sid) == [at("2026-03-23T08:00"), at("2026-03-30T07:00")]
    assert len(world.hss.created) == 2
    [entry, *_] = await bot.audit.history(ALICE.user_id)
    assert (entry.source, entry.schedule, entry.saved_export) == ("schedule", "weekly", "weekly")
    assert entry.channel_id == "C0REPORTS"
    assert entry.outcome == "submitted"


async def test_a_0230_schedule_runs_at_0300_on_the_spring_forward_day(world: World) -> None:
    """02:30 does not exist in Berlin on 29 March 2026: that day's run is 03:00 CEST, once."""
    bot = await world.bot()
    sid = await scheduled(world, bot, "every day 02:30 tz=Europe/Berlin")
    for now in (at("2026-03-28T01:30"), at("2026-03-29T01:00"), at("2026-03-30T00:30")):
        world.clock.now = now
        await bot.runs.run_once("w1")
    assert await due_times(bot, sid) == [
        at("2026-03-28T01:30"),  # 02:30 CET
        at("2026-03-29T01:00"),  # 03:00 CEST, the first minute after the gap
        at("2026-03-30T00:30"),  # 02:30 CEST
    ]


async def test_two_bot_processes_make_one_export_per_due_time(world: World) -> None:
    """Two lease workers (two owners, own connections) at the same due time: one export."""
    first, second = await world.bot(), await world.bot()
    sid = await scheduled(world, first, "every day 09:00 tz=UTC")
    workers = []
    for index, bot in enumerate((first, second)):
        tasks = await open_task_store(world.url)
        leases = Leases(tasks, f"replica-{index}", lease_seconds=60, clock=world.clock,
                        sleep=asyncio.sleep)  # fmt: skip
        workers.append((LeaseWorker(leases, _no_task, TrackerConfig(), clock=world.clock,
                                    sleep=asyncio.sleep, also=(bot.runs,)), tasks))  # fmt: skip
    try:
        for day in ("2026-03-21", "2026-03-22", "2026-03-23"):
            world.clock.now = at(f"{day}T09:00")
            await asyncio.gather(*(worker.run_once() for worker, _ in workers))
    finally:
        for _, tasks in workers:
            await tasks.aclose()
    assert len(world.hss.created) == 3
    assert len(await due_times(first, sid)) == 3


async def test_a_run_that_crashed_before_finishing_is_not_exported_twice(world: World) -> None:
    """Exported, then the process died before `finish_run`: the next claim exports nothing."""
    crashed = await world.bot()
    sid = await scheduled(world, crashed, "every day 09:00 tz=UTC")
    world.clock.now = at("2026-03-21T09:00")
    dying = ScheduleRuns(
        _Crashing(crashed.store), world.saved, crashed.audit, crashed.runs._gate, world.slack,
        defaults=crashed.runs._defaults, clock=world.clock, exports=crashed.runs._exports,
    )  # fmt: skip
    with pytest.raises(_Crash):
        await dying.run_once("dead-replica")
    assert len(world.hss.created) == 1
    world.clock.now += 61  # the dead replica's lease runs out
    restarted = await world.bot()
    assert await restarted.runs.run_once("new-replica") == 1
    assert len(world.hss.created) == 1
    [run] = await restarted.store.runs(sid)
    assert run.outcome == "duplicate"
    schedule = await restarted.store.by_id(sid)
    assert schedule is not None
    assert schedule.next_due_at == at("2026-03-22T09:00")
    # The channel is told the run was cut short and where its outcome is on record.
    [notice] = [m for m in world.slack.to("C0REPORTS") if "interrupted" in m]
    assert f"audit entry {run.entry_id}" in notice
    assert "is not run again" in notice


async def test_after_downtime_the_missed_run_runs_once_and_says_it_is_late(world: World) -> None:
    """Down for three days: one run, "this run is 2 hours late", then the normal rhythm."""
    bot = await world.bot()
    sid = await scheduled(world, bot, "every day 09:00 tz=UTC")
    world.clock.now = at("2026-03-24T11:00")
    assert await bot.runs.run_once("w1") == 1
    assert await bot.runs.run_once("w1") == 0
    assert len(world.hss.created) == 1
    assert await due_times(bot, sid) == [at("2026-03-24T09:00")]
    [late, _task] = world.slack.to("C0REPORTS")
    assert "this run is 2 hours late" in late
    [run] = await bot.store.runs(sid)
    assert run.late
    schedule = await bot.store.by_id(sid)
    assert schedule is not None
    assert schedule.next_due_at == at("2026-03-25T09:00")


async def test_revoked_access_refuses_three_runs_then_pauses_and_tells_the_owner(
    world: World,
) -> None:
    """Alice leaves the allowed group: each run refused and audited, DMs, then a pause."""
    bot = await world.bot()
    sid = await scheduled(world, bot, "every day 09:00 tz=UTC")
    world.groups.members_of[GROUP].discard(ALICE.user_id)
    for day in range(21, 21 + REFUSALS_BEFORE_PAUSE + 1):
        world.clock.now = at(f"2026-03-{day}T09:00")
        await bot.runs.run_once("w1")
    assert world.hss.created == []
    dms = world.slack.to(ALICE.user_id)
    assert len(dms) == REFUSALS_BEFORE_PAUSE
    assert "did not run in <#C0REPORTS>" in dms[0]
    assert "paused itself" in dms[-1]
    schedule = await bot.store.by_id(sid)
    assert schedule is not None
    assert schedule.paused
    assert [r.outcome for r in await bot.store.runs(sid)] == ["refused"] * REFUSALS_BEFORE_PAUSE
    entries = await bot.audit.history(ALICE.user_id)
    refused = [e for e in entries if e.outcome == "denied"]
    assert len(refused) == REFUSALS_BEFORE_PAUSE
    assert all((e.source, e.schedule) == ("schedule", "weekly") for e in refused)
    assert entries[0].outcome == "paused"


async def test_a_run_the_two_person_rule_now_holds_is_refused_and_counts_toward_the_pause(
    world: World,
) -> None:
    """The approval policy changed after scheduling: each run refused, audited, the owner told."""
    sid = await scheduled(world, await world.bot(), "every day 09:00 tz=UTC")
    world.approvals = ApprovalPolicy(conditions=(Always(),))
    bot = await world.bot()  # restarted with the new APPROVAL_REQUIRED_FOR
    world.clock.now = at("2026-03-21T09:00")
    await bot.runs.run_once("w1")
    assert world.hss.created == []
    [dm] = world.slack.to(ALICE.user_id)
    assert "needs a second person's approval" in dm
    assert "`run weekly`" in dm
    [entry, *_] = await bot.audit.history(ALICE.user_id)
    assert (entry.outcome, entry.source, entry.schedule) == ("denied", "schedule", "weekly")
    schedule = await bot.store.by_id(sid)
    assert schedule is not None
    assert schedule.refusals == 1


async def test_a_slack_outage_refuses_runs_without_pausing_the_schedule(world: World) -> None:
    """User groups unreadable at every due time: refused, the owner told why, never paused."""
    bot = await world.bot()
    sid = await scheduled(world, bot, "every day 09:00 tz=UTC")
    world.groups.down = True
    for day in range(21, 21 + REFUSALS_BEFORE_PAUSE + 1):
        world.clock.now = at(f"2026-03-{day}T09:00")
        await bot.runs.run_once("w1")
    dms = world.slack.to(ALICE.user_id)
    assert len(dms) == REFUSALS_BEFORE_PAUSE + 1
    assert all("tried again at its next due time" in dm for dm in dms)
    schedule = await bot.store.by_id(sid)
    assert schedule is not None
    assert (schedule.paused, schedule.refusals) == (False, 0)
    world.groups.down = False
    world.clock.now = at(f"2026-03-{21 + REFUSALS_BEFORE_PAUSE + 1}T09:00")
    await bot.runs.run_once("w1")
    assert len(world.hss.created) == 1


async def test_a_paused_schedule_skips_its_due_times_and_resumes_from_the_next(
    world: World,
) -> None:
    """Paused over two due times: nothing runs; resumed, the next due time runs, not the missed."""
    bot = await world.bot()
    sid = await scheduled(world, bot, "every day 09:00 tz=UTC")
    await bot.service.pause(ALICE, "weekly")
    world.clock.now = at("2026-03-22T10:00")
    assert await bot.runs.run_once("w1") == 0
    await bot.service.resume(ALICE, "weekly")
    assert await bot.runs.run_once("w1") == 0
    world.clock.now = at("2026-03-23T09:00")
    assert await bot.runs.run_once("w1") == 1
    assert await due_times(bot, sid) == [at("2026-03-23T09:00")]


async def test_stale_saved_fields_fail_the_run_naming_the_key(world: World) -> None:
    """A saved field today's grammar refuses: outcome invalid, audited, the owner told the key."""
    bot = await world.bot()
    sid = await scheduled(world, bot, "every day 09:00 tz=UTC")
    world.saved.put("weekly", {"status": "sleeping"})
    world.clock.now = at("2026-03-21T09:00")
    await bot.runs.run_once("w1")
    assert world.hss.created == []
    [said] = world.slack.to(ALICE.user_id)
    assert "`status`" in said
    assert "save it again" in said
    assert "Traceback" not in said
    [run] = await bot.store.runs(sid)
    assert run.outcome == "invalid"
    [entry, *_] = await bot.audit.history(ALICE.user_id)
    assert (entry.outcome, entry.source, entry.schedule) == ("invalid", "schedule", "weekly")


async def test_stale_fields_count_toward_the_pause_like_refused_access(world: World) -> None:
    """Three runs in a row that cannot be built: three DMs naming the key, then a pause."""
    bot = await world.bot()
    sid = await scheduled(world, bot, "every day 09:00 tz=UTC")
    world.saved.put("weekly", {"status": "sleeping"})
    for day in range(21, 21 + REFUSALS_BEFORE_PAUSE + 1):
        world.clock.now = at(f"2026-03-{day}T09:00")
        await bot.runs.run_once("w1")
    assert world.hss.created == []
    dms = world.slack.to(ALICE.user_id)
    assert len(dms) == REFUSALS_BEFORE_PAUSE
    assert all("`status`" in dm for dm in dms)
    assert "paused itself" in dms[-1]
    schedule = await bot.store.by_id(sid)
    assert schedule is not None
    assert schedule.paused
    assert [r.outcome for r in await bot.store.runs(sid)] == ["invalid"] * REFUSALS_BEFORE_PAUSE
    entries = await bot.audit.history(ALICE.user_id)
    assert [e.outcome for e in entries[:4]] == ["paused", "invalid", "invalid", "invalid"]


async def test_a_forgotten_saved_export_fails_its_runs_until_the_schedule_pauses(
    world: World,
) -> None:
    """The saved export is gone: each run is refused naming NAME, and the third one pauses."""
    bot = await world.bot()
    sid = await scheduled(world, bot, "every day 09:00 tz=UTC")
    await world.saved.forget("T1", "weekly")
    for day in range(21, 21 + REFUSALS_BEFORE_PAUSE):
        world.clock.now = at(f"2026-03-{day}T09:00")
        await bot.runs.run_once("w1")
    dms = world.slack.to(ALICE.user_id)
    assert "`weekly` was forgotten" in dms[0]
    schedule = await bot.store.by_id(sid)
    assert schedule is not None
    assert schedule.paused


async def test_a_good_run_between_stale_ones_starts_the_count_again(world: World) -> None:
    """Refused, refused, run, refused: still running (the count is of refusals in a row)."""
    bot = await world.bot()
    sid = await scheduled(world, bot, "every day 09:00 tz=UTC")
    fields = {"weekly": {"status": "sleeping"}, "good": {"status": "running", "risky": "yes"}}
    for day, which in zip(range(21, 25), ("weekly", "weekly", "good", "weekly"), strict=True):
        world.saved.put("weekly", fields[which])
        world.clock.now = at(f"2026-03-{day}T09:00")
        await bot.runs.run_once("w1")
    schedule = await bot.store.by_id(sid)
    assert schedule is not None
    assert not schedule.paused
    assert schedule.refusals == 1


async def test_a_run_keeps_the_thread_its_task_was_announced_in(world: World) -> None:
    """The run records the announcement's channel and ts; `schedules` links that thread."""
    bot = await world.bot()
    sid = await scheduled(world, bot, "every day 09:00 tz=UTC")
    world.clock.now = at("2026-03-21T09:00")
    await bot.runs.run_once("w1")
    [run] = await bot.store.runs(sid)
    assert (run.channel_id, run.thread_ts) == ("C0REPORTS", "1.0")  # the fake's first post
    [listed] = await bot.service.list_in_team(ALICE)
    line = schedule_messages.schedule_line(listed, "https://acme.slack.com/")
    assert "<https://acme.slack.com/archives/C0REPORTS/p10|its thread>" in line


class _Crash(Exception):
    """The process dying between the export and recording its end."""


class _Crashing:
    """A schedule store whose `finish_run` never happens (the process died)."""

    def __init__(self, store: Any) -> None:
        self._store = store

    def __getattr__(self, name: str) -> Any:
        return getattr(self._store, name)

    async def finish_run(self, *args: Any, **kwargs: Any) -> None:
        raise _Crash


async def _no_task(_task: object) -> None:
    raise AssertionError("no task is tracked here")
