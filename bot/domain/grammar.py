"""Turn `/hss-export` text, modal fields and CLI arguments into commands and requests.

Pure: no Slack, no HTTP, no I/O. `build_request` is the one validation path that
the slash text, the modal (its state flattened to the same raw strings) and the
CLI share, so they cannot disagree. Every problem is collected and raised at once
as `InvalidCommand`; nothing else ever escapes `parse_command` or `build_request`.

Decisions worth knowing (also stated in `FIELD_HELP`, which users see):
- Keys are lower-case; `Status=…` is refused with a suggestion, never guessed.
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

import difflib
import re
import shlex
import unicodedata
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from enum import StrEnum
from typing import Final, TypeAlias, TypeVar, cast

from pydantic import ValidationError
from pydantic_core import ErrorDetails

from bot.domain.errors import InvalidCommand, Problem
from bot.domain.model import (
    EXPORT_SIZE_MAX,
    HEADER_KEYS,
    HEADER_NAMES,
    ClusterType,
    ContainerStatus,
    CreateTime,
    ExportBody,
    ExportQuery,
    ExportRequest,
    HeaderLang,
    default_headers,
)
from bot.domain.text import clip

Clock: TypeAlias = Callable[[], datetime]
E = TypeVar("E", bound=StrEnum)

MAX_TEXT_CHARS: Final = 4000
TEXT_KEY: Final = "text"  # `Problem.key` of problems with the text as a whole, not one field
ALL_GRANTED_EPS: Final = "all_granted_eps"
_EPOCH: Final = datetime(1970, 1, 1, tzinfo=UTC)
_MS: Final = timedelta(milliseconds=1)
_MAX_EPOCH_MS: Final = 253_402_300_799_999  # 9999-12-31T23:59:59.999Z
_MIN_PLAUSIBLE_MS: Final = 10**11  # 1973-03-03: smaller non-zero numbers are epoch seconds
_CLIP: Final = 100
_TASK_ID: Final = re.compile(r"[A-Za-z0-9._~-]{1,256}")
_SMART_QUOTES: Final = str.maketrans({"“": '"', "”": '"', "„": '"', "‘": "'", "’": "'"})


# --- Commands --------------------------------------------------------------------------


@dataclass(frozen=True)
class RequestDefaults:
    """What a request gets when the user does not say: header language, enterprise project."""

    header_lang: HeaderLang = "zh"
    enterprise_project_id: str | None = None


@dataclass(frozen=True)
class OpenModal:
    """Empty text: open the export form."""


@dataclass(frozen=True)
class Help:
    """`help`: show usage."""


@dataclass(frozen=True)
class Status:
    """`status <task_id> [enterprise_project_id=…]`: show the state of an export task.

    Without an enterprise project the listener uses the one the task was created in.
    """

    task_id: str
    enterprise_project_id: str | None = None


@dataclass(frozen=True)
class History:
    """`history`: show the caller's latest exports."""


@dataclass(frozen=True)
class Preview:
    """`preview key=value …`: show the exact request without sending it."""

    request: ExportRequest


@dataclass(frozen=True)
class Export:
    """`key=value …`: create the export task."""

    request: ExportRequest


@dataclass(frozen=True)
class Form:
    """`form key=value …`: open the form prefilled with these raw field values."""

    prefill: dict[str, str] = field(default_factory=dict)


Command: TypeAlias = OpenModal | Help | Status | History | Preview | Export | Form

COMMAND_WORDS: Final[tuple[str, ...]] = ("help", "status", "history", "preview", "form")


# --- Fields ----------------------------------------------------------------------------

FIELD_KEYS: Final[tuple[str, ...]] = (
    "cluster_container",
    "cluster_type",
    "cluster_name",
    "container_name",
    "pod_name",
    "image_name",
    "status",
    "risky",
    "cpu_limit",
    "memory_limit",
    "created_after",
    "created_before",
    "headers",
    "export_size",
    "enterprise_project_id",
)

_NAME_LIMITS: Final[dict[str, int]] = {
    "cluster_name": 255,
    "container_name": 255,
    "pod_name": 512,
    "image_name": 255,
}

FIELD_HELP: Final[dict[str, str]] = {
    "cluster_container": "`true`/`yes`: only containers in a cluster; "
    "`false`/`no`: only containers outside clusters",
    "cluster_type": f"one of {', '.join(ClusterType)} (any letter case)",
    "cluster_name": "cluster name, 1-255 characters",
    "container_name": "container name, 1-255 characters",
    "pod_name": "pod name, 1-512 characters",
    "image_name": "image name, 1-255 characters",
    "status": f"one of {', '.join(ContainerStatus)} (any letter case)",
    "risky": "`true`/`yes`: only containers with security risks; `false`/`no`: only without",
    "cpu_limit": "CPU limit in millicores: digits then a lower-case `m`, e.g. `100m` "
    "(1 core = `1000m`), at most 64 characters",
    "memory_limit": "memory limit: digits then `Mi` or `Gi`, e.g. `300Mi`, `2Gi` "
    "(unit in any letter case), at most 64 characters",
    "created_after": "created at or after (inclusive): `YYYY-MM-DD` (00:00 UTC), "
    "an ISO-8601 date-time such as `2024-05-01T08:00:00+08:00` (no offset = UTC) "
    "or epoch milliseconds (13 digits); alone, it means up to now",
    "created_before": "created before (exclusive): `YYYY-MM-DD` (00:00 UTC, so that day "
    "itself is left out), an ISO-8601 date-time (no offset = UTC) or epoch milliseconds; "
    "alone, it means since 1970",
    "headers": "columns of the file: `all` (the default: all 16 with their standard names) "
    "or a comma list of keys, each optionally `key:Display name`; keys: " + ", ".join(HEADER_KEYS),
    "export_size": f"most rows to export, a whole number 1-{EXPORT_SIZE_MAX} "
    f"(HSS exports {EXPORT_SIZE_MAX} when omitted)",
    "enterprise_project_id": f"enterprise project id, 1-256 characters; `{ALL_GRANTED_EPS}` "
    "for every enterprise project (default: the bot's setting, else HSS's default project)",
}

# Words people reach for, mapped to the key they meant: used for suggestions only.
_KEY_ALIASES: Final[dict[str, str]] = {
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


def help_text(command: str = "/hss-export", *, slack: bool = True) -> str:
    """Return usage with every key, what it accepts and examples, as Slack mrkdwn.

    With `slack=False` (a terminal), leave out the Slack-only forms (form, status, history).
    """
    if slack:
        usage = (
            f"`{command}` opens a form. `{command} key=value …` exports at once.\n"
            f"`{command} preview key=value …` shows the exact request without sending it.\n"
            f"`{command} form key=value …` opens the form filled in.\n"
            f"`{command} status <task_id>` shows a task (in the enterprise project it was "
            f"created in, or add `enterprise_project_id=…`); `{command} history` your latest "
            f"exports; `{command} help` this text.\n"
        )
        quotes = " (Slack's curly quotes work too)"
    else:
        usage = (
            f"`{command} key=value …` exports at once and prints the task id.\n"
            f"`{command} preview key=value …` (or `--dry-run`) prints the exact request "
            "without sending it; `--json` prints JSON.\n"
        )
        quotes = ""
    keys = "\n".join(f"• `{key}`: {FIELD_HELP[key]}" for key in FIELD_KEYS)
    examples = "\n".join(
        f"• `{command} {example}`{note}"
        for example, note in (
            ("status=running risky=true", ""),
            ("cluster_type=cce cluster_name=prod memory_limit=2Gi export_size=500", ""),
            ("created_after=2024-05-01 created_before=2024-06-01", " (all of May, UTC)"),
            ('headers="container_name:Container,status,risky:Risky?"', ""),
            (f'preview pod_name="web 1" enterprise_project_id={ALL_GRANTED_EPS}', ""),
        )
    )
    return (
        "*Export the HSS container list*\n"
        f"{usage}"
        "\n*Keys* (lower-case; each at most once; every one optional)\n"
        f"{keys}\n"
        "\n*Writing values*\n"
        f'• Quote values with spaces: `pod_name="web 1"`{quotes}.\n'
        "• A value may contain `=`: `image_name=a=b` means `a=b`.\n"
        f"• At most {MAX_TEXT_CHARS} characters in all.\n"
        f"\n*Examples*\n{examples}"
    )


# --- Entry points ----------------------------------------------------------------------


def _utc_now() -> datetime:
    return datetime.now(UTC)


def parse_command(
    text: str, defaults: RequestDefaults | None = None, *, clock: Clock = _utc_now
) -> Command:
    """Parse slash-command text; raise `InvalidCommand` listing every problem."""
    _check_length(text)
    return _parse(_split(text), defaults or RequestDefaults(), clock)


def parse_tokens(
    tokens: Sequence[str], defaults: RequestDefaults | None = None, *, clock: Clock = _utc_now
) -> Command:
    """Parse already-split words (a command line's argv) exactly as `parse_command` parses text.

    The shell has done the quoting, so no quote is interpreted again: a word such as
    `pod_name=O’Brien` stays as typed.
    """
    _check_length(" ".join(tokens))
    return _parse(list(tokens), defaults or RequestDefaults(), clock)


def _check_length(text: str) -> None:
    if len(text) > MAX_TEXT_CHARS:
        raise InvalidCommand(
            [
                Problem(
                    TEXT_KEY,
                    clip(text, _CLIP),
                    f"at most {MAX_TEXT_CHARS} characters",
                    f"this text has {len(text)}",
                )
            ]
        )


def _parse(tokens: list[str], defaults: RequestDefaults, clock: Clock) -> Command:
    if not tokens:
        return OpenModal()
    word = tokens[0].lower() if "=" not in tokens[0] else ""
    rest = tokens[1:]
    if word in ("help", "history"):
        if rest:
            raise InvalidCommand(
                [Problem(word, clip(" ".join(rest), _CLIP), f"nothing after `{word}`")]
            )
        return Help() if word == "help" else History()
    if word == "status":
        return _status(rest)
    if word == "form":
        fields, problems = _tokens_to_fields(rest, command_position=False)
        problems += _key_problems(fields)
        problems += [_empty(k) for k, value in fields.items() if value == "" and k in FIELD_KEYS]
        if problems:
            raise InvalidCommand(problems)
        return Form(dict(fields))
    if word == "preview":
        tokens = rest
    fields, problems = _tokens_to_fields(tokens, command_position=word != "preview")
    request, more = _build(fields, defaults, clock)
    problems += more
    if problems or request is None:
        raise InvalidCommand(problems)
    return Preview(request) if word == "preview" else Export(request)


def build_request(
    fields: Mapping[str, str], defaults: RequestDefaults | None = None, *, clock: Clock = _utc_now
) -> ExportRequest:
    """Validate raw field strings into a request; raise `InvalidCommand` listing every problem.

    Leave a field out to leave it unset: an empty string is a problem.
    """
    request, problems = _build(fields, defaults or RequestDefaults(), clock)
    if problems or request is None:
        raise InvalidCommand(problems)
    return request


# --- Tokens ----------------------------------------------------------------------------


def _split(text: str) -> list[str]:
    lexer = shlex.shlex(text.translate(_SMART_QUOTES), posix=True)
    lexer.whitespace_split = True
    lexer.commenters = ""  # `#` is an ordinary character in names
    try:
        return list(lexer)
    except ValueError as exc:  # "No closing quotation" / "No escaped character"
        raise InvalidCommand(
            [
                Problem(
                    TEXT_KEY,
                    clip(text, _CLIP),
                    "balanced quotes: wrap a value with spaces in one pair, "
                    'e.g. `pod_name="web 1"`',
                    f"{str(exc).lower()}; put a value with an apostrophe in double quotes: "
                    '`pod_name="O\'Brien"`',
                )
            ]
        ) from None


def _tokens_to_fields(
    tokens: list[str], *, command_position: bool = True
) -> tuple[dict[str, str], list[Problem]]:
    fields: dict[str, str] = {}
    repeated: dict[str, list[str]] = {}
    problems: list[Problem] = []
    for index, token in enumerate(tokens):
        key, sep, value = token.partition("=")
        if not sep:
            problems.append(_bare_token(token, first=index == 0 and command_position))
        elif not key:
            problems.append(
                Problem(TEXT_KEY, clip(token, _CLIP), "`key=value` with a key before `=`")
            )
        elif key in fields:
            repeated.setdefault(key, [f"{key}={fields[key]}"]).append(token)
        else:
            fields[key] = value
    for key, given in repeated.items():
        problems.append(
            Problem(key, clip(" ".join(given), _CLIP), "each key at most once", "keep one of them")
        )
    return fields, problems


def _bare_token(token: str, *, first: bool) -> Problem:
    lowered = token.lower()
    hint: str | None = None
    if lowered in COMMAND_WORDS:
        hint = f"`{lowered}` is a command: it must come first"
    elif first and (near := _near(lowered, COMMAND_WORDS)):
        hint = f"did you mean the command `{near[0]}`?"
    elif lowered in FIELD_KEYS:
        hint = f"write `{lowered}=<value>`"
    elif (state := _member(ContainerStatus, token)) is not None:
        hint = f"did you mean `status={state}`?"
    elif (kind := _member(ClusterType, token)) is not None:
        hint = f"did you mean `cluster_type={kind}`?"
    elif lowered in ("true", "false", "yes", "no"):
        hint = f"did you mean `risky={lowered}` or `cluster_container={lowered}`?"
    return Problem(
        TEXT_KEY,
        clip(token, _CLIP),
        "`key=value` pairs after an optional command word "
        f"({', '.join(COMMAND_WORDS)}); quote values with spaces",
        hint,
    )


def _status(args: list[str]) -> Status:
    key = "enterprise_project_id"
    pairs = [a for a in args if a.partition("=")[0] == key]
    problems: list[Problem] = []
    task_id: str | None = None
    try:
        task_id = _task_id([a for a in args if a.partition("=")[0] != key])
    except InvalidCommand as exc:
        problems += exc.problems
    project: str | None = None
    if len(pairs) > 1:
        given = clip(" ".join(pairs), _CLIP)
        problems.append(Problem(key, given, "each key at most once", "keep one of them"))
    elif pairs:
        raw = pairs[0].partition("=")[2]
        try:
            project = _parse_enterprise_project(raw) if raw else None
        except _Rejected as rejected:
            problems += rejected.problems(key, raw)
        if not raw:
            problems.append(_empty(key))
    if problems or task_id is None:
        raise InvalidCommand(problems)
    return Status(task_id, project)


def _task_id(args: list[str]) -> str:
    accepted = "one task id after `status` (letters, digits, `.`, `_`, `~`, `-`)"
    if (
        len(args) == 1
        and _TASK_ID.fullmatch(args[0])
        and _member(ContainerStatus, args[0]) is None  # `status running` means status=Running
    ):
        return args[0]
    given = " ".join(args) if args else None
    hint = None
    if len(args) == 1 and "=" in args[0]:
        hint = "`status <task_id>` looks up a task; to filter by state, put `status=…` alone"
    elif len(args) == 1 and (member := _member(ContainerStatus, args[0])) is not None:
        hint = f"to export containers in that state, write `status={member}`"
    elif any("=" in arg for arg in args):
        hint = "only `enterprise_project_id=…` may follow the task id"
    raise InvalidCommand(
        [Problem("status", None if given is None else clip(given, _CLIP), accepted, hint)]
    )


# --- Validation ------------------------------------------------------------------------


def _build(
    fields: Mapping[str, str], defaults: RequestDefaults, clock: Clock
) -> tuple[ExportRequest | None, list[Problem]]:
    problems = _key_problems(fields)
    values: dict[str, object] = {}
    for key in FIELD_KEYS:
        raw = fields.get(key)
        if raw is None:
            continue
        if raw == "":
            problems.append(_empty(key))
            continue
        try:
            values[key] = _PARSERS[key](raw)
        except _Rejected as rejected:
            problems.extend(rejected.problems(key, raw))
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
    return ExportRequest(query=query, body=body)


# The fields that go into the body as they are (the window and headers are built above).
_BODY_KEYS: Final = tuple(key for key in FIELD_KEYS if key in ExportBody.model_fields)


def _key_problems(fields: Mapping[str, str]) -> list[Problem]:
    problems = []
    for key in fields:
        if key in FIELD_KEYS:
            continue
        folded = unicodedata.normalize("NFKC", key).lower().replace("-", "_")
        near = _near(folded, FIELD_KEYS + tuple(_KEY_ALIASES))
        if folded in FIELD_KEYS and key.lower() == folded:
            hint: str | None = f"keys are lower-case: did you mean `{folded}`?"
        elif folded in FIELD_KEYS or folded in _KEY_ALIASES:
            hint = f"did you mean `{_KEY_ALIASES.get(folded, folded)}`?"
        elif near:
            hint = f"did you mean `{_KEY_ALIASES.get(near[0], near[0])}`?"
        else:
            hint = None
        accepted = "a known key" if hint else f"one of the keys {', '.join(FIELD_KEYS)}"
        given = clip(f"{key}={fields[key]}", _CLIP)
        problems.append(Problem(clip(key, _CLIP) or TEXT_KEY, given, accepted, hint))
    return problems


def _empty(key: str) -> Problem:
    return Problem(key, "", FIELD_HELP[key], "leave the key out to leave it unset")


class _Rejected(Exception):
    """A raw value is not acceptable; carries the hint, or several item problems."""

    def __init__(self, hint: str | None = None, *, items: list[Problem] | None = None) -> None:
        super().__init__(hint)
        self.hint = hint
        self.items = items

    def problems(self, key: str, raw: str) -> list[Problem]:
        """Return the problems to report for `key=raw`."""
        if self.items:
            return self.items
        return [Problem(key, clip(raw, _CLIP), FIELD_HELP[key], self.hint)]


def _parse_bool(raw: str) -> bool:
    value = raw.strip().lower()
    if value in ("true", "yes"):
        return True
    if value in ("false", "no"):
        return False
    if value in ("1", "on", "y"):
        raise _Rejected("did you mean `true`?")
    if value in ("0", "off", "n"):
        raise _Rejected("did you mean `false`?")
    raise _Rejected(_did_you_mean(_near(value, ("true", "false", "yes", "no"))))


def _enum_parser(enum: type[E]) -> Callable[[str], E]:
    def parse(raw: str) -> E:
        member = _member(enum, raw)
        if member is not None:
            return member
        near = _near(raw.strip().lower().replace("-", "_"), [m.value.lower() for m in enum])
        spelled = [m.value for m in enum if m.value.lower() in near]
        raise _Rejected(_did_you_mean(spelled))

    return parse


def _member(enum: type[E], raw: str) -> E | None:
    value = raw.strip().lower()
    return next((m for m in enum if m.value.lower() == value), None)


def _name_parser(limit: int) -> Callable[[str], str]:
    def parse(raw: str) -> str:
        if len(raw) > limit:
            raise _Rejected(f"{len(raw)} characters is {len(raw) - limit} too many")
        if _has_control(raw):
            raise _Rejected("control characters (newlines, tabs, …) are not accepted")
        return raw

    return parse


def _parse_cpu(raw: str) -> str:
    value = raw.strip()
    if re.fullmatch(r"[0-9]+m", value) and len(value) <= 64:
        return value
    if re.fullmatch(r"[0-9]+M", value):
        raise _Rejected(f"did you mean `{value[:-1]}m`? millicores take a lower-case m")
    if re.fullmatch(r"[0-9]+(\.[0-9]+)?", value) and float(value) * 1000 < 10**63:
        millis = round(float(value) * 1000)
        raise _Rejected(f"if that is cores, write `{millis}m`")
    raise _Rejected(_too_long(value, 64))


def _parse_memory(raw: str) -> str:
    value = raw.strip()
    if match := re.fullmatch(r"([0-9]+)(mi|gi)", value, re.IGNORECASE):
        digits, unit = match.groups()
        if len(value) <= 64:
            return digits + unit.capitalize()
    if match := re.fullmatch(r"([0-9]+)\s*(m|mb|mib|g|gb|gib)", value, re.IGNORECASE):
        digits, unit = match.groups()
        raise _Rejected(f"did you mean `{digits}{'Gi' if unit[0] in 'gG' else 'Mi'}`?")
    raise _Rejected(_too_long(value, 64))


def _too_long(value: str, limit: int) -> str | None:
    return (
        f"{len(value)} characters is {len(value) - limit} too many" if len(value) > limit else None
    )


def _parse_export_size(raw: str) -> int:
    value = raw.strip()
    if match := re.fullmatch(r"([0-9]{1,6})k", value, re.IGNORECASE):
        size = int(match.group(1)) * 1000
        hint = f"did you mean `{size}`?" if 1 <= size <= EXPORT_SIZE_MAX else None
        raise _Rejected(hint)
    if not re.fullmatch(r"[0-9]+", value):
        raise _Rejected("digits only")
    if len(value) > 7 or not 1 <= int(value) <= EXPORT_SIZE_MAX:
        raise _Rejected(f"leave it out to export up to {EXPORT_SIZE_MAX}")
    return int(value)


def _parse_enterprise_project(raw: str) -> str:
    if raw.strip().lower() == ALL_GRANTED_EPS:
        return ALL_GRANTED_EPS
    if len(raw) > 256:
        raise _Rejected(f"{len(raw)} characters is {len(raw) - 256} too many")
    if _has_control(raw) or raw != raw.strip():
        raise _Rejected("no spaces around it and no control characters")
    if raw.lower() in ("all", "*") or _near(raw.lower(), (ALL_GRANTED_EPS,), cutoff=0.8):
        raise _Rejected(f"did you mean `{ALL_GRANTED_EPS}`?")
    return raw


def _parse_headers(raw: str) -> list[tuple[str, str | None]] | None:
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
            problems.append(
                Problem("headers", clip(raw, _CLIP), FIELD_HELP["headers"], "an item is empty")
            )
        elif key == "all":
            problems.append(
                Problem("headers", item, "`all` alone, or a list of keys", "`all` with others")
            )
        elif key not in HEADER_NAMES:
            folded = unicodedata.normalize("NFKC", key)
            near = _near(folded, HEADER_KEYS + tuple(_HEADER_ALIASES))
            suggestion = _HEADER_ALIASES.get(folded) or (
                _HEADER_ALIASES.get(near[0], near[0]) if near else None
            )
            problems.append(
                Problem(
                    "headers",
                    clip(given.strip(), _CLIP),
                    f"header keys: {', '.join(HEADER_KEYS)}",
                    f"did you mean `{suggestion}`?" if suggestion else None,
                )
            )
        elif key in seen:
            problems.append(
                Problem("headers", key, "each header key at most once", f"`{key}` repeats")
            )
        elif colon and (not name or _has_control(name)):
            problems.append(
                Problem(
                    "headers",
                    clip(item.strip(), _CLIP),
                    "`key:Display name` with a non-empty name, or the key alone",
                )
            )
        else:
            seen.add(key)
            headers.append((key, name if colon else None))
    if problems:
        raise _Rejected(items=problems)
    return headers


def _parse_instant(raw: str) -> int:
    """Return epoch milliseconds for a date, an ISO-8601 date-time or epoch milliseconds."""
    value = raw.strip()
    if re.fullmatch(r"[0-9]+", value):
        if len(value) > 15 or int(value) > _MAX_EPOCH_MS:
            raise _Rejected("that is after the year 9999")
        ms = int(value)
        if 0 < ms < _MIN_PLAUSIBLE_MS:
            raise _Rejected(f"that is {_iso(ms)}; if you meant epoch seconds, write `{ms * 1000}`")
        return ms
    try:
        if re.fullmatch(r"[0-9]{4}-[0-9]{2}-[0-9]{2}", value):
            when = datetime.combine(date.fromisoformat(value), datetime.min.time(), UTC)
        else:
            when = datetime.fromisoformat(value)
            if when.tzinfo is None:
                when = when.replace(tzinfo=UTC)
        ms = (when - _EPOCH) // _MS
    except (ValueError, OverflowError):
        dashed = value.replace("/", "-").replace(".", "-")
        if dashed != value and re.fullmatch(r"[0-9]{4}-[0-9]{2}-[0-9]{2}", dashed):
            raise _Rejected(f"did you mean `{dashed}`?") from None
        raise _Rejected(None) from None
    if ms < 0:
        raise _Rejected("that is before 1970")
    if ms > _MAX_EPOCH_MS:
        raise _Rejected("that is after the year 9999")
    return ms


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
                    clip(fields["created_after"], _CLIP),
                    f"a time earlier than created_before ({_iso(before)})",
                    f"created_after is {_iso(start)}: swap `created_after` and `created_before`?",
                )
            )
            return None
    else:
        now = clock()
        now = now if now.tzinfo else now.replace(tzinfo=UTC)
        end = (now - _EPOCH) // _MS
        if start > end:
            problems.append(
                Problem(
                    "created_after",
                    clip(fields["created_after"], _CLIP),
                    f"a time not in the future (now is {_iso(end)})",
                    "add `created_before` to bound the window explicitly",
                )
            )
            return None
    return start, end


_PARSERS: Final[dict[str, Callable[[str], object]]] = {
    "cluster_container": _parse_bool,
    "cluster_type": _enum_parser(ClusterType),
    "cluster_name": _name_parser(_NAME_LIMITS["cluster_name"]),
    "container_name": _name_parser(_NAME_LIMITS["container_name"]),
    "pod_name": _name_parser(_NAME_LIMITS["pod_name"]),
    "image_name": _name_parser(_NAME_LIMITS["image_name"]),
    "status": _enum_parser(ContainerStatus),
    "risky": _parse_bool,
    "cpu_limit": _parse_cpu,
    "memory_limit": _parse_memory,
    "created_after": _parse_instant,
    "created_before": _parse_instant,
    "headers": _parse_headers,
    "export_size": _parse_export_size,
    "enterprise_project_id": _parse_enterprise_project,
}


def _from_pydantic(error: ErrorDetails) -> Problem:
    loc = error["loc"]
    model_field = str(loc[1]) if len(loc) > 1 else ""
    key = {"create_time": "created_after", "export_headers": "headers"}.get(
        model_field, model_field if model_field in FIELD_KEYS else TEXT_KEY
    )
    return Problem(key, None, error["msg"])


# --- Small helpers ---------------------------------------------------------------------


def _near(word: str, choices: Iterable[str], cutoff: float = 0.6) -> list[str]:
    return difflib.get_close_matches(word, list(choices), n=2, cutoff=cutoff)


def _did_you_mean(options: list[str]) -> str | None:
    if not options:
        return None
    return "did you mean " + " or ".join(f"`{o}`" for o in options) + "?"


def _has_control(text: str) -> bool:
    return any(unicodedata.category(ch) == "Cc" for ch in text)


def _iso(ms: int) -> str:
    when = _EPOCH + ms * _MS
    text = when.isoformat(timespec="milliseconds").replace("+00:00", "Z")
    return text.replace("T00:00:00.000Z", "")
