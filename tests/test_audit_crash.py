"""A bot killed between its pending entry and HSS's answer leaves a visible pending entry."""

from __future__ import annotations

import json
import signal
import socket
import textwrap
from collections.abc import Iterator
from pathlib import Path

import pytest
from db_fixtures import BACKENDS, Db, database, python, run_sync

from bot.adapters.audit_store import open_audit_log
from bot.cli import main

# What the use case does, cut short: write the pending entry, then call HSS.
BOT = textwrap.dedent(
    """
    import asyncio, sys
    import httpx
    from bot.adapters.audit_store import open_audit_log
    from bot.domain.model import ExportBody, ExportRequest, default_headers
    from bot.domain.types import Actor

    async def main(url, hss):
        log = await open_audit_log(url)
        body = ExportBody(cluster_name="prod", export_headers=default_headers())
        request = ExportRequest(body=body)
        actor = Actor("T1", "U_ALICE", "C_SEC", "slash")
        entry_id = await log.record_pending(actor, request.as_audit_record())
        print(entry_id, flush=True)
        async with httpx.AsyncClient(timeout=None) as client:
            url = f"{hss}/v5/p1/container/export-task"
            response = await client.post(url, content=request.body_bytes())
        await log.record_outcome(entry_id, "submitted", task_id=response.json()["task_id"])

    asyncio.run(main(sys.argv[1], sys.argv[2]))
    """
)


@pytest.fixture(params=BACKENDS)
def audit_db(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Db]:
    """Yield an empty audit database, once per backend."""
    with database(request.param, tmp_path) as found:
        yield found


@pytest.fixture
def silent_hss() -> Iterator[socket.socket]:
    """Listen on a loopback port that accepts HSS calls and never answers them."""
    with socket.create_server(("127.0.0.1", 0)) as server:
        server.settimeout(60)
        yield server


def test_killed_mid_call_leaves_a_pending_entry(
    audit_db: Db,
    silent_hss: socket.socket,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """SIGKILL while HSS is being called: `audit list` shows the command pending, chain intact."""
    port = silent_hss.getsockname()[1]
    bot = python(BOT, audit_db.url, f"http://127.0.0.1:{port}", cwd=tmp_path)
    try:
        assert bot.stdout is not None
        line = bot.stdout.readline()
        if not line.strip().isdigit():
            pytest.fail(f"bot did not record its entry: {bot.communicate()[1]}")
        entry_id = int(line)
        connection, _ = silent_hss.accept()  # the bot is now waiting for HSS's answer
    finally:
        bot.send_signal(signal.SIGKILL)
        bot.wait(timeout=30)
    connection.close()
    assert bot.returncode == -signal.SIGKILL

    assert main(["audit", "list", "--json", "--db", audit_db.url]) == 0
    [listed] = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert (listed["id"], listed["outcome"], listed["user_id"]) == (entry_id, "pending", "U_ALICE")
    assert listed["request"]["body"]["cluster_name"] == "prod"
    assert main(["audit", "verify", "--db", audit_db.url]) == 0


def test_restart_after_a_crash_resolves_the_pending_entry(
    audit_db: Db, silent_hss: socket.socket, tmp_path: Path
) -> None:
    """After the crash a new process finds the entry pending, records its fate, and chains on."""
    port = silent_hss.getsockname()[1]
    bot = python(BOT, audit_db.url, f"http://127.0.0.1:{port}", cwd=tmp_path)
    assert bot.stdout is not None
    entry_id = int(bot.stdout.readline())
    connection, _ = silent_hss.accept()
    bot.send_signal(signal.SIGKILL)
    bot.wait(timeout=30)
    connection.close()

    async def recover() -> tuple[list[int], str, bool]:
        log = await open_audit_log(audit_db.url)
        try:
            pending = [e.id for e in await log.pending_entries()]
            await log.record_outcome(entry_id, "failed", error="bot restarted; outcome unknown")
            entry = await log.entry(entry_id)
            assert entry is not None
            return pending, entry.outcome, (await log.verify()).ok
        finally:
            await log.aclose()

    assert run_sync(recover()) == ([entry_id], "failed", True)
