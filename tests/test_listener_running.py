"""Listeners answer Slack the moment they ack; their post-ack work goes on, tracked.

Bolt runs with `process_before_response=True` and answers when the listener
returns: `answer_then_continue` must return at the ack (not when the work ends),
and the work must stay visible to a graceful shutdown.
"""

from __future__ import annotations

import asyncio
from types import SimpleNamespace
from typing import cast

import pytest
from slack_bolt.context.ack.async_ack import AsyncAck

from bot.entrypoints.deps import AppDeps
from bot.entrypoints.listeners import running
from bot.entrypoints.listeners.running import ack_then_continue, answer_then_continue
from bot.lifecycle import Lifecycle


def deps_with(lifecycle: Lifecycle) -> AppDeps:
    return cast(AppDeps, SimpleNamespace(lifecycle=lifecycle))


async def test_the_listener_returns_at_the_ack_and_shutdown_waits_for_the_rest() -> None:
    lifecycle = Lifecycle()
    ack = AsyncAck()
    go_on = asyncio.Event()
    done: list[str] = []

    async def work(answer: AsyncAck) -> None:
        await answer(text="Export requested")
        await go_on.wait()  # the HSS call, the message, the audit entry
        done.append("posted")

    await asyncio.wait_for(answer_then_continue(deps_with(lifecycle), ack, {}, work), 1)

    assert ack.response is not None
    assert ack.response.body == "Export requested"
    assert (done, lifecycle.in_flight) == ([], 1)
    drained = asyncio.create_task(lifecycle.drain(grace=5))
    await asyncio.sleep(0.05)
    assert not drained.done()  # draining waits for the post-ack work
    go_on.set()
    report = await drained
    assert (done, report.finished, report.cancelled) == (["posted"], 1, 0)


async def test_a_body_that_ends_without_acking_returns_with_it() -> None:
    ack = AsyncAck()

    async def work(answer: AsyncAck) -> None:
        await asyncio.sleep(0)

    await asyncio.wait_for(answer_then_continue(deps_with(Lifecycle()), ack, {}, work), 1)

    assert ack.response is None  # Bolt then answers as for a listener that never acked


async def test_a_click_is_acked_before_its_work_starts() -> None:
    lifecycle = Lifecycle()
    ack = AsyncAck()
    seen: list[bool] = []

    async def work() -> None:
        seen.append(ack.response is not None)

    await ack_then_continue(deps_with(lifecycle), ack, {}, work)
    assert ack.response is not None
    assert seen == []
    await lifecycle.drain(grace=5)
    assert seen == [True]


def exporting(done: list[str]) -> running.Body:
    """A body that acks at once, then does its post-ack work (here: notes that it ran)."""

    async def work(answer: AsyncAck) -> None:
        await answer(text="Export requested")
        done.append("exported")

    return work


def stuck_before_its_ack(go: asyncio.Event) -> running.Body:
    """A body still working out its answer (a slow access check, say) until `go` is set."""

    async def work(answer: AsyncAck) -> None:
        await go.wait()
        await answer(text="Your latest exports")

    return work


async def test_post_ack_work_waits_until_the_other_listeners_have_answered() -> None:
    deps = deps_with(Lifecycle())
    go = asyncio.Event()
    done: list[str] = []
    slow = asyncio.create_task(answer_then_continue(deps, AsyncAck(), {}, stuck_before_its_ack(go)))
    await asyncio.sleep(0)  # the slow listener is in, not answered

    quick = AsyncAck()
    await asyncio.wait_for(answer_then_continue(deps, quick, {}, exporting(done)), 1)
    assert quick.response is not None  # answered at once...
    await asyncio.sleep(0.1)
    assert done == []  # ...but its export waits while another answer is due

    go.set()
    await asyncio.wait_for(slow, 1)
    await asyncio.wait_for(deps.lifecycle.drain(grace=5), 5)
    assert done == ["exported"]


async def test_a_listener_that_never_answers_holds_the_others_work_back_only_briefly(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(running, "ANSWERS_FIRST_SECONDS", 0.05)
    deps = deps_with(Lifecycle())
    go = asyncio.Event()
    done: list[str] = []
    slow = asyncio.create_task(answer_then_continue(deps, AsyncAck(), {}, stuck_before_its_ack(go)))
    await asyncio.sleep(0)

    await answer_then_continue(deps, AsyncAck(), {}, exporting(done))
    clicked: list[str] = []

    async def click_work() -> None:
        clicked.append("approved")

    await ack_then_continue(deps, AsyncAck(), {}, click_work)
    for _ in range(100):
        if done and clicked:
            break
        await asyncio.sleep(0.05)
    assert (done, clicked, slow.done()) == (["exported"], ["approved"], False)
    go.set()
    await asyncio.wait_for(slow, 1)
    await deps.lifecycle.drain(grace=5)


async def test_work_cancelled_by_a_shutdown_before_it_starts_is_closed_not_leaked() -> None:
    deps = deps_with(Lifecycle())
    go = asyncio.Event()
    slow = asyncio.create_task(answer_then_continue(deps, AsyncAck(), {}, stuck_before_its_ack(go)))
    await asyncio.sleep(0)
    started: list[str] = []

    async def event_work() -> None:
        started.append("home published")

    work = event_work()
    running.continue_after_receipt(deps, work)
    await asyncio.sleep(0)
    report = await deps.lifecycle.drain(grace=0.01)
    assert started == []
    assert report.cancelled >= 1
    assert work.cr_frame is None  # closed: no "coroutine was never awaited" at exit
    go.set()
    await asyncio.wait_for(slow, 1)


async def test_a_body_stuck_before_its_ack_lets_the_listener_return_at_the_timeout(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    """Slack gets Bolt's answer at the ack timeout; the body still ends, tracked, and its late
    ack goes nowhere (Slack has given up by then)."""
    monkeypatch.setattr(running, "ACK_TIMEOUT_SECONDS", 0.05)
    lifecycle = Lifecycle()
    ack = AsyncAck()
    go = asyncio.Event()

    await asyncio.wait_for(
        answer_then_continue(deps_with(lifecycle), ack, {}, stuck_before_its_ack(go)), 1
    )

    assert ack.response is None
    assert "listener did not ack in time" in caplog.text
    assert lifecycle.in_flight == 1
    go.set()
    report = await lifecycle.drain(grace=5)
    assert (report.finished, report.cancelled) == (1, 0)


async def test_a_cancelled_listener_leaves_its_body_running() -> None:
    """A request given up on (the connection dropped) does not cut the export's work short."""
    lifecycle = Lifecycle()
    go = asyncio.Event()
    listener = asyncio.create_task(
        answer_then_continue(deps_with(lifecycle), AsyncAck(), {}, stuck_before_its_ack(go))
    )
    await asyncio.sleep(0)
    listener.cancel()
    with pytest.raises(asyncio.CancelledError):
        await listener
    assert lifecycle.in_flight == 1
    go.set()
    report = await lifecycle.drain(grace=5)
    assert (report.finished, report.cancelled) == (1, 0)
