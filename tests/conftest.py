"""Shared fixtures: servers on 127.0.0.1 that stand in for the outside world."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from emulators.fake_hss import FakeHss


@pytest.fixture
async def fake_hss() -> AsyncIterator[FakeHss]:
    """Run a fake HSS (with IAM's token endpoint) on a free loopback port for one test."""
    async with FakeHss() as fake:
        yield fake
