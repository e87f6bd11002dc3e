"""Soak: thousands of commands through `python -m bot serve`; nothing leaks, nothing is lost.

The bot runs as a subprocess (so its memory and file descriptors are its own)
against `FakeHss` and `FakeSlack`. Commands go in batches, 16 in flight: mostly
valid exports, some with a typo, some from a channel the bot does not serve.
After each batch the test waits until every task_id is in the channel and every
file in its thread, then samples the bot's RSS and open file descriptors. At the
end: RSS and descriptors are flat after warm-up, the audit chain verifies, and
the counts agree exactly (commands = audit entries, valid exports = HSS creates
= task_id messages = files delivered).

CI runs SOAK_N=300 (the default). The full soak, about 10 minutes on 2 cores:

    SOAK_N=10000 .venv/bin/pytest tests/test_soak.py -q -s
"""

from __future__ import annotations

import asyncio
import os
import re
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

import aiohttp
import psutil
from e2e_harness import EXPORTS, ServedBot, served_bot, wait_for

from bot.adapters.audit_store import open_audit_log
from emulators.fake_hss import FakeHss
from emulators.fake_slack import FakeSlack, SignedRequest

N = int(os.environ.get("SOAK_N", "300"))
BATCHES = 10
IN_FLIGHT = 16
VALID = "status=running cluster_type=cce risky=yes headers=container_name,status"
TYPO = "status=runing"  # one problem: a refused, audited command
ELSEWHERE = "C0ELSEWHERE"  # not in ALLOWED_CHANNEL_IDS: denied, audited
# Growth allowed after warm-up (the first batch): SQLite page caches and connection pools
# fill during warm-up and then stay; a leak of 2 kB per command shows at N=10000.
RSS_GROWTH_LIMIT = 24 * 2**20
# Idle keep-alive connections (to HSS and to Slack) come and go with the load: at most one
# per command in flight. A descriptor leaked per command would show as hundreds.
FD_GROWTH_LIMIT = IN_FLIGHT
_TASK = re.compile(r"\btask-\d{4,}\b")


@dataclass
class Load:
    """What was sent, and the bot's footprint after each batch."""

    kinds: Counter[str] = field(default_factory=Counter)
    statuses: Counter[int] = field(default_factory=Counter)
    slowest: float = 0.0
    rss: list[int] = field(default_factory=list)
    fds: list[int] = field(default_factory=list)


def command(slack: FakeSlack, i: int) -> tuple[str, SignedRequest]:
    """Return the i-th command: 8 in 10 valid, 1 with a typo, 1 from a channel not served."""
    user = f"U{i:07d}"
    if i % 10 == 8:
        return "invalid", slack.slash_command(TYPO, user_id=user, channel_id=EXPORTS)
    if i % 10 == 9:
        return "denied", slack.slash_command(VALID, user_id=user, channel_id=ELSEWHERE)
    return "valid", slack.slash_command(VALID, user_id=user, channel_id=EXPORTS)


async def send_batch(bot: ServedBot, slack: FakeSlack, first: int, count: int, load: Load) -> None:
    """Send commands first..first+count-1, IN_FLIGHT at a time, as Slack would (3 s patience)."""
    queue = list(range(first, first + count))
    timeout = aiohttp.ClientTimeout(total=3.5)

    async def worker(session: aiohttp.ClientSession) -> None:
        while queue:
            kind, request = command(slack, queue.pop())
            headers = {"Content-Type": "application/x-www-form-urlencoded", **request.headers}
            started = time.monotonic()
            async with session.post(bot.events_url, data=request.body, headers=headers) as answer:
                await answer.read()
                load.statuses[answer.status] += 1
            load.slowest = max(load.slowest, time.monotonic() - started)
            load.kinds[kind] += 1

    async with aiohttp.ClientSession(timeout=timeout) as session:
        await asyncio.gather(*(worker(session) for _ in range(IN_FLIGHT)))


def task_messages(slack: FakeSlack) -> list[str]:
    """Return the task ids announced in the channel, one per chat.postMessage."""
    found = []
    for call in slack.calls_to("chat.postMessage"):
        if call.params.get("channel") == EXPORTS and not call.params.get("thread_ts"):
            match = _TASK.search(str(call.params.get("text") or ""))
            if match:
                found.append(match[0])
    return found


async def test_soak_counts_match_and_nothing_leaks(tmp_path: Path) -> None:
    """N commands: memory and descriptors flat, the chain intact, every count exact."""
    db_url = f"sqlite:///{tmp_path / 'audit.db'}"
    load = Load()
    per_batch = max(1, N // BATCHES)
    async with (
        FakeHss(polls_until_done=0, file_size=2048) as hss,
        FakeSlack() as slack,
        served_bot(
            tmp_path,
            hss,
            slack,
            db_url,
            TASK_POLL_INITIAL_SECONDS="0.05",
            TASK_POLL_MAX_SECONDS="0.2",
        ) as bot,
    ):
        process = psutil.Process(bot.process.pid)
        sent = 0
        while sent < N:
            count = min(per_batch, N - sent)
            await send_batch(bot, slack, sent, count, load)
            sent += count
            valid = load.kinds["valid"]
            await wait_for(lambda v=valid: len(slack.files) >= v, seconds=60 + count)
            load.rss.append(process.memory_info().rss)
            load.fds.append(process.num_fds())
        await wait_for(lambda: len(task_messages(slack)) >= load.kinds["valid"], seconds=30)
        await asyncio.sleep(1)  # nothing more should arrive: counts below must be exact

    mib = [round(r / 2**20, 1) for r in load.rss]
    print(f"\nsoak N={N}: {dict(load.kinds)}, slowest ack {load.slowest:.2f} s")
    print(f"  RSS after each batch (MiB): {mib}")
    print(f"  open fds after each batch:  {load.fds}")

    assert load.statuses == Counter({200: N})
    assert load.slowest < 3.0
    assert max(load.rss[1:], default=load.rss[0]) - load.rss[0] < RSS_GROWTH_LIMIT
    assert max(load.fds[1:], default=load.fds[0]) - load.fds[0] <= FD_GROWTH_LIMIT

    valid = load.kinds["valid"]
    created = [c for c in hss.calls_for("create") if c.status == 200]
    assert len(hss.calls_for("create")) == len(created) == valid
    announced = task_messages(slack)
    assert len(announced) == len(set(announced)) == valid
    assert len(slack.files) == len({f.filename for f in slack.files}) == valid

    log = await open_audit_log(db_url, create=False)
    try:
        entries = await log.list_entries()
        verified = await log.verify()
    finally:
        await log.aclose()
    assert verified.ok, str(verified)
    assert len(entries) == N
    outcomes = Counter(e.outcome for e in entries)
    assert outcomes == Counter(
        {"submitted": valid, "invalid": load.kinds["invalid"], "denied": load.kinds["denied"]}
    )
    assert {e.task_id for e in entries if e.task_id} == set(announced)
    assert sum(1 for e in entries if e.delivery and "sha256" in e.delivery) == valid
