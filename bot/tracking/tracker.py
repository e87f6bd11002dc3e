"""Follow submitted export tasks until their file is in the Slack thread (issue 5).

`TaskTracker.follow()` only writes the task to the task store and returns;
`TaskTracker.run()` is the lease loop (`bot.tracking.worker`) taking one step
(`bot.tracking.steps`) of each due task. Exactly once, at most once: see
`bot.tracking.share`.

The task follows the announcement (`bot.domain.types.Announcement`): its file and
notices go to the thread of the task_id message. When there is no such message
(the channel refused the bot and only the `response_url` or nothing took the
task_id), the follow-up goes to the user's DM with the app: before the file is
shared, the tracker posts the task message there and threads under it.
"""

from __future__ import annotations

import asyncio
import logging
import os
import socket
import time
import uuid

from bot.domain.blocks import Message
from bot.domain.errors import DeliveryError, TaskStoreUnavailable
from bot.domain.model import ExportRequest
from bot.domain.task_messages import not_tracked
from bot.domain.types import Actor, Announcement, Submitted
from bot.ports import AuditLog, Hss
from bot.tracking.job import Job
from bot.tracking.lease import Clock, Leases, Sleep
from bot.tracking.model import TrackedTask, TrackerConfig
from bot.tracking.ports import FileDelivery, StepCompletion, TaskStore
from bot.tracking.steps import take_step
from bot.tracking.summaries import Summaries
from bot.tracking.worker import DueWork, LeaseWorker

log = logging.getLogger(__name__)


class TaskTracker:
    """Follow export tasks to delivery: implements `bot.ports.TaskFollower`."""

    def __init__(  # noqa: PLR0913  collaborators and test seams (clock, sleep)
        self,
        store: TaskStore,
        hss: Hss,
        delivery: FileDelivery,
        audit: AuditLog,
        config: TrackerConfig | None = None,
        *,
        owner: str | None = None,
        clock: Clock = time.time,
        sleep: Sleep = asyncio.sleep,
        steps: StepCompletion | None = None,
        also: tuple[DueWork, ...] = (),
        summaries: Summaries | None = None,
    ) -> None:
        """`also`: other kinds of due work run by the same lease loop (approval expiry)."""
        self._store = store
        self._delivery = delivery
        self._config = config or TrackerConfig()
        self.owner = owner or f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"
        self._clock = clock
        leases = Leases(
            store, self.owner, lease_seconds=self._config.lease_seconds, clock=clock, sleep=sleep
        )
        self._job = Job(
            hss, delivery, audit, self._config, leases, clock, steps=steps, summaries=summaries
        )
        self._worker = LeaseWorker(
            leases, self._step, self._config, clock=clock, sleep=sleep, also=also
        )

    def __repr__(self) -> str:
        return f"TaskTracker(owner={self.owner!r})"

    @property
    def in_flight(self) -> int:
        """Return how many tasks this worker is stepping right now."""
        return self._worker.in_flight

    async def follow(
        self,
        result: Submitted,
        actor: Actor,
        request: ExportRequest,
        announcement: Announcement | None,
        *,
        step: str | None = None,
    ) -> None:
        """Record the task for the workers and return at once; the first poll comes later.

        `step`: the Workflow Builder execution the report step completes.

        The file and notices go where `announcement` says. Announced nowhere
        (every route failed), they go to the user's DM with the app, which a
        user id addresses.
        """
        now = self._clock()
        where = announcement or Announcement(actor.user_id)
        task = TrackedTask(
            task_id=result.task.task_id,
            entry_id=result.entry_id,
            channel_id=where.channel_id,
            thread_ts=where.ts,
            user_id=actor.user_id,
            enterprise_project_id=request.query.enterprise_project_id,
            request=request.as_audit_record(),
            profile=request.profile,
            hss_request_id=result.task.request_id,
            state="tracking",
            created_at=now,
            next_poll_at=now + self._config.poll_initial,
            poll_interval=self._config.poll_initial,
            deadline=now + self._config.give_up_after,
            updated_at=now,
            step_execution_id=step,
        )
        try:
            added = await self._store.add(task)
        except TaskStoreUnavailable as exc:
            log.error("task not tracked", extra={"task_id": task.task_id, "error": str(exc)})
            await self._say(task, not_tracked(task, exc))
            return
        if not added:
            log.info("task already tracked", extra={"task_id": task.task_id})
            return  # due when it was first followed: expected then
        self._worker.expect(task.next_poll_at)

    async def run(self) -> None:
        """Claim due tasks and step them until `stop()` (see `LeaseWorker.run`)."""
        await self._worker.run()

    async def stop(self) -> None:
        """Stop claiming and return within the grace period (see `LeaseWorker.stop`)."""
        await self._worker.stop()

    async def run_once(self) -> int:
        """Claim what is due now, take its step, and return how many tasks were stepped."""
        return await self._worker.run_once()

    async def _step(self, task: TrackedTask) -> None:
        await take_step(self._job, task)

    async def _say(self, task: TrackedTask, message: Message) -> None:
        try:
            await self._delivery.post_message(task.channel_id, message, thread_ts=task.thread_ts)
        except DeliveryError as exc:
            log.error("notice not posted", extra={"task_id": task.task_id, "error": str(exc)})
