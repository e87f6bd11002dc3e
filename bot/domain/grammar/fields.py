"""The field catalogue: every request key, what it accepts (in words) and its parser.

Pure. This is the one list of keys the slash grammar, the CLI and the form share
(the form adds only how each is asked). Adding a key is one `FieldRule` here, its
model field in `bot.domain.model`, and (for the form) one input in `bot.domain.modal`.
"""

from __future__ import annotations

import unicodedata
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Final

from bot.domain.errors import Problem
from bot.domain.grammar import values as v
from bot.domain.model import (
    CLUSTER_TYPE_LABELS_ZH,
    EXPORT_SIZE_MAX,
    HEADER_KEYS,
    MAX_LENGTHS,
    STATUS_LABELS_ZH,
    ClusterType,
    ContainerStatus,
)
from bot.domain.text import clip

TEXT_KEY: Final = "text"  # `Problem.key` of problems with the text as a whole, not one field
ALL_GRANTED_EPS: Final = v.ALL_GRANTED_EPS


@dataclass(frozen=True)
class FieldRule:
    """One request key: what it accepts, said to users, and the parser that enforces it."""

    key: str
    accepts: str
    parse: Callable[[str], object]


def _headers(raw: str) -> object:
    return v.parse_headers(raw, _HEADERS_HELP)


def _zh(labels: Mapping[str, str]) -> str:
    return ", ".join(f"{name} ({value})" for value, name in labels.items())


_BOOLS: Final = "/".join(f"`{w}`" for w in v.TRUE_WORDS), "/".join(f"`{w}`" for w in v.FALSE_WORDS)
_HEADERS_HELP: Final = (
    "columns of the file: `all` (the default: all 16 with their standard names) "
    "or a comma list of keys, each optionally `key:Display name`; keys: " + ", ".join(HEADER_KEYS)
)


def _name(key: str, what: str) -> FieldRule:
    return FieldRule(key, f"{what}, 1-{MAX_LENGTHS[key]} characters", v.name_parser(key))


RULES: Final[tuple[FieldRule, ...]] = (
    FieldRule(
        "cluster_container",
        f"{_BOOLS[0]}: only containers in a cluster; {_BOOLS[1]}: only containers outside clusters",
        v.parse_bool,
    ),
    FieldRule(
        "cluster_type",
        f"one of {', '.join(ClusterType)} (any letter case; the API page's Chinese names "
        f"work too: {_zh(CLUSTER_TYPE_LABELS_ZH)})",
        v.enum_parser(ClusterType, "cluster_type"),
    ),
    _name("cluster_name", "cluster name"),
    _name("container_name", "container name"),
    _name("pod_name", "pod name"),
    _name("image_name", "image name"),
    FieldRule(
        "status",
        f"one of {', '.join(ContainerStatus)} (any letter case; the API page's Chinese names "
        f"work too: {_zh(STATUS_LABELS_ZH)})",
        v.enum_parser(ContainerStatus, "status"),
    ),
    FieldRule(
        "risky",
        f"{_BOOLS[0]}: only containers with security risks; {_BOOLS[1]}: only without",
        v.parse_bool,
    ),
    FieldRule(
        "cpu_limit",
        "CPU limit in millicores: digits then a lower-case `m`, e.g. `100m` "
        f"(1 core = `1000m`), at most {MAX_LENGTHS['cpu_limit']} characters",
        v.parse_cpu,
    ),
    FieldRule(
        "memory_limit",
        "memory limit: digits then `Mi` or `Gi`, e.g. `300Mi`, `2Gi` "
        f"(unit in any letter case), at most {MAX_LENGTHS['memory_limit']} characters",
        v.parse_memory,
    ),
    FieldRule(
        "created_after",
        "created at or after (inclusive): `YYYY-MM-DD` (00:00 UTC), "
        "an ISO-8601 date-time such as `2024-05-01T08:00:00+08:00` (no offset = UTC) "
        "or epoch milliseconds (13 digits); alone, it means up to now",
        v.parse_instant,
    ),
    FieldRule(
        "created_before",
        "created before (exclusive): `YYYY-MM-DD` (00:00 UTC, so that day "
        "itself is left out), an ISO-8601 date-time (no offset = UTC) or epoch milliseconds; "
        "alone, it means since 1970",
        v.parse_instant,
    ),
    FieldRule("headers", _HEADERS_HELP, _headers),
    FieldRule(
        "export_size",
        f"most rows to export, a whole number 1-{EXPORT_SIZE_MAX} "
        f"(HSS exports {EXPORT_SIZE_MAX} when omitted)",
        v.parse_export_size,
    ),
    FieldRule(
        "enterprise_project_id",
        f"enterprise project id, 1-{MAX_LENGTHS['enterprise_project_id']} characters; "
        f"`{ALL_GRANTED_EPS}` for every enterprise project (default: the bot's setting, "
        "else HSS's default project)",
        v.parse_enterprise_project,
    ),
    # Not sent to HSS: it picks the account, project and region the call goes to.
    FieldRule(
        "profile",
        "the HSS profile (account, project, region) to export from: a name that "
        "`/hss-export profiles` lists (default: this channel's profile)",
        v.parse_profile_name,
    ),
)
BY_KEY: Final[dict[str, FieldRule]] = {rule.key: rule for rule in RULES}
PROFILE_KEY: Final = "profile"
# Keys of the command, not of the request: read by the slash grammar, never sent to HSS,
# not in the form (the form's Submit is the confirmation).
CONFIRM_RULE: Final = FieldRule(
    "confirm",
    f"{_BOOLS[0]}: run a broad export (no filter, or `{ALL_GRANTED_EPS}`) without asking first",
    v.parse_bool,
)
# Every key the grammar reads; FIELD_KEYS are those of the HSS request (the form asks each).
ALL_KEYS: Final[tuple[str, ...]] = tuple(BY_KEY)
FIELD_KEYS: Final[tuple[str, ...]] = tuple(k for k in BY_KEY if k != PROFILE_KEY)
FIELD_HELP: Final[dict[str, str]] = {k: BY_KEY[k].accepts for k in FIELD_KEYS}

# Words people reach for, mapped to the key they meant: used for suggestions only.
KEY_ALIASES: Final[dict[str, str]] = {
    "cluster": "cluster_name",
    "container": "container_name",
    "name": "container_name",
    "pod": "pod_name",
    "image": "image_name",
    "type": "cluster_type",
    "state": "status",
    "risk": "risky",
    "cpu": "cpu_limit",
    "memory": "memory_limit",
    "mem": "memory_limit",
    "after": "created_after",
    "since": "created_after",
    "from": "created_after",
    "start": "created_after",
    "start_time": "created_after",
    "create_time": "created_after",
    "before": "created_before",
    "until": "created_before",
    "to": "created_before",
    "end": "created_before",
    "end_time": "created_before",
    "columns": "headers",
    "fields": "headers",
    "header": "headers",
    "export_headers": "headers",
    "size": "export_size",
    "limit": "export_size",
    "rows": "export_size",
    "project": "enterprise_project_id",
    "enterprise_project": "enterprise_project_id",
    "eps": "enterprise_project_id",
    "ep": "enterprise_project_id",
}


def parse_value(key: str, raw: str) -> tuple[object | None, list[Problem]]:
    """Parse one known key's raw value: `(value, [])`, or `(None, problems)`."""
    if raw == "":
        return None, [empty(key)]
    try:
        return BY_KEY[key].parse(raw), []
    except v.Rejected as rejected:
        return None, rejected_problems(key, raw, rejected)


def parse_rule(rule: FieldRule, raw: str) -> tuple[object | None, list[Problem]]:
    """Parse a command key's raw value with its own rule (e.g. `confirm`): like `parse_value`."""
    if raw == "":
        return None, [Problem(rule.key, "", rule.accepts, "leave the key out to leave it unset")]
    try:
        return rule.parse(raw), []
    except v.Rejected as rejected:
        return None, rejected.items or [
            Problem(rule.key, clip(raw, v.CLIP), rule.accepts, rejected.hint)
        ]


def rejected_problems(key: str, raw: str, rejected: v.Rejected) -> list[Problem]:
    """Return the problems to report for `key=raw`, refused with `rejected`."""
    if rejected.items:
        return rejected.items
    return [Problem(key, clip(raw, v.CLIP), BY_KEY[key].accepts, rejected.hint)]


def empty(key: str) -> Problem:
    """The problem of `key=` with nothing after `=`."""
    return Problem(key, "", BY_KEY[key].accepts, "leave the key out to leave it unset")


def key_problems(fields: Mapping[str, str]) -> list[Problem]:
    """Name every unknown key, with the key meant when it is a near miss or an alias."""
    problems = []
    for key in fields:
        if key in BY_KEY:
            continue
        folded = unicodedata.normalize("NFKC", key).lower().replace("-", "_")
        close = v.near(folded, ALL_KEYS + tuple(KEY_ALIASES))
        if folded in BY_KEY and key.lower() == folded:
            hint: str | None = f"keys are lower-case: did you mean `{folded}`?"
        elif folded in BY_KEY or folded in KEY_ALIASES:
            hint = f"did you mean `{KEY_ALIASES.get(folded, folded)}`?"
        elif close:
            hint = f"did you mean `{KEY_ALIASES.get(close[0], close[0])}`?"
        else:
            hint = None
        accepted = "a known key" if hint else f"one of the keys {', '.join(ALL_KEYS)}"
        given = clip(f"{key}={fields[key]}", v.CLIP)
        problems.append(Problem(clip(key, v.CLIP) or TEXT_KEY, given, accepted, hint))
    return problems
