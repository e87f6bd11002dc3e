"""Draw a schedule's last runs as a small PNG: rows, risky containers, high+fatal risks.

Pure: points in, PNG bytes out, no I/O. matplotlib is imported here, inside
the function, with its Agg backend and its object API (no pyplot, no global
figure state), so only the process that draws pays for it, and drawing in a
thread is safe. The picture is small on purpose (about 640x320 at 80 dpi):
it sits in a Slack thread beside the summary, not in a report.
"""

from __future__ import annotations

import io
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Final
from zoneinfo import ZoneInfo

from bot.reading.digest import Digest

WIDTH_INCHES: Final = 8.0
HEIGHT_INCHES: Final = 4.0
DPI: Final = 80
MAX_POINTS: Final = 20


@dataclass(frozen=True)
class RunPoint:
    """One run of a schedule, as the chart shows it."""

    at: float  # Unix seconds of the export
    rows: int
    risky: int  # containers with at least one risk
    high_fatal: int  # high + fatal risks, summed over the export


def point_of(at: float, digest: Digest) -> RunPoint:
    """Read a run's point from its digest (the risky count is of the digest's kept containers)."""
    sums = dict(digest.sums)
    risky = sum(1 for entry in digest.entries if any(entry.risks))
    return RunPoint(at, digest.rows, risky, sums.get("high_risk", 0) + sums.get("fatal_risk", 0))


def time_axis(points: Sequence[RunPoint], tz: str) -> tuple[list[str], str]:
    """Return the points' times as the chart's x-axis shows them, in zone `tz`, and its label.

    The schedule's zone, so a run due Monday 09:00 in Berlin reads 09:00 across DST;
    the label names the zone (an IANA name, resolved when the schedule was made).
    """
    zone = ZoneInfo(tz)
    labels = [datetime.fromtimestamp(p.at, zone).strftime("%m-%d %H:%M") for p in points]
    return labels, f"export time ({tz})"


def render_runs_chart(points: Sequence[RunPoint], title: str, tz: str = "UTC") -> bytes:
    """Return a PNG of the points, oldest left, the last `MAX_POINTS` at most, times in `tz`."""
    # Imported here: only the process that draws pays for matplotlib.
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    shown = sorted(points, key=lambda p: p.at)[-MAX_POINTS:]
    labels, axis_label = time_axis(shown, tz)
    figure = Figure(figsize=(WIDTH_INCHES, HEIGHT_INCHES), dpi=DPI)
    FigureCanvasAgg(figure)
    axes = figure.add_subplot()
    xs = list(range(len(shown)))
    for values, label, style in (
        ([p.rows for p in shown], "rows", "o-"),
        ([p.risky for p in shown], "risky containers", "s-"),
        ([p.high_fatal for p in shown], "high + fatal risks", "^-"),
    ):
        axes.plot(xs, values, style, label=label, linewidth=1.5, markersize=4)
    axes.set_xticks(xs, labels, rotation=30, ha="right", fontsize=8)
    axes.set_xlabel(axis_label, fontsize=8)
    axes.set_title(title, fontsize=10)
    axes.grid(alpha=0.3)
    axes.legend(fontsize=8, loc="best")
    axes.set_ylim(bottom=0)
    figure.tight_layout()
    out = io.BytesIO()
    figure.savefig(out, format="png", dpi=DPI, metadata={"Software": None})
    return out.getvalue()
