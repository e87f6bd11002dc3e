"""Schedules in the database: one per saved export, leased claims, one run per due time."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Iterator
from dataclasses import replace
from pathlib import Path

import pytest
from db_fixtures import BACKENDS, Db, database

from bot.adapters.schedule_store import SqlScheduleStore, open_schedule_store
from bot.domain.saved import ScheduledExport, ScheduleRun

NOW = 1_767_258_000.0


def _schedule(name: str = "weekly", **changes: object) -> ScheduledExport:
    fields: dict[str, object] = {
        "id": f"s-{name}",
        "team_id": "T1",
        "name": name,
        "owner_id": "U_ALICE",
        "channel_id": "C_SEC",
        "cron": "0 9 * * 1",
        "tz": "Europe/Berlin",
        "summary": "every Monday at 09:00",
        "next_due_at": NOW,
        "created_at": NOW - 3600,
    }
    fields.update(changes)
    return ScheduledExport(**fields)  # type: ignore[arg-type]


@pytest.fixture(params=BACKENDS)
def db(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Db]:
    """Yield an empty database, once per backend."""
    with database(request.param, tmp_path) as found:
        yield found


@pytest.fixture
async def store(db: Db) -> AsyncIterator[SqlScheduleStore]:
    """Open the schedule store on the test database."""
    opened = await open_schedule_store(db.url)
    yield opened
    await opened.aclose()


async def test_a_schedule_reads_back_and_names_are_unique_per_workspace(
    store: SqlScheduleStore,
) -> None:
    """A saved export has one schedule per workspace; another workspace may reuse the name."""
    assert await store.add(_schedule())
    assert not await store.add(_schedule(id="s-other"))
    assert await store.add(_schedule(id="s-t2", team_id="T2"))
    back = await store.get("T1", "weekly")
    assert back == _schedule()
    assert await store.get("T1", "nothing") is None
    assert [s.id for s in await store.in_team("T1")] == ["s-weekly"]
    assert await store.count_owned("T1", "U_ALICE") == 1
    assert await store.count_owned("T1", "U_BOB") == 0


async def test_a_pause_clicked_during_a_run_stays_paused(store: SqlScheduleStore) -> None:
    """Pause while the run exports: finishing it neither unpauses nor rewrites the refusals."""
    await store.add(_schedule(refusals=1))
    [claimed] = await store.claim_due("w1", NOW, 60, 10)
    run = ScheduleRun(claimed.id, NOW, NOW + 5)
    assert await store.start_run(run, "w1")
    assert await store.set_paused(claimed.id, True)  # the owner's click, mid-run
    done = replace(run, outcome="submitted", entry_id=4)
    await store.finish_run(
        done, "w1", claimed_due_at=NOW, next_due_at=NOW + 86400, refusals=0, paused=False
    )
    back = await store.by_id(claimed.id)
    assert back is not None
    assert back.paused
    assert back.next_due_at == NOW + 86400
    assert back.last_run == done
    assert back.lease_owner is None


async def test_a_resume_during_a_run_keeps_its_next_due_time_and_is_not_paused_again(
    store: SqlScheduleStore,
) -> None:
    """Pause and Resume mid-run, then the run's third refusal: the resume wins."""
    await store.add(_schedule(refusals=2))
    [claimed] = await store.claim_due("w1", NOW, 60, 10)
    run = ScheduleRun(claimed.id, NOW, NOW + 5)
    assert await store.start_run(run, "w1")
    assert await store.set_paused(claimed.id, True)
    assert await store.set_paused(claimed.id, False, next_due_at=NOW + 3 * 86400)
    refused = replace(run, outcome="refused", entry_id=5)
    await store.finish_run(
        refused, "w1", claimed_due_at=NOW, next_due_at=NOW + 86400, refusals=3, paused=True
    )
    back = await store.by_id(claimed.id)
    assert back is not None
    assert not back.paused
    assert (back.next_due_at, back.refusals) == (NOW + 3 * 86400, 0)
    assert back.last_run == refused
    assert back.lease_owner is None


async def test_a_due_time_runs_once_and_its_outcome_is_kept(store: SqlScheduleStore) -> None:
    """A second start of the same due time is refused; the finished run is the last run."""
    await store.add(_schedule())
    [claimed] = await store.claim_due("w1", NOW, 60, 10)
    run = ScheduleRun(claimed.id, NOW, NOW + 5)
    assert await store.start_run(run, "w1")
    done = replace(run, outcome="submitted", entry_id=4, task_id="task-1", channel_id="C_SEC")
    await store.finish_run(
        done, "w1", claimed_due_at=NOW, next_due_at=NOW + 7 * 86400, refusals=0, paused=False
    )
    back = await store.get("T1", "weekly")
    assert back is not None
    assert back.last_run == done
    assert back.next_due_at == NOW + 7 * 86400
    assert back.lease_owner is None
    # Claimed again (a clock stepping back, a stale replica): the due time already ran.
    await store.set_paused(claimed.id, True)
    await store.set_paused(claimed.id, False, next_due_at=NOW)
    [again] = await store.claim_due("w2", NOW, 60, 10)
    assert not await store.start_run(ScheduleRun(again.id, NOW, NOW + 9), "w2")
    assert await store.runs(claimed.id) == [done]


async def test_a_started_run_whose_worker_died_is_taken_over(store: SqlScheduleStore) -> None:
    """Recorded but never finished: the next lease holder may run it (its dedupe key guards)."""
    await store.add(_schedule())
    await store.claim_due("dead", NOW, 60, 10)
    assert await store.start_run(ScheduleRun("s-weekly", NOW, NOW), "dead")
    assert await store.claim_due("w2", NOW + 30, 60, 10) == []  # the lease still holds
    [claimed] = await store.claim_due("w2", NOW + 61, 60, 10)
    assert await store.start_run(ScheduleRun(claimed.id, NOW, NOW + 61, late=True), "w2")
    assert not await store.start_run(ScheduleRun(claimed.id, NOW, NOW + 61), "dead")


async def test_paused_and_future_schedules_are_not_claimed(store: SqlScheduleStore) -> None:
    """Only unpaused schedules whose time has come are leased, earliest first."""
    await store.add(_schedule("later", next_due_at=NOW + 60))
    await store.add(_schedule("paused", paused=True))
    await store.add(_schedule("first", next_due_at=NOW - 10))
    await store.add(_schedule("second"))
    claimed = await store.claim_due("w1", NOW, 60, 10)
    assert [s.name for s in claimed] == ["first", "second"]
    await store.release("w1", [s.id for s in claimed])
    assert [s.name for s in await store.claim_due("w2", NOW, 60, 1)] == ["first"]


async def test_pause_and_resume_change_once(store: SqlScheduleStore) -> None:
    """Pausing a paused schedule changes nothing; resuming resets the refusals and due time."""
    await store.add(_schedule(refusals=3, paused=True))
    assert not await store.set_paused("s-weekly", True)
    assert await store.set_paused("s-weekly", False, next_due_at=NOW + 99)
    back = await store.get("T1", "weekly")
    assert back is not None
    assert (back.paused, back.refusals, back.next_due_at) == (False, 0, NOW + 99)
    assert await store.delete("s-weekly")
    assert not await store.delete("s-weekly")
    assert await store.get("T1", "weekly") is None


async def test_replicas_claiming_together_take_each_schedule_once(db: Db) -> None:
    """Five stores (five replicas) claiming at once lease each due schedule to one of them."""
    stores = [await open_schedule_store(db.url) for _ in range(5)]
    try:
        for i in range(10):
            await stores[0].add(_schedule(f"s{i}"))
        batches = await asyncio.gather(
            *(s.claim_due(f"w{i}", NOW, 60, 10) for i, s in enumerate(stores))
        )
        names = [s.name for batch in batches for s in batch]
        assert sorted(names) == sorted(f"s{i}" for i in range(10))
    finally:
        for s in stores:
            await s.aclose()
