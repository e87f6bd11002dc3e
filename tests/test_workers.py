"""`serve` with WEB_CONCURRENCY worker processes: both answer, one prunes, SIGTERM drains all."""

from __future__ import annotations

import asyncio
import json
import os
import signal
from pathlib import Path

import aiohttp
import psutil
import pytest
from e2e_harness import VALID, ServedBot, _spawn, serve_env
from slack_harness import EXPORTS

from bot.entrypoints.runner import WORKER_HEADER
from bot.entrypoints.workers import available_cpus
from emulators.fake_hss import FakeHss
from emulators.fake_slack import FakeSlack


def _cpu_max(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "cpu.max"
    path.write_text(text)
    return path


def test_default_is_the_cpus_the_container_may_use(tmp_path: Path) -> None:
    """The default worker count is the CPU affinity, capped (rounded up) by a cgroup quota."""
    affinity = len(os.sched_getaffinity(0))
    assert available_cpus(_cpu_max(tmp_path, "max 100000\n")) == affinity
    assert available_cpus(_cpu_max(tmp_path, "50000 100000\n")) == 1
    assert available_cpus(_cpu_max(tmp_path, "150000 100000\n")) == min(affinity, 2)
    assert available_cpus(tmp_path / "absent") == affinity


async def _answers_from_workers(bot: ServedBot, slack: FakeSlack, rounds: int = 10) -> set[str]:
    """Send bursts of signed commands, each on its own connection; return the workers seen."""
    seen: set[str] = set()

    async def one(user: str) -> str:
        request = slack.slash_command(VALID, user_id=user, channel_id=EXPORTS)
        headers = {"Content-Type": "application/x-www-form-urlencoded", **request.headers}
        connector = aiohttp.TCPConnector(force_close=True)
        async with (
            aiohttp.ClientSession(connector=connector) as session,
            session.post(bot.events_url, data=request.body, headers=headers) as answer,
        ):
            assert answer.status == 200, await answer.text()
            return answer.headers[WORKER_HEADER]

    for burst in range(rounds):
        seen |= set(await asyncio.gather(*(one(f"U{burst:02d}{i:04d}") for i in range(8))))
        if seen == {"0", "1"}:
            break
    return seen


async def _logged(bot: ServedBot, text: str, seconds: float = 30.0) -> None:
    """Wait until the bot's log contains `text`."""
    deadline = asyncio.get_running_loop().time() + seconds
    while text not in bot.log.read_text():
        assert asyncio.get_running_loop().time() < deadline, bot.log.read_text()
        await asyncio.sleep(0.1)


async def test_two_workers_answer_prune_once_and_drain_on_sigterm(
    tmp_path: Path, fake_hss: FakeHss
) -> None:
    """WEB_CONCURRENCY=2: both processes answer commands, the prune runs once, SIGTERM exits 0."""
    async with FakeSlack() as slack:
        db = f"sqlite:///{tmp_path / 'audit.db'}"
        env = serve_env(
            fake_hss,
            slack,
            db,
            WEB_CONCURRENCY="2",
            AUDIT_RETENTION_DAYS="30",
            LOG_LEVEL="INFO",
            LOG_FORMAT="json",
        )
        bot = _spawn(tmp_path, env)
        try:
            await bot.until_healthy()
            workers = psutil.Process(bot.process.pid).children()
            assert len(workers) == 2
            assert await _answers_from_workers(bot, slack) == {"0", "1"}
            await _logged(bot, '"audit pruned"')
        finally:
            code = await bot.stop(signal.SIGTERM)
    assert code == 0, bot.log.read_text()
    assert not any(w.is_running() and w.status() != psutil.STATUS_ZOMBIE for w in workers)
    lines = [json.loads(line) for line in bot.log.read_text().splitlines() if line.startswith("{")]
    events = [line.get("event") for line in lines]
    assert events.count("audit pruned") == 1
    # The pruning task sleeps until tomorrow, so it is cancelled at the drain: in one worker.
    assert sum(line.get("resumable_cancelled", 0) for line in lines) == 1
    assert events.count("drained") == 2  # each worker drained its own in-flight work
    assert fake_hss.calls_for("create"), "the commands reached HSS"


async def test_a_dead_worker_stops_the_others_and_the_parent_exits_1(
    tmp_path: Path, fake_hss: FakeHss
) -> None:
    """A worker killed from outside is not restarted: the other drains and `serve` exits 1."""
    async with FakeSlack() as slack:
        env = serve_env(fake_hss, slack, f"sqlite:///{tmp_path / 'audit.db'}", WEB_CONCURRENCY="2")
        bot = _spawn(tmp_path, env)
        try:
            await bot.until_healthy()
            first, second = psutil.Process(bot.process.pid).children()
            first.kill()
            code = await asyncio.to_thread(bot.process.wait, 30)
        finally:
            if bot.process.poll() is None:
                bot.process.kill()
    assert code == 1
    assert not second.is_running() or second.status() == psutil.STATUS_ZOMBIE
    assert "a worker process exited" in bot.log.read_text()


@pytest.mark.parametrize("value", ["0", "two"])
def test_web_concurrency_must_be_a_positive_count(value: str) -> None:
    """WEB_CONCURRENCY=0 or a word is refused at start, naming the setting."""
    from bot.domain.errors import SettingsError
    from bot.settings import load_settings

    os.environ["WEB_CONCURRENCY"] = value
    try:
        with pytest.raises(SettingsError, match="WEB_CONCURRENCY"):
            load_settings([], uses=None)
    finally:
        del os.environ["WEB_CONCURRENCY"]
