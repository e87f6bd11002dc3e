"""Acks while summaries run: the real bot summarizing 100,000-row exports under a command load.

    .venv/bin/python bench/bench_summary_ack.py              # 4 big exports, 10 commands/s, 30 s
    .venv/bin/python bench/bench_summary_ack.py --exports 2 --rate 20 --seconds 20
    .venv/bin/python bench/bench_summary_ack.py --exports 0 --rate 20   # no summaries: baseline

What it does (figures, not a test: nothing is asserted):

1. writes one 100,000-row, 16-column xlsx (English headers, as the bot asks
   with HSS_EXPORT_HEADER_LANG=en) in a child process;
2. starts `FakeHss` serving that file for the first `--exports` tasks, and
   `FakeSlack`, in this process, and `hss-export-bot serve` as a subprocess;
3. sends the `--exports` commands, whose files the bot downloads, shares and
   summarizes one after the other in its worker process; while it does, sends
   signed commands open loop at `--rate` per second for `--seconds` (their
   tasks never finish, so they add acks and polls, not summaries);
4. prints ack p50/p99/max and how many took over 3 s, the bot's own peak RSS
   (psutil, every 20 ms), the peak RSS of its worker processes, and how long
   the summaries took.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from pathlib import Path

import psutil

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

from bench_ack import (  # noqa: E402
    CHANNEL,
    Figures,
    RssSampler,
    Sent,
    fire,
    free_port,
    running,
    subject_env,
    wait_listening,
)

from emulators.fake_hss import FakeHss  # noqa: E402
from emulators.fake_slack import FakeSlack  # noqa: E402

MB = 1024 * 1024
GENERATE = """
import sys
from pathlib import Path
from bot.domain.model import default_headers
from emulators.export_files import population, xlsx_bytes
containers = population(seed=2026, step=0, size=int(sys.argv[2]))
headers = [list(pair) for pair in default_headers("en")]
Path(sys.argv[1]).write_bytes(xlsx_bytes(headers, [c.row() for c in containers]))
"""


class ChildRss:
    """Sample the peak RSS of a process's children (the summary worker) in a thread."""

    def __init__(self, pid: int, interval: float = 0.02) -> None:
        self._process = psutil.Process(pid)
        self._interval = interval
        self._stop = threading.Event()
        self.peak = 0
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while not self._stop.is_set():
            with contextlib.suppress(psutil.Error):
                for child in self._process.children(recursive=True):
                    with contextlib.suppress(psutil.Error):
                        self.peak = max(self.peak, int(child.memory_info().rss))
            self._stop.wait(self._interval)

    def __enter__(self) -> ChildRss:
        self._thread.start()
        return self

    def __exit__(self, *_exc: object) -> None:
        self._stop.set()
        self._thread.join()


def summaries_posted(slack: FakeSlack, word: str = "summary") -> list[float]:
    """Return when each summary (or no-summary line) was posted into a thread."""
    return [
        call.at
        for call in slack.calls_to("chat.postMessage")
        if call.params.get("thread_ts") and word in str(call.params.get("text") or "")
    ]


def write_file(path: Path, rows: int) -> bytes:
    """Write the export in a child process (its memory is not ours); return its bytes."""
    started = time.perf_counter()
    subprocess.run([sys.executable, "-c", GENERATE, str(path), str(rows)], check=True, cwd=ROOT)
    content = path.read_bytes()
    print(
        f"file: {rows:,} rows, 16 columns, {len(content) / MB:.1f} MB "
        f"(written in {time.perf_counter() - started:.1f} s)"
    )
    return content


async def main_async(args: argparse.Namespace) -> int:
    """Run the bench once and print its figures."""
    with tempfile.TemporaryDirectory(prefix="bench-summary-ack-") as tmp:
        workdir = Path(tmp)
        content = (  # --exports 0: the same load without summaries, for comparison
            await asyncio.to_thread(write_file, workdir / "export.xlsx", args.rows)
            if args.exports
            else None
        )
        async with FakeHss(polls_until_done=0) as hss, FakeSlack(keep_bytes=False) as slack:
            hss.file_override = content
            port = free_port()
            env = subject_env(hss, slack, workdir, port)
            env.update(TASK_POLL_INITIAL_SECONDS="0.2", TASK_POLL_MAX_SECONDS="5")
            with running("bot", env, workdir, port) as pid:
                await wait_listening(port)
                url = f"http://127.0.0.1:{port}/slack/events"
                with RssSampler(pid) as bot_rss, ChildRss(pid) as worker_rss:
                    idle = bot_rss.current()
                    exports = [_command(slack, f"U0EXP{i:04d}") for i in range(args.exports)]
                    t0 = time.time()
                    await fire(url, exports, concurrency=args.exports)
                    await _wait(lambda: len(hss.tasks) >= args.exports, 30)
                    hss.polls_until_done = 10**6  # the load's tasks never finish
                    hss.file_override = None
                    count = int(args.rate * args.seconds)
                    load = [_command(slack, f"U0L{i:06d}") for i in range(count)]
                    await fire(url, load, concurrency=200, rate=args.rate)
                    await _wait(lambda: len(summaries_posted(slack)) >= args.exports, 600)
                    posted = summaries_posted(slack)
                    read = len(summaries_posted(slack, f"Export summary: {args.rows:,}"))
        acks = [1000 * (c.elapsed or 0.0) for c in load]
        figures = Figures("bot", count, 200, 0.0, acks, {}, 0, 0.0, [], None, 0, 0.0, 0.0, 0.0)
        over = sum(1 for c in load if c.status != 200 or (c.elapsed or 99) > 3.0)
        summary_span = max(posted) - t0 if posted else float("nan")
        print(
            f"load: {count} commands at {args.rate:g}/s while {args.exports} summaries ran\n"
            f"  ack p50 {figures.pct(acks, 50):.0f} ms, p99 {figures.pct(acks, 99):.0f} ms, "
            f"max {max(acks):.0f} ms; over 3 s or not 200: {over}\n"
            f"  bot RSS: idle {idle / MB:.0f} MB, peak {bot_rss.peak / MB:.0f} MB; "
            f"summary worker peak {worker_rss.peak / MB:.0f} MB\n"
            f"  {len(posted)} summaries posted ({read} of all {args.rows:,} rows) "
            f"within {summary_span:.1f} s of the first command "
            f"({summary_span / max(1, len(posted)):.1f} s each, one at a time)"
        )
    return 0


def _command(slack: FakeSlack, user: str) -> Sent:
    return Sent(user, slack.slash_command("status=running", user_id=user, channel_id=CHANNEL))


async def _wait(condition: Callable[[], bool], seconds: float) -> None:
    """Poll the fakes' records until `condition()` holds or time runs out."""
    deadline = time.monotonic() + seconds
    while not condition() and time.monotonic() < deadline:  # noqa: ASYNC110 - no event to wait on
        await asyncio.sleep(0.1)


def main() -> int:
    """Parse the arguments and run the bench."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=100_000, help="rows per export (100000)")
    parser.add_argument("--exports", type=int, default=4, help="big exports summarized (4)")
    parser.add_argument("--rate", type=float, default=10.0, help="load commands per second (10)")
    parser.add_argument("--seconds", type=float, default=30.0, help="how long the load runs (30)")
    return asyncio.run(main_async(parser.parse_args()))


if __name__ == "__main__":
    sys.exit(main())
