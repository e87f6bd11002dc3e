"""The summary and the diff as plain text: for a terminal, and Slack's fallback `text`.

Both renderings say the same things in the same order; this one is also what a
Slack notification or a screen reader shows, so it stands alone.
"""

from __future__ import annotations

import unicodedata
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Final

from bot.reading.digest import Change, DigestDiff
from bot.reading.records import RISK_KEYS
from bot.reading.summary import Summary

LISTED: Final = 10  # containers listed per kind of change; the rest are counted
ITEM_MAX: Final = 100  # longest name shown in a list
RISK_WORDS: Final = {
    "low_risk": "low",
    "medium_risk": "medium",
    "high_risk": "high",
    "fatal_risk": "fatal",
}
_BASIS: Final = {"risky": "the risky column", "counts": "the risk counts"}


def number(value: int) -> str:
    """Return a count with thousands separators."""
    return f"{value:,}"


def headline(summary: Summary) -> str:
    """Return the first line: how many containers, in what file."""
    noun = "container" if summary.rows == 1 else "containers"
    return f"Export summary: {number(summary.rows)} {noun} ({summary.file_format})"


def capped_line(summary: Summary) -> str | None:
    """Return the warning for an export that stopped at `export_size`, if it did."""
    if not summary.capped:
        return None
    return f"capped at {number(summary.export_size)} rows: narrow the filters for the rest"


def status_line(summary: Summary) -> str | None:
    """Return the counts by status."""
    if summary.by_status is None:
        return None
    return " · ".join(f"{status} {number(n)}" for status, n in summary.by_status)


def risky_line(summary: Summary) -> str | None:
    """Return risky vs not, and what that was read from."""
    if summary.risky_basis is None or summary.risky is None or summary.not_risky is None:
        return None
    text = f"{number(summary.risky)} risky, {number(summary.not_risky)} not"
    if summary.risky_unknown:
        text += f", {number(summary.risky_unknown)} unknown"
    return f"{text} (from {_BASIS[summary.risky_basis]})"


def risks_line(summary: Summary) -> str | None:
    """Return the sums of risks, the most severe first."""
    if summary.risk_sums is None:
        return None
    return " · ".join(f"{RISK_WORDS[key]} {number(n)}" for key, n in reversed(summary.risk_sums))


def created_line(summary: Summary) -> str | None:
    """Return the oldest and newest creation times."""
    if summary.created is None:
        return None
    oldest, newest = summary.created
    return f"{oldest:%Y-%m-%d %H:%M} … {newest:%Y-%m-%d %H:%M}"


def notes(summary: Summary) -> list[str]:
    """Return what the reader of the summary should know about the file's columns and values."""
    found: list[str] = []
    if summary.unreadable:
        noun = "value" if summary.unreadable == 1 else "values"
        found.append(
            f"{number(summary.unreadable)} {noun} could not be read and were left out "
            f"(first: {summary.unreadable_example})"
        )
    if summary.missing:
        found.append(f"asked for but not in the file: {', '.join(summary.missing)}")
    if (suggested := summary.suggested_headers()) is not None:
        found.append(f"no risk columns in this export: to see risks, use `headers={suggested}`")
    return found


def when_text(when: datetime | str) -> str:
    """Return a time for plain text, in UTC (a text, such as a file name, is kept)."""
    if isinstance(when, str):
        return when
    moment = when if when.tzinfo else when.replace(tzinfo=UTC)
    return f"{moment.astimezone(UTC):%Y-%m-%d %H:%M} UTC"


def risk_change(change: Change, compared: Sequence[str]) -> str:
    """Return how a container's risk counts moved, most severe first: `fatal 0→2, high 1→3`."""
    moved = []
    for key in reversed(RISK_KEYS):
        if key not in compared:
            continue
        position = RISK_KEYS.index(key)
        before, after = change.before.risks[position] or 0, change.after.risks[position] or 0
        if before != after:
            moved.append(f"{RISK_WORDS[key]} {before}→{after}")
    return ", ".join(moved)


def diff_headline(since: datetime | str | None, by: str | None) -> str:
    """Return the diff's first line: since when, who ran it, how containers were matched."""
    ran = f"since {when_text(since)}" if since else "since the last export with these filters"
    if by:
        ran += f", {by} ran it"
    return f"Changed {ran}"


def diff_counts(diff: DigestDiff) -> str:
    """Return the one-line tally of a diff; risk changes only where risks were compared."""
    moved = f"{number(len(diff.new))} new, {number(len(diff.gone))} gone"
    if not diff.compared:
        return (
            f"{moved}, {number(diff.unchanged)} in both "
            "(risks not compared: no risk column is in both exports)"
        )
    return (
        f"{moved}, {number(len(diff.up))} riskier, {number(len(diff.down))} less risky, "
        f"{number(diff.unchanged)} unchanged"
    )


def diff_notes(diff: DigestDiff) -> list[str]:
    """Return how the diff matched containers, and its limits."""
    found = []
    if diff.identity == "container_id":
        found.append("containers matched by container_id")
    elif diff.identity == "names":
        found.append("containers matched by container, pod and cluster name (no container_id)")
    if diff.partial:
        found.append("only the riskiest containers of a large export are compared")
    return found


def listed(entries: Sequence[str], limit: int = LISTED) -> str:
    """Return the first `limit` items, comma-separated, and how many more there are."""
    shown = ", ".join(e if len(e) <= ITEM_MAX else e[: ITEM_MAX - 1] + "…" for e in entries[:limit])
    return shown + (f" and {number(len(entries) - limit)} more" if len(entries) > limit else "")


def diff_lines(diff: DigestDiff, since: datetime | str | None, by: str | None) -> list[str]:
    """Return the diff as plain lines."""
    head = diff_headline(since, by)
    if not diff.comparable:
        return [f"{head}: not compared, {diff.reason}"]
    lines = [f"{head}: {diff_counts(diff)}"]
    for title, entries in (("new", diff.new), ("gone", diff.gone)):
        if entries:
            lines.append(f"  {title}: {listed([e.label() for e in entries])}")
    for title, changes in (("riskier", diff.up), ("less risky", diff.down)):
        if changes:
            described = [f"{c.after.label()} ({risk_change(c, diff.compared)})" for c in changes]
            lines.append(f"  {title}: {listed(described)}")
    lines += [f"  ({note})" for note in diff_notes(diff)]
    return lines


def render_text(
    summary: Summary,
    diff: DigestDiff | None = None,
    *,
    since: datetime | str | None = None,
    by: str | None = None,
) -> str:
    """Return the whole summary (and diff) as text for a terminal.

    `since` is when the earlier export ran (or a text such as its file name),
    `by` who ran it: the caller's data, not the file's.
    """
    lines = [headline(summary)]
    if (capped := capped_line(summary)) is not None:
        lines.append(f"! {capped}")
    for title, line in (
        ("By status", status_line(summary)),
        ("Risky", risky_line(summary)),
        ("Risks", risks_line(summary)),
        ("Created", created_line(summary)),
    ):
        if line is not None:
            lines.append(f"{title}: {line}")
    if summary.top is not None:
        lines.append("")
        if summary.top:
            lines.append("Riskiest containers (most fatal, then high risks):")
            table = [("Container", "Image", "Cluster", "Fatal", "High")] + [
                (t.container, t.image or "-", t.cluster or "-", str(t.fatal), str(t.high))
                for t in summary.top
            ]
            lines += _columns(table)
        else:
            lines.append("No container has fatal or high risks.")
    if summary.clusters:
        lines.append("")
        lines.append("Clusters with the most risky containers:")
        lines += [
            f"  {c.cluster}: {number(c.risky)} of {number(c.containers)} risky"
            for c in summary.clusters
        ]
    if diff is not None:
        lines.append("")
        lines += diff_lines(diff, since, by)
    if found := notes(summary):
        lines.append("")
        lines += [f"Note: {note}" for note in found]
    return "\n".join(lines)


def _columns(table: Sequence[Sequence[str]], clip: int = 40) -> list[str]:
    """Align a table for a terminal, counting wide (CJK) characters as two columns."""
    cells = [[c if len(c) <= clip else c[: clip - 1] + "…" for c in row] for row in table]
    pad = _width
    widths = [max(_width(row[i]) for row in cells) for i in range(len(cells[0]))]
    return [
        "  " + "  ".join(c + " " * (w - pad(c)) for c, w in zip(row, widths, strict=True)).rstrip()
        for row in cells
    ]


def _width(text: str) -> int:
    return sum(2 if unicodedata.east_asian_width(ch) in "WF" else 1 for ch in text)
