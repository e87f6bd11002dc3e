"""The saved-export commands (issue 15): `save`, `run`, `saved`, `forget`, as values.

Pure. `bot.domain.grammar.commands` parses the words into these; the NAME rule is
`bot.domain.saved.name_problem`. A saved export keeps the fields as typed
(`fields`), never the request built from them: `run` builds it again, with the
overrides on top, so a window that ends "now" ends at the time of the run.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Final

from bot.domain.errors import Problem
from bot.domain.saved import NAME_ACCEPTED, name_problem

NAME_KEY: Final = "name"  # `Problem.key` of a saved export's NAME


@dataclass(frozen=True)
class Save:
    """`save NAME key=value …`: keep these fields under NAME, as typed.

    Their values are checked by the saved exports' use case, with the export's own
    grammar (`export_from_fields`) and gate, so a refusal is on record under NAME.
    """

    name: str
    fields: dict[str, str]


@dataclass(frozen=True)
class Run:
    """`run NAME [key=value …]`: export the saved fields, `overrides` replacing theirs.

    `confirmed`: `confirm=yes` was given (a broad export runs without asking).
    """

    name: str
    overrides: dict[str, str] = field(default_factory=dict)
    confirmed: bool = False


@dataclass(frozen=True)
class SavedList:
    """`saved`: list the workspace's saved exports (only to the caller)."""


@dataclass(frozen=True)
class Forget:
    """`forget NAME`: delete the caller's saved export NAME."""

    name: str


def leading_name(word: str, rest: list[str]) -> tuple[str | None, list[Problem]]:
    """Read the NAME right after a command word: `(name, [])`, or `(None, [its problem])`."""
    if not rest or "=" in rest[0]:
        hint = f"write `{word} NAME …`: the name comes right after `{word}`"
        return None, [Problem(NAME_KEY, None, NAME_ACCEPTED, hint)]
    problem = name_problem(NAME_KEY, rest[0])
    return (None, [problem]) if problem is not None else (rest[0], [])
