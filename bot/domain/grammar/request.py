"""Request building: raw `key -> text` fields in, one validated `ExportRequest` out.

Pure. `build_request` is the one validation path that the slash text, the form
(its state flattened to the same raw strings) and the CLI share, so they cannot
disagree. Every problem is collected and raised at once as `InvalidCommand`.

Decisions worth knowing (also stated in `FIELD_HELP`, which users see):
- `created_after` is inclusive and `created_before` exclusive, in every form: the
  window is `[after, before)`, sent as `start_time=after`, `end_time=before - 1 ms`
  (the model's window is inclusive at both ends). So `created_after=2024-05-01
  created_before=2024-05-02` is exactly 1 May (UTC).
- The API takes both ends of `create_time`: a missing `created_after` means epoch 0,
  a missing `created_before` means "now" from the injectable clock.
- Epoch values are milliseconds; 1-11 digit numbers (before 1973) are refused as
  probable epoch *seconds*.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Final, TypeAlias, cast

from pydantic import ValidationError
from pydantic_core import ErrorDetails

from bot.domain.errors import InvalidCommand, Problem
from bot.domain.grammar.fields import (
    ALL_KEYS,
    FIELD_HELP,
    FIELD_KEYS,
    TEXT_KEY,
    key_problems,
    parse_value,
)
from bot.domain.grammar.values import CLIP, EPOCH, MS, iso
from bot.domain.model import (
    HEADER_NAMES,
    CreateTime,
    ExportBody,
    ExportQuery,
    ExportRequest,
    HeaderLang,
    default_headers,
)
from bot.domain.text import clip

Clock: TypeAlias = Callable[[], datetime]


@dataclass(frozen=True)
class RequestDefaults:
    """What a request gets when the user does not say: header language, enterprise project."""

    header_lang: HeaderLang = "zh"
    enterprise_project_id: str | None = None


def utc_now() -> datetime:
    """The default clock."""
    return datetime.now(UTC)


def build_request(
    fields: Mapping[str, str], defaults: RequestDefaults | None = None, *, clock: Clock = utc_now
) -> ExportRequest:
    """Validate raw field strings into a request; raise `InvalidCommand` listing every problem.

    Leave a field out to leave it unset: an empty string is a problem.
    """
    request, problems = build(fields, defaults or RequestDefaults(), clock)
    if problems or request is None:
        raise InvalidCommand(problems)
    return request


def build(
    fields: Mapping[str, str], defaults: RequestDefaults, clock: Clock
) -> tuple[ExportRequest | None, list[Problem]]:
    """Return the request, or None and every problem of `fields`."""
    problems = key_problems(fields)
    values: dict[str, object] = {}
    for key in ALL_KEYS:
        raw = fields.get(key)
        if raw is None:
            continue
        value, more = parse_value(key, raw)
        if more:
            problems += more
        else:
            values[key] = value
    window = _window(fields, values, clock, problems)
    if problems:
        return None, problems
    try:
        request = _assemble(values, window, defaults)
    except ValidationError as exc:  # a rule the grammar missed: still one kind of error out
        return None, [_from_pydantic(err) for err in exc.errors(include_url=False)]
    return request, []


def _assemble(
    values: dict[str, object], window: tuple[int, int] | None, defaults: RequestDefaults
) -> ExportRequest:
    chosen = cast("list[tuple[str, str | None]] | None", values.get("headers"))
    lang = defaults.header_lang
    headers = (
        default_headers(lang)
        if chosen is None
        else [(key, name or HEADER_NAMES[key][lang]) for key, name in chosen]
    )
    body = ExportBody.model_validate(
        {
            **{k: values[k] for k in _BODY_KEYS if k in values},
            "create_time": None
            if window is None
            else CreateTime(start_time=window[0], end_time=window[1]),
            "export_headers": headers,
        }
    )
    query = ExportQuery.model_validate(
        {
            "enterprise_project_id": values.get(
                "enterprise_project_id", defaults.enterprise_project_id
            ),
            "export_size": values.get("export_size"),
        }
    )
    profile = cast("str | None", values.get("profile"))
    return ExportRequest(query=query, body=body, profile=profile)


# The fields that go into the body as they are (the window and headers are built above).
_BODY_KEYS: Final = tuple(key for key in FIELD_KEYS if key in ExportBody.model_fields)


def _window(
    fields: Mapping[str, str],
    values: dict[str, object],
    clock: Clock,
    problems: list[Problem],
) -> tuple[int, int] | None:
    """Turn `created_after` (inclusive), `created_before` (exclusive) into inclusive ms ends."""
    after, before = values.get("created_after"), values.get("created_before")
    if any(
        key in fields and values.get(key) is None for key in ("created_after", "created_before")
    ):
        return None  # its problem is already reported
    if after is None and before is None:
        return None
    start = after if isinstance(after, int) else 0
    if isinstance(before, int):
        if before == 0:
            problems.append(
                Problem(
                    "created_before",
                    fields["created_before"],
                    FIELD_HELP["created_before"],
                    "nothing is created before 1970-01-01",
                )
            )
            return None
        end = before - 1
        if start > end:
            problems.append(
                Problem(
                    "created_after",
                    clip(fields["created_after"], CLIP),
                    f"a time earlier than created_before ({iso(before)})",
                    f"created_after is {iso(start)}: swap `created_after` and `created_before`?",
                )
            )
            return None
    else:
        now = clock()
        now = now if now.tzinfo else now.replace(tzinfo=UTC)
        end = (now - EPOCH) // MS
        if start > end:
            problems.append(
                Problem(
                    "created_after",
                    clip(fields["created_after"], CLIP),
                    f"a time not in the future (now is {iso(end)})",
                    "add `created_before` to bound the window explicitly",
                )
            )
            return None
    return start, end


def _from_pydantic(error: ErrorDetails) -> Problem:
    loc = error["loc"]
    model_field = str(loc[1]) if len(loc) > 1 else ""
    key = {"create_time": "created_after", "export_headers": "headers"}.get(
        model_field, model_field if model_field in FIELD_KEYS else TEXT_KEY
    )
    return Problem(key, None, error["msg"])
