"""Schedules of saved exports, the pure part: reading `every …`/`cron=` and due times."""

from bot.domain.schedules.spec import Schedule, find_zone, parse_schedule
from bot.domain.schedules.timing import (
    REFERENCE_START,
    CatchUp,
    ResolvedZone,
    catch_up,
    interval_problem,
    latest_due,
    min_interval,
    next_due,
    resolve_tz,
)

__all__ = [
    "REFERENCE_START",
    "CatchUp",
    "ResolvedZone",
    "Schedule",
    "catch_up",
    "find_zone",
    "interval_problem",
    "latest_due",
    "min_interval",
    "next_due",
    "parse_schedule",
    "resolve_tz",
]
