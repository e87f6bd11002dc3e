"""Render the saved-export commands' answers (issue 15), and the problems they raise.

Pure, beside `bot.domain.blocks` (whose helpers and limits it uses). A saved
export is shown as the `key=value` words that would save it again, so what a
user reads can be typed back.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from bot.domain.blocks import (
    SECTION_MAX,
    Message,
    _chunks,
    _context,
    _message,
    _section,
    escape,
    refusal,
)
from bot.domain.errors import InvalidCommand, Problem
from bot.domain.grammar import ALL_KEYS, NAME_KEY
from bot.domain.grammar.values import did_you_mean, near
from bot.domain.saved import SavedExport, name_problem


def fields_text(fields: Mapping[str, str]) -> str:
    """Return the fields as `key=value` words, in the grammar's order; spaced values quoted."""
    order = {key: index for index, key in enumerate(ALL_KEYS)}
    words = []
    for key in sorted(fields, key=lambda k: (order.get(k, len(order)), k)):
        value = fields[key]
        if any(ch.isspace() for ch in value) or value == "" or '"' in value or "'" in value:
            quote = "'" if '"' in value else '"'
            value = f"{quote}{value}{quote}"
        words.append(f"{key}={value}")
    return " ".join(words) or "(no filters: every container)"


def saved_done(saved: SavedExport, *, replaced: bool, command: str) -> Message:
    """Say that NAME is saved (or replaced), with its fields and how to run it."""
    verb = "Replaced" if replaced else "Saved"
    name = escape(saved.name)
    text = f"{verb} `{name}`: {escape(fields_text(saved.fields))}"
    how = f"Run it with `{command} run {name}` (add `key=value` to change a field for one run)."
    return _message(text, [_section(f":floppy_disk: {text}"), _context(how)])


def under_way(action: str) -> Message:
    """Acknowledge a change the store is slow to make: its outcome follows in a moment."""
    text = escape(f"Working on it: {action}… the outcome follows here in a moment.")
    return _message(text, [_context(f":hourglass_flowing_sand: {text}")])


def saved_list(items: Sequence[SavedExport], *, command: str) -> Message:
    """List the workspace's saved exports: name, owner, fields (shown only to the caller)."""
    if not items:
        text = f"No saved exports here yet: `{command} save NAME key=value …` makes one."
        return _message(escape(text), [_section(escape(text))])
    lines = [
        f"• `{escape(s.name)}` by <@{escape(s.owner_id)}>: {escape(fields_text(s.fields))}"
        for s in items
    ]
    head = f"{len(items)} saved export{'s' if len(items) != 1 else ''} in this workspace"
    blocks = [_section(f"*{head}*")]
    blocks += [_section(piece) for piece in _chunks("\n".join(lines), SECTION_MAX)]
    how = f"`{command} run NAME` runs one; `{command} forget NAME` deletes yours."
    blocks.append(_context(how))
    return _message(head, blocks)


def forgotten(name: str, *, unscheduled: bool = False) -> Message:
    """Say that NAME is deleted (and its schedule with it, when it had one)."""
    text = f"Forgot `{escape(name)}`: it is no longer saved"
    text += ", and its schedule is deleted." if unscheduled else "."
    return _message(text, [_section(f":wastebasket: {text}")])


def not_yours(name: str, owner_id: str, action: str) -> str:
    """Say that NAME belongs to someone else, who, and what to do instead (safe to audit)."""
    return (
        f"The saved export `{name}` belongs to <@{owner_id}>: only they can {action} it. "
        "Pick another name for yours."
    )


def not_yours_message(name: str, owner_id: str, action: str) -> Message:
    """Show `not_yours` with the owner as a mention (the rest escaped)."""
    mention = f"<@{escape(owner_id)}>"
    text = (
        f"The saved export `{escape(name)}` belongs to {mention}: only they can "
        f"{escape(action)} it. Pick another name for yours."
    )
    return _message(text, [_section(f":no_entry: {text}")])


def unknown_name(name: str, names: Sequence[str]) -> Problem:
    """The problem of a NAME no saved export has: the names that exist, and the closest."""
    shown = ", ".join(f"`{n}`" for n in names[:20]) + (", …" if len(names) > 20 else "")
    accepted = f"a saved export of this workspace: {shown}" if names else "a saved export's name"
    hint = did_you_mean(near(name, names)) or (None if names else "none is saved yet")
    return Problem(NAME_KEY, name, accepted, hint)


def stale(name: str, error: InvalidCommand, overrides: Mapping[str, str]) -> InvalidCommand:
    """Say which stored fields of NAME no longer parse (the grammar's own problems, kept).

    A problem with a key given for this run only is the caller's to fix; one with a
    stored key also says to save NAME again.
    """
    again = f"stored in the saved export `{name}`: save it again with a value accepted now"
    return InvalidCommand(
        [
            p
            if p.key in overrides
            else Problem(p.key, p.given, p.accepted, f"{p.hint}; {again}" if p.hint else again)
            for p in error.problems
        ]
    )


def already_done(action: str) -> Message:
    """Answer a repeated click (the same dedupe key): the first one did it."""
    return refusal(f"Already done: {action} (a repeated click).")


def recordable(name: str) -> str | None:
    """Return NAME when it may go on record as a saved export's name (else None)."""
    return name if name_problem(NAME_KEY, name) is None else None
