"""Read the export form's answer: its state into raw field strings, problems onto fields.

Pure. `fields_from_state` turns `view.state.values` into the same raw `key -> text`
mapping the slash grammar produces, so `grammar.build_request` validates both;
`errors_by_block` puts its problems back on the inputs (`response_action="errors"`).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from bot.domain.errors import InvalidCommand, Problem
from bot.domain.form_fields import (
    ACTION_ID,
    BLOCK_IDS,
    ERROR_HOME,
    FIELDS,
    LABEL_MAX,
    PROFILE_BLOCK,
    TRI_STATE_ANY,
)


def fields_from_state(values: object) -> dict[str, str]:
    """Turn `view.state.values` into raw field strings, leaving out what was not filled.

    Raise `InvalidCommand` naming each input whose state is not of the shape Slack
    sends (a forged or corrupted submission), so it is answered on its field.
    """
    fields: dict[str, str] = {}
    problems: list[Problem] = []
    blocks = values if isinstance(values, Mapping) else {}
    for spec in FIELDS:
        block = blocks.get(spec.key)
        action = block.get(ACTION_ID) if isinstance(block, Mapping) else None
        if not isinstance(action, Mapping):
            continue
        try:
            raw = raw_value(action)
        except (AttributeError, TypeError, KeyError, ValueError, OverflowError):
            problems.append(Problem(spec.key, None, "a value chosen or typed in this form"))
            continue
        if raw is not None:
            fields[spec.key] = raw
    profile = blocks.get(PROFILE_BLOCK)
    chosen = profile.get(ACTION_ID) if isinstance(profile, Mapping) else None
    if isinstance(chosen, Mapping):
        try:
            raw = raw_value(chosen)
        except (AttributeError, TypeError, KeyError, ValueError):
            problems.append(Problem(PROFILE_BLOCK, None, "a profile chosen in this form"))
        else:
            if raw is not None:
                fields[PROFILE_BLOCK] = raw
    if problems:
        raise InvalidCommand(problems)
    return fields


def raw_value(action: Mapping[str, Any]) -> str | None:
    """Return the raw text one input's state submits, or None when it is left empty."""
    kind = action.get("type")
    if kind in {"plain_text_input", "number_input"}:
        text = action.get("value")
        return text.strip() or None if isinstance(text, str) else None
    if kind in {"static_select", "radio_buttons"}:
        option = action.get("selected_option")
        value = option.get("value") if isinstance(option, Mapping) else None
        return None if value in (None, TRI_STATE_ANY) else str(value)
    if kind in {"multi_static_select", "checkboxes"}:
        options: Iterable[Mapping[str, Any]] = action.get("selected_options") or ()
        # Empty stays "" (not absent), so "no columns" is reported, not silently defaulted.
        return ",".join(str(o["value"]) for o in options)
    if kind == "datepicker":
        day = action.get("selected_date")
        return str(day) if day else None
    if kind == "datetimepicker":
        seconds = action.get("selected_date_time")
        # Slack gives epoch seconds; the API (and the grammar) count milliseconds.
        return str(int(seconds) * 1000) if seconds is not None else None
    return None


def errors_by_block(problems: Iterable[Problem]) -> dict[str, str]:
    """Map problems to `response_action="errors"`: one message per block_id, all problems kept."""
    errors: dict[str, list[str]] = {}
    for problem in problems:
        block_id = ERROR_HOME.get(problem.key, problem.key)
        message = field_error(problem)
        if block_id not in BLOCK_IDS:
            # No input holds it: show it, named, on the first input rather than lose it.
            block_id, message = BLOCK_IDS[0], str(problem)
        errors.setdefault(block_id, []).append(message)
    return {key: "; ".join(msgs)[:LABEL_MAX] for key, msgs in errors.items()}


def field_error(problem: Problem) -> str:
    """Say what is wrong with one field, without repeating its name."""
    text = f"accepted: {problem.accepted}"
    if problem.given is not None:
        given = problem.given if len(problem.given) <= 60 else problem.given[:59] + "…"
        text = f"got {given!r}; {text}"
    return f"{text} ({problem.hint})" if problem.hint else text
