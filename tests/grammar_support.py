"""What the slash-grammar tests share: a fixed clock, parsing that must succeed or be refused."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from bot.domain.errors import InvalidCommand, Problem
from bot.domain.grammar import Command, Export, RequestDefaults, parse_command
from bot.domain.model import ExportRequest

NOW = datetime(2024, 6, 1, 12, 0, tzinfo=UTC)


def clock() -> datetime:
    """Return the tests' fixed "now"."""
    return NOW


def parse(text: str, defaults: RequestDefaults | None = None) -> Command:
    """Parse with the fixed clock."""
    return parse_command(text, defaults, clock=clock)


def export(text: str, defaults: RequestDefaults | None = None) -> ExportRequest:
    """Parse text that must be an export; return its request."""
    command = parse(text, defaults)
    assert isinstance(command, Export), command
    return command.request


def refused(text: str) -> InvalidCommand:
    """Parse text that must be refused; return the refusal."""
    with pytest.raises(InvalidCommand) as caught:
        parse(text)
    return caught.value


def problems(text: str) -> list[Problem]:
    """Parse text that must be refused; return its problems."""
    return refused(text).problems


def only_problem(text: str) -> Problem:
    """Return the one problem of `text`."""
    found = problems(text)
    assert len(found) == 1, found
    return found[0]
