"""`/hss-export history` and the App Home's list: a user's latest audit entries, in words.

Pure, like `bot.domain.blocks` (whose escaping, limits and request summary it
reuses). Each line says when (in the zone it is given), from where, what came
of it (a held request waits; a decided one, and the export it let run, name
the approver), what it asked, and why it failed.
"""

from __future__ import annotations

from collections.abc import Sequence
from zoneinfo import ZoneInfo

from bot.domain.blocks import SECTION_MAX, Message, _chunks, _message, _section, escape, summarize
from bot.domain.text import clip
from bot.domain.types import CHANGES, AuditEntry


def history(entries: Sequence[AuditEntry], tz: str = "UTC") -> Message:
    """List a user's latest audit entries (newest first), their times in the zone `tz`.

    Every entry under the user's id: exports and refusals, saved-export and
    schedule changes, and their schedules' runs, so the head says "entries".
    """
    if not entries:
        text = "Nothing of yours is in the audit log yet."
        return _message(text, [_section(text)])
    lines = ["• " + " · ".join(_history_parts(entry, ZoneInfo(tz))) for entry in entries]
    head = f"Your last {len(entries)} entr{'ies' if len(entries) != 1 else 'y'} in the audit log"
    blocks = [_section(f"*{head}*")]
    blocks += [_section(piece) for piece in _chunks("\n".join(lines), SECTION_MAX)]
    return _message(head, blocks)


def _history_parts(entry: AuditEntry, zone: ZoneInfo) -> list[str]:
    """Return one history line's parts: when, from where, what came of it, what it asked."""
    parts = [entry.at.astimezone(zone).strftime("%Y-%m-%d %H:%M %Z"), entry.source]
    parts.append(_history_outcome(entry))
    if entry.saved_export:
        parts.append(f"saved export `{escape(entry.saved_export)}`")
    if entry.schedule:
        parts.append(f"schedule `{escape(entry.schedule)}`")
    if entry.task_id:
        parts.append(f"task `{escape(entry.task_id)}`")
    # A change (`saved`, `paused`, …) that holds no request says what it did instead.
    if entry.request is not None or entry.outcome not in CHANGES:
        parts.append(summarize(entry.request))
    note = entry.error or entry.detail
    if note:
        parts.append(escape(clip(note, 120)))
    return parts


def _history_outcome(entry: AuditEntry) -> str:
    """Say what came of an entry, in words that cannot be misread for the two-person rule.

    A held request is waiting (not yet run), a decided one names who decided, the
    export an approver let run names them too, and a refused click on Approve or
    Deny (outcome `denied`, source `approval`) is a refused click, not a denied request.
    """
    who = f"<@{escape(entry.approver)}>" if entry.approver else None
    if entry.outcome == "awaiting_approval":
        return "*waiting for approval*"
    if entry.outcome == "denied" and entry.source == "approval":
        return "*click refused*"
    if entry.outcome in ("approved", "denied_by_approver") and who:
        return f"*{'approved' if entry.outcome == 'approved' else 'denied'}* by {who}"
    if entry.source == "approval" and who:
        return f"*{entry.outcome}* · approved by {who}"
    return f"*{entry.outcome}*"
