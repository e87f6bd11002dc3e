"""The Workflow Builder step `hss_container_export`: its inputs read as slash grammar fields.

Pure. A step's inputs are one optional input per grammar key (the same names as
`key=value` in `/hss-export`; booleans for the yes/no keys, strings for the
rest), plus `filters`, free text in slash syntax, plus the delivery channel and
the user the step runs for. They are merged into one set of raw fields for
`build_request`, so every value is checked by the same rules and named by the
same key in the same words as a slash user reads them. A key given both as its
own input and inside `filters` is a problem, as a key typed twice is.

Who runs the workflow: Slack's `function_executed` event names no user (its
payload is the function, the inputs, the execution ids and a workflow token).
So the step has a required `user_id` input of type `slack#/types/user_id`,
which Workflow Builder fills with "Person who used this workflow". The
workflow's author chooses what goes there: the access check is for that user,
and the audit entry is written in their name with source `workflow`.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Final, Literal

from bot.domain.errors import Problem
from bot.domain.grammar import ALL_KEYS, text_fields
from bot.domain.text import clip

CALLBACK_ID: Final = "hss_container_export"
TITLE: Final = "Export HSS containers"
FILTERS_INPUT: Final = "filters"
CHANNEL_INPUT: Final = "channel_id"
USER_INPUT: Final = "user_id"
OUTPUTS: Final = ("task_id", "file_name", "permalink")
# The grammar keys asked as yes/no (Workflow Builder shows a checkbox); the rest are strings.
BOOLEAN_KEYS: Final = frozenset({"cluster_container", "risky"})
# Inputs that are not filters: what the step needs besides the request.
STEP_INPUTS: Final = (FILTERS_INPUT, CHANNEL_INPUT, USER_INPUT)
# What `slack#/types/user_id` and `slack#/types/channel_id` inputs hold (see bot.domain.slack_ids).
_IDS: Final = {
    "user": re.compile(r"[UW][A-Z0-9]{2,20}"),
    "channel": re.compile(r"[CG][A-Z0-9]{2,20}"),
}


@dataclass(frozen=True)
class StepInputs:
    """A step's inputs, read: where to deliver, for whom, the raw fields, what is wrong."""

    channel_id: str
    user_id: str
    fields: dict[str, str] = field(default_factory=dict)
    problems: list[Problem] = field(default_factory=list)

    @property
    def identified(self) -> bool:
        """Tell whether the inputs name a user and a channel (else nothing can be checked)."""
        return bool(self.user_id and self.channel_id)


def read_inputs(inputs: Mapping[str, object]) -> StepInputs:
    """Read `event.inputs` into fields for `build_request`, listing every problem found.

    An input Workflow Builder left empty (missing, None, "") is unset. Unknown
    input names are problems too, named like unknown keys of the slash command.
    """
    problems: list[Problem] = []
    user = _identity(inputs, USER_INPUT, "user", problems)
    channel = _identity(inputs, CHANNEL_INPUT, "channel", problems)
    text = inputs.get(FILTERS_INPUT)
    fields: dict[str, str] = {}
    if isinstance(text, str) and text.strip():
        fields, more = text_fields(text)
        problems += more
    elif text not in (None, ""):
        problems.append(Problem(FILTERS_INPUT, clip(repr(text), 80), "`key=value` filters as text"))
    for name, value in inputs.items():
        if name in STEP_INPUTS or value is None or value == "":
            continue
        raw = _raw(value)
        if name in fields:
            given = f"{FILTERS_INPUT}: {name}={fields[name]}; input {name}: {raw}"
            problems.append(Problem(name, given, "each key at most once", "keep one of them"))
            continue
        fields[name] = raw  # unknown names are then named by the grammar's key check
    return StepInputs(channel, user, fields, problems)


def _identity(
    inputs: Mapping[str, object],
    name: str,
    kind: Literal["user", "channel"],
    problems: list[Problem],
) -> str:
    value = inputs.get(name)
    if isinstance(value, str) and _IDS[kind].fullmatch(value):
        return value
    accepted = "a user id (`U…` or `W…`)" if kind == "user" else "a channel id (`C…` or `G…`)"
    given = None if value in (None, "") else clip(str(value), 80)
    hint = (
        "Workflow Builder: set it to “Person who used this workflow”"
        if name == USER_INPUT
        else "Workflow Builder: pick the channel to deliver to"
    )
    problems.append(Problem(name, given, accepted, hint))
    return ""


def _raw(value: object) -> str:
    """Return an input as the grammar's raw text: booleans as true/false, numbers as digits."""
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def filter_keys() -> tuple[str, ...]:
    """Return the grammar keys the step offers as inputs (every key of the slash grammar)."""
    return ALL_KEYS
