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
    time_axis,
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


def test_the_time_axis_is_in_the_schedules_zone_and_says_which() -> None:
    """Monday 09:00 in Berlin, before and after the DST change (08:00 and 07:00 UTC)."""
    points = [RunPoint(1_774_252_800, 1, 0, 0), RunPoint(1_774_854_000, 1, 0, 0)]
    assert time_axis(points, "Europe/Berlin") == (
        ["03-23 09:00", "03-30 09:00"],
        "export time (Europe/Berlin)",
    )
    assert time_axis(points, "UTC") == (["03-23 08:00", "03-30 07:00"], "export time (UTC)")
    assert render_runs_chart(points, "Schedule weekly", "Asia/Shanghai").startswith(PNG_SIGNATURE)


def test_a_schedules_runs_share_a_key_whatever_their_fields() -> None:
    """Runs of one schedule compare with each other, even after the saved fields changed."""
    one = {"query": {}, "body": {"risky": True}, "schedule": "weekly", "saved_export": "weekly"}
    one = {**one, "schedule_id": "Zq3-first_schedule"}
    changed = {**one, "body": {"risky": False}}
    assert filter_key(one, "C1") == filter_key(changed, "C1")
    assert filter_key(one, "C1") != filter_key({"query": {}, "body": {"risky": True}}, "C1")


def test_a_schedule_made_again_under_the_same_name_has_runs_of_its_own() -> None:
    """Same name and channel, another schedule id: not compared with the old schedule's runs."""
    old = {"query": {}, "body": {}, "schedule": "weekly", "schedule_id": "Zq3-first_schedule"}
    again = {**old, "schedule_id": "Kp9-second-schedule"}
    assert filter_key(old, "C1") != filter_key(again, "C1")


def test_a_run_recorded_before_schedule_ids_is_keyed_by_name_and_channel() -> None:
    """A tracked task from before the upgrade (a name, no id) still has a key, as it had."""
    legacy = {"query": {}, "body": {"risky": True}, "schedule": "weekly"}
    assert filter_key(legacy, "C1") == filter_key({**legacy, "body": {}}, "C1")
    assert filter_key(legacy, "C1") != filter_key(legacy, "C2")
    assert filter_key(legacy, "C1") not in (None, filter_key({**legacy, "schedule_id": "a"}, "C1"))
