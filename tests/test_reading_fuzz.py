"""Whatever the bytes, reading an export returns a Report: a summary or one line why not."""

from __future__ import annotations

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from reading_support import csv_file, names, zipped

from bot.domain.model import HEADER_KEYS
from bot.reading import read_export
from emulators.export_files import export_rows, population, write_file

_ROWS = export_rows(population(seed=1, step=0, size=8), {}, {})
SEEDS = [
    write_file("xlsx", names("zh", HEADER_KEYS), _ROWS, "x")[1],
    write_file("zip", names("en", HEADER_KEYS), _ROWS, "x")[1],
    csv_file([["容器名称", "低危风险"], ["a", "1"]], "gb18030"),
    zipped(("a.csv", csv_file([["Container name"], ["a"]]))),
]


def _check(data: bytes) -> None:
    report = read_export(data)
    if report.summary is None:
        assert report.reason is not None
        assert report.reason.strip()
        assert "\n" not in report.reason
        assert "Traceback" not in report.reason


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    seed=st.sampled_from(SEEDS),
    edits=st.lists(st.tuples(st.floats(0, 1, exclude_max=True), st.binary(max_size=8)), max_size=6),
    cut=st.none() | st.floats(0, 1),
)
def test_damaged_exports_never_crash(
    seed: bytes, edits: list[tuple[float, bytes]], cut: float | None
) -> None:
    """Bytes overwritten anywhere, or the file cut short, give a summary or one line."""
    data = bytearray(seed)
    for where, junk in edits:
        at = int(where * len(data))
        data[at : at + len(junk)] = junk
    if cut is not None:
        data = data[: int(cut * len(data))]
    _check(bytes(data))


@settings(max_examples=150, deadline=None)
@given(st.binary(max_size=2048))
def test_arbitrary_bytes_never_crash(data: bytes) -> None:
    """Random bytes are refused in one line (or, being text, read as a CSV)."""
    _check(data)
