"""Shared fixtures: servers on 127.0.0.1 that stand in for the outside world."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Iterator

import pytest

from emulators.fake_hss import FakeHss


@pytest.fixture
async def fake_hss() -> AsyncIterator[FakeHss]:
    """Run a fake HSS (with IAM's token endpoint) on a free loopback port for one test."""
    async with FakeHss() as fake:
        yield fake


@pytest.fixture(autouse=True)
def _restore_root_log_handlers() -> Iterator[None]:
    """Drop log handlers a test added: a CLI run logs to the captured (soon closed) stdout."""
    root = logging.getLogger()
    before = list(root.handlers)
    yield
    for handler in [h for h in root.handlers if h not in before]:
        root.removeHandler(handler)
