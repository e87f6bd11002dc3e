"""The lease loop steps each task once at a time, even when its lease runs out mid-step."""

from __future__ import annotations

import asyncio
import time
from dataclasses import replace
from typing import Any

from bot.tracking.lease import Leases
from bot.tracking.model import TrackedTask, TrackerConfig
from bot.tracking.worker import LeaseWorker

NOW = 1000.0


def _task(task_id: str) -> TrackedTask:
    return TrackedTask(
        task_id=task_id,
        entry_id=1,
        channel_id="C0EXPORTS",
        thread_ts=None,
        user_id="U0ALICE",
        enterprise_project_id=None,
        request=None,
        hss_request_id=None,
        state="polling",
        created_at=NOW,
        next_poll_at=NOW,
        poll_interval=5.0,
        deadline=NOW + 7200,
        updated_at=NOW,
    )


class _ExpiredLeaseStore:
    """A task store whose one task is always due again: its lease ran out (a stalled loop)."""

    def __init__(self, enough: int) -> None:
        self.claims = 0
        self._enough = enough
        self.claimed_enough = asyncio.Event()

    async def claim_due(
        self, owner: str, now: float, lease_seconds: float, limit: int
    ) -> list[Any]:
        self.claims += 1
        if self.claims >= self._enough:
            self.claimed_enough.set()
        await asyncio.sleep(0)
        return [_task("task-1")]


async def test_a_task_claimed_again_while_its_step_runs_is_not_stepped_twice() -> None:
    """The claim finds the task this worker is still stepping: one step, not a second upload."""
    store = _ExpiredLeaseStore(enough=5)  # the loop claims it again and again meanwhile
    steps: list[str] = []
    release = asyncio.Event()

    async def step(task: TrackedTask) -> None:
        steps.append(task.task_id)
        await release.wait()

    leases = Leases(store, "w1", lease_seconds=0.5, clock=lambda: NOW, sleep=asyncio.sleep)  # type: ignore[arg-type]
    config = TrackerConfig(idle_seconds=0.01, max_concurrent=4, grace_seconds=1.0)
    worker = LeaseWorker(leases, step, config, clock=lambda: NOW, sleep=asyncio.sleep)
    running = asyncio.create_task(worker.run())
    try:
        await asyncio.wait_for(store.claimed_enough.wait(), 5)
        assert steps == ["task-1"]
        assert worker.in_flight == 1
    finally:
        release.set()
        await worker.stop()
        await running


class _MemoryStore:
    """Tasks in a dict, leased as the SQL store leases them; every claim counted."""

    def __init__(self, clock: Any) -> None:
        self.tasks: dict[str, TrackedTask] = {}
        self.claims = 0
        self._clock = clock

    async def claim_due(
        self, owner: str, now: float, lease_seconds: float, limit: int
    ) -> list[TrackedTask]:
        self.claims += 1
        due = [
            t
            for t in self.tasks.values()
            if not t.settled and t.next_poll_at <= now and (t.lease_until or 0) < now
        ][:limit]
        for task in due:
            self.tasks[task.task_id] = replace(
                task, lease_owner=owner, lease_until=now + lease_seconds
            )
        return [self.tasks[t.task_id] for t in due]

    async def save(self, task: TrackedTask, owner: str) -> bool:
        self.tasks[task.task_id] = task
        return True

    async def release(self, owner: str, task_ids: list[str]) -> None:
        return None


async def test_the_loop_claims_when_tasks_come_due_not_at_every_steps_end() -> None:
    """Five tasks, polled twice each: claimed when due (a few claims, each taking several
    tasks), not once per step's end; and with a 10 s idle period, all done in well under it."""
    clock = time.time
    store = _MemoryStore(clock)
    steps: list[str] = []
    all_settled = asyncio.Event()

    async def step(task: TrackedTask) -> None:
        steps.append(task.task_id)
        if task.polls == 0:  # still running at HSS: look again in 0.1 s
            next_poll = clock() + 0.1
            await leases.save(
                task, polls=1, next_poll_at=next_poll, lease_owner=None, lease_until=None
            )
        else:
            await leases.save(
                task,
                state="done",
                audit_done=True,
                message_done=True,
                lease_owner=None,
                lease_until=None,
            )
            if all(t.settled for t in store.tasks.values()):
                all_settled.set()

    leases = Leases(store, "w1", lease_seconds=30, clock=clock, sleep=asyncio.sleep)  # type: ignore[arg-type]
    config = TrackerConfig(idle_seconds=10.0, max_concurrent=10, grace_seconds=1.0)
    worker = LeaseWorker(leases, step, config, clock=clock, sleep=asyncio.sleep)
    running = asyncio.create_task(worker.run())
    try:
        await asyncio.sleep(0)  # the first pass claims (nothing yet)
        due = clock() + 0.1
        for n in range(5):
            store.tasks[f"task-{n}"] = replace(_task(f"task-{n}"), next_poll_at=due)
            worker.expect(due)  # as `TaskTracker.follow` does
        await asyncio.wait_for(all_settled.wait(), 5)
    finally:
        await worker.stop()
        await running

    assert sorted(steps) == sorted([f"task-{n}" for n in range(5)] * 2)
    assert store.claims <= 5, f"{store.claims} claims for 10 steps"


async def test_a_task_handed_back_already_due_is_stepped_again_once_its_step_ends() -> None:
    """A step hands its task back due at once (a late poll), then still has work to finish:
    the loop claims it again when that step has ended, not while it runs (which would lease
    it to this worker and leave it, untouched, until the lease ran out)."""
    clock = time.time
    store = _MemoryStore(clock)
    steps: list[int] = []
    second_step = asyncio.Event()

    async def step(task: TrackedTask) -> None:
        steps.append(task.polls)
        if task.polls == 0:
            past = clock() - 1.0
            await leases.save(task, polls=1, next_poll_at=past, lease_owner=None, lease_until=None)
            await asyncio.sleep(0.1)  # the step's last awaits (a heartbeat ending, a log)
        else:
            second_step.set()

    leases = Leases(store, "w1", lease_seconds=30, clock=clock, sleep=asyncio.sleep)  # type: ignore[arg-type]
    config = TrackerConfig(idle_seconds=10.0, max_concurrent=10, grace_seconds=1.0)
    worker = LeaseWorker(leases, step, config, clock=clock, sleep=asyncio.sleep)
    running = asyncio.create_task(worker.run())
    try:
        await asyncio.sleep(0)
        store.tasks["task-1"] = _task("task-1")
        worker.expect(NOW)  # due long ago
        await asyncio.wait_for(second_step.wait(), 3)
    finally:
        await worker.stop()
        await running

    assert steps == [0, 1]
