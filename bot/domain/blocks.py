"""Render what the bot says in Slack as Block Kit: plain data in, `Message` out.

Pure: no slack_bolt, no slack_sdk, no I/O. Every value a user typed (or HSS wrote)
is escaped before it reaches mrkdwn, in the blocks and in the notification `text`
alike (Slack parses both: `<!channel>` in either would ping the channel). Every
message keeps within Slack's limits whatever it is given (Slack refuses a
message, or an ack, that breaks them): at most 50 blocks, section texts of at
most 3000 characters, context texts of at most 2000, and a notification text of
at most 40 000. A long list of problems shows the first ten and counts the rest.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Final

from bot.domain.errors import BotError, HssError, HssOutcomeUnknown, InvalidCommand
from bot.domain.model import HEADER_KEYS, ExportBody
from bot.domain.text import clip
from bot.domain.types import TaskStatus

SECTION_MAX: Final = 3000  # Slack's limit on a section's text
CONTEXT_MAX: Final = 2000  # Slack's limit on a context element's text
BLOCKS_MAX: Final = 50  # Slack's limit on the blocks of a message
TEXT_MAX: Final = 40_000  # Slack's limit on a message's text
VALUE_CLIP: Final = 40  # longest filter value shown in a one-line summary
PROBLEMS_SHOWN: Final = 10  # problems listed one by one; the rest are counted
PROBLEM_CLIP: Final = 600  # longest text shown for one problem

Block = dict[str, Any]

# Body fields a summary lists one by one, in the model's order; booleans read as yes/no.
# The time window and the columns are summarized on their own.
_SUMMARY_FIELDS: Final = tuple(
    key for key in ExportBody.model_fields if key not in ("create_time", "export_headers")
)
_STATE_EMOJI: Final = {
    "running": ":hourglass_flowing_sand:",
    "success": ":white_check_mark:",
    "failure": ":x:",
}


@dataclass(frozen=True)
class Message:
    """A Slack message: notification `text` (always meaningful alone) and its blocks."""

    text: str
    blocks: list[Block] = field(default_factory=list)


# --- helpers ----------------------------------------------------------------------------


def escape(text: str) -> str:
    """Escape the three characters Slack's mrkdwn treats as control characters."""
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def _section(text: str) -> Block:
    return {"type": "section", "text": {"type": "mrkdwn", "text": clip(text, SECTION_MAX)}}


def _context(*texts: str) -> Block:
    return {
        "type": "context",
        "elements": [{"type": "mrkdwn", "text": clip(t, CONTEXT_MAX)} for t in texts[:10]],
    }


def _message(text: str, blocks: list[Block]) -> Message:
    """Build a message within Slack's limits: text clipped, at most `BLOCKS_MAX` blocks."""
    if len(blocks) > BLOCKS_MAX:
        blocks = [
            *blocks[: BLOCKS_MAX - 1],
            _context("… the rest is left out: it is too long for one Slack message."),
        ]
    return Message(text=clip(text, TEXT_MAX), blocks=blocks)


def _chunks(text: str, limit: int, *, keep_entities: bool = False) -> list[str]:
    """Split text on line breaks into pieces no longer than `limit`.

    With `keep_entities`, a line longer than `limit` is never cut inside an
    escaped `&amp;`/`&lt;`/`&gt;`, so each piece still reads as escaped text.
    """
    pieces: list[str] = []
    current = ""
    for line in text.splitlines(keepends=True):
        while len(line) > limit:
            if current:
                pieces.append(current)
                current = ""
            cut = _entity_safe_cut(line, limit) if keep_entities else limit
            pieces.append(line[:cut])
            line = line[cut:]
        if len(current) + len(line) > limit:
            pieces.append(current)
            current = ""
        current += line
    if current:
        pieces.append(current)
    return pieces


def _entity_safe_cut(line: str, limit: int) -> int:
    """Return where to cut `line` at most `limit` in, before an `&…;` it would split."""
    amp = line.rfind("&", max(0, limit - 4), limit)
    if amp > 0 and ";" not in line[amp:limit]:
        return amp
    return limit


def utc_minute(epoch: float) -> str:
    """Show a Unix time in UTC to the minute: "2026-12-03 14:00 UTC"."""
    return datetime.fromtimestamp(epoch, tz=UTC).strftime("%Y-%m-%d %H:%M UTC")


def _epoch_ms(value: Any) -> str:
    try:
        return utc_minute(int(value) / 1000)
    except (TypeError, ValueError, OverflowError, OSError):
        return escape(str(value))


def summarize(record: Mapping[str, Any] | None) -> str:
    """Return a one-line summary of a request's filters from its `{"query", "body"}` record."""
    if not record:
        return "no request"
    body: Mapping[str, Any] = record.get("body") or {}
    query: Mapping[str, Any] = record.get("query") or {}
    parts: list[str] = []
    for key in _SUMMARY_FIELDS:
        value = body.get(key)
        if value is None:
            continue
        shown = ("yes" if value else "no") if isinstance(value, bool) else str(value)
        parts.append(f"{key}={escape(clip(shown, VALUE_CLIP))}")
    window = body.get("create_time")
    if isinstance(window, Mapping):
        start, end = window.get("start_time"), window.get("end_time")
        parts.append(f"created {_epoch_ms(start)} → {_epoch_ms(end)}")
    filters = ", ".join(parts) if parts else "all containers"
    headers = [h[0] for h in body.get("export_headers") or () if h]
    columns = (
        f"all {len(HEADER_KEYS)} columns"
        if tuple(headers) == HEADER_KEYS
        else f"{len(headers)} column{'s' if len(headers) != 1 else ''}"
    )
    extra = [columns]
    if "export_size" in query:
        extra.append(f"up to {escape(str(query['export_size']))} rows")
    if "enterprise_project_id" in query:
        extra.append(f"enterprise project {escape(clip(str(query['enterprise_project_id']), 40))}")
    return f"{filters}; {', '.join(extra)}"


# --- messages ------------------------------------------------------------------------------


def submitted(
    *,
    user_id: str,
    record: Mapping[str, Any],
    task_id: str,
    request_id: str | None = None,
    audit_complete: bool = True,
) -> Message:
    """Announce an accepted export: task_id, who asked, what was asked for."""
    summary = summarize(record)
    text = f"HSS export task {escape(task_id)} requested by <@{user_id}>: {summary}"
    blocks: list[Block] = [
        _section(
            f":outbox_tray: *HSS container export requested* by <@{user_id}>\n"
            f"*Task ID:* `{escape(task_id)}`"
        ),
        _section(f"*Filters:* {summary}"),
    ]
    notes = []
    if request_id:
        notes.append(f"HSS request id `{escape(request_id)}`")
    if not audit_complete:
        notes.append(":warning: the audit log could not record the outcome; an operator must check")
    if notes:
        blocks.append(_context(" · ".join(notes)))
    return _message(text, blocks)


def failed(error: BotError, *, entry_id: int | None = None) -> Message:
    """Explain why no export was started (or that it may have been), with HSS's ids if any."""
    reason = escape(error.user_message())
    if isinstance(error, HssOutcomeUnknown):
        headline = (
            "HSS may have started the export, but its answer was lost. Check the HSS console's "
            "export tasks before running the command again, or you may get two exports"
        )
        text = f"{headline}: {reason}"
        blocks: list[Block] = [_section(f":grey_question: *{headline}.*\n{reason}")]
    else:
        text = f"HSS export was not started: {reason}"
        blocks = [_section(f":x: *HSS export was not started*\n{reason}")]
    notes = []
    if isinstance(error, HssError) and error.code:
        notes.append(f"HSS error code `{escape(error.code)}`")
    if isinstance(error, HssError) and error.request_id:
        notes.append(f"HSS request id `{escape(error.request_id)}`")
    if entry_id is not None:
        notes.append(f"audit entry #{entry_id}")
    if notes:
        blocks.append(_context(" · ".join(notes)))
    return _message(text, blocks)


def requested() -> Message:
    """Acknowledge a valid export command before HSS is called."""
    text = "Export requested… the task id will be posted in this channel as soon as HSS answers."
    return _message(text, [_section(f":hourglass_flowing_sand: {text}")])


def problems(error: InvalidCommand) -> Message:
    """List a command's problems (the first ten, then a count) and where to read the grammar."""
    count = len(error.problems)
    head = f"I could not run that command: {count} problem{'s' if count != 1 else ''}"
    shown = [clip(str(p), PROBLEM_CLIP) for p in error.problems[:PROBLEMS_SHOWN]]
    if not shown:
        shown = [clip(str(error), PROBLEM_CLIP)]
    more = f"…and {count - PROBLEMS_SHOWN} more" if count > PROBLEMS_SHOWN else None
    lines = [f"• {escape(line)}" for line in shown] + ([more] if more else [])
    blocks = [_section(f":warning: *{head}*")]
    blocks += [_section(piece) for piece in _chunks("\n".join(lines), SECTION_MAX)]
    blocks.append(_context("Nothing was sent to HSS. `/hss-export help` lists every key."))
    text = f"{head}: " + "; ".join([escape(line) for line in shown] + ([more] if more else []))
    return _message(text, blocks)


def help_message(help_text: str) -> Message:
    """Render the grammar's usage text (every key, accepted values, examples)."""
    blocks = [_section(piece) for piece in _chunks(help_text, SECTION_MAX)]
    return _message(clip(help_text, SECTION_MAX), blocks)


def preview(description: Mapping[str, Any]) -> Message:
    """Show the exact request that would be sent, saying that nothing was sent.

    Readable: the call's line, the headers that matter (the signed ones named; the
    transport's own left out), the query and the body as JSON, one line per column
    pair. The text is escaped first and split after (an escaped `&` is 5 characters),
    so no piece outgrows a section; if the request is too long for one message, the
    preview says how much of it is left out.
    """
    pieces = _chunks(escape(_describe(description)), SECTION_MAX - 6, keep_entities=True)
    room = BLOCKS_MAX - 2  # the heading, and the closing context
    code = [_section(f"```{piece}```") for piece in pieces[:room]]
    closing = ["Nothing was sent to HSS. Drop `preview` to run it."]
    if len(pieces) > room:
        left = sum(len(piece) for piece in pieces[room:])
        closing.append(
            f"… the rest of the request ({left} characters) is left out: it is too long "
            "for one Slack message."
        )
    heading = _section(":mag: *Preview*: this is the request `/hss-export` would send.")
    return _message(
        "Preview of the HSS request (nothing was sent)", [heading, *code, _context(*closing)]
    )


# Headers the HTTP client adds for the transport: they do not change what HSS does.
_TRANSPORT_HEADERS: Final = frozenset(
    {"accept", "accept-encoding", "connection", "content-length", "user-agent"}
)


def _describe(description: Mapping[str, Any]) -> str:
    """Render a described call as plain text (unescaped): call line, headers, query, body."""
    parts: list[str] = []
    target = description.get("url") or description.get("path")
    if description.get("method") or target:
        parts.append(f"{description.get('method', '')} {target or ''}".strip())
    headers = description.get("headers")
    if isinstance(headers, Mapping):
        signed = [str(name) for name in description.get("signed_headers") or ()]
        title = f"Headers (signed: {', '.join(signed)})" if signed else "Headers"
        lines = [
            f"{name}: {value}"
            for name, value in headers.items()
            if str(name).lower() not in _TRANSPORT_HEADERS
        ]
        parts.append("\n".join([f"{title}:", *lines]))
    shown = {"method", "url", "path", "headers", "signed_headers"}
    for key, value in description.items():
        if key in shown:
            continue
        parts.append(f"{str(key).capitalize()}:\n{_json_text(value)}")
    return "\n\n".join(parts)


def _json_text(value: Any) -> str:
    """JSON, indented, with each `export_headers` pair on one line."""
    if not isinstance(value, Mapping) or not isinstance(value.get("export_headers"), list):
        return json.dumps(value, ensure_ascii=False, indent=2, default=str)
    items = list(value.items())
    lines = ["{"]
    for index, (key, item) in enumerate(items):
        comma = "," if index < len(items) - 1 else ""
        if key == "export_headers":
            pairs = [json.dumps(pair, ensure_ascii=False, default=str) for pair in item]
            lines.append(f"  {json.dumps(key)}: [")
            lines += [
                f"    {pair}{',' if i < len(pairs) - 1 else ''}" for i, pair in enumerate(pairs)
            ]
            lines.append(f"  ]{comma}")
        else:
            dumped = json.dumps(item, ensure_ascii=False, indent=2, default=str)
            dumped = dumped.replace("\n", "\n  ")
            lines.append(f"  {json.dumps(key, ensure_ascii=False)}: {dumped}{comma}")
    lines.append("}")
    return "\n".join(lines)


def task_status(status: TaskStatus) -> Message:
    """Show an export task's state and, once done, its file name."""
    emoji = _STATE_EMOJI.get(status.task_status, ":grey_question:")
    lines = [f"{emoji} Task `{escape(status.task_id)}` is *{escape(status.task_status)}*"]
    if status.task_name:
        lines.append(f"*Name:* {escape(status.task_name)}")
    if status.file_name:
        lines.append(f"*File:* `{escape(status.file_name)}`")
    text = f"Task {escape(status.task_id)} is {escape(status.task_status)}" + (
        f", file {escape(status.file_name)}" if status.file_name else ""
    )
    return _message(text, [_section("\n".join(lines))])


def looking_up(what: str, *, doing: str = "Looking up") -> Message:
    """Acknowledge a lookup (or what `doing` says, e.g. "Pausing") that answers a moment later."""
    text = escape(f"{doing} {what}…")
    return _message(text, [_context(text)])


def refusal(reason: str) -> Message:
    """Tell a caller they may not run exports here, and what an admin can change."""
    return _message(escape(reason), [_section(f":no_entry: {escape(reason)}")])


def unavailable(action: str, error: BotError) -> Message:
    """Say that a lookup failed, with the error's safe text."""
    text = escape(f"Could not {action}: {error.user_message()}")
    return _message(text, [_section(f":x: {text}")])


def internal_error(reference: str) -> Message:
    """Say honestly that something broke on our side, with a reference for the logs."""
    text = escape(
        "Something went wrong on our side and the command may not have finished. "
        f"Give an operator this reference: {reference}"
    )
    return _message(text, [_section(f":boom: {text}")])


def form_unavailable(command: str) -> Message:
    """Say the form could not open, and how to export without it."""
    text = (
        "I could not open the form: Slack did not answer in time, or refused. If it does not "
        f"appear, run `{command}` again, or type the filters: `{command} status=running`; "
        f"`{command} help` lists every key."
    )
    return _message(text, [_section(f":warning: {text}")])
