"""The schedule command words: `schedule NAME …`, `schedules`, `pause`, `resume`, `unschedule`.

Pure, like the rest of the grammar: words in (the command word already taken
off), a command out, or `InvalidCommand` naming every problem with what is
accepted. The schedule itself is read by `bot.domain.schedules.parse_schedule`;
the zone a schedule without `tz=` runs in is the use case's to resolve.
"""

from __future__ import annotations

from dataclasses import dataclass

from bot.domain.errors import InvalidCommand, Problem
from bot.domain.grammar.presets import NAME_KEY
from bot.domain.grammar.values import CLIP
from bot.domain.saved import name_problem
from bot.domain.schedules import Schedule, parse_schedule
from bot.domain.text import clip


@dataclass(frozen=True)
class ScheduleAdd:
    """`schedule NAME every …|cron="…" [tz=…]`: run saved export NAME here on a schedule."""

    name: str
    schedule: Schedule


@dataclass(frozen=True)
class ScheduleList:
    """`schedules`: list the workspace's schedules with their next run."""


@dataclass(frozen=True)
class SchedulePause:
    """`pause NAME`: stop running a schedule until it is resumed (owner only)."""

    name: str


@dataclass(frozen=True)
class ScheduleResume:
    """`resume NAME`: run a paused schedule again from its next due time (owner only)."""

    name: str


@dataclass(frozen=True)
class Unschedule:
    """`unschedule NAME`: delete a schedule (owner only); the saved export stays."""

    name: str


ScheduleCommand = ScheduleAdd | ScheduleList | SchedulePause | ScheduleResume | Unschedule


def parse_schedule_add(rest: list[str]) -> ScheduleAdd:
    """Read `NAME every …` or `NAME cron="…"` (the words after `schedule`)."""
    problems: list[Problem] = []
    name = rest[0] if rest else None
    if name is not None and ("=" in name or name.lower() == "every"):
        problems.append(
            Problem(
                NAME_KEY,
                clip(name, CLIP),
                "the saved export's name right after `schedule`",
                'e.g. `schedule weekly every monday 09:00` or `schedule weekly cron="0 9 * * 1"`',
            )
        )
    elif (problem := name_problem(NAME_KEY, name)) is not None:
        problems.append(problem)
    schedule: Schedule | None = None
    try:
        schedule = parse_schedule(rest[1:])
    except InvalidCommand as exc:
        problems += exc.problems
    if problems or name is None or schedule is None:
        raise InvalidCommand(problems)
    return ScheduleAdd(name, schedule)


def parse_named(word: str, rest: list[str]) -> str:
    """Read the one NAME after `pause`, `resume` or `unschedule`."""
    if len(rest) == 1:
        problem = name_problem(NAME_KEY, rest[0])
        if problem is None:
            return rest[0]
        raise InvalidCommand([problem])
    given = clip(" ".join(rest), CLIP) if rest else None
    raise InvalidCommand(
        [Problem(NAME_KEY, given, f"one schedule's name after `{word}`", "see `schedules`")]
    )


__all__ = [
    "ScheduleAdd",
    "ScheduleCommand",
    "ScheduleList",
    "SchedulePause",
    "ScheduleResume",
    "Unschedule",
    "parse_named",
    "parse_schedule_add",
]
