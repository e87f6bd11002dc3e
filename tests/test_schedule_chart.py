"""A schedule's chart of its last runs: a real PNG, small, of the runs' numbers."""

from __future__ import annotations

import struct
import zlib

from bot.reading.chart import (
    DPI,
    HEIGHT_INCHES,
    MAX_POINTS,
    WIDTH_INCHES,
    RunPoint,
    point_of,
    render_runs_chart,
)
from bot.reading.digest import Digest, Entry
from bot.tracking.summaries import filter_key

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


def _ihdr(png: bytes) -> tuple[int, int]:
    """Return (width, height) from the PNG's IHDR chunk, checking its CRC."""
    assert png[:8] == PNG_SIGNATURE
    length, kind = struct.unpack(">I4s", png[8:16])
    assert kind == b"IHDR"
    data = png[16 : 16 + length]
    (crc,) = struct.unpack(">I", png[16 + length : 20 + length])
    assert zlib.crc32(kind + data) == crc
    width, height = struct.unpack(">II", data[:8])
    return width, height


def test_the_chart_is_a_valid_small_png() -> None:
    """Two runs and twenty: a PNG of the configured size, each under 100 KB."""
    for count in (2, MAX_POINTS + 5):
        points = [
            RunPoint(1_767_258_000 + i * 86400, 100 + i, 10 - i % 3, 7 * i) for i in range(count)
        ]
        png = render_runs_chart(points, "Schedule weekly: the last runs")
        assert _ihdr(png) == (int(WIDTH_INCHES * DPI), int(HEIGHT_INCHES * DPI))
        assert len(png) < 100_000
        assert png.endswith(b"IEND\xaeB`\x82")


def test_a_point_counts_rows_risky_containers_and_high_plus_fatal() -> None:
    """The chart's three lines come from the run's digest."""
    digest = Digest(
        identity=None,
        rows=5,
        containers=3,
        risk_columns=("high_risk", "fatal_risk"),
        sums=(("high_risk", 4), ("fatal_risk", 2)),
        entries=(
            Entry(("a",), "a", (None, None, 3, 2)),
            Entry(("b",), "b", (None, None, 1, 0)),
            Entry(("c",), "c", (None, None, 0, 0)),
        ),
    )
    assert point_of(10.0, digest) == RunPoint(10.0, 5, 2, 6)


def test_a_schedules_runs_share_a_key_whatever_their_fields() -> None:
    """Runs of one schedule compare with each other, even after the saved fields changed."""
    one = {"query": {}, "body": {"risky": True}, "schedule": "weekly", "saved_export": "weekly"}
    changed = {**one, "body": {"risky": False}}
    assert filter_key(one, "C1") == filter_key(changed, "C1")
    assert filter_key(one, "C1") != filter_key(one, "C2")
    assert filter_key(one, "C1") != filter_key({"query": {}, "body": {"risky": True}}, "C1")
