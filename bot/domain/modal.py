"""The export form as a Slack modal: build the view, read its state, place errors on fields.

Pure: views in and out are plain dicts in Block Kit's shape. Each input's
`block_id` is the request field it fills, so the form's state becomes the very
same raw `key -> text` mapping the slash grammar produces, and one validator
(`grammar.build_request`) serves both; its problems come back keyed by field,
which is to say by block_id. `check_prefill` reads `form key=value …` through
that validator too, so the form never drops a typed value without saying so.

The inputs are in `bot.domain.form_fields`, reading the answer in
`bot.domain.form_answers` (re-exported here). The form knows only how each field
is asked (element, label, hint): the field list and the value parsers (booleans,
enum names, instants, columns) are the grammar's (`bot.domain.grammar.fields`),
and the length limits the model's (`MAX_LENGTHS`).
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Final

from bot.domain.blocks import escape
from bot.domain.errors import InvalidCommand
from bot.domain.form_answers import errors_by_block, field_error, fields_from_state
from bot.domain.form_fields import (
    ACTION_ID,
    BLOCK_IDS,
    FIELDS,
    LABEL_MAX,
    TRI_STATE_ANY,
    Field,
)
from bot.domain.form_pickers import (
    CHANNEL_BLOCK,
    PICK_CHANNEL,
    channel_picker,
    chosen_channel,
    profile_block,
)
from bot.domain.grammar import RequestDefaults, build_request
from bot.domain.grammar.fields import BY_KEY
from bot.domain.grammar.values import NO, YES, Rejected
from bot.domain.model import (
    EXPORT_SIZE_MAX,
    HEADER_KEYS,
    HEADER_NAMES,
    HeaderLang,
)
from bot.domain.text import clip

# The names the listeners and tests use, whichever module of the form defines them.
__all__ = [
    "ACTION_ID",
    "BLOCK_IDS",
    "CALLBACK_ID",
    "CHANNEL_BLOCK",
    "FIELDS",
    "PICK_CHANNEL",
    "STALE",
    "Field",
    "FormContext",
    "Prefill",
    "build_view",
    "check_prefill",
    "chosen_channel",
    "errors_by_block",
    "field_error",
    "fields_from_state",
    "notice_view",
]

CALLBACK_ID: Final = "hss_export_form"
SECTION_MAX: Final = 3000  # Slack's limit on a section's text
METADATA_MAX: Final = 3000  # Slack's limit on private_metadata
STALE: Final = "This form is from an older version of the bot. Run `/hss-export` to open a new one."


# The block of the channel picker (a form opened by the global shortcut knows no channel).


@dataclass(frozen=True)
class FormContext:
    """Where the form's answer goes: travels in the view's private_metadata.

    `channel_id` is empty when the form was opened from anywhere (the global
    shortcut): the user then picks the channel in the form (`chosen_channel`).
    """

    channel_id: str
    response_url: str | None = None

    @property
    def picks_channel(self) -> bool:
        """Tell whether the user picks the channel in the form."""
        return not self.channel_id

    def dump(self) -> str:
        """Serialize for private_metadata (short keys: Slack allows 3000 characters)."""
        data = {"c": self.channel_id}
        if self.response_url and len(self.response_url) < METADATA_MAX - 100:
            data["r"] = self.response_url
        return json.dumps(data, separators=(",", ":"))

    @classmethod
    def load(cls, metadata: str) -> FormContext | None:
        """Read private_metadata back; None if it is not ours."""
        try:
            data = json.loads(metadata)
        except ValueError:
            return None
        if not isinstance(data, dict) or not isinstance(data.get("c"), str):
            return None
        url = data.get("r")
        return cls(channel_id=data["c"], response_url=url if isinstance(url, str) else None)


# --- building the view ------------------------------------------------------------------


def _text(text: str) -> dict[str, Any]:
    return {"type": "plain_text", "text": text}


def _option(value: str, label: str | None = None) -> dict[str, Any]:
    return {"text": _text((label or value)[:75]), "value": value}


# Slack documents `initial_date_time` as "UNIX timestamp in seconds", 10 digits at most
# (slack_sdk's DateTimePickerElement refuses more): 2286-11-20T17:46:39Z is the last one.
PICKER_MAX_SECONDS: Final = 9_999_999_999
BEYOND_PICKER: Final = (
    "Slack's date picker cannot show a time after 2286-11-20 17:46 UTC, so the field is "
    "left empty (the untouched form exports without this bound); to send it, run the "
    "command without `form`"
)


@dataclass(frozen=True)
class _Shown:
    """How one prefilled input shows a typed value: its initial attributes, what it submits."""

    initial: dict[str, Any]
    submits: str | None  # the raw value the untouched input submits (as `fields_from_state`)
    note: str | None = None  # why it cannot show the value, when the reason is its own


def _parsed(key: str, raw: str | None) -> object:
    """The field's own parser (`bot.domain.grammar.fields`); `Rejected` for a refused value."""
    if raw is None:
        return None
    value = BY_KEY[key].parse(raw)
    if key == "headers" and value is None:  # `all`: the 16 standard columns, in order
        return [(k, None) for k in HEADER_KEYS]
    return value


def _try(key: str, raw: str | None) -> object:
    try:
        return _parsed(key, raw)
    except Rejected:
        return None


def _show(spec: Field, raw: str | None) -> _Shown:  # noqa: PLR0911  a `match` with one return per input kind
    """Read `raw` with the grammar's parser once and say how this input shows it."""
    value = _try(spec.key, raw) if raw is not None else None
    match spec.kind:
        case "select":
            chosen = str(value) if value is not None and str(value) in spec.options else None
            initial = {} if chosen is None else {"initial_option": _option(chosen)}
            return _Shown(initial, chosen)
        case "tri":
            chosen = TRI_STATE_ANY if not isinstance(value, bool) else (YES if value else NO)
            label = {YES: "Yes", NO: "No", TRI_STATE_ANY: "Any"}[chosen]
            submits = None if chosen == TRI_STATE_ANY else chosen
            return _Shown({"initial_option": _option(chosen, label)}, submits)
        case "text":
            fits = raw and (spec.max_length is None or len(raw) <= spec.max_length)
            return _Shown({"initial_value": raw} if fits else {}, (raw or "").strip() or None)
        case "number":
            if not isinstance(value, int):
                return _Shown({}, None)
            return _Shown({"initial_value": str(value)}, str(value))
        case "datetime":
            if not isinstance(value, int):
                return _Shown({}, None)
            seconds = value // 1000
            if seconds > PICKER_MAX_SECONDS:
                return _Shown({}, None, BEYOND_PICKER)
            return _Shown({"initial_date_time": seconds}, str(seconds * 1000))
        case "headers":
            chosen_keys = {k for k, _ in value} if isinstance(value, list) else set(HEADER_KEYS)
            keys = [k for k in HEADER_KEYS if k in chosen_keys]
            return _Shown({"selected_keys": keys}, ",".join(keys))


def _element(spec: Field, prefill: str | None, header_lang: HeaderLang) -> dict[str, Any]:
    element: dict[str, Any] = {"action_id": ACTION_ID}
    shown = _show(spec, prefill)
    match spec.kind:
        case "select":
            # "Any" first: Slack offers no way to clear a select once something is picked.
            element |= {
                "type": "static_select",
                "placeholder": _text("Any"),
                "options": [_option(TRI_STATE_ANY, "Any"), *(_option(v) for v in spec.options)],
            }
        case "tri":
            options = [_option(YES, "Yes"), _option(NO, "No"), _option(TRI_STATE_ANY, "Any")]
            element |= {"type": "radio_buttons", "options": options}
        case "text":
            element["type"] = "plain_text_input"
            if spec.max_length:
                element["max_length"] = spec.max_length
            if spec.placeholder:
                element["placeholder"] = _text(spec.placeholder)
        case "number":
            element |= {
                "type": "number_input",
                "is_decimal_allowed": False,
                "min_value": "1",
                "max_value": str(EXPORT_SIZE_MAX),
            }
        case "datetime":
            element["type"] = "datetimepicker"
        case "headers":
            options = [
                _option(k, f"{k} · {names[header_lang]}") for k, names in HEADER_NAMES.items()
            ]
            wanted = set(shown.initial.pop("selected_keys"))
            element |= {
                "type": "multi_static_select",
                "placeholder": _text("columns"),
                "options": options,
                "initial_options": [o for o in options if o["value"] in wanted],
            }
    return element | shown.initial


@dataclass(frozen=True)
class ProfileOptions:
    """The HSS profiles a user may choose in the form, and the one preselected."""

    names: tuple[str, ...] = ()
    chosen: str | None = None


def build_view(  # noqa: PLR0913  what the form shows: where, prefill, language, hints, notes, profiles
    context: FormContext,
    *,
    prefill: Mapping[str, str] | None = None,
    header_lang: HeaderLang = "zh",
    hints: Mapping[str, str] | None = None,
    notes: Sequence[str] = (),
    profiles: ProfileOptions | None = None,
) -> dict[str, Any]:
    """Build the export form, each input prefilled from `prefill` (raw field strings).

    `notes` (from `check_prefill`) are shown above the inputs: what of the typed
    command the form does not show as typed. `profiles` are the HSS profiles the
    user may use: with more than one, a Profile select comes first, the chosen
    one (the channel's) preselected; left empty, the channel's profile applies.
    """
    prefill = prefill or {}
    hints = hints or {}
    input_blocks: list[dict[str, Any]] = []
    for spec in FIELDS:
        block: dict[str, Any] = {
            "type": "input",
            "block_id": spec.key,
            "optional": spec.kind != "headers",
            "label": _text(spec.label),
            "element": _element(spec, prefill.get(spec.key), header_lang),
        }
        hint = hints.get(spec.key) or spec.hint
        if hint:
            block["hint"] = _text(hint[:LABEL_MAX])
        input_blocks.append(block)
    intro = {
        "type": "context",
        "elements": [
            {
                "type": "mrkdwn",
                "text": "Every filter is optional: leave a field empty to not filter on it. "
                "The export runs under the bot's service account and is audited.",
            }
        ],
    }
    notice = [_notes_block(notes)] if notes else []
    picker = [channel_picker()] if context.picks_channel else []
    if profiles is not None and len(profiles.names) > 1:
        input_blocks.insert(0, profile_block(profiles.names, profiles.chosen))
    return {
        "type": "modal",
        "callback_id": CALLBACK_ID,
        "title": _text("HSS container export"),
        "submit": _text("Export"),
        "close": _text("Cancel"),
        "private_metadata": context.dump(),
        "blocks": [intro, *notice, *picker, *input_blocks],
    }


def _notes_block(notes: Sequence[str]) -> dict[str, Any]:
    lines = [f"• {escape(note)}" for note in notes]
    text = ":warning: *Not filled in as you typed it*\n" + "\n".join(lines)
    clipped = text if len(text) <= SECTION_MAX else text[: SECTION_MAX - 1] + "…"
    return {"type": "section", "text": {"type": "mrkdwn", "text": clipped}}


# --- prefill from `form key=value …` ----------------------------------------------------

COLUMNS_AS_TYPED: Final = (
    "the form keeps neither column names nor column order: it exports its columns with their "
    "standard names, in the standard order; to keep yours, run the command without `form`"
)
NOT_EXACT: Final = "the form cannot show this value exactly; check the field before exporting"


@dataclass(frozen=True)
class Prefill:
    """What the form shows of a typed `form key=value …`, and notes on what it cannot."""

    values: dict[str, str]
    notes: list[str] = field(default_factory=list)


def check_prefill(
    fields: Mapping[str, str],
    *,
    header_lang: HeaderLang = "zh",
    clock: Callable[[], datetime] | None = None,
) -> Prefill:
    """Keep the values the form shows as typed; say why each other one is not shown so.

    One pass: the request is built once (a value the grammar refuses is left out of
    the form, with the grammar's own problem text), then each kept value is read once
    by its field's parser and compared with what its untouched input would submit,
    read by the same parser. A valid value the form cannot express (a custom column
    name or order, a sub-second time, a time the picker cannot show) is shown as near
    as the form can, with a note. "As typed" means: submitting the untouched form
    sends what typing the command would have sent.
    """
    now = (clock or _utc_now)()
    defaults = RequestDefaults(header_lang=header_lang)
    notes: list[str] = []
    values = {k: v for k, v in fields.items() if k in BLOCK_IDS}
    try:
        build_request(values, defaults, clock=lambda: now)
    except InvalidCommand as exc:
        for problem in exc.problems:
            values.pop(problem.key, None)
            notes.append(str(problem))
    specs = {spec.key: spec for spec in FIELDS}
    for key, raw in values.items():
        shown = _show(specs[key], raw)
        if _try(key, shown.submits) != _parsed(key, raw):
            reason = shown.note or (COLUMNS_AS_TYPED if key == "headers" else NOT_EXACT)
            notes.append(f"`{key}={clip(raw, 60)}`: {reason}")
    return Prefill(values, notes)


def _utc_now() -> datetime:
    return datetime.now(UTC)


def notice_view(title: str, text: str) -> dict[str, Any]:
    """Build a one-message view that replaces the form (e.g. a refusal)."""
    return {
        "type": "modal",
        "title": _text(title[:24]),
        "close": _text("Close"),
        "blocks": [{"type": "section", "text": {"type": "mrkdwn", "text": text[:3000]}}],
    }
