"""The tracker's layering holds: adapters see its model and ports only; it sees no settings."""

from __future__ import annotations

import subprocess
import sys

import pytest

# What the tracker's worker side is made of: no adapter may load any of it.
WORKER_SIDE = (
    "bot.usecases",
    "bot.tracking.worker",
    "bot.tracking.lease",
    "bot.tracking.steps",
    "bot.tracking.tracker",
)
LIBRARIES = ("slack_bolt", "slack_sdk", "httpx", "aiohttp", "sqlalchemy")


def loaded_after(module: str, candidates: tuple[str, ...]) -> list[str]:
    """Import `module` in a fresh interpreter; return which of `candidates` it loaded."""
    probe = f"import sys, {module}; print(sorted(m for m in {candidates!r} if m in sys.modules))"
    out = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, check=True
    ).stdout.strip()
    return [name.strip("' ") for name in out.strip("[]").split(",") if name.strip()]


@pytest.mark.parametrize("adapter", ["bot.adapters.task_store", "bot.adapters.slack_files"])
def test_adapters_of_the_tracker_load_neither_its_worker_nor_the_use_case(adapter: str) -> None:
    """The task store and the file delivery implement the tracker's ports without its worker."""
    assert loaded_after(adapter, WORKER_SIDE) == []


@pytest.mark.parametrize("module", ["bot.tracking.model", "bot.tracking.ports"])
def test_the_task_model_and_ports_are_pure(module: str) -> None:
    """The task model and ports load no Slack, HTTP or database library, and no worker."""
    assert loaded_after(module, LIBRARIES + WORKER_SIDE) == []


def test_the_tracker_reads_no_settings() -> None:
    """The whole tracker is configured by bootstrap: importing it loads no `bot.settings`."""
    assert loaded_after("bot.tracking.tracker", ("bot.settings", "pydantic_settings")) == []
