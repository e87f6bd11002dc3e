"""Value parsers: one raw string of one field in, the model's value out, or `Rejected`.

Pure. Each spelling rule of a value lives here once (booleans, enum names and their
Chinese synonyms, sizes, instants, columns); the slash grammar, the CLI and the form
all call these, so a value the form prefills is read exactly as a typed one.
A parser raises `Rejected` with a hint; `fields.py` pairs it with what the field accepts.
"""

from __future__ import annotations

import calendar
import difflib
import re
import unicodedata
from collections.abc import Callable, Iterable, Mapping
from datetime import UTC, date, datetime, timedelta
from enum import StrEnum
from typing import Final, TypeVar

from bot.domain.errors import Problem
from bot.domain.model import (
    CLUSTER_TYPE_LABELS_ZH,
    EXPORT_SIZE_MAX,
    HEADER_KEYS,
    HEADER_NAMES,
    MAX_LENGTHS,
    STATUS_LABELS_ZH,
    ClusterType,
    ContainerStatus,
)
from bot.domain.text import clip

E = TypeVar("E", bound=StrEnum)

ALL_GRANTED_EPS: Final = "all_granted_eps"
CLIP: Final = 100  # longest given value quoted back in a problem
YES: Final = "yes"  # what the form's radio buttons submit: one of the words below
NO: Final = "no"
TRUE_WORDS: Final = ("true", YES)  # the one boolean spelling: slash text, CLI and form
FALSE_WORDS: Final = ("false", NO)
EPOCH: Final = datetime(1970, 1, 1, tzinfo=UTC)
MS: Final = timedelta(milliseconds=1)
MAX_EPOCH_MS: Final = 253_402_300_799_999  # 9999-12-31T23:59:59.999Z
_MIN_PLAUSIBLE_MS: Final = 10**11  # 1973-03-03: smaller non-zero numbers are epoch seconds
_DAY: Final = re.compile(r"([0-9]{4})-([0-9]{2})-([0-9]{2})")

# Synonyms an enum also accepts, by enum: the API page's Chinese names.
_SYNONYMS: Final[dict[type[StrEnum], Mapping[str, str]]] = {
    ClusterType: CLUSTER_TYPE_LABELS_ZH,
    ContainerStatus: STATUS_LABELS_ZH,
}

_HEADER_ALIASES: Final[dict[str, str]] = {
    "id": "container_id",
    "container": "container_name",
    "name": "container_name",
    "image": "image_name",
    "pod": "pod_name",
    "cluster": "cluster_name",
    "type": "cluster_type",
    "state": "status",
    "created_at": "create_time",
    "created": "create_time",
    "restarts": "restart_count",
    "cpu": "cpu_limit",
    "memory": "memory_limit",
    "critical_risk": "fatal_risk",
}


class Rejected(Exception):
    """A raw value is not acceptable; carries the hint, or several item problems."""

    def __init__(self, hint: str | None = None, *, items: list[Problem] | None = None) -> None:
        super().__init__(hint)
        self.hint = hint
        self.items = items


def parse_bool(raw: str) -> bool:
    """Read `true`/`yes` or `false`/`no` (any letter case); suggest one for `1`, `off`, …"""
    value = raw.strip().lower()
    if value in TRUE_WORDS:
        return True
    if value in FALSE_WORDS:
        return False
    if value in ("1", "on", "y"):
        raise Rejected("did you mean `true`?")
    if value in ("0", "off", "n"):
        raise Rejected("did you mean `false`?")
    raise Rejected(did_you_mean(near(value, TRUE_WORDS + FALSE_WORDS)))


def member(enum: type[E], raw: str) -> E | None:
    """Return the member `raw` names (any letter case, or the page's Chinese name), else None."""
    value = raw.strip().lower()
    found = next((m for m in enum if m.value.lower() == value), None)
    if found is None:
        labels = _SYNONYMS.get(enum, {})
        found = next((m for m in enum if labels.get(m.value, "").lower() == value), None)
    return found


def enum_parser(enum: type[E], key: str) -> Callable[[str], E]:
    """Return the parser of enum field `key`: its values in any letter case, or synonyms."""

    def parse(raw: str) -> E:
        found = member(enum, raw)
        if found is not None:
            return found
        parts = [p for p in re.split(r"[,;|/ ]+", raw.strip()) if p]
        if len(parts) > 1 and all(member(enum, p) is not None for p in parts):
            first, second = (member(enum, p) for p in parts[:2])
            raise Rejected(
                f"one value per export: run one export per value, e.g. `{key}={first}` "
                f"then `{key}={second}`"
            )
        nearest = near(raw.strip().lower().replace("-", "_"), [m.value.lower() for m in enum])
        spelled = [m.value for m in enum if m.value.lower() in nearest]
        raise Rejected(did_you_mean(spelled))

    return parse


def name_parser(key: str) -> Callable[[str], str]:
    """Return the parser of a free-text field: at most its model length, no control characters."""
    limit = MAX_LENGTHS[key]

    def parse(raw: str) -> str:
        if len(raw) > limit:
            raise Rejected(f"{len(raw)} characters is {len(raw) - limit} too many")
        if has_control(raw):
            raise Rejected("control characters (newlines, tabs, …) are not accepted")
        return raw

    return parse


def parse_cpu(raw: str) -> str:
    """Read millicores: digits then a lower-case `m`."""
    value, limit = raw.strip(), MAX_LENGTHS["cpu_limit"]
    if re.fullmatch(r"[0-9]+m", value) and len(value) <= limit:
        return value
    if re.fullmatch(r"[0-9]+M", value):
        raise Rejected(f"did you mean `{value[:-1]}m`? millicores take a lower-case m")
    if re.fullmatch(r"[0-9]+(\.[0-9]+)?", value) and float(value) * 1000 < 10**63:
        millis = round(float(value) * 1000)
        raise Rejected(f"if that is cores, write `{millis}m`")
    raise Rejected(_too_long(value, limit))


def parse_memory(raw: str) -> str:
    """Read a memory size: digits then `Mi` or `Gi` (unit in any letter case)."""
    value, limit = raw.strip(), MAX_LENGTHS["memory_limit"]
    if match := re.fullmatch(r"([0-9]+)(mi|gi)", value, re.IGNORECASE):
        digits, unit = match.groups()
        if len(value) <= limit:
            return digits + unit.capitalize()
    if match := re.fullmatch(r"([0-9]+)\s*(m|mb|mib|g|gb|gib)", value, re.IGNORECASE):
        digits, unit = match.groups()
        raise Rejected(f"did you mean `{digits}{'Gi' if unit[0] in 'gG' else 'Mi'}`?")
    raise Rejected(_too_long(value, limit))


def _too_long(value: str, limit: int) -> str | None:
    return (
        f"{len(value)} characters is {len(value) - limit} too many" if len(value) > limit else None
    )


def parse_export_size(raw: str) -> int:
    """Read a whole number of rows, 1 to the API's maximum."""
    value = raw.strip()
    if match := re.fullmatch(r"([0-9]{1,6})k", value, re.IGNORECASE):
        size = int(match.group(1)) * 1000
        hint = f"did you mean `{size}`?" if 1 <= size <= EXPORT_SIZE_MAX else None
        raise Rejected(hint)
    if not re.fullmatch(r"[0-9]+", value):
        raise Rejected("digits only")
    if len(value) > 7 or not 1 <= int(value) <= EXPORT_SIZE_MAX:
        raise Rejected(f"leave it out to export up to {EXPORT_SIZE_MAX}")
    return int(value)


def parse_profile_name(raw: str) -> str:
    """Read a profile name: lower-case letters, digits, `-` and `_`, 1-32 characters."""
    value = raw.strip()
    if re.fullmatch(r"[a-z0-9_-]{1,32}", value):
        return value
    if re.fullmatch(r"[A-Za-z0-9_-]{1,32}", value):
        raise Rejected(f"names are lower-case: did you mean `{value.lower()}`?")
    raise Rejected("lower-case letters, digits, `-` and `_`, 1-32 characters")


def parse_enterprise_project(raw: str) -> str:
    """Read an enterprise project id, or `all_granted_eps` in any letter case."""
    limit = MAX_LENGTHS["enterprise_project_id"]
    if raw.strip().lower() == ALL_GRANTED_EPS:
        return ALL_GRANTED_EPS
    if len(raw) > limit:
        raise Rejected(f"{len(raw)} characters is {len(raw) - limit} too many")
    if has_control(raw) or raw != raw.strip():
        raise Rejected("no spaces around it and no control characters")
    if raw.lower() in ("all", "*") or near(raw.lower(), (ALL_GRANTED_EPS,), cutoff=0.8):
        raise Rejected(f"did you mean `{ALL_GRANTED_EPS}`?")
    return raw


def parse_headers(raw: str, accepted: str) -> list[tuple[str, str | None]] | None:
    """Return `(key, display name or None for the default name)` pairs; None means all."""
    if raw.strip().lower() == "all":
        return None
    headers: list[tuple[str, str | None]] = []
    problems: list[Problem] = []
    seen: set[str] = set()
    for item in raw.split(","):
        given, colon, name = item.partition(":")
        key = given.strip().lower()
        name = name.strip()
        if not key:
            problems.append(Problem("headers", clip(raw, CLIP), accepted, "an item is empty"))
        elif key == "all":
            problems.append(
                Problem("headers", item, "`all` alone, or a list of keys", "`all` with others")
            )
        elif key not in HEADER_NAMES:
            folded = unicodedata.normalize("NFKC", key)
            close = near(folded, HEADER_KEYS + tuple(_HEADER_ALIASES))
            suggestion = _HEADER_ALIASES.get(folded) or (
                _HEADER_ALIASES.get(close[0], close[0]) if close else None
            )
            problems.append(
                Problem(
                    "headers",
                    clip(given.strip(), CLIP),
                    f"header keys: {', '.join(HEADER_KEYS)}",
                    f"did you mean `{suggestion}`?" if suggestion else None,
                )
            )
        elif key in seen:
            problems.append(
                Problem("headers", key, "each header key at most once", f"`{key}` repeats")
            )
        elif colon and (not name or has_control(name)):
            problems.append(
                Problem(
                    "headers",
                    clip(item.strip(), CLIP),
                    "`key:Display name` with a non-empty name, or the key alone",
                )
            )
        else:
            seen.add(key)
            headers.append((key, name if colon else None))
    if problems:
        raise Rejected(items=problems)
    return headers


def parse_instant(raw: str) -> int:
    """Return epoch milliseconds for a date, an ISO-8601 date-time or epoch milliseconds.

    The one place that knows the instant formats (`FIELD_HELP` names them for users).
    """
    value = raw.strip()
    if re.fullmatch(r"[0-9]+", value):
        if len(value) > 15 or int(value) > MAX_EPOCH_MS:
            raise Rejected("that is after the year 9999")
        ms = int(value)
        if 0 < ms < _MIN_PLAUSIBLE_MS:
            raise Rejected(f"that is {iso(ms)}; if you meant epoch seconds, write `{ms * 1000}`")
        return ms
    try:
        if _DAY.fullmatch(value):
            when = datetime.combine(date.fromisoformat(value), datetime.min.time(), UTC)
        else:
            when = datetime.fromisoformat(value)
            if when.tzinfo is None:
                when = when.replace(tzinfo=UTC)
        ms = (when - EPOCH) // MS
    except (ValueError, OverflowError):
        raise Rejected(_why_not_an_instant(value)) from None
    if ms < 0:
        raise Rejected("that is before 1970")
    if ms > MAX_EPOCH_MS:
        raise Rejected("that is after the year 9999")
    return ms


def _why_not_an_instant(value: str) -> str | None:
    """Say what is wrong with a value shaped like a date: a day that does not exist, a typo."""
    day = _DAY.match(value)  # also `2026-02-30T10:00`
    if day:
        year, month, mday = (int(part) for part in day.groups())
        if not 1 <= month <= 12:
            return f"that date does not exist: there is no month {month:02d}"
        days = calendar.monthrange(max(year, 1), month)[1] if year else 31
        if not 1 <= mday <= days:
            name = calendar.month_name[month]
            return f"that date does not exist: {name} {year} has {days} days"
    dashed = value.replace("/", "-").replace(".", "-")
    if dashed != value and _DAY.fullmatch(dashed):
        return f"did you mean `{dashed}`?"
    return None


# --- small helpers ----------------------------------------------------------------------


def near(word: str, choices: Iterable[str], cutoff: float = 0.6) -> list[str]:
    """Return up to two close spellings of `word` among `choices`."""
    return difflib.get_close_matches(word, list(choices), n=2, cutoff=cutoff)


def did_you_mean(options: list[str]) -> str | None:
    """Return "did you mean `a` or `b`?", or None without options."""
    if not options:
        return None
    return "did you mean " + " or ".join(f"`{o}`" for o in options) + "?"


def has_control(text: str) -> bool:
    """Whether `text` holds a control character (newline, tab, …)."""
    return any(unicodedata.category(ch) == "Cc" for ch in text)


def iso(ms: int) -> str:
    """Return epoch milliseconds as ISO-8601 UTC, a plain date when it is midnight."""
    when = EPOCH + ms * MS
    text = when.isoformat(timespec="milliseconds").replace("+00:00", "Z")
    return text.replace("T00:00:00.000Z", "")
