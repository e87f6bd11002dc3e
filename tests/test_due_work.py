"""The one lease loop runs other kinds of due work beside the tracked tasks, and hands them back."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

from slack_harness import wait_for

from bot.adapters.task_store import open_task_store
from bot.tracking.lease import Leases
from bot.tracking.model import TrackerConfig
from bot.tracking.worker import LeaseWorker


class _Work:
    """Due items in memory; `hang` makes handling wait until cancelled."""

    kind = "test_work"

    def __init__(self, due: list[str], *, hang: bool = False) -> None:
        self.due = list(due)
        self.handled: list[str] = []
        self.released: list[str] = []
        self.limits: list[int] = []
        self.hang = hang
        self.started = asyncio.Event()
        self.starts = 0

    async def claim_due(
        self, owner: str, now: float, lease_seconds: float, limit: int
    ) -> list[Any]:
        self.limits.append(limit)
        taken, self.due = self.due[:limit], self.due[limit:]
        return taken

    def key(self, item: Any) -> str:
        return str(item)

    async def handle(self, item: Any, owner: str) -> None:
        if self.hang:
            self.starts += 1
            if self.starts == 2:
                self.started.set()
            await asyncio.sleep(60)
        self.handled.append(item)

    async def release(self, owner: str, keys: list[str]) -> None:
        self.released += keys


class _CountedClaims:
    """The task store, counting the loop's passes (each pass claims tasks once)."""

    def __init__(self, store: Any) -> None:
        self._store = store
        self.passes = 0

    def __getattr__(self, name: str) -> Any:
        return getattr(self._store, name)

    async def claim_due(self, *args: Any) -> Any:
        self.passes += 1
        return await self._store.claim_due(*args)


async def _worker(tmp_path: Path, work: _Work, **config: Any) -> tuple[LeaseWorker, Any]:
    store = _CountedClaims(await open_task_store(f"sqlite:///{tmp_path / 'audit.db'}"))

    async def step(_task: object) -> None:
        raise AssertionError("no task is due")

    leases = Leases(store, "w1", lease_seconds=60, clock=lambda: 1000.0, sleep=asyncio.sleep)
    worker = LeaseWorker(
        leases,
        step,
        TrackerConfig(**config),
        clock=lambda: 1000.0,
        sleep=asyncio.sleep,
        also=(work,),
    )
    return worker, store


async def test_other_due_work_is_handled_once_within_the_concurrency(tmp_path: Path) -> None:
    """Each due item is handled once; no more are claimed at once than max_concurrent."""
    work = _Work(["a", "b", "c", "d", "e"])
    worker, store = await _worker(tmp_path, work, max_concurrent=2)
    try:
        assert await worker.run_once() == 2
        assert await worker.run_once() == 2
        assert await worker.run_once() == 1
        assert await worker.run_once() == 0
    finally:
        await store.aclose()
    assert sorted(work.handled) == ["a", "b", "c", "d", "e"]
    assert max(work.limits) == 2


async def test_stopping_releases_the_other_kinds_leases(tmp_path: Path) -> None:
    """A stop cancels unfinished items and gives their leases back for the next worker."""
    work = _Work(["x", "y"], hang=True)
    worker, store = await _worker(tmp_path, work, grace_seconds=0.2, idle_seconds=0.05)
    try:
        running = asyncio.create_task(worker.run())
        await asyncio.wait_for(work.started.wait(), 5)
        await worker.stop()
        await running
    finally:
        await store.aclose()
    assert work.handled == []
    assert sorted(work.released) == ["x", "y"]
    assert worker.in_flight == 0


async def test_the_loop_waking_claims_other_due_work_once_per_idle_period(tmp_path: Path) -> None:
    """A step ending wakes the loop to claim tasks; the other kinds wait for the idle period."""
    work = _Work([])
    worker, store = await _worker(tmp_path, work, idle_seconds=60)
    try:
        running = asyncio.create_task(worker.run())
        for _ in range(20):
            passes = store.passes
            worker.wake()  # what a step ending in a full worker does
            await wait_for(lambda: store.passes > passes)  # noqa: B023  read before the next wake
        await worker.stop()
        await running
    finally:
        await store.aclose()
    assert store.passes >= 20
    assert len(work.limits) == 1  # the first pass only


async def test_other_work_coming_due_is_claimed_within_an_idle_period(tmp_path: Path) -> None:
    """An item due after the loop started (a schedule's next run) is still claimed and handled."""
    work = _Work([])
    worker, store = await _worker(tmp_path, work, idle_seconds=0.05)
    try:
        running = asyncio.create_task(worker.run())
        await wait_for(lambda: len(work.limits) == 1)
        work.due.append("later")
        await wait_for(lambda: work.handled == ["later"])
        await worker.stop()
        await running
    finally:
        await store.aclose()


async def test_a_backlog_of_other_work_is_claimed_as_room_frees(tmp_path: Path) -> None:
    """More items due than max_concurrent are all handled at once, not one batch per idle period."""
    work = _Work(["a", "b", "c", "d", "e"])
    worker, store = await _worker(tmp_path, work, max_concurrent=2, idle_seconds=60)
    try:
        running = asyncio.create_task(worker.run())
        await wait_for(lambda: len(work.handled) == 5)
        await worker.stop()
        await running
    finally:
        await store.aclose()
    assert max(work.limits) == 2
