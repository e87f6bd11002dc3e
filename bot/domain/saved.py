"""Saved exports and their schedules (issue 15): what is kept, as pure values.

A saved export keeps the `key=value` fields as the user typed them, never a
built request: it is parsed again by the grammar each time it runs, so a
request always meets today's rules, and a stored field that no longer parses
fails with the grammar's own message naming the key. A schedule runs one saved
export in one channel on a cron expression in a time zone; each due time runs
at most once (`ScheduleRun`, keyed by schedule and due time). Times are Unix
seconds (UTC); zones are IANA names, resolved before anything is stored.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Final, Literal

from bot.domain.errors import Problem

NAME_RULE: Final = re.compile(r"[a-z0-9][a-z0-9_-]{0,31}")
# A schedule's id (`secrets.token_urlsafe`): what its runs are keyed by, since a name
# may be deleted and scheduled again.
SCHEDULE_ID_RULE: Final = re.compile(r"[A-Za-z0-9_-]{1,64}")
NAME_ACCEPTED: Final = (
    "a name of 1–32 lower-case letters, digits, `-` or `_`, starting with a letter or digit"
)
# After this many refused runs in a row, a schedule pauses itself and tells its owner.
REFUSALS_BEFORE_PAUSE: Final = 3


def name_problem(key: str, name: str | None) -> Problem | None:
    """Return why `name` cannot name a saved export or schedule, or None if it can."""
    if name is not None and NAME_RULE.fullmatch(name):
        return None
    hint = None
    if name is not None and NAME_RULE.fullmatch(name.lower()):
        hint = f"names are lower-case: `{name.lower()}`"
    return Problem(key, name, NAME_ACCEPTED, hint)


@dataclass(frozen=True)
class SavedExport:
    """A preset of one workspace: its name, its owner, and the raw fields to run.

    `fields` maps grammar keys (`status`, `risky`, `profile`, …) to the text typed.
    """

    team_id: str
    name: str
    owner_id: str
    fields: Mapping[str, str]
    created_at: float
    updated_at: float | None = None


RunOutcome = Literal["submitted", "failed", "refused", "invalid", "duplicate"]


@dataclass(frozen=True)
class ScheduleRun:
    """One due time of a schedule, claimed once; what became of it.

    `late`: run after the bot was down past the due time (said in the channel).
    `entry_id`/`task_id`/`thread_ts`: the audit entry, the HSS task and the
    message whose thread holds the file, summary and chart.
    """

    schedule_id: str
    due_at: float
    started_at: float
    outcome: RunOutcome | None = None
    late: bool = False
    entry_id: int | None = None
    task_id: str | None = None
    channel_id: str | None = None
    thread_ts: str | None = None
    error: str | None = None


@dataclass(frozen=True)
class ScheduledExport:
    """A saved export run in a channel on a cron expression, in a resolved IANA zone.

    `name` is the saved export's name (one schedule per saved export and
    workspace). `refusals` counts refused runs in a row (reset by a run that
    passes); at `REFUSALS_BEFORE_PAUSE` the schedule pauses itself.
    """

    id: str
    team_id: str
    name: str
    owner_id: str
    channel_id: str
    cron: str
    tz: str
    summary: str
    next_due_at: float
    created_at: float
    paused: bool = False
    refusals: int = 0
    last_run: ScheduleRun | None = field(default=None, compare=False)
    lease_owner: str | None = None
    lease_until: float | None = None
