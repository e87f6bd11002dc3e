"""The bot as `build_runtime` wires it: metrics, readiness, log correlation, retention, SIGTERM."""

from __future__ import annotations

import asyncio
import io
import json
import os
import signal
import socket
import subprocess
import sys
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import aiohttp
import aiosqlite
import pytest
from slack_harness import ALICE, EXPORTS, stack_settings, start_runtime, wait_for

from bot.adapters.audit_store import open_audit_log
from bot.bootstrap import Runtime, build_runtime
from bot.domain.types import Actor
from bot.entrypoints.socket import run_socket_mode
from bot.entrypoints.web import HttpServer
from bot.observability import configure_logging
from emulators.fake_hss import FakeHss
from emulators.fake_slack import Delivery, FakeSlack, manifest_scopes

VALID = "status=running risky=yes"
OUR_PREFIXES = ("HSS_", "SLACK_", "CLOUD_", "AUDIT_", "ALLOWED_")


@dataclass
class Bot:
    """A wired bot on loopback, and the fakes around it."""

    runtime: Runtime
    server: HttpServer
    hss: FakeHss
    slack: FakeSlack

    async def slash(self, text: str) -> Delivery:
        """Type `/hss-export <text>` as Alice in #exports."""
        request = self.slack.slash_command(text, user_id=ALICE, channel_id=EXPORTS)
        return await self.slack.deliver(f"{self.server.url}/slack/events", request)

    async def get(self, path: str) -> tuple[int, str]:
        """GET one of the operations routes."""
        async with (
            aiohttp.ClientSession() as session,
            session.get(self.server.url + path) as response,
        ):
            return response.status, await response.text()


async def start_bot(tmp_path: Path, hss: FakeHss, slack: FakeSlack, **overrides: Any) -> Bot:
    """Start the runtime as `serve` does; Slack grants the manifest's scopes unless told others."""
    if slack.scopes is None:
        slack.scopes = manifest_scopes()
    runtime, server = await start_runtime(tmp_path, hss, slack, **overrides)
    return Bot(runtime, server, hss, slack)


@pytest.fixture
async def bot(tmp_path: Path, fake_hss: FakeHss) -> AsyncIterator[Bot]:
    """Run the wired bot against a fake HSS and a fake Slack granting the manifest's scopes."""
    async with FakeSlack(scopes=manifest_scopes()) as slack:
        running = await start_bot(tmp_path, fake_hss, slack)
        try:
            yield running
        finally:
            await running.server.close()
            await running.runtime.drain_and_close()


def sample(metrics: str, name: str) -> float:
    """Return one sample's value from Prometheus text, 0 when absent."""
    for line in metrics.splitlines():
        if line.startswith(name + " "):
            return float(line.rsplit(" ", 1)[1])
    return 0.0


async def test_a_command_shows_in_every_metric(bot: Bot) -> None:
    """One export is counted, its ack and HSS call are timed, its delivery is counted."""
    assert (await bot.slash(VALID)).status == 200
    await wait_for(lambda: len(bot.slack.files) == 1)
    # The delivery is counted when its audit record commits, just after the upload.
    await wait_for(lambda: 'bot_deliveries_total{result="ok"} 1.0' in asyncio_run_metrics(bot))
    status, metrics = await bot.get("/metrics")
    assert status == 200
    assert sample(metrics, 'bot_commands_total{outcome="submitted"}') == 1.0
    assert sample(metrics, "bot_ack_seconds_count") == 1.0
    assert (
        sample(
            metrics,
            'bot_hss_request_seconds_count{operation="create_export_task",profile="default"}',
        )
        == 1.0
    )
    assert (
        sample(metrics, 'bot_hss_request_seconds_count{operation="download",profile="default"}')
        == 1.0
    )
    assert sample(metrics, 'bot_deliveries_total{result="ok"}') == 1.0


def asyncio_run_metrics(bot: Bot) -> str:
    """Render the metrics in-process (no HTTP), for polling."""
    body, _ = bot.runtime.metrics.render()
    return body.decode()


async def test_an_hss_refusal_is_counted_under_its_code(bot: Bot) -> None:
    """A refused create counts as a failed command and an HSS error labelled with HSS's code."""
    bot.hss.fail_next(400, op="create", body={"error_code": "HSS.1024", "error_msg": "nope"})
    await bot.slash(VALID)
    await wait_for(lambda: 'outcome="failed"} 1.0' in asyncio_run_metrics(bot))
    _, metrics = await bot.get("/metrics")
    labels = '{code="HSS.1024",operation="create_export_task",profile="default"}'
    assert sample(metrics, f"bot_hss_errors_total{labels}") == 1.0


async def test_ready_only_when_slack_accepts_the_token(bot: Bot) -> None:
    """/readyz is 200 after auth.test passed, 503 naming `slack` once Slack refuses the token."""
    status, body = await bot.get("/readyz")
    assert status == 200
    assert json.loads(body)["checks"] == {"slack": "ok", "database": "ok"}
    bot.slack.fail("auth.test", "invalid_auth")
    await bot.runtime.check_slack()
    status, body = await bot.get("/readyz")
    assert status == 503
    assert json.loads(body)["checks"]["slack"] == "failed"


async def test_a_slack_hiccup_does_not_make_the_bot_unready(bot: Bot) -> None:
    """auth.test failing with a server error keeps the last answer: still ready."""
    bot.slack.fail("auth.test", status=503)
    await bot.runtime.check_slack()
    status, body = await bot.get("/readyz")
    assert status == 200, body


async def test_log_lines_tie_command_hss_call_and_audit_entry(bot: Bot) -> None:
    """Every line of one command carries one request id; one names the audit entry and HSS's id."""
    stream = io.StringIO()
    configure_logging("INFO", "json", stream=stream)
    try:
        await bot.slash(VALID)
        await wait_for(lambda: '"export submitted"' in stream.getvalue())
    finally:
        configure_logging("WARNING", "json", stream=io.StringIO())
    lines = [json.loads(line) for line in stream.getvalue().splitlines()]
    [submitted] = [line for line in lines if line["event"] == "export submitted"]
    [create] = bot.hss.calls_for("create")
    [entry] = await bot.runtime.audit.list_entries()
    assert submitted["hss_request_id"] == create.request_id == entry.hss_request_id
    assert submitted["audit_entry"] == entry.id
    same_request = [line for line in lines if line.get("request_id") == submitted["request_id"]]
    # The HSS client's own line (httpx's per-request line is off at INFO).
    assert any("container/export-task" in line["event"] for line in same_request)
    assert bot.slack.bot_token not in stream.getvalue()
    assert bot.hss.sk not in stream.getvalue()


async def test_retention_prunes_old_entries_and_keeps_the_chain(
    tmp_path: Path, fake_hss: FakeHss
) -> None:
    """With AUDIT_RETENTION_DAYS the bot prunes older entries at start; the chain still verifies."""
    url = f"sqlite:///{tmp_path / 'audit.db'}"
    old = await open_audit_log(url, clock=lambda: datetime.now(UTC) - timedelta(days=40))
    actor = Actor(team_id="T", user_id=ALICE, channel_id=EXPORTS, source="slash")
    await old.record_refusal(actor, "invalid", "an old mistake")
    await old.aclose()
    async with FakeSlack() as slack:
        running = await start_bot(tmp_path, fake_hss, slack, AUDIT_RETENTION_DAYS=30)
        try:
            await running.slash(VALID)
            audit = running.runtime.audit
            await wait_for_async(lambda: _no_old_entries(audit))
            result = await audit.verify()
            assert result.ok, str(result)
            assert [e.outcome for e in await audit.list_entries()] == ["submitted"]
        finally:
            await running.server.close()
            await running.runtime.drain_and_close()


async def _no_old_entries(audit: Any) -> bool:
    """Tell whether the old entry is pruned and the new command's outcome is recorded."""
    entries = await audit.list_entries()
    return [e.outcome for e in entries] == ["submitted"]


async def wait_for_async(condition: Any, seconds: float = 10.0) -> None:
    """Poll an async condition until it holds."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + seconds
    while not await condition():
        if loop.time() > deadline:
            raise AssertionError("condition not met in time")
        await asyncio.sleep(0.05)


async def test_sigterm_finishes_the_command_in_flight(tmp_path: Path, fake_hss: FakeHss) -> None:
    """`serve` told to stop while HSS is slow still posts the task id, audits it, and exits 0."""
    fake_hss.delay(1.5, op="create")
    async with FakeSlack() as slack:
        env = {
            **{
                k: v
                for k, v in os.environ.items()
                if not k.startswith(("HSS_", "SLACK_", "CLOUD_"))
            },
            "HSS_ENDPOINT": fake_hss.url,
            "HSS_PROJECT_ID": fake_hss.project_id,
            "CLOUD_SDK_AK": fake_hss.ak,
            "CLOUD_SDK_SK": fake_hss.sk,
            "SLACK_BOT_TOKEN": slack.bot_token,
            "SLACK_SIGNING_SECRET": slack.signing_secret,
            "SLACK_API_URL": slack.api_url,
            "ALLOWED_USER_IDS": ALICE,
            "AUDIT_DB_URL": f"sqlite:///{tmp_path / 'audit.db'}",
            "LOG_LEVEL": "WARNING",
        }
        port = _free_port()
        process = subprocess.Popen(  # noqa: ASYNC220 - a real process, signalled below
            [sys.executable, "-m", "bot", "serve", "--host", "127.0.0.1", "--port", str(port)],
            env=env,
            cwd=tmp_path,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
        )
        try:
            events = f"http://127.0.0.1:{port}/slack/events"
            await wait_for_async(lambda: _listening(port), seconds=30)
            request = slack.slash_command(VALID, user_id=ALICE, channel_id=EXPORTS)
            answer = await slack.deliver(events, request)
            assert answer.status == 200
            process.send_signal(signal.SIGTERM)  # HSS has not answered yet
            code = await asyncio.to_thread(process.wait, 30)
        finally:
            if process.poll() is None:
                process.kill()
        output = process.stdout.read().decode() if process.stdout else ""
        assert code == 0, output
        [message] = slack.messages_in(EXPORTS)
        task_id = next(iter(fake_hss.tasks))
        assert task_id in message.all_text
    audit = await open_audit_log(f"sqlite:///{tmp_path / 'audit.db'}", create=False)
    try:
        [entry] = await audit.list_entries()
        assert (entry.outcome, entry.task_id) == ("submitted", task_id)
    finally:
        await audit.aclose()


async def _listening(port: int) -> bool:
    try:
        async with (
            aiohttp.ClientSession() as session,
            session.get(f"http://127.0.0.1:{port}/healthz") as response,
        ):
            return response.status == 200
    except aiohttp.ClientError:
        return False


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


async def test_audit_channel_gets_every_record_with_its_chain_hash(
    tmp_path: Path, fake_hss: FakeHss
) -> None:
    """With AUDIT_CHANNEL_ID, each audit record is mirrored with the hash the database holds."""
    async with FakeSlack() as slack:
        running = await start_bot(tmp_path, fake_hss, slack, AUDIT_CHANNEL_ID="C0AUDIT")
        try:
            await running.slash(VALID)
            await running.slash("status=nonsense")
            # request + outcome + delivery for the export, one record for the refusal
            await wait_for(lambda: len(slack.messages_in("C0AUDIT")) == 4)
            lines = [m.text or "" for m in slack.messages_in("C0AUDIT")]
            hashes = await _record_hashes(tmp_path / "audit.db")
        finally:
            await running.server.close()
            await running.runtime.drain_and_close()
    outcomes = sorted(line.split("*")[1] for line in lines)
    assert outcomes == ["invalid", "pending", "submitted", "submitted"]
    for line in lines:
        seq, digest = line.split(" · record ")[1].split(" hash ")
        assert hashes[int(seq)] == digest.strip("`")


async def _record_hashes(path: Path) -> dict[int, str]:
    async with (
        aiosqlite.connect(path) as db,
        db.execute("SELECT seq, hash FROM audit_records") as rows,
    ):
        return {int(seq): str(digest) async for seq, digest in rows}


async def test_shutdown_keeps_to_one_grace_period(tmp_path: Path, fake_hss: FakeHss) -> None:
    """With HSS slower than the grace period, draining still ends about when the grace ends."""
    fake_hss.delay(30, op="create")
    async with FakeSlack(scopes=manifest_scopes()) as slack:
        running = await start_bot(tmp_path, fake_hss, slack, SHUTDOWN_GRACE_SECONDS=1.0)
        await running.slash(VALID)
        await wait_for(lambda: len(fake_hss.calls_for("create")) == 1)
        loop = asyncio.get_running_loop()
        started = loop.time()
        await running.server.close()
        await running.runtime.drain_and_close()
        elapsed = loop.time() - started
    # 1 s of grace, then at most the few seconds cancelled work gets to unwind.
    assert elapsed < 1.0 + 3.0, f"drain took {elapsed:.1f} s"
    audit = await open_audit_log(f"sqlite:///{tmp_path / 'audit.db'}", create=False)
    try:
        [entry] = await audit.list_entries()
    finally:
        await audit.aclose()
    assert entry.outcome == "pending"  # cut at the deadline: on record, never silently lost


async def test_socket_mode_requests_get_a_request_id_and_an_ack_time(
    tmp_path: Path, fake_hss: FakeHss
) -> None:
    """Over Socket Mode too, each command is timed and its log lines share one request id."""
    stream = io.StringIO()
    async with FakeSlack(scopes=manifest_scopes()) as slack:
        settings = stack_settings(
            fake_hss,
            slack,
            AUDIT_DB_URL=f"sqlite:///{tmp_path / 'audit.db'}",
            SLACK_SIGNING_SECRET="",
        )
        runtime = await build_runtime(settings, socket_mode=True)
        stop = asyncio.Event()
        serving = asyncio.create_task(run_socket_mode(runtime.app, slack.app_token, stop=stop))
        configure_logging("INFO", "json", stream=stream)
        try:
            await slack.wait_for_socket()
            await slack.socket_send(slack.slash_command(VALID, user_id=ALICE, channel_id=EXPORTS))
            await wait_for(lambda: '"export submitted"' in stream.getvalue())
        finally:
            configure_logging("WARNING", "json", stream=io.StringIO())
            stop.set()
            await serving
            await runtime.drain_and_close()
    body, _ = runtime.metrics.render()
    assert sample(body.decode(), "bot_ack_seconds_count") == 1.0
    lines = [json.loads(line) for line in stream.getvalue().splitlines()]
    [submitted] = [line for line in lines if line["event"] == "export submitted"]
    assert len(submitted["request_id"]) == 32
