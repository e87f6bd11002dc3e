"""Graceful shutdown: SIGTERM drains in-flight work (bounded), then the process exits 0."""

from __future__ import annotations

import asyncio
import select
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from bot.lifecycle import RESTARTING_TEXT, Lifecycle, restarting_reply

# A bot in miniature: one command in flight (an HSS call of `work` seconds), one
# resumable follower, SIGTERM handling from Lifecycle, and a drain of `grace` seconds.
SCRIPT = """
import asyncio, sys
from bot.lifecycle import Lifecycle

work, grace = float(sys.argv[1]), float(sys.argv[2])

async def export_call():
    await asyncio.sleep(work)
    print("task finished", flush=True)

async def follower():
    try:
        await asyncio.sleep(3600)
    except asyncio.CancelledError:
        print("follower left to resume", flush=True)
        raise

async def main():
    lifecycle = Lifecycle()
    lifecycle.install_signal_handlers()
    lifecycle.spawn(export_call(), name="export")
    lifecycle.spawn(follower(), resumable=True)
    print("ready", flush=True)
    await lifecycle.wait_for_stop()
    print("draining", flush=True)
    report = await lifecycle.drain(grace)
    print(
        f"drained finished={report.finished} cancelled={report.cancelled} "
        f"resumable={report.resumable_cancelled}",
        flush=True,
    )
    return 0

sys.exit(asyncio.run(main()))
"""


def _start(tmp_path: Path, work: float, grace: float) -> subprocess.Popen[str]:
    script = tmp_path / "mini_bot.py"
    script.write_text(SCRIPT, encoding="utf-8")
    return subprocess.Popen(
        [sys.executable, str(script), str(work), str(grace)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def _read_line(proc: subprocess.Popen[str], timeout: float = 20.0) -> str:
    assert proc.stdout is not None
    ready, _, _ = select.select([proc.stdout], [], [], timeout)
    if not ready:
        proc.kill()
        pytest.fail("the child printed nothing in time")
    return proc.stdout.readline().strip()


def _finish(proc: subprocess.Popen[str]) -> tuple[int, list[str], str]:
    try:
        out, err = proc.communicate(timeout=30)
    except subprocess.TimeoutExpired:
        proc.kill()
        raise
    return proc.returncode, out.splitlines(), err


def test_sigterm_lets_the_in_flight_call_finish(tmp_path: Path) -> None:
    """On SIGTERM a 1 s call in flight completes, the follower is left to resume, exit is 0."""
    proc = _start(tmp_path, work=1.0, grace=15.0)
    assert _read_line(proc) == "ready"
    started = time.monotonic()
    proc.send_signal(signal.SIGTERM)

    code, lines, err = _finish(proc)

    assert code == 0, err
    assert lines[0] == "draining"
    assert lines.index("follower left to resume") < lines.index("task finished")
    assert lines[-1] == "drained finished=1 cancelled=0 resumable=1"
    assert time.monotonic() - started < 12  # did not sit out the whole grace period


def test_sigterm_cancels_what_outlives_the_grace_period(tmp_path: Path) -> None:
    """A call that outlasts the grace period is cancelled, and the process still exits 0."""
    proc = _start(tmp_path, work=60.0, grace=0.5)
    assert _read_line(proc) == "ready"
    started = time.monotonic()
    proc.send_signal(signal.SIGTERM)

    code, lines, err = _finish(proc)

    assert code == 0, err
    assert "task finished" not in lines
    assert lines[-1] == "drained finished=0 cancelled=1 resumable=1"
    assert time.monotonic() - started < 15


def test_second_signal_stops_waiting(tmp_path: Path) -> None:
    """A second SIGTERM (or Ctrl-C) while draining cancels the rest at once."""
    proc = _start(tmp_path, work=60.0, grace=60.0)
    assert _read_line(proc) == "ready"
    proc.send_signal(signal.SIGTERM)
    assert _read_line(proc) == "draining"
    started = time.monotonic()
    proc.send_signal(signal.SIGINT)

    code, lines, err = _finish(proc)

    assert code == 0, err
    assert lines[-1] == "drained finished=0 cancelled=1 resumable=1"
    assert time.monotonic() - started < 15


async def test_drain_waits_for_quick_work_and_cancels_stragglers() -> None:
    """Drain lets work that ends within the grace period finish and cancels the rest."""
    lifecycle = Lifecycle()
    done: list[str] = []

    async def work(name: str, seconds: float) -> None:
        await asyncio.sleep(seconds)
        done.append(name)

    quick = lifecycle.spawn(work("quick", 0.05))
    slow = lifecycle.spawn(work("slow", 30))
    assert lifecycle.in_flight == 2

    report = await lifecycle.drain(0.5)

    assert done == ["quick"]
    assert quick.done()
    assert slow.cancelled()
    assert (report.finished, report.cancelled) == (1, 1)
    assert lifecycle.in_flight == 0
    assert lifecycle.draining


async def test_finish_section_survives_the_cancel_of_a_resumable_task() -> None:
    """An audit write inside a resumable follower is completed, though the follower is stopped."""
    lifecycle = Lifecycle()
    audit: list[str] = []
    entered = asyncio.Event()

    async def write_delivery() -> None:
        entered.set()
        await asyncio.sleep(0.2)
        audit.append("delivery recorded")

    async def follower() -> None:
        await lifecycle.finish(write_delivery())
        audit.append("follower went on")

    task = lifecycle.spawn(follower(), resumable=True)
    await entered.wait()

    report = await lifecycle.drain(5)

    assert audit == ["delivery recorded"]
    assert task.cancelled()
    assert (report.finished, report.cancelled, report.resumable_cancelled) == (1, 0, 1)


async def test_resumable_work_started_while_draining_is_not_run() -> None:
    """A follower registered after shutdown began is cancelled (the next process resumes it)."""
    lifecycle = Lifecycle()
    lifecycle.begin_drain()
    ran: list[str] = []

    async def follower() -> None:
        ran.append("ran")

    task = lifecycle.spawn(follower(), resumable=True)
    await asyncio.gather(task, return_exceptions=True)
    assert task.cancelled()
    assert ran == []


def test_restarting_reply_is_ephemeral_and_polite() -> None:
    """A command that arrives while draining gets a private 'try again in a minute' reply."""
    reply = restarting_reply()
    assert reply == {"response_type": "ephemeral", "text": RESTARTING_TEXT}
    assert "try again in a minute" in reply["text"]
