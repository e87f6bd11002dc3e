"""This worker's hold on the tasks it steps: saves under the lease, heartbeats, shielded steps.

A lease is a deadline in the task store, not a connection: every save is
guarded by it (`TaskStore.save` changes nothing for a worker whose lease was
taken over, and `save` here then raises `LeaseLost`), a long step keeps it
alive with heartbeats (`kept`), and a step that must not be cut in half runs
`shielded`, so cancelling its caller (a shutdown) lets it finish.

Leases compare clocks of different replicas, so they assume clocks within a
few seconds (NTP).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Awaitable, Callable, Coroutine
from dataclasses import replace
from typing import Any, TypeVar

from bot.domain.errors import BotError, LeaseLost, TaskStoreUnavailable
from bot.tracking.model import TrackedTask
from bot.tracking.ports import TaskStore

log = logging.getLogger(__name__)

T = TypeVar("T")
Clock = Callable[[], float]
Sleep = Callable[[float], Awaitable[None]]


class Leases:
    """Save, renew and shield the steps of the tasks `owner` has claimed."""

    def __init__(
        self,
        store: TaskStore,
        owner: str,
        *,
        lease_seconds: float,
        clock: Clock,
        sleep: Sleep,
    ) -> None:
        self.store = store
        self.owner = owner
        self.lease_seconds = lease_seconds
        self._clock = clock
        self._sleep = sleep
        # Steps that must not be cut in half, and the task each one is for.
        self.critical: dict[asyncio.Task[Any], str] = {}
        # The last state each running step saved, or staged after it (`stage`): what the
        # database holds while we have the lease, with what its next save will add.
        self._saved: dict[str, TrackedTask] = {}
        # Lease ends pushed out by heartbeats, so a later save does not pull them back in.
        self._renewed: dict[str, float] = {}
        # Heartbeats running per task, and the tasks whose lease we handed back under them.
        self._beating: dict[str, int] = {}
        self._let_go: set[str] = set()
        # Told when a save hands a task back unsettled, with when it is due again (the worker).
        self.on_handed_back: Callable[[str, float], None] = lambda _task_id, _due_at: None

    def last_saved(self, task: TrackedTask) -> TrackedTask:
        """Return the state this step last saved (or staged) for the task, else as claimed."""
        return self._saved.get(task.task_id, task)

    def stage(self, task: TrackedTask, **changes: Any) -> TrackedTask:
        """Change the task in hand without a save: the step's next save writes it.

        For a change that nothing outside waits on until then: one that a crash
        before that save may lose, because the step then does again what made it
        (it asks HSS again, or records an idempotent audit record again).
        """
        staged = replace(task, **changes)
        self._saved[task.task_id] = staged
        return staged

    def forget(self, task_id: str) -> None:
        """Drop what a finished step left behind (a running heartbeat keeps its own)."""
        self._saved.pop(task_id, None)
        if not self._beating.get(task_id):
            self._renewed.pop(task_id, None)

    async def save(self, task: TrackedTask, **changes: Any) -> TrackedTask:
        """Save changes under our lease; raise `LeaseLost` if another worker took the task."""
        task_id = task.task_id
        if "lease_until" not in changes and task_id in self._renewed:
            # Keep the lease a heartbeat extended; the task in hand may predate it.
            changes["lease_until"] = max(task.lease_until or 0.0, self._renewed[task_id])
        updated = replace(task, updated_at=self._clock(), **changes)
        if not await self.store.save(updated, self.owner):
            raise LeaseLost(task_id)
        if updated.lease_owner is None:
            self._renewed.pop(task_id, None)
            if self._beating.get(task_id):
                self._let_go.add(task_id)  # its heartbeats stop, quietly
            if not updated.settled:
                self.on_handed_back(task_id, updated.next_poll_at)
        self._saved[task_id] = updated
        return updated

    async def shielded(self, task_id: str, coro: Coroutine[Any, Any, T]) -> T:
        """Run a step that must not be cut in half: cancelling the caller lets it finish."""
        task = asyncio.ensure_future(coro)
        self.critical[task] = task_id
        task.add_done_callback(self._forget_critical)
        return await asyncio.shield(task)

    @contextlib.asynccontextmanager
    async def kept(self, task_id: str) -> AsyncIterator[None]:
        """Renew the lease while a long step runs; cancel the step if the lease is lost.

        A lease we handed back ourselves (`save` with no owner) ends the
        heartbeat without cancelling anything.
        """
        current = asyncio.current_task()
        assert current is not None
        lost = False

        async def beat() -> None:
            nonlocal lost
            while True:
                await self._sleep(self.lease_seconds / 3)
                if task_id in self._let_go:
                    return
                until = self._clock() + self.lease_seconds
                try:
                    renewed = await self.store.renew(task_id, self.owner, until)
                except TaskStoreUnavailable as exc:
                    log.warning("lease not renewed", extra={"task_id": task_id, "error": str(exc)})
                    continue
                if task_id in self._let_go:
                    return
                if renewed:
                    self._renewed[task_id] = until
                    continue
                lost = True
                current.cancel()
                return

        self._beating[task_id] = self._beating.get(task_id, 0) + 1
        heart = asyncio.create_task(beat())
        try:
            yield
        except asyncio.CancelledError:
            if lost and current.uncancel() == 0:
                raise LeaseLost(task_id) from None
            raise
        finally:
            heart.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await heart
            self._beating[task_id] -= 1
            if not self._beating[task_id]:
                del self._beating[task_id]
                self._let_go.discard(task_id)

    def _forget_critical(self, task: asyncio.Task[Any]) -> None:
        self.critical.pop(task, None)
        if task.cancelled() or (exc := task.exception()) is None:
            return
        # Its caller may be gone (cancelled at shutdown): the error must still be seen.
        # Its caller, if still there, sees and handles it too; this only logs.
        if isinstance(exc, BotError | LeaseLost):
            log.warning("critical step ended: %s", exc)
        else:
            log.error("critical step failed", exc_info=exc)
