"""The summary (and what changed) as a Slack message in the file's thread.

Pure: plain dicts out, no slack_sdk (the tests check the blocks with its
models). Every value that came from the file is escaped (`&`, `<`, `>`), so a
cluster named `<!channel>` pings nobody. Within Slack's limits whatever the file
holds: at most 50 blocks, section texts of at most 3000 characters, fields of
2000, one `table` block (Slack accepts one per message) of at most 11 rows of 5
cells, every cell clipped. The notification `text` is the plain rendering.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime
from typing import Any, Final

from bot.domain.blocks import Message, escape
from bot.reading import render_text as plain
from bot.reading.digest import Digest, DigestDiff, diff
from bot.reading.read import Report
from bot.reading.summary import Summary

SECTION_MAX: Final = 3000
FIELD_MAX: Final = 2000
CONTEXT_MAX: Final = 2000
BLOCKS_MAX: Final = 50
TEXT_MAX: Final = 4000  # far below Slack's 40,000: a notification, not the report
CELL_MAX: Final = 80
_SLACK_USER: Final = re.compile(r"[UW][A-Z0-9]{2,20}")
Block = dict[str, Any]


def render_blocks(
    summary: Summary,
    diff: DigestDiff | None = None,
    *,
    since: datetime | str | None = None,
    by: str | None = None,
) -> Message:
    """Return the thread message for a summarized export (and its diff, when there is one).

    `since` and `by` are the caller's: when the earlier export ran and who ran
    it (a Slack user id is shown as a mention, anything else as text).
    """
    head = f"*{escape(plain.headline(summary))}*"
    if (capped := plain.capped_line(summary)) is not None:
        head += f"\n:warning: {escape(capped)}"
    blocks: list[Block] = [_section(head)]
    fields = [
        f"*{title}*\n{escape(line)}"
        for title, line in (
            ("By status", plain.status_line(summary)),
            ("Risky", plain.risky_line(summary)),
            ("Risks", plain.risks_line(summary)),
            ("Created", plain.created_line(summary)),
        )
        if line is not None
    ]
    if fields:
        blocks.append(
            {
                "type": "section",
                "fields": [{"type": "mrkdwn", "text": _clip(f, FIELD_MAX)} for f in fields],
            }
        )
    if summary.top is not None:
        if summary.top:
            blocks.append(_section("*Riskiest containers* (most fatal, then high risks)"))
            blocks.append(_top_table(summary))
        else:
            blocks.append(_section("No container has fatal or high risks."))
    if summary.clusters:
        lines = [
            f"• {escape(c.cluster)}: {plain.number(c.risky)} of {plain.number(c.containers)} risky"
            for c in summary.clusters
        ]
        blocks.append(_section("*Clusters with the most risky containers*\n" + "\n".join(lines)))
    if diff is not None:
        blocks += _diff_blocks(diff, since, by)
    if found := plain.notes(summary):
        blocks.append(_context([escape(note) for note in found]))
    text = plain.render_text(summary, diff, since=since, by=by)
    return Message(text=_clip(text, TEXT_MAX), blocks=blocks[:BLOCKS_MAX])


def thread_message(
    report: Report,
    previous: Digest | None = None,
    *,
    since: datetime | str | None = None,
    by: str | None = None,
) -> Message:
    """Return what the thread gets for a read export: the summary (and changes), or why not.

    `previous` is the digest of the last export with the same filters, if any.
    """
    if report.summary is None:
        return render_no_summary(report.reason or "the file could not be read")
    changes = diff(previous, report.digest) if previous is not None and report.digest else None
    return render_blocks(report.summary, changes, since=since, by=by)


def render_no_summary(reason: str) -> Message:
    """Return the one-line note posted when the file could not be summarized."""
    line = f"No summary of this file: {reason}."
    note = _context([f":information_source: {escape(line)}"])
    return Message(text=_clip(line, TEXT_MAX), blocks=[note])


def _top_table(summary: Summary) -> Block:
    header = ["Container", "Image", "Cluster", "Fatal", "High"]
    rows = [[_cell(h) for h in header]] + [
        [
            _cell(t.container),
            _cell(t.image),
            _cell(t.cluster),
            _cell(str(t.fatal)),
            _cell(str(t.high)),
        ]
        for t in summary.top or ()
    ]
    return {
        "type": "table",
        "rows": rows,
        "column_settings": [
            {"is_wrapped": True},
            {"is_wrapped": True},
            {"is_wrapped": True},
            {"align": "right"},
            {"align": "right"},
        ],
    }


def _cell(value: str | None) -> Block:
    text = escape(_clip(value, CELL_MAX)) if value else "–"
    return {"type": "raw_text", "text": text}


def _diff_blocks(diff: DigestDiff, since: datetime | str | None, by: str | None) -> list[Block]:
    ran = f"since {_when(since)}" if since else "since the last export with these filters"
    if by:
        ran += f", {_who(by)} ran it"
    if not diff.comparable:
        return [_section(f"*Changed {ran}*: not compared, {escape(diff.reason or '')}")]
    blocks = [_section(f"*Changed {ran}*: {plain.diff_counts(diff)}")]
    moved = {
        title: [f"{c.after.label()} ({plain.risk_change(c, diff.compared)})" for c in changes]
        for title, changes in (("Riskier", diff.up), ("Less risky", diff.down))
    }
    for title, names in (
        ("New", [e.label() for e in diff.new]),
        ("Gone", [e.label() for e in diff.gone]),
        *moved.items(),
    ):
        if names:
            blocks.append(_section(f"*{title}*: {escape(plain.listed(names))}"))
    if found := plain.diff_notes(diff):
        blocks.append(_context([escape(note) for note in found]))
    return blocks


def _when(when: datetime | str) -> str:
    if isinstance(when, str):
        return escape(when)
    moment = when if when.tzinfo else when.replace(tzinfo=UTC)
    epoch = int(moment.timestamp())
    return f"<!date^{epoch}^{{date_short_pretty}} at {{time}}|{plain.when_text(moment)}>"


def _who(by: str) -> str:
    return f"<@{by}>" if _SLACK_USER.fullmatch(by) else escape(by)


def _section(text: str) -> Block:
    return {"type": "section", "text": {"type": "mrkdwn", "text": _clip(text, SECTION_MAX)}}


def _context(texts: list[str]) -> Block:
    return {
        "type": "context",
        "elements": [{"type": "mrkdwn", "text": _clip(t, CONTEXT_MAX)} for t in texts[:10]],
    }


def _clip(text: str, limit: int) -> str:
    """Clip to `limit` characters without cutting an escape such as `&amp;` in two."""
    if len(text) <= limit:
        return text
    cut = text[: limit - 1]
    amp = cut.rfind("&", len(cut) - 5)
    if amp != -1 and ";" not in cut[amp:]:
        cut = cut[:amp]
    return cut + "…"
