"""Read the schedule part of `/hss-export schedule NAME …` into a cron expression.

Pure: tokens in (already shell-split, NAME removed by the caller), a `Schedule`
out or `InvalidCommand` listing every problem with what is accepted. The
readable forms are translated to cron here so that one library (cronsim, in
`timing`) does all date arithmetic; nothing below counts days or hours itself.
"""

from __future__ import annotations

import difflib
import re
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import cache
from zoneinfo import available_timezones

from cronsim import CronSim, CronSimError

from bot.domain.errors import InvalidCommand, Problem
from bot.domain.text import clip

_CLIP = 80

DAYS = ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday")
# cron numbers Sunday 0, Monday 1 … Saturday 6.
_CRON_DOW = {name: (i + 1) % 7 for i, name in enumerate(DAYS)}
_DAY_NAMES = {name: name for name in DAYS} | {name[:3]: name for name in DAYS}

# Step forms are only offered where they are uniform: `*/7` minutes restarts at :00 each
# hour, so "every 7 minutes" would be a lie; such schedules can still be written as cron.
_MINUTE_STEPS = (1, 2, 3, 4, 5, 6, 10, 12, 15, 20, 30)
_HOUR_STEPS = (1, 2, 3, 4, 6, 8, 12)

ACCEPTED_FORMS = (
    "`every day HH:MM`, `every weekday HH:MM`, `every monday HH:MM`, "
    "`every monday,thursday HH:MM`, `every hour`, `every hour at :MM`, "
    '`every N minutes`, `every N hours`, or `cron="M H DOM MON DOW"`, '
    "then optionally `tz=Area/City`"
)
ACCEPTED_TIME = "HH:MM on a 24-hour clock, 00:00 to 23:59"
ACCEPTED_DAYS = (
    "`day`, `weekday`, or day names in full or 3 letters (monday or mon … sunday or sun), "
    "separated by commas"
)
ACCEPTED_CRON = (
    'five fields in quotes, minute hour day-of-month month day-of-week, e.g. cron="0 9 * * 1"'
)
ACCEPTED_TZ = "an IANA time zone name such as `Europe/Berlin`, `Asia/Shanghai` or `UTC`"

_TIME = re.compile(r"(\d{1,2}):(\d{2})")
_MINUTE_MARK = re.compile(r":(\d{2})")


@dataclass(frozen=True)
class Schedule:
    """When a saved export runs: a 5-field cron expression, in a zone given or not.

    `tz` None means the command named no zone, so the caller falls back to the owner's
    Slack zone, then SCHEDULE_DEFAULT_TZ (see `resolve_tz`). `summary` is the readable
    form without the zone; `description` adds the zone when one is known.
    """

    cron: str
    tz: str | None
    summary: str

    @property
    def description(self) -> str:
        """Say when this runs, e.g. "every Monday at 09:00 (Asia/Shanghai)"."""
        return f"{self.summary} ({self.tz})" if self.tz else self.summary

    def in_zone(self, tz: str) -> Schedule:
        """Return the same schedule pinned to `tz` (once the caller has resolved it)."""
        return Schedule(self.cron, tz, self.summary)


def parse_schedule(tokens: list[str]) -> Schedule:  # noqa: C901  one branch per schedule form, each a few lines
    """Return the schedule the tokens describe, or raise `InvalidCommand` naming each problem."""
    problems: list[Problem] = []
    tz: str | None = None
    cron: str | None = None
    words: list[str] = []
    for token in tokens:
        key, eq, value = token.partition("=")
        if not eq:
            words.append(token)
        elif key.lower() == "tz":
            if tz is not None:
                problems.append(Problem("tz", clip(token, _CLIP), "one `tz=` at most"))
                continue
            tz, problem = _zone(value)
            if problem:
                problems.append(problem)
        elif key.lower() == "cron":
            if cron is not None:
                problems.append(Problem("cron", clip(token, _CLIP), "one `cron=` at most"))
                continue
            cron = value.strip()
        else:
            problems.append(
                Problem(
                    "schedule",
                    clip(token, _CLIP),
                    "`tz=` and `cron=` as the only key=value pairs here",
                )
            )
    if cron is not None:
        cron, summary = _from_cron(cron, words, problems)
    elif words:
        cron, summary = _from_words(words, problems)
    else:
        problems.append(Problem("schedule", None, ACCEPTED_FORMS))
        summary = ""
    if problems or cron is None:
        raise InvalidCommand(problems)
    return Schedule(cron, tz, summary)


def find_zone(name: str) -> str | None:
    """Return the IANA zone's canonical spelling (any case accepted), or None if unknown."""
    return _zones_by_folded().get(name.strip().casefold())


def _zone(value: str) -> tuple[str | None, Problem | None]:
    found = find_zone(value)
    if found:
        return found, None
    return None, Problem(
        "tz", clip(value, _CLIP) if value else None, ACCEPTED_TZ, _zone_hint(value)
    )


def _zone_hint(value: str) -> str | None:
    folded = value.strip().casefold()
    if not folded:
        return None
    zones = _zones_by_folded()
    # A bare city ("shanghai") is the commonest slip: match it on the name's last part.
    cities = [z for f, z in zones.items() if f.rsplit("/", 1)[-1] == folded.replace(" ", "_")]
    near = cities or [zones[f] for f in difflib.get_close_matches(folded, zones, n=3)]
    return f"did you mean {' or '.join(f'`{z}`' for z in near)}?" if near else None


@cache
def _zones_by_folded() -> dict[str, str]:
    return {name.casefold(): name for name in sorted(available_timezones())}


def _from_cron(expr: str, words: list[str], problems: list[Problem]) -> tuple[str | None, str]:
    if words:
        problems.append(
            Problem(
                "cron",
                clip(" ".join([expr, *words]), _CLIP),
                ACCEPTED_CRON,
                "the fields must be in quotes"
                if expr and all(re.fullmatch(r"[\w*/,#-]+", w) for w in words)
                else "use either `every …` or `cron=`, not both",
            )
        )
        return None, ""
    fields = expr.split()
    if len(fields) != 5:
        problems.append(
            Problem(
                "cron",
                clip(expr, _CLIP) or None,
                ACCEPTED_CRON,
                f"got {len(fields)} field{'' if len(fields) == 1 else 's'}",
            )
        )
        return None, ""
    normal = " ".join(fields)
    try:
        explained = CronSim(normal, datetime(2026, 1, 1, tzinfo=UTC)).explain()
        # cronsim gives up after 50 years without a match: such an expression never runs.
        next(CronSim(normal, datetime(2026, 1, 1, tzinfo=UTC)))
    except CronSimError as e:
        problems.append(Problem("cron", clip(expr, _CLIP), ACCEPTED_CRON, f"cronsim says: {e}"))
        return None, ""
    except StopIteration:
        problems.append(Problem("cron", clip(expr, _CLIP), ACCEPTED_CRON, "it never comes due"))
        return None, ""
    return normal, f'cron "{normal}" ({explained[:1].lower()}{explained[1:]})'


def _from_words(words: list[str], problems: list[Problem]) -> tuple[str | None, str]:
    lowered = [w.lower() for w in words]
    if lowered[0] != "every":
        problems.append(Problem("schedule", clip(" ".join(words), _CLIP), ACCEPTED_FORMS))
        return None, ""
    rest = lowered[1:]
    if (rest and rest[0] in ("hour", "hours", "minute", "minutes")) or (
        len(rest) >= 2 and rest[0].isdecimal()
    ):
        return _interval(rest, words, problems)
    if rest and any(c.isdecimal() for c in rest[-1]):
        day_words, time_text = rest[:-1], rest[-1]
    else:
        day_words, time_text = rest, None
    if day_words and day_words[-1] == "at":
        day_words = day_words[:-1]
    start = len(problems)
    dow, days_text = _days(day_words, problems)
    if time_text is None:
        problems.append(
            Problem(
                "time",
                None,
                ACCEPTED_TIME,
                f"say when, e.g. `every {' '.join(rest) or 'day'} 09:00`",
            )
        )
        return None, ""
    hour_minute = _time(time_text, problems)
    if len(problems) > start or hour_minute is None:
        return None, ""
    hour, minute = hour_minute
    return f"{minute} {hour} * * {dow}", f"{days_text} at {hour:02d}:{minute:02d}"


def _interval(rest: list[str], words: list[str], problems: list[Problem]) -> tuple[str | None, str]:  # noqa: PLR0911  one return per interval form
    given = clip(" ".join(words), _CLIP)
    if rest in (["hour"], ["1", "hour"], ["1", "hours"]):
        return "0 * * * *", "every hour"
    if len(rest) in (2, 3) and rest[0] == "hour" and rest[-1] != "at":
        mark = _MINUTE_MARK.fullmatch(rest[-1])
        if (len(rest) == 2 or rest[1] == "at") and mark and int(mark[1]) < 60:
            return f"{int(mark[1])} * * * *", f"every hour at :{mark[1]}"
        problems.append(
            Problem("schedule", given, "`every hour` or `every hour at :MM` with MM from 00 to 59")
        )
        return None, ""
    if rest in (["minute"], ["1", "minute"], ["1", "minutes"]):
        return "* * * * *", "every minute"
    if len(rest) == 2 and rest[0].isdecimal() and rest[1] in ("minutes", "minute"):
        n = int(rest[0])
        if n in _MINUTE_STEPS:
            return f"*/{n} * * * *", f"every {n} minutes"
        steps = ", ".join(str(s) for s in _MINUTE_STEPS)
        problems.append(
            Problem(
                "schedule", given, f"`every N minutes` with N one of {steps}", "else use `cron=`"
            )
        )
        return None, ""
    if len(rest) == 2 and rest[0].isdecimal() and rest[1] in ("hours", "hour"):
        n = int(rest[0])
        if n in _HOUR_STEPS:
            return f"0 */{n} * * *", f"every {n} hours"
        steps = ", ".join(str(s) for s in _HOUR_STEPS)
        problems.append(
            Problem("schedule", given, f"`every N hours` with N one of {steps}", "else use `cron=`")
        )
        return None, ""
    problems.append(Problem("schedule", given, ACCEPTED_FORMS))
    return None, ""


def _days(day_words: list[str], problems: list[Problem]) -> tuple[str, str]:
    """Return the cron day-of-week field and its words ("every Monday and Thursday")."""
    names = [n for w in day_words for n in w.split(",") if n and n != "and"]
    if not names:
        problems.append(Problem("day", None, ACCEPTED_DAYS))
        return "", ""
    if names in (["day"], ["weekday"]):
        return ("*", "every day") if names == ["day"] else ("1-5", "every weekday")
    days: list[str] = []
    for name in names:
        day = _DAY_NAMES.get(name)
        if day is None:
            near = difflib.get_close_matches(name, [*DAYS, "day", "weekday"], n=1, cutoff=0.6)
            hint = f"did you mean `{near[0]}`?" if near else None
            if name in ("day", "weekday", "days", "weekdays"):
                hint = "`day` and `weekday` stand alone, not in a list of days"
            problems.append(Problem("day", name, ACCEPTED_DAYS, hint))
        elif day not in days:
            days.append(day)
    if not days:
        return "", ""
    days.sort(key=DAYS.index)
    titled = [d.title() for d in days]
    text = titled[0] if len(titled) == 1 else f"{', '.join(titled[:-1])} and {titled[-1]}"
    return ",".join(str(_CRON_DOW[d]) for d in days), f"every {text}"


def _time(text: str, problems: list[Problem]) -> tuple[int, int] | None:
    match = _TIME.fullmatch(text)
    if match is None:
        problems.append(Problem("time", text, ACCEPTED_TIME))
        return None
    hour, minute = int(match[1]), int(match[2])
    if hour > 23:
        problems.append(Problem("time", text, ACCEPTED_TIME, "hours go 00-23"))
        return None
    if minute > 59:
        problems.append(Problem("time", text, ACCEPTED_TIME, "minutes go 00-59"))
        return None
    return hour, minute
