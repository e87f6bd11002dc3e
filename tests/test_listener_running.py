"""Listeners answer Slack the moment they ack; their post-ack work goes on, tracked.

Bolt runs with `process_before_response=True` and answers when the listener
returns: `answer_then_continue` must return at the ack (not when the work ends),
and the work must stay visible to a graceful shutdown.
"""

from __future__ import annotations

import asyncio
from types import SimpleNamespace
from typing import cast

from slack_bolt.context.ack.async_ack import AsyncAck

from bot.entrypoints.deps import AppDeps
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
