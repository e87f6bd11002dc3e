"""The README's first command: with no credentials, `start` runs the local demo end to end."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from bot.cli import main
from bot.settings import Settings


@pytest.fixture(autouse=True)
def no_settings(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """Run in an empty directory with no setting in the environment (a fresh clone)."""
    monkeypatch.chdir(tmp_path)
    for name in Settings.model_fields:
        monkeypatch.delenv(name, raising=False)


async def test_start_without_credentials_runs_the_whole_demo(
    capsys: pytest.CaptureFixture[str],
) -> None:
    """`start` with nothing configured shows commands, task ids, delivered files and the audit."""
    assert await asyncio.to_thread(main, ["start"]) == 0
    out = capsys.readouterr().out
    assert "running the local demo" in out
    assert "Export requested" in out  # the valid command's immediate answer
    assert "3 problems" in out  # the invalid command lists every problem at once
    assert "did you mean `Running`" in out
    assert "did you mean `cluster_type`" in out
    assert "field `export_size`" in out  # the form's error lands on its field
    assert "HSS received 2 create calls" in out  # the retried form created nothing
    assert "Files delivered into threads: 2" in out
    assert "Task ID:* `task-0001`" in out
    assert "chain intact" in out
    assert "Export summary: 5 containers (xlsx)" in out  # each thread gets a summary
    assert "Changed since" in out  # the same filters again: what changed since the first
    assert "summary=5 rows" in out  # the audit's delivery record notes the summary
    assert "Demo finished: everything behaved as expected." in out
    assert "demo-sk" not in out  # the stand-in's secret key is never shown


async def test_demo_leaves_an_audit_log_the_cli_can_read(
    capsys: pytest.CaptureFixture[str],
) -> None:
    """The demo's audit log is a real one: `audit verify` on it passes."""
    assert await asyncio.to_thread(main, ["demo"]) == 0
    capsys.readouterr()
    verify = ["audit", "verify", "--db", "sqlite:///./data/demo/audit.db"]
    assert await asyncio.to_thread(main, verify) == 0
    assert "chain intact" in capsys.readouterr().out
