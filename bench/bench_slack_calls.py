"""CPU of the bot's side of a Slack Web API call: a connection per call against the keep-alive pool.

The fake Slack runs in a child process, so this process's CPU time is the
client's alone: slack_sdk's request, aiohttp's connection (made and closed per
call, or reused from `SlackConnections`), the JSON both ways. Each round posts
`--calls` messages with `--in-flight` at a time through `build_web_client`,
alternating the two ways; prints CPU microseconds per call, median and best.

    .venv/bin/python bench/bench_slack_calls.py            # 2,000 calls x 5 rounds
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bot.adapters.slack_http import SlackConnections  # noqa: E402
from bot.adapters.slack_notifier import SLACK_TIMEOUT_SECONDS, build_web_client  # noqa: E402
from bot.settings import Settings  # noqa: E402

_FAKE = """
import asyncio, sys
from emulators.fake_slack import FakeSlack

async def main():
    async with FakeSlack(keep_bytes=False, check_block_kit=False) as slack:
        print(slack.api_url, slack.bot_token, flush=True)
        await asyncio.get_running_loop().run_in_executor(None, sys.stdin.read)

asyncio.run(main())
"""


async def one_round(api_url: str, token: str, calls: int, in_flight: int, pooled: bool) -> float:
    """Post `calls` messages; return this process's CPU seconds per call."""
    settings = Settings(_env_file=None, SLACK_BOT_TOKEN=token, SLACK_API_URL=api_url)
    pool = SlackConnections() if pooled else None
    client = build_web_client(
        settings, session=pool.session(SLACK_TIMEOUT_SECONDS) if pool is not None else None
    )
    queue = iter(range(calls))

    async def worker() -> None:
        for i in queue:
            await client.chat_postMessage(channel="C0BENCH", text=f"message {i}")

    start = time.process_time()
    await asyncio.gather(*(worker() for _ in range(in_flight)))
    cpu = time.process_time() - start
    if pool is not None:
        await pool.aclose()
    return cpu / calls


async def rounds(api_url: str, token: str, args: argparse.Namespace) -> dict[bool, list[float]]:
    """Alternate the two ways for `--rounds` rounds; return CPU seconds per call of each."""
    results: dict[bool, list[float]] = {False: [], True: []}
    await one_round(api_url, token, 50, args.in_flight, pooled=True)  # warm-up
    for _ in range(args.rounds):
        for pooled in (False, True):
            results[pooled].append(
                await one_round(api_url, token, args.calls, args.in_flight, pooled)
            )
    return results


def main() -> None:
    """Start the fake Slack in a child process, run the rounds, print the figures."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--calls", type=int, default=2000)
    parser.add_argument("--in-flight", type=int, default=10)
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()
    fake = subprocess.Popen(
        [sys.executable, "-c", _FAKE],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
        cwd=ROOT,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
    )
    try:
        assert fake.stdout is not None
        api_url, token = fake.stdout.readline().split()
        results = asyncio.run(rounds(api_url, token, args))
    finally:
        if fake.stdin is not None:
            fake.stdin.close()
        fake.wait(timeout=30)
    print(
        f"{args.calls} chat.postMessage x {args.rounds} rounds, {args.in_flight} in flight; "
        f"load average {' '.join(f'{x:.2f}' for x in os.getloadavg())}"
    )
    print(f"{'client CPU per call (µs)':34}{'median':>10}{'best':>10}")
    for pooled, label in ((False, "a connection per call"), (True, "keep-alive pool")):
        values = [1e6 * v for v in results[pooled]]
        print(f"  {label:32}{statistics.median(values):>10.0f}{min(values):>10.0f}")
    ratio = statistics.median(results[False]) / statistics.median(results[True])
    print(f"  ratio (per call / pool)         {ratio:>10.2f}x")


if __name__ == "__main__":
    main()
