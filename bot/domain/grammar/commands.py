"""Slash parsing: `/hss-export` text (or a command line's words) into one `Command`.

Pure: no Slack, no I/O. Text is split into words (shell-like quoting, Slack's curly
quotes too); a leading command word picks a parser from `_PARSERS`, so a new command
is one dataclass, one parser function and one entry there; anything else is
`key=value` pairs for `build_request`. Every problem is collected and raised at once
as `InvalidCommand`; nothing else ever escapes `parse_command` or `parse_tokens`.
Keys are lower-case; `Status=…` is refused with a suggestion, never guessed.
The values of `status` live in `status.py`, those of the saved-export commands
(`save`, `run`, `saved`, `forget`) in `presets.py`.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Final, TypeAlias

from bot.domain.errors import InvalidCommand, Problem
from bot.domain.grammar.fields import (
    ALL_KEYS,
    CONFIRM_RULE,
    TEXT_KEY,
    empty,
    key_problems,
    parse_rule,
)
from bot.domain.grammar.presets import Forget, Run, Save, SavedList, leading_name
from bot.domain.grammar.request import Clock, RequestDefaults, build, utc_now
from bot.domain.grammar.schedule_commands import (
    ScheduleCommand,
    ScheduleList,
    SchedulePause,
    ScheduleResume,
    Unschedule,
    parse_named,
    parse_schedule_add,
)
from bot.domain.grammar.status import Status, parse_status
from bot.domain.grammar.values import CLIP, FALSE_WORDS, TRUE_WORDS, member, near
from bot.domain.grammar.words import split_words
from bot.domain.model import ClusterType, ContainerStatus, ExportRequest
from bot.domain.text import clip

MAX_TEXT_CHARS: Final = 4000


@dataclass(frozen=True)
class OpenModal:
    """Empty text: open the export form."""


@dataclass(frozen=True)
class Help:
    """`help`: show usage."""


@dataclass(frozen=True)
class History:
    """`history`: show the caller's latest exports."""


@dataclass(frozen=True)
class ProfileList:
    """`profiles`: list the HSS profiles the caller may use (only to the caller)."""


@dataclass(frozen=True)
class Preview:
    """`preview key=value …`: show the exact request without sending it."""

    request: ExportRequest


@dataclass(frozen=True)
class Export:
    """`key=value …`: create the export task; `confirmed` by `confirm=yes` (broad exports)."""

    request: ExportRequest
    confirmed: bool = False


@dataclass(frozen=True)
class Approvals:
    """`approvals`: list the export requests waiting on the caller, or by them."""


@dataclass(frozen=True)
class Form:
    """`form key=value …`: open the form prefilled with these raw field values."""

    prefill: dict[str, str] = field(default_factory=dict)


Command: TypeAlias = (
    OpenModal
    | Help
    | Status
    | History
    | Preview
    | Export
    | Form
    | Approvals
    | ProfileList
    | ScheduleCommand
    | Save
    | Run
    | SavedList
    | Forget
)


# --- entry points ------------------------------------------------------------------------


def parse_command(
    text: str, defaults: RequestDefaults | None = None, *, clock: Clock = utc_now
) -> Command:
    """Parse slash-command text; raise `InvalidCommand` listing every problem."""
    _check_length(text)
    return _parse(split_words(text), defaults or RequestDefaults(), clock)


def parse_tokens(
    tokens: Sequence[str], defaults: RequestDefaults | None = None, *, clock: Clock = utc_now
) -> Command:
    """Parse already-split words (a command line's argv) exactly as `parse_command` parses text.

    The shell has done the quoting, so no quote is interpreted again: a word such as
    `pod_name=O’Brien` stays as typed.
    """
    _check_length(" ".join(tokens))
    return _parse(list(tokens), defaults or RequestDefaults(), clock)


def export_from_fields(
    fields: Mapping[str, str], defaults: RequestDefaults | None = None, *, clock: Clock = utc_now
) -> Export:
    """Build the export raw fields describe (a saved export's, overrides applied), as typed.

    `confirm=` is read as on the slash command; raise `InvalidCommand` listing every
    problem, each naming its key.
    """
    return _export_of(dict(fields), [], defaults or RequestDefaults(), clock)


def text_fields(text: str) -> tuple[dict[str, str], list[Problem]]:
    """Split `key=value` text (no command word) into raw fields, with the problems of its words.

    For callers that merge the text with fields of their own (the Workflow step's
    `filters` input): a key given twice, a bare word or bad quoting is a problem
    here exactly as in the slash command.
    """
    try:
        _check_length(text)
        return _tokens_to_fields(split_words(text), command_position=False)
    except InvalidCommand as exc:
        return {}, list(exc.problems)


def _check_length(text: str) -> None:
    if len(text) > MAX_TEXT_CHARS:
        raise InvalidCommand(
            [
                Problem(
                    TEXT_KEY,
                    clip(text, CLIP),
                    f"at most {MAX_TEXT_CHARS} characters",
                    f"this text has {len(text)}",
                )
            ]
        )


def _parse(tokens: list[str], defaults: RequestDefaults, clock: Clock) -> Command:
    if not tokens:
        return OpenModal()
    word = tokens[0].lower() if "=" not in tokens[0] else ""
    parser = _PARSERS.get(word)
    if parser is None:
        return _export(tokens, defaults, clock)
    return parser(tokens[1:], defaults, clock)


# --- one parser per command word ---------------------------------------------------------


def _nothing_after(word: str, command: Command) -> _Parser:
    def parse(rest: list[str], _defaults: RequestDefaults, _clock: Clock) -> Command:
        if rest:
            raise InvalidCommand(
                [Problem(word, clip(" ".join(rest), CLIP), f"nothing after `{word}`")]
            )
        return command

    return parse


def _export(tokens: list[str], defaults: RequestDefaults, clock: Clock) -> Command:
    fields, problems = _tokens_to_fields(tokens, command_position=True)
    return _export_of(fields, problems, defaults, clock)


def _export_of(
    fields: dict[str, str], problems: list[Problem], defaults: RequestDefaults, clock: Clock
) -> Export:
    confirmed = _confirm(fields, problems)
    return Export(_built(fields, problems, defaults, clock), confirmed=confirmed)


def _confirm(fields: dict[str, str], problems: list[Problem]) -> bool:
    """Take `confirm=…` out of the request's fields; True for `confirm=yes`."""
    raw = fields.pop(CONFIRM_RULE.key, None)
    if raw is None:
        return False
    value, more = parse_rule(CONFIRM_RULE, raw)
    problems += more
    return value is True


def _preview(rest: list[str], defaults: RequestDefaults, clock: Clock) -> Command:
    fields, problems = _tokens_to_fields(rest, command_position=False)
    return Preview(_built(fields, problems, defaults, clock))


def _built(
    fields: dict[str, str], problems: list[Problem], defaults: RequestDefaults, clock: Clock
) -> ExportRequest:
    """Build the request the fields describe; raise `InvalidCommand` with every problem."""
    request, more = build(fields, defaults, clock)
    problems += more
    if problems or request is None:
        raise InvalidCommand(problems)
    return request


def _form(rest: list[str], _defaults: RequestDefaults, _clock: Clock) -> Command:
    fields, problems = _tokens_to_fields(rest, command_position=False)
    return Form(_checked_fields(fields, problems))


def _checked_fields(fields: dict[str, str], problems: list[Problem]) -> dict[str, str]:
    """Check the keys of fields whose values are parsed later; raise with every problem."""
    problems += key_problems(fields)
    problems += [empty(k) for k, value in fields.items() if value == "" and k in ALL_KEYS]
    if problems:
        raise InvalidCommand(problems)
    return dict(fields)


def _save(rest: list[str], _defaults: RequestDefaults, _clock: Clock) -> Command:
    name, problems = leading_name("save", rest)
    fields, more = _tokens_to_fields(rest[1:], command_position=False)
    problems += more
    if (raw := fields.pop(CONFIRM_RULE.key, None)) is not None:
        problems.append(
            Problem(
                CONFIRM_RULE.key,
                raw,
                "the filters to keep (a saved export asks for no confirmation)",
                f"confirm a broad export when you run it: `run {name or 'NAME'} confirm=yes`",
            )
        )
    if problems or name is None:
        raise InvalidCommand(problems)
    return Save(name, fields)


def _run(rest: list[str], _defaults: RequestDefaults, _clock: Clock) -> Command:
    name, problems = leading_name("run", rest)
    fields, more = _tokens_to_fields(rest[1:], command_position=False)
    problems += more
    confirmed = _confirm(fields, problems)
    overrides = _checked_fields(fields, problems)
    assert name is not None  # as in `_save`
    return Run(name, overrides, confirmed=confirmed)


def _forget(rest: list[str], _defaults: RequestDefaults, _clock: Clock) -> Command:
    name, problems = leading_name("forget", rest)
    if rest[1:]:
        problems.append(Problem("forget", clip(" ".join(rest[1:]), CLIP), "only a NAME"))
    if problems or name is None:
        raise InvalidCommand(problems)
    return Forget(name)


def _schedule(rest: list[str], _defaults: RequestDefaults, _clock: Clock) -> Command:
    return parse_schedule_add(rest)


def _pause(rest: list[str], _defaults: RequestDefaults, _clock: Clock) -> Command:
    return SchedulePause(parse_named("pause", rest))


def _resume(rest: list[str], _defaults: RequestDefaults, _clock: Clock) -> Command:
    return ScheduleResume(parse_named("resume", rest))


def _unschedule(rest: list[str], _defaults: RequestDefaults, _clock: Clock) -> Command:
    return Unschedule(parse_named("unschedule", rest))


_Parser: TypeAlias = Callable[[list[str], RequestDefaults, Clock], Command]
_PARSERS: Final[dict[str, _Parser]] = {
    "help": _nothing_after("help", Help()),
    "status": parse_status,
    "history": _nothing_after("history", History()),
    "profiles": _nothing_after("profiles", ProfileList()),
    "preview": _preview,
    "form": _form,
    "approvals": _nothing_after("approvals", Approvals()),
    "schedule": _schedule,
    "schedules": _nothing_after("schedules", ScheduleList()),
    "pause": _pause,
    "resume": _resume,
    "unschedule": _unschedule,
    "save": _save,
    "run": _run,
    "saved": _nothing_after("saved", SavedList()),
    "forget": _forget,
}
COMMAND_WORDS: Final[tuple[str, ...]] = tuple(_PARSERS)


# --- words -------------------------------------------------------------------------------


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
                Problem(TEXT_KEY, clip(token, CLIP), "`key=value` with a key before `=`")
            )
        elif key in fields:
            repeated.setdefault(key, [f"{key}={fields[key]}"]).append(token)
        else:
            fields[key] = value
    for key, given in repeated.items():
        problems.append(
            Problem(key, clip(" ".join(given), CLIP), "each key at most once", "keep one of them")
        )
    return fields, problems


def _bare_token(token: str, *, first: bool) -> Problem:
    lowered = token.lower()
    hint: str | None = None
    # Exact matches first: `running` is a state, not a misspelt `run`.
    if lowered in COMMAND_WORDS:
        hint = f"`{lowered}` is a command: it must come first"
    elif lowered in ALL_KEYS:
        hint = f"write `{lowered}=<value>`"
    elif (state := member(ContainerStatus, token)) is not None:
        hint = f"did you mean `status={state}`?"
    elif (kind := member(ClusterType, token)) is not None:
        hint = f"did you mean `cluster_type={kind}`?"
    elif first and (close := near(lowered, COMMAND_WORDS)):
        hint = f"did you mean the command `{close[0]}`?"
    elif lowered in TRUE_WORDS + FALSE_WORDS:
        hint = f"did you mean `risky={lowered}` or `cluster_container={lowered}`?"
    return Problem(
        TEXT_KEY,
        clip(token, CLIP),
        "`key=value` pairs after an optional command word "
        f"({', '.join(COMMAND_WORDS)}); quote values with spaces",
        hint,
    )
