"""Run a listener's body: one way for every listener, answering Slack as soon as it acks.

The app runs with Bolt's `process_before_response=True`: Bolt answers Slack when
the listener function returns. (Bolt's default starts the listener as a task
and checks every 10 ms whether it has acked: up to 10 ms added to every answer,
and a wake-up of the loop every 10 ms for each request not yet answered, which
under a burst is CPU taken from the acks themselves.) So a listener hands its
body to `answer_then_continue`: the body runs as a task the lifecycle tracks (a
graceful shutdown waits for its post-ack work) inside `reporting` (no error
escapes, the user hears of it), and the listener returns the moment the body
acks, or ends, or `ACK_TIMEOUT_SECONDS` pass (as Bolt would, Slack then has no
answer; a body keeps to `ANSWER_DEADLINE_SECONDS` long before that).

An event's listener (`app_home_opened`, `function_executed`) has nothing to
answer but the receipt, which Bolt sends when the listener returns:
`continue_after_receipt` starts the body and returns at once.

Answers go first: post-ack work (the audit entry, the HSS call, the message)
waits while this process still has listeners that have not answered, for at
most `ANSWERS_FIRST_SECONDS`. An answer costs a millisecond or two of the loop;
a burst of commands would otherwise queue each answer behind the post-ack work
of every command before it (one loop, one core per process). Measured with
`bench/bench_ack.py -c 100`: docs/benchmarks.md.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import weakref
from collections.abc import Awaitable, Callable, Coroutine, Iterator
from dataclasses import dataclass
from typing import Any, Final

from slack_bolt.context.ack.async_ack import AsyncAck
from slack_bolt.response import BoltResponse

from bot.entrypoints.deps import AppDeps
from bot.entrypoints.listeners.errors import reporting

log = logging.getLogger(__name__)

# Bolt's own `listener_ack_timeout`: how long it waits for an ack it has no answer without.
ACK_TIMEOUT_SECONDS: Final = 3.0
# The longest post-ack work waits for this process's other answers (a body stuck before
# its ack must not hold the others' work back for long).
ANSWERS_FIRST_SECONDS: Final = 0.5

Body = Callable[[AsyncAck], Awaitable[None]]


class _Answering(AsyncAck):
    """The `ack` Bolt gave the listener, which also tells the listener that it was called.

    Its `response` is Bolt's own: what the body acks with is what Bolt sends.
    """

    def __init__(self, ack: AsyncAck) -> None:
        # No super().__init__(): `response` is the wrapped ack's, not an attribute here.
        self._ack = ack
        # Done once the body acks or ends: what the listener waits for before it returns.
        self.called: asyncio.Future[None] = asyncio.get_running_loop().create_future()

    def wake(self, *_done: object) -> None:
        """Let the listener return (the body acked, or ended without acking)."""
        if not self.called.done():
            self.called.set_result(None)

    @property  # the same attribute as AsyncAck's, kept on the wrapped ack
    def response(self) -> BoltResponse | None:
        """Return what the body acked with, None before it acks."""
        return self._ack.response

    @response.setter
    def response(self, value: BoltResponse | None) -> None:
        self._ack.response = value

    async def __call__(self, *args: Any, **kwargs: Any) -> BoltResponse:
        """Ack as Bolt's ack does, wake the listener waiting to return, let answers go first."""
        try:
            response = await self._ack(*args, **kwargs)
        finally:
            self.wake()
        await answers_first()
        return response


@dataclass
class _Unanswered:
    """The listeners of one event loop that have not answered yet, and who waits for none."""

    count: int = 0
    none_left: asyncio.Event | None = None


_UNANSWERED: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, _Unanswered] = (
    weakref.WeakKeyDictionary()
)


def _unanswered() -> _Unanswered:
    loop = asyncio.get_running_loop()
    found = _UNANSWERED.get(loop)
    if found is None:
        found = _UNANSWERED[loop] = _Unanswered()
    return found


@contextlib.contextmanager
def _answering() -> Iterator[None]:
    """Count a listener as unanswered until it returns (Bolt then sends its answer)."""
    unanswered = _unanswered()
    unanswered.count += 1
    try:
        yield
    finally:
        unanswered.count -= 1
        if unanswered.count == 0 and unanswered.none_left is not None:
            unanswered.none_left.set()
            unanswered.none_left = None


async def answers_first() -> None:
    """Wait until no listener of this process is left to answer, `ANSWERS_FIRST_SECONDS` at most."""
    unanswered = _unanswered()
    if unanswered.count == 0:
        return
    if unanswered.none_left is None:
        unanswered.none_left = asyncio.Event()
    with contextlib.suppress(TimeoutError):
        async with asyncio.timeout(ANSWERS_FIRST_SECONDS):
            await unanswered.none_left.wait()


async def answer_then_continue(
    deps: AppDeps, ack: AsyncAck, body: dict[str, Any], work: Body
) -> None:
    """Run `work(ack)` tracked and reported; return once it has acked (or ended)."""
    answering = _Answering(ack)

    async def run() -> None:
        async with reporting(deps, answering, body):
            await work(answering)

    with _answering():
        task = deps.lifecycle.spawn(run(), name="slack-listener")
        task.add_done_callback(answering.wake)
        # One future and one timer: the cheapest wait on an answer path that runs per command.
        timer = asyncio.get_running_loop().call_later(ACK_TIMEOUT_SECONDS, answering.wake)
        try:
            await answering.called  # cancelled with the listener: the body goes on
        finally:
            timer.cancel()
    if answering.response is None and not task.done():
        # Bolt then answers 404 and logs "unhandled request"; this says what really happened.
        log.warning("listener did not ack in time", extra={"seconds": ACK_TIMEOUT_SECONDS})


async def ack_then_continue(
    deps: AppDeps, ack: AsyncAck, body: dict[str, Any], work: Callable[[], Awaitable[None]]
) -> None:
    """Ack at once (a click, a form that only closes), then run `work` tracked and reported."""
    await ack()

    async def run() -> None:
        async with reporting(deps, ack, body):
            await work()

    continue_after_receipt(deps, run())


def continue_after_receipt(deps: AppDeps, work: Coroutine[Any, Any, None]) -> None:
    """Start an event's work, tracked; Bolt acknowledges the event when the listener returns.

    `work` reports its own errors (an event has no one to answer in an ack); it
    starts once the answers due before it are out (`answers_first`).
    """

    async def run() -> None:
        try:
            await answers_first()
        except BaseException:
            work.close()  # cancelled (a shutdown) before it started
            raise
        await work

    deps.lifecycle.spawn(run(), name="slack-event")
