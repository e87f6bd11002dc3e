"""The lease loop: claim due work, take one step of each, give it back; stop within a deadline.

`LeaseWorker` knows nothing of what a step does: it claims due tasks from the
task store under its lease, runs the `step` it was given for each (at most
`max_concurrent` at once), and naps until a task it knows of comes due (one
it was told of, `expect`, or one a step handed back, `Leases.on_handed_back`),
a slot frees up while it was full, it is told to look (`wake`), or the idle
period since its last claim passes. A claim is a write transaction: the loop
does not claim at every step's end (which under a burst meant several claims
per task, nearly all finding nothing) but when something is due, waiting
`GATHER_SECONDS` for what comes due just after, so one claim takes several
tasks. Tasks of other replicas (or whose lease ran out) are found by the claim
made at least once per idle period. Any replica can take the next step, so a
restart (or a dead replica) loses nothing: its leases expire and another
worker resumes from the last state the database holds.

Other kinds of due work (`DueWork`: an approval's expiry, issue 14) ride on
the same loop: each kind claims its own due items under this worker's owner
and lease length, and each claimed item is handled once, counted against
`max_concurrent` with the tasks, cancelled and released the same way on stop.
The tracked tasks keep their own path (their leases are renewed and shielded
by `Leases`); other kinds are short and need neither. Their due times need no
better than a second's resolution, so the loop claims them at most once per
idle period (a claim per kind at every pass of the loop would find nothing
almost every time), and never naps past their next claim, so a due item waits
at most one idle period.

`stop()` returns within the grace period: in-flight steps get until one
deadline, then are cancelled; a shielded step already started (a share and its
save) runs on and keeps its lease; the other leases are released so the next
worker need not wait for them to expire.
"""

from __future__ import annotations

import asyncio
import contextlib
import heapq
import logging
from collections.abc import Awaitable, Callable, Coroutine
from typing import Any, Final, Protocol

from bot.domain.errors import BotError, TaskStoreUnavailable
from bot.tracking.lease import Leases
from bot.tracking.model import TrackedTask, TrackerConfig

log = logging.getLogger(__name__)

RELEASE_SECONDS: Final = 0.5  # at least this long to hand leases back when stopping
STOP_MARGIN_SECONDS: Final = 1.0  # how long past the grace period `stop()` may take at most
# A claim for a task come due waits this long for others coming due just after it: under a
# burst, one claim takes several tasks instead of one claim (a write transaction) each.
GATHER_SECONDS: Final = 0.05

Step = Callable[[TrackedTask], Coroutine[Any, Any, None]]
Sleep = Callable[[float], Awaitable[None]]


class DueWork(Protocol):
    """One more kind of due work for the lease loop: claim under a lease, handle, release."""

    @property
    def kind(self) -> str:
        """Name the kind (logs, task names)."""
        ...

    async def claim_due(
        self, owner: str, now: float, lease_seconds: float, limit: int
    ) -> list[Any]:
        """Lease up to `limit` due items to `owner` (one shared SQL claim: `claim_leased`)."""
        ...

    def key(self, item: Any) -> str:
        """Return the item's unique key (an approval id)."""
        ...

    async def handle(self, item: Any, owner: str) -> None:
        """Do the item's work once; guarded by `owner`'s lease in the store."""
        ...

    async def release(self, owner: str, keys: list[str]) -> None:
        """Give `owner`'s leases on these items back."""
        ...


class LeaseWorker:
    """Run `step` on each due task this worker claims, until `stop()`."""

    def __init__(  # noqa: PLR0913  keyword-only seams: clock, sleep, other due work
        self,
        leases: Leases,
        step: Step,
        config: TrackerConfig,
        *,
        clock: Callable[[], float],
        sleep: Sleep,
        also: tuple[DueWork, ...] = (),
    ) -> None:
        self._leases = leases
        self._also = also
        self._others: dict[tuple[int, str], asyncio.Task[None]] = {}  # (kind index, key)
        self._step = step
        self._config = config
        self._clock = clock
        self._sleep = sleep
        self._handlers: dict[str, asyncio.Task[None]] = {}
        self._wake = asyncio.Event()
        self._stopping = asyncio.Event()
        self._stopped = asyncio.Event()
        self._stop_at: float | None = None  # the one deadline of a shutdown (loop time)
        self._others_at = 0.0  # when the other kinds are claimed next (loop time)
        self._running = False
        # When tasks this process added or handed back come due (the clock's time): the loop
        # claims then, not at every step's end, when almost always nothing is due yet.
        self._due: list[float] = []
        self._look_now = True  # claim on the next pass whatever is known to be due
        self._claim_by = 0.0  # loop time by which the loop claims anyway (the idle period)
        # Due times a running step handed back, `expect`ed once the step has ended: a claim
        # before then would lease the task to us and leave it, its step still running.
        self._handed_back: dict[str, float] = {}
        leases.on_handed_back = self._on_handed_back

    @property
    def in_flight(self) -> int:
        """Return how many tasks (and other due items) this worker is handling right now."""
        return len(self._handlers) + len(self._others)

    def wake(self) -> None:
        """Look for due work now rather than after the idle period."""
        self._look_now = True
        self._wake.set()

    def expect(self, due_at: float) -> None:
        """Claim when a task this process added or handed back comes due (`due_at`, clock time).

        Tasks of other replicas, or whose lease ran out, are found by the claim that
        the loop makes at least once per idle period.
        """
        earliest = self._due[0] if self._due else None
        heapq.heappush(self._due, due_at)
        if earliest is None or due_at < earliest:
            self._wake.set()  # the nap is too long now

    async def run(self) -> None:
        """Claim due tasks and step them until `stop()`; on cancellation, leave them to resume.

        Stopped or cancelled (the process is shutting down), it gives in-flight
        steps until one deadline (the grace period), cancels what is left, lets
        a started shielded step run on, and releases the other leases.
        """
        self._running = True
        self._stopped.clear()
        if not self._stopping.is_set():
            self._stop_at = None  # a deadline left by an earlier cancelled run is not this one's
        try:
            while not self._stopping.is_set():
                self._wake.clear()
                claimed = await self._claim() if self._claim_is_due() else []
                for task in claimed:
                    self._start(task)
                others = await self._claim_others_when_due()
                if self.in_flight >= self._config.max_concurrent:
                    await self._nap(self._config.idle_seconds)  # a step ending wakes it
                elif not claimed and not others:
                    await self._nap(self._until_due())
            await self._drain(self._deadline())
        finally:
            try:
                await self._abandon(self._deadline())
            finally:  # even if cancelled again meanwhile
                self._running = False
                self._stopped.set()

    async def stop(self) -> None:
        """Stop claiming and return within the grace period (and a second's margin) at most.

        In-flight steps may finish until the deadline; then they are cancelled
        and their leases released. If `run()` is stuck past the margin (a hung
        database call), this returns anyway: the caller may cancel `run()`.
        """
        deadline = self._deadline()
        self._stopping.set()
        self._wake.set()
        if not self._running:
            return
        try:
            async with asyncio.timeout_at(deadline + STOP_MARGIN_SECONDS):
                await self._stopped.wait()
        except TimeoutError:
            log.warning("task tracker did not stop within the grace period")

    async def run_once(self) -> int:
        """Claim what is due now, take its step, and return how many tasks were stepped."""
        claimed = await self._claim()
        for task in claimed:
            self._start(task)
        others, _ = await self._claim_others()
        await asyncio.gather(
            *self._handlers.values(), *self._others.values(), return_exceptions=True
        )
        return len(claimed) + others

    def _deadline(self) -> float:
        """Return the shutdown deadline (event loop time), fixing it on first use."""
        if self._stop_at is None:
            self._stop_at = asyncio.get_running_loop().time() + self._config.grace_seconds
        return self._stop_at

    def _on_handed_back(self, task_id: str, due_at: float) -> None:
        if task_id in self._handlers:
            self._handed_back[task_id] = due_at
        else:
            self.expect(due_at)

    def _claim_is_due(self) -> bool:
        """Tell whether to claim now: woken, a known task due, or an idle period since the last."""
        return (
            self._look_now
            or asyncio.get_running_loop().time() >= self._claim_by
            or (bool(self._due) and self._due[0] + GATHER_SECONDS <= self._clock())
        )

    async def _claim(self) -> list[TrackedTask]:
        free = self._config.max_concurrent - self.in_flight
        if free <= 0:
            return []
        self._look_now = False
        self._claim_by = asyncio.get_running_loop().time() + self._config.idle_seconds
        now = self._clock()
        while self._due and self._due[0] <= now:  # claimed now, or by another replica
            heapq.heappop(self._due)
        leases = self._leases
        try:
            claimed = await leases.store.claim_due(
                leases.owner, now, self._config.lease_seconds, free
            )
        except TaskStoreUnavailable as exc:
            log.warning("task store unavailable", extra={"error": str(exc)})
            return []
        # A task whose lease ran out while this worker still steps it (a loop stalled past
        # the lease) comes back to us: the claim renewed our lease; a second step would
        # repeat the first one's work (a second upload), so the running step carries on.
        return [task for task in claimed if task.task_id not in self._handlers]

    async def _release_others(self, slots: list[tuple[int, str]], deadline: float) -> None:
        """Hand the other kinds' leases back so the next worker need not wait for them."""
        if not slots:
            return
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(max(_left(deadline), RELEASE_SECONDS)):
                await _release_each(self._also, self._leases.owner, slots)

    async def _claim_others_when_due(self) -> int:
        """Claim the other kinds once the idle period since their last claim has passed."""
        now = asyncio.get_running_loop().time()
        if now < self._others_at or self.in_flight >= self._config.max_concurrent:
            return 0  # not yet; or no room, and a step ending wakes the loop to look again
        self._others_at = now + self._config.idle_seconds
        started, full = await self._claim_others()
        if full:  # more may be due: look again on the next pass
            self._others_at = now
        return started

    def _until_due(self) -> float:
        """Return how long to nap: until a known task comes due, the next claim of the other
        kinds, or the idle period since the last claim, whichever is first."""
        loop_now = asyncio.get_running_loop().time()
        left = min(self._others_at, self._claim_by) - loop_now
        if self._due:
            left = min(left, self._due[0] + GATHER_SECONDS - self._clock())
        return max(0.0, min(self._config.idle_seconds, left))

    async def _claim_others(self) -> tuple[int, bool]:
        """Claim and start the other kinds' due items, within what is free.

        Return how many started, and whether a kind filled what was free (more may be due).
        """
        started, full = 0, False
        for index, work in enumerate(self._also):
            free = self._config.max_concurrent - self.in_flight
            if free <= 0:
                break
            try:
                items = await work.claim_due(
                    self._leases.owner, self._clock(), self._config.lease_seconds, free
                )
            except BotError as exc:  # its store's own Unavailable error
                log.warning("due work unavailable", extra={"kind": work.kind, "error": str(exc)})
                continue
            for item in items:
                self._start_other(index, work, item)
            started += len(items)
            full = full or len(items) >= free
        return started, full

    def _start_other(self, index: int, work: DueWork, item: Any) -> None:
        slot = (index, work.key(item))
        handler = asyncio.create_task(
            self._handle_other(work, item), name=f"{work.kind}-{slot[1][:8]}"
        )
        self._others[slot] = handler

        def done(_: asyncio.Task[None]) -> None:
            full = self.in_flight >= self._config.max_concurrent
            self._others.pop(slot, None)
            self._wake.set()  # the other kinds' next claim may be due
            if full:  # a slot is free for tasks left due
                self.wake()

        handler.add_done_callback(done)

    async def _handle_other(self, work: DueWork, item: Any) -> None:
        try:
            await work.handle(item, self._leases.owner)
        except BotError as exc:
            # The lease runs out and another claim retries it.
            log.warning("due work failed", extra={"kind": work.kind, "error": str(exc)})

    def _start(self, task: TrackedTask) -> None:
        handler = asyncio.create_task(self._step(task), name=f"track-{task.task_id}")
        self._handlers[task.task_id] = handler

        def done(_: asyncio.Task[None]) -> None:
            full = self.in_flight >= self._config.max_concurrent
            self._handlers.pop(task.task_id, None)
            due_at = self._handed_back.pop(task.task_id, None)
            if due_at is not None:  # the step handed the task back: claim it when due
                self.expect(due_at)
            if full:  # a slot is free for what is due
                self.wake()

        handler.add_done_callback(done)

    async def _nap(self, seconds: float) -> None:
        """Wait `seconds`, or less if woken (`wake`, or a task `expect`ed sooner)."""
        waker = asyncio.ensure_future(self._wake.wait())
        sleeper = asyncio.ensure_future(self._sleep(seconds))
        try:
            await asyncio.wait({waker, sleeper}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            waker.cancel()
            sleeper.cancel()

    async def _drain(self, deadline: float) -> None:
        handlers = [*self._handlers.values(), *self._others.values()]
        if handlers:
            await asyncio.wait(handlers, timeout=_left(deadline))

    async def _abandon(self, deadline: float) -> None:
        """Cancel unfinished steps, give shielded ones until `deadline`, release the leases."""
        handlers = dict(self._handlers)
        others = dict(self._others)
        for handler in [*handlers.values(), *others.values()]:
            handler.cancel()
        if handlers or others:
            # A cancelled step ends at its next await; bounded all the same.
            await asyncio.wait(
                [*handlers.values(), *others.values()],
                timeout=max(_left(deadline), RELEASE_SECONDS),
            )
        await self._release_others(list(others), deadline)
        critical = self._leases.critical
        if critical:
            await asyncio.wait(critical, timeout=_left(deadline))
        # Still-running shielded steps keep their leases: they may yet save.
        busy = set(critical.values())
        free = [task_id for task_id in handlers if task_id not in busy]
        if free:
            with contextlib.suppress(TaskStoreUnavailable, TimeoutError):
                async with asyncio.timeout(max(_left(deadline), RELEASE_SECONDS)):
                    await self._leases.store.release(self._leases.owner, free)


async def _release_each(
    also: tuple[DueWork, ...], owner: str, slots: list[tuple[int, str]]
) -> None:
    for index, work in enumerate(also):
        keys = [key for kind, key in slots if kind == index]
        if keys:
            with contextlib.suppress(BotError):
                await work.release(owner, keys)


def _left(deadline: float) -> float:
    """Return the seconds from now (event loop time) until `deadline`, never negative."""
    return max(0.0, deadline - asyncio.get_running_loop().time())
