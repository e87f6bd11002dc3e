"""The demo's schedule: save an export, schedule it, and let a moved clock run it twice.

The bot's due work (the lease loop, schedules, approvals) reads a `MovableClock`
that runs like the real one until the demo jumps it to the next due time, so
two Monday runs take seconds. Each run posts its task in the channel, the file
and summary in its thread; the second also says what changed since the first
and brings the PNG chart of the runs, which the demo saves under data/demo/.
"""

from __future__ import annotations

import asyncio
import struct
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Final
from zoneinfo import ZoneInfo

from bot.bootstrap import Runtime
from bot.demo_steps import (
    CHANNEL,
    DELIVERY_WAIT_SECONDS,
    USER,
    say,
    settle,
    show_answer,
    visible,
)
from bot.domain.grammar import ScheduleAdd, parse_command
from bot.domain.schedules import next_due
from emulators.fake_hss import FakeHss
from emulators.fake_slack import FakeSlack, Posted

NAME: Final = "weekly"
SAVE: Final = f"save {NAME} status=running risky=yes"
SCHEDULE: Final = f"schedule {NAME} every monday 09:00 tz=Europe/Berlin"
CHART_FILE: Final = f"{NAME}-runs.png"
PNG_SIGNATURE: Final = b"\x89PNG\r\n\x1a\n"
RUNS: Final = 2  # the creates this scenario adds: two Mondays


class MovableClock:
    """Unix time running as the real one from a chosen start; `jump_to` skips ahead.

    Between jumps it keeps running, so polling and leases behave as in production.
    """

    def __init__(self, start: float | None = None) -> None:
        self._offset = 0.0 if start is None else start - time.time()

    def __call__(self) -> float:
        return time.time() + self._offset

    def jump_to(self, moment: float) -> None:
        """Make it `moment` now; never backwards (the bot's clock only goes on)."""
        if moment < self():
            raise ValueError("a clock jump goes forward")
        self._offset = moment - time.time()


async def schedule_scenario(  # noqa: PLR0913, PLR0917  what the story drives and shows
    slack: FakeSlack, hss: FakeHss, events: str, runtime: Runtime, clock: MovableClock, data: Path
) -> bool:
    """Save, schedule, list, then two runs a week apart; True if each behaved as expected."""
    say(
        "Saved exports and schedules: the demo moves the bot's clock ahead to each due time "
        "(a week takes a second)."
    )
    ok = await _type(slack, events, SAVE, answered_later=False)
    ok = await _type(slack, events, SCHEDULE) and ok
    ok = await _type(slack, events, "schedules") and ok
    creates = len(hss.calls_for("create"))
    heads: list[Posted] = []
    for run in range(1, RUNS + 1):
        head = await _next_run(slack, hss, runtime, clock)
        if head is None:
            say("The scheduled run posted no task message.")
            return False
        heads.append(head)
        _show_thread(slack, head, f"Run {run} of `{NAME}`")
    ok = len(hss.calls_for("create")) == creates + RUNS and ok
    ok = "Changed since" in _thread_text(slack, heads[-1]) and ok
    ok = _save_chart(slack, heads[-1], data) and ok
    return await _type(slack, events, "schedules") and ok


async def _type(slack: FakeSlack, events: str, text: str, *, answered_later: bool = True) -> bool:
    """Type `/hss-export <text>`; print the ack and the answer that follows it, if one does."""
    before = len(slack.responses)
    answer = await slack.deliver(
        events, slack.slash_command(text, user_id=USER, channel_id=CHANNEL)
    )
    ok = show_answer(f"/hss-export {text}", answer)
    if answered_later and await settle(lambda: len(slack.responses) > before):
        for response in slack.responses[before:]:
            print("  then, only to you:")
            print("  │ " + visible(response.body).replace("\n", "\n  │ "))
    return ok


def _next_monday_0900_berlin(now: float) -> float:
    parsed = parse_command(SCHEDULE)
    assert isinstance(parsed, ScheduleAdd)  # the demo's own command parses
    tz = ZoneInfo("Europe/Berlin")
    return next_due(parsed.schedule, datetime.fromtimestamp(now, UTC), tz).timestamp()


async def _next_run(
    slack: FakeSlack, hss: FakeHss, runtime: Runtime, clock: MovableClock
) -> Posted | None:
    """Jump to the next due time; return the run's task message once its task is settled."""
    due = _next_monday_0900_berlin(clock()) + 30
    clock.jump_to(due)
    say(f"The clock jumps to {datetime.fromtimestamp(due, UTC):%a %Y-%m-%d %H:%M} UTC.")
    before = set(hss.tasks)
    if not await settle(lambda: set(hss.tasks) != before, DELIVERY_WAIT_SECONDS):
        return None
    [task_id] = set(hss.tasks) - before
    # Announced first, then followed: wait for the followed task to be settled (file,
    # summary, chart, audit) before the clock moves on.
    deadline = time.monotonic() + DELIVERY_WAIT_SECONDS
    while not await _settled(runtime, task_id):
        if time.monotonic() > deadline:
            return None
        await asyncio.sleep(0.1)
    return task_message(slack, task_id)


async def _settled(runtime: Runtime, task_id: str) -> bool:
    task = await runtime.tasks.get(task_id)
    return task is not None and task.settled


def task_message(slack: FakeSlack, task_id: str) -> Posted | None:
    """Return the top-level message in the channel that announced `task_id`."""
    posts = slack.messages_in(CHANNEL)
    found = [p for p in posts if p.thread_ts is None and task_id in p.all_text]
    return found[0] if found else None


def _thread_text(slack: FakeSlack, head: Posted) -> str:
    return "\n".join(p.all_text for p in slack.messages_in(CHANNEL) if p.thread_ts == head.ts)


def _show_thread(slack: FakeSlack, head: Posted, title: str) -> None:
    say(f"{title}: the task message in <#{CHANNEL}>, then its thread")
    print("  │ " + visible({"blocks": head.blocks, "text": head.text}).replace("\n", "\n  │ "))
    for f in slack.files:
        if f.thread_ts == head.ts:
            print(f"  └ file {f.filename} ({f.size} bytes)")
    for post in slack.messages_in(CHANNEL):
        if post.thread_ts == head.ts:
            text = visible({"blocks": post.blocks, "text": post.text})
            print("  └ " + text.replace("\n", "\n    "))


def _save_chart(slack: FakeSlack, head: Posted, data: Path) -> bool:
    """Save the chart of the second run's thread; True if it is a PNG of a sensible size."""
    charts = [f for f in slack.files if f.thread_ts == head.ts and f.filename == CHART_FILE]
    if len(charts) != 1 or charts[0].data is None or not charts[0].data.startswith(PNG_SIGNATURE):
        say(f"The second run's thread has no chart ({CHART_FILE}).")
        return False
    png = charts[0].data
    width, height = struct.unpack(">II", png[16:24])
    path = data / CHART_FILE
    path.write_bytes(png)
    say(
        f"The chart of the runs ({width}x{height} PNG, {len(png)} bytes) came with the second "
        f"run; the demo saved it as {path}"
    )
    return True
