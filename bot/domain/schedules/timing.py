"""When a schedule comes due: next run, smallest gap, catch-up after downtime, its zone.

All cron arithmetic is cronsim's. It follows Debian cron across DST changes, and so
do we: a run at a fixed wall-clock time that does not exist that day (Berlin 02:30
on 29 March 2026) runs at the first minute that does (03:00 CEST); a wall-clock time
that happens twice (02:30 on 25 October 2026) runs once, at its first occurrence.
Expressions whose minute or hour field starts with `*` (`every hour`, `every 15
minutes`) tick in real time instead, so `every hour` stays 60 minutes apart.
SCHEDULE_MIN_INTERVAL_MINUTES is held against the nominal interval (wall-clock time
without DST), so a daily schedule is a day apart even on the days DST moves it.

Due times are aware UTC datetimes with whole seconds: a run's unique key is
(schedule id, due time), so the same due time must always come out identical.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Literal, NamedTuple
from zoneinfo import ZoneInfo

from cronsim import CronSim

from bot.domain.errors import Problem
from bot.domain.schedules.spec import Schedule, find_zone

_SECOND = timedelta(seconds=1)
# The window `min_interval` measures over: a whole year from a fixed start, so the same
# schedule always gets the same verdict.
REFERENCE_START = datetime(2026, 1, 1, tzinfo=UTC)
_WINDOW = timedelta(days=366)
_MAX_RUNS = 2000
_FIXED = ZoneInfo("UTC")  # a zone without offset changes: wall-clock time without DST


def next_due(schedule: Schedule, after: datetime, tz: ZoneInfo) -> datetime:
    """Return the first due time strictly after `after` (aware), in UTC, whole seconds."""
    return next(_due_times(schedule.cron, after, tz))


def min_interval(schedule: Schedule, *, start: datetime = REFERENCE_START) -> timedelta:
    """Return the schedule's nominal interval: its smallest gap in a year from `start`.

    Nominal means in wall-clock time without DST: the due times are walked in
    UTC, a zone whose offset never changes. A DST change moves a run by the
    offset change (`every day 09:00` in Berlin is 23 real hours apart once a
    year, `every 2 hours` 1 hour apart on a fall-back night), which is not the
    schedule asking for exports more often. Up to 2000 runs are measured,
    which shows any within-day pattern.
    """
    gaps: list[timedelta] = []
    previous: datetime | None = None
    for count, due in enumerate(_due_times(schedule.cron, start - _SECOND, _FIXED)):
        if previous is not None:
            gaps.append(due - previous)
        # At least one gap, however rare the runs (`0 0 29 2 *`).
        if previous is not None and (due > start + _WINDOW or count >= _MAX_RUNS):
            break
        previous = due
    return min(gaps)


def interval_problem(schedule: Schedule, min_minutes: int) -> Problem | None:
    """Return the problem if the schedule runs more often than SCHEDULE_MIN_INTERVAL_MINUTES."""
    gap = min_interval(schedule)
    if gap >= timedelta(minutes=min_minutes):
        return None
    return Problem(
        "schedule",
        schedule.summary,
        f"runs at least {min_minutes} minutes apart",
        f"{schedule.summary} is more often than SCHEDULE_MIN_INTERVAL_MINUTES={min_minutes} "
        f"allows: its runs can be {_minutes(gap)} apart",
    )


class CatchUp(NamedTuple):
    """What to do now: the one due time to run (None: nothing missed), and the next one."""

    due_now: datetime | None
    next_due: datetime


def catch_up(schedule: Schedule, last_due: datetime | None, now: datetime, tz: ZoneInfo) -> CatchUp:
    """Return the latest due time after `last_due` and not after `now`, once, and the next.

    After downtime every missed due time but the latest is dropped: one late run,
    never a burst. `now - due_now` says how late it is. `last_due` None (a schedule
    that never came due yet) misses nothing. The next due time is always after
    `last_due` too, so a clock stepping back cannot hand out a due time twice.
    """
    _require_aware(now, "now")
    floor = now if last_due is None else max(now, _require_aware(last_due, "last_due"))
    upcoming = next_due(schedule, floor, tz)
    if last_due is None:
        return CatchUp(None, upcoming)
    latest = latest_due(schedule, now, tz)
    if latest is None or latest <= last_due:
        return CatchUp(None, upcoming)
    return CatchUp(latest, upcoming)


def latest_due(schedule: Schedule, now: datetime, tz: ZoneInfo) -> datetime | None:
    """Return the last due time at or before `now`, or None if there is none in 50 years."""
    _require_aware(now, "now")
    now = now.astimezone(UTC).replace(microsecond=0)
    back = CronSim(schedule.cron, (now + _SECOND).astimezone(tz), reverse=True)
    # Reverse iteration only finds a point to start from: due times are defined by the
    # forward iteration, and the two can differ at DST changes (a wall-clock time that
    # happens twice, or one that is skipped), so step a few runs back and walk forward.
    anchor: datetime | None = None
    for _ in range(3):
        found = next(back, None)
        if found is None:
            break
        anchor = found
    if anchor is None:
        return None
    latest: datetime | None = None
    for due in _due_times(schedule.cron, anchor.astimezone(UTC) - _SECOND, tz):
        if due > now:
            return latest
        latest = due
    return latest


Source = Literal["tz=", "owner", "default"]


class ResolvedZone(NamedTuple):
    """The zone a schedule runs in, and where it came from (to say so to the user)."""

    name: str
    source: Source


def resolve_tz(given: str | None, owner_tz: str | None, default: str) -> ResolvedZone:
    """Pick the schedule's zone: `tz=` if given, else the owner's Slack zone, else the default.

    `owner_tz` is users.info's `tz` as Slack sent it; an empty or unknown one is passed
    over rather than refused, since the user cannot fix it from the command.
    `default` is SCHEDULE_DEFAULT_TZ, which settings validate.
    """
    if given:
        return ResolvedZone(find_zone(given) or given, "tz=")
    owner = find_zone(owner_tz) if owner_tz else None
    if owner:
        return ResolvedZone(owner, "owner")
    return ResolvedZone(find_zone(default) or default, "default")


def _due_times(cron: str, after: datetime, tz: ZoneInfo) -> Iterator[datetime]:
    """Yield due times strictly after `after`, increasing, as aware UTC whole seconds."""
    _require_aware(after, "after")
    after = after.astimezone(UTC)
    previous = after
    for local in CronSim(cron, after.astimezone(tz)):
        due = local.astimezone(UTC).replace(microsecond=0)
        # cronsim walks wall-clock time for fixed-time jobs, which forgets on which pass
        # through a repeated hour `after` was: skip what that yields at or before it.
        if due > previous:
            previous = due
            yield due


def _minutes(gap: timedelta) -> str:
    minutes = int(gap.total_seconds() // 60)
    return "1 minute" if minutes == 1 else f"{minutes} minutes"


def _require_aware(value: datetime, name: str) -> datetime:
    if value.tzinfo is None or value.utcoffset() is None:
        raise ValueError(f"{name} must be an aware datetime, got a naive one")
    return value
