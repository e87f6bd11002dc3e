"""Shut down gracefully: stop taking commands, finish what is in flight, leave the rest to resume.

On SIGTERM (or SIGINT) the process starts draining:

1. It stops taking commands: `/healthz` and `/readyz` answer 503, and a Slack
   command that still arrives gets `restarting_reply()` (ephemeral, "try again
   in a minute") instead of being run.
2. It finishes what is in flight, for at most the grace period: every task
   registered with `track()` (a command's HSS call, audit writes and reply), and
   every `finish()` section (a short step that must not be cut in half).
3. It leaves the rest to be resumed: tasks registered with
   `track(..., resumable=True)` are cancelled at once, and anything still running
   when the grace period ends is cancelled too. (The task tracker is not one of
   these: `bot.bootstrap.Runtime` stops it alongside, under the same deadline, and
   its state is in the database for the next process.)

A second signal while draining cancels everything at once.
"""

from __future__ import annotations

import asyncio
import logging
import signal
from collections.abc import Awaitable, Coroutine, Iterable
from dataclasses import dataclass
from typing import Any, Final, TypeVar

T = TypeVar("T")

log = logging.getLogger(__name__)

RESTARTING_TEXT: Final = (
    ":hourglass_flowing_sand: The export bot is restarting. "
    "Nothing was exported; please try again in a minute."
)
SHUTDOWN_SIGNALS: Final = (signal.SIGTERM, signal.SIGINT)
_CANCEL_WAIT_SECONDS: Final = 2.0


def restarting_reply() -> dict[str, str]:
    """Return the ephemeral Slack reply for a command that arrives while the bot drains."""
    return {"response_type": "ephemeral", "text": RESTARTING_TEXT}


@dataclass(frozen=True)
class DrainReport:
    """What became of the in-flight work when draining ended."""

    finished: int
    cancelled: int
    resumable_cancelled: int


class Lifecycle:
    """Track in-flight work and drain it, bounded, when the process is asked to stop."""

    def __init__(self) -> None:
        self._critical: set[asyncio.Task[Any]] = set()
        self._resumable: set[asyncio.Task[Any]] = set()
        self._draining = False
        self._stop = asyncio.Event()  # binds to a loop on first use, not here
        self._force = asyncio.Event()
        self._signals: list[tuple[asyncio.AbstractEventLoop, signal.Signals]] = []

    # --- state ---------------------------------------------------------------------
    @property
    def draining(self) -> bool:
        """Tell whether shutdown has begun (commands are refused from then on)."""
        return self._draining

    @property
    def accepting(self) -> bool:
        """Tell whether new commands may start."""
        return not self._draining

    @property
    def in_flight(self) -> int:
        """Return how many tracked tasks are still running."""
        return sum(1 for t in (*self._critical, *self._resumable) if not t.done())

    # --- work ----------------------------------------------------------------------
    def track(self, task: asyncio.Task[T], *, resumable: bool = False) -> asyncio.Task[T]:
        """Register a task; drain waits for it, or cancels it at once if `resumable`."""
        registry = self._resumable if resumable else self._critical
        registry.add(task)
        task.add_done_callback(registry.discard)
        if resumable and self._draining:
            task.cancel()
        return task

    def spawn(
        self,
        coro: Coroutine[Any, Any, T],
        *,
        name: str | None = None,
        resumable: bool = False,
    ) -> asyncio.Task[T]:
        """Start `coro` as a tracked task (it inherits the caller's request id)."""
        return self.track(asyncio.create_task(coro, name=name), resumable=resumable)

    async def finish(self, aw: Awaitable[T]) -> T:
        """Run `aw` to its end even if the caller is cancelled by shutdown; drain waits for it.

        Use it for short steps that must not be cut in half, such as an audit
        write inside a resumable follower.
        """
        task = self.track(asyncio.ensure_future(aw))
        return await asyncio.shield(task)

    # --- stopping ------------------------------------------------------------------
    def begin_drain(self) -> None:
        """Start draining: refuse new commands and wake `wait_for_stop()`; force on a repeat."""
        if self._draining:
            log.warning("second stop signal: cancelling in-flight work now")
            self._force.set()
            return
        self._draining = True
        log.info("stop requested: draining", extra={"in_flight": self.in_flight})
        self._stop.set()

    def install_signal_handlers(
        self,
        loop: asyncio.AbstractEventLoop | None = None,
        signals: Iterable[signal.Signals] = SHUTDOWN_SIGNALS,
    ) -> None:
        """Make SIGTERM and SIGINT start draining instead of killing the process."""
        loop = loop or asyncio.get_running_loop()
        for sig in signals:
            loop.add_signal_handler(sig, self.begin_drain)
            self._signals.append((loop, sig))

    def remove_signal_handlers(self) -> None:
        """Restore the default signal handling."""
        for loop, sig in self._signals:
            loop.remove_signal_handler(sig)
        self._signals.clear()

    async def wait_for_stop(self) -> None:
        """Return once draining has begun."""
        await self._stop.wait()

    async def drain(self, grace: float) -> DrainReport:
        """Wait up to `grace` seconds for in-flight work, then cancel what is left."""
        self._draining = True
        self._stop.set()
        resumable = [t for t in self._resumable if not t.done()]
        for task in resumable:
            task.cancel()

        seen: set[asyncio.Task[Any]] = set()
        force = asyncio.ensure_future(self._force.wait())
        loop = asyncio.get_running_loop()
        deadline = loop.time() + grace
        try:
            # Loop: a finishing task may start another (an audit write in `finish()`).
            while (pending := {t for t in self._critical if not t.done()}) and not force.done():
                seen |= pending
                remaining = deadline - loop.time()
                if remaining <= 0:
                    break
                await asyncio.wait(
                    {*pending, force}, timeout=remaining, return_when=asyncio.FIRST_COMPLETED
                )
        finally:
            force.cancel()

        stragglers = [t for t in self._critical if not t.done()]
        for task in stragglers:
            task.cancel()
        if ending := {*stragglers, *resumable}:
            # Bounded too: a task that swallows its cancellation must not hold the exit.
            done, _ = await asyncio.wait(ending, timeout=_CANCEL_WAIT_SECONDS)
            for task in done:
                if not task.cancelled() and task.exception() is not None:
                    log.warning("in-flight task failed while stopping", exc_info=task.exception())
        report = DrainReport(
            finished=len(seen - set(stragglers)),
            cancelled=len(stragglers),
            resumable_cancelled=len(resumable),
        )
        log.info(
            "drained",
            extra={
                "finished": report.finished,
                "cancelled": report.cancelled,
                "resumable_cancelled": report.resumable_cancelled,
            },
        )
        return report
