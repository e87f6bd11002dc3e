"""`status <task_id> [enterprise_project_id=…]`: the one command that looks a task up.

Pure; a parser of `bot.domain.grammar.commands._PARSERS`, kept here with its value.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Final

from bot.domain.errors import InvalidCommand, Problem
from bot.domain.grammar.fields import parse_value
from bot.domain.grammar.values import CLIP, member
from bot.domain.model import ContainerStatus
from bot.domain.text import clip

_TASK_ID: Final = re.compile(r"[A-Za-z0-9._~-]{1,256}")


@dataclass(frozen=True)
class Status:
    """`status <task_id> [enterprise_project_id=…]`: show the state of an export task.

    Without an enterprise project the listener uses the one the task was created in.
    """

    task_id: str
    enterprise_project_id: str | None = None


def parse_status(args: list[str], _defaults: object, _clock: object) -> Status:
    """Parse the words after `status`: one task id, optionally `enterprise_project_id=…`."""
    key = "enterprise_project_id"
    pairs = [a for a in args if a.partition("=")[0] == key]
    problems: list[Problem] = []
    task_id: str | None = None
    try:
        task_id = _task_id([a for a in args if a.partition("=")[0] != key])
    except InvalidCommand as exc:
        problems += exc.problems
    project: str | None = None
    if len(pairs) > 1:
        given = clip(" ".join(pairs), CLIP)
        problems.append(Problem(key, given, "each key at most once", "keep one of them"))
    elif pairs:
        value, more = parse_value(key, pairs[0].partition("=")[2])
        problems += more
        project = value if isinstance(value, str) else None
    if problems or task_id is None:
        raise InvalidCommand(problems)
    return Status(task_id, project)


def _task_id(args: list[str]) -> str:
    accepted = "one task id after `status` (letters, digits, `.`, `_`, `~`, `-`)"
    if (
        len(args) == 1
        and _TASK_ID.fullmatch(args[0])
        and member(ContainerStatus, args[0]) is None  # `status running` means status=Running
    ):
        return args[0]
    given = " ".join(args) if args else None
    hint = None
    if len(args) == 1 and "=" in args[0]:
        hint = "`status <task_id>` looks up a task; to filter by state, put `status=…` alone"
    elif len(args) == 1 and (state := member(ContainerStatus, args[0])) is not None:
        hint = f"to export containers in that state, write `status={state}`"
    elif any("=" in arg for arg in args):
        hint = "only `enterprise_project_id=…` may follow the task id"
    raise InvalidCommand(
        [Problem("status", None if given is None else clip(given, CLIP), accepted, hint)]
    )
