"""The bot exactly as `serve` wires it, on loopback between `FakeHss` and `FakeSlack`.

`running_bot()` builds the runtime with `build_runtime` (real HSS client,
SQLite or PostgreSQL audit log, task tracker, Slack notifier), starts its
background work and its HTTP server on a free 127.0.0.1 port, and yields a
`Bot` to drive with signed requests and to inspect: what Slack showed the user,
what HSS received, what the audit log holds. `served_bot()` runs the real
`python -m bot serve` as a subprocess instead, for tests that kill it or
measure it from outside. Used by the end-to-end fault, bad-input and soak suites.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aiohttp
from slack_harness import ALICE, EXPORTS, stack_settings, wait_for

from bot.adapters.audit_store import VerifyResult
from bot.bootstrap import Runtime, build_runtime, start_http_runtime
from bot.demo_schedule import MovableClock
from bot.domain.types import AuditEntry
from bot.entrypoints.web import EVENTS_PATH, HttpServer
from bot.settings import Settings
from emulators.fake_hss import FakeHss
from emulators.fake_slack import Delivery, FakeSlack, Posted, ResponsePost, SignedRequest

VALID = "status=running cluster_type=cce risky=yes"


def bot_settings(hss: FakeHss, slack: FakeSlack, audit_db_url: str, **overrides: Any) -> Settings:
    """Return settings for the fakes: #exports allowed, HSS retries on, fast task polling."""
    values: dict[str, Any] = {
        "HSS_MAX_ATTEMPTS": Settings.model_fields["HSS_MAX_ATTEMPTS"].default,
        "HSS_EXPORT_HEADER_LANG": "en",
        "ALLOWED_USER_IDS": "",
        "ALLOWED_CHANNEL_IDS": EXPORTS,
        "AUDIT_DB_URL": audit_db_url,
        "TASK_POLL_INITIAL_SECONDS": 0.05,
        "TASK_POLL_MAX_SECONDS": 0.2,
        "SHUTDOWN_GRACE_SECONDS": 2.0,
        "LOG_LEVEL": "WARNING",
    }
    values.update(overrides)
    return stack_settings(hss, slack, **values)


@dataclass
class Bot:
    """The running bot and the fakes a test asserts on."""

    runtime: Runtime
    server: HttpServer
    hss: FakeHss
    slack: FakeSlack

    @property
    def events_url(self) -> str:
        """Return the bot's Slack endpoint."""
        return self.server.url + EVENTS_PATH

    async def send(self, request: SignedRequest) -> Delivery:
        """Deliver a request to the bot as Slack would (3 s patience)."""
        return await self.slack.deliver(self.events_url, request)

    async def slash(
        self, text: str, *, user_id: str = ALICE, channel_id: str = EXPORTS
    ) -> Delivery:
        """Type `/hss-export <text>` (as Alice in #exports unless told otherwise)."""
        return await self.send(
            self.slack.slash_command(text, user_id=user_id, channel_id=channel_id)
        )

    async def settle(self, seconds: float = 15.0) -> None:
        """Wait until every listener's post-ack work has finished (the tracker aside)."""
        await wait_for(lambda: self.runtime.lifecycle.in_flight == 0, seconds)

    async def entries(self) -> list[AuditEntry]:
        """Return every audit entry, oldest first."""
        return await self.runtime.audit.list_entries()

    async def verify(self) -> VerifyResult:
        """Recompute the audit chain."""
        return await self.runtime.audit.verify()

    def channel_posts(self, channel: str = EXPORTS) -> list[Posted]:
        """Return what everyone in a channel saw the bot post."""
        return self.slack.messages_in(channel)

    def private_replies(self) -> list[ResponsePost]:
        """Return the messages sent to response_urls (ephemeral unless said otherwise)."""
        return [r for r in self.slack.responses if r.response_type == "ephemeral"]


@asynccontextmanager
async def running_bot(
    tmp_path: Path,
    hss: FakeHss,
    *,
    slack: FakeSlack | None = None,
    audit_db_url: str | None = None,
    clock: MovableClock | None = None,
    **overrides: Any,
) -> AsyncIterator[Bot]:
    """Build and serve the runtime as `serve` does; `overrides` are Settings fields.

    `clock`: the runtime's clock of due work (schedules, approvals, the tracker).
    """
    async with slack or FakeSlack() as fake_slack:
        url = audit_db_url or f"sqlite:///{tmp_path / 'audit.db'}"
        settings = bot_settings(hss, fake_slack, url, **overrides)
        runtime = await build_runtime(settings, clock=clock or time.time)
        try:
            runtime.start_background()
            await runtime.check_slack()
            server = await start_http_runtime(runtime, "127.0.0.1", 0)
            try:
                yield Bot(runtime, server, hss, fake_slack)
            finally:
                await server.close()
        finally:
            await runtime.drain_and_close()


# --- the bot as a process ------------------------------------------------------------------


def free_port() -> int:
    """Return a loopback port nobody listens on right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass
class ServedBot:
    """`python -m bot serve` running in a subprocess, and where it listens."""

    process: subprocess.Popen[bytes]
    port: int
    log: Path

    @property
    def events_url(self) -> str:
        """Return the bot's Slack endpoint."""
        return f"http://127.0.0.1:{self.port}{EVENTS_PATH}"

    async def until_healthy(self, seconds: float = 30.0) -> None:
        """Wait until /healthz answers 200; fail with the bot's log if it died."""
        deadline = time.monotonic() + seconds
        async with aiohttp.ClientSession() as session:
            while time.monotonic() < deadline:
                assert self.process.poll() is None, self.log.read_text()
                with contextlib.suppress(aiohttp.ClientError):
                    url = f"http://127.0.0.1:{self.port}/healthz"
                    async with session.get(url) as response:
                        if response.status == 200:
                            return
                await asyncio.sleep(0.1)
        raise AssertionError("the bot did not start serving")

    async def stop(self, sig: signal.Signals = signal.SIGTERM, seconds: float = 30.0) -> int:
        """Send a signal (SIGTERM: graceful; SIGKILL: a crash) and return the exit code.

        Waits without blocking the loop: the fakes on it must keep answering a draining bot.
        """
        if self.process.poll() is None:
            self.process.send_signal(sig)
        deadline = time.monotonic() + seconds
        while (code := self.process.poll()) is None:
            if time.monotonic() > deadline:
                self.process.kill()
            await asyncio.sleep(0.05)
        return code


def serve_env(
    hss: FakeHss, slack: FakeSlack, audit_db_url: str, **overrides: str
) -> dict[str, str]:
    """Return the environment an operator would give `serve` for these fakes."""
    ours = ("HSS_", "SLACK_", "AUDIT_", "CLOUD_", "ALLOWED_", "TASK_")
    env = {k: v for k, v in os.environ.items() if not k.startswith(ours)}
    env.update(
        HSS_ENDPOINT=hss.url,
        HSS_PROJECT_ID=hss.project_id,
        CLOUD_SDK_AK=hss.ak,
        CLOUD_SDK_SK=hss.sk,
        SLACK_BOT_TOKEN=slack.bot_token,
        SLACK_SIGNING_SECRET=slack.signing_secret,
        SLACK_API_URL=slack.api_url,
        ALLOWED_CHANNEL_IDS=EXPORTS,
        AUDIT_DB_URL=audit_db_url,
        LOG_LEVEL="WARNING",
        SHUTDOWN_GRACE_SECONDS="2",
        WEB_CONCURRENCY="1",  # one process, as these tests observe it; tests/test_workers.py: 2
    )
    env.update(overrides)
    return env


@asynccontextmanager
async def served_bot(
    tmp_path: Path, hss: FakeHss, slack: FakeSlack, audit_db_url: str, **overrides: str
) -> AsyncIterator[ServedBot]:
    """Run `python -m bot serve` (cwd: tmp_path, so no .env is read) until the block ends."""
    served = _spawn(tmp_path, serve_env(hss, slack, audit_db_url, **overrides))
    try:
        await served.until_healthy()
        yield served
    finally:
        await served.stop()


def _spawn(cwd: Path, env: dict[str, str]) -> ServedBot:
    port = free_port()
    log = cwd / f"bot-{port}.log"
    command = [sys.executable, "-m", "bot", "serve", "--host", "127.0.0.1", "--port", str(port)]
    with log.open("wb") as out:
        process = subprocess.Popen(command, env=env, cwd=cwd, stdout=out, stderr=subprocess.STDOUT)
    return ServedBot(process, port, log)


async def bot_cli(*args: str, cwd: Path) -> tuple[int, str]:
    """Run `python -m bot <args>` (e.g. `audit list`); return its exit code and stdout."""
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "bot", *args, cwd=cwd, stdout=asyncio.subprocess.PIPE
    )
    out, _ = await process.communicate()
    return process.returncode or 0, out.decode()
