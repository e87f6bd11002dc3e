"""The lease loop steps each task once at a time, even when its lease runs out mid-step."""

from __future__ import annotations

import asyncio
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
