"""Columns are mapped to keys by the names that were asked for, never by position or guess."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import pytest
from reading_support import csv_file, names, openpyxl_xlsx

from bot.domain.model import HEADER_KEYS, HEADER_NAMES, default_headers
from bot.reading import Expected, read_export
from bot.reading.columns import locate
from bot.reading.errors import UnreadableExport


def _map(header_rows: Sequence[Sequence[Any]], expected: Expected) -> dict[str, int]:
    return dict(locate(iter(header_rows), expected).index)


@pytest.mark.parametrize("lang", ["zh", "en"])
def test_without_sent_headers_the_default_names_are_recognized(lang: str) -> None:
    """The documentation's Chinese names and the bot's English names map to their 16 keys."""
    header = [HEADER_NAMES[key][lang] for key in reversed(HEADER_KEYS)]
    assert _map([header], Expected.defaults()) == {
        key: position for position, key in enumerate(reversed(HEADER_KEYS))
    }


def test_sent_custom_names_map_back_to_their_keys() -> None:
    """A user's own display names are what the columns are recognized by."""
    expected = Expected.from_export_headers([["container_name", "Box"], ["risky", "Risky?"]])
    assert _map([["Risky?", "Box"]], expected) == {"risky": 0, "container_name": 1}


def test_names_are_compared_folded() -> None:
    """Case, full-width letters and stray spaces do not change what a name means."""
    expected = Expected.from_export_headers(names("zh", ["cpu_limit", "container_name"]))
    assert _map([["ｃｐｕ限制", "  容器名称 "]], expected) == {"cpu_limit": 0, "container_name": 1}


def test_a_title_row_above_the_header_is_skipped() -> None:
    """The header is the first row made only of expected names, within the first rows."""
    rows = [["容器导出"], [], ["容器名称", "状态"]]
    assert _map(rows, Expected.defaults()) == {"container_name": 0, "status": 1}


def test_unnamed_columns_are_not_read() -> None:
    """A column without a header has no known meaning, so its values are ignored."""
    assert _map([["容器名称", "", "状态"]], Expected.defaults()) == {
        "container_name": 0,
        "status": 2,
    }


def test_asked_for_columns_missing_from_the_file_are_reported() -> None:
    """A requested column absent from the file is named, not silently dropped."""
    expected = Expected.from_export_headers(names("en", ["container_name", "status", "risky"]))
    assert locate(iter([["Status", "Container name"]]), expected).missing == ("risky",)


@pytest.mark.parametrize(
    ("rows", "expected", "says"),
    [
        (
            [["容器名称", "Owner"]],
            Expected.defaults(),
            "unexpected column 'Owner'; the bot expects the documentation's Chinese names",
        ),
        (
            [["Container name", "Owner", "Team"]],
            Expected.from_export_headers(names("en", ["container_name"])),
            "unexpected column 'Owner' and 1 more; the bot expects the names the export asked for",
        ),
        (
            [["a", "b"]],
            Expected.defaults(),
            "no column has a name the bot expects (first: 'a' and 1 more)",
        ),
        (
            [["容器名称", "状态", "容器名称"]],
            Expected.defaults(),
            "columns A and C are both container_name ('容器名称'): a duplicated header",
        ),
        (
            [["容器名称", "Container name"]],
            Expected.defaults(),
            "columns A and B are both container_name ('Container name')",
        ),
        ([[], ["", None]], Expected.defaults(), "the sheet is empty"),
    ],
)
def test_header_problems_are_refused(rows: list[list[Any]], expected: Expected, says: str) -> None:
    """Unexpected, duplicated or absent headers give no summary and one line why."""
    with pytest.raises(UnreadableExport) as caught:
        locate(iter(rows), expected)
    assert says in str(caught.value)


def test_two_keys_asked_under_one_name_cannot_be_told_apart() -> None:
    """Sending the same display name for two keys makes the file unreadable, said so."""
    with pytest.raises(UnreadableExport, match=r"same name 'name' \(container_name, image_name\)"):
        Expected.from_export_headers([["container_name", "Name"], ["image_name", "name"]])


@pytest.mark.parametrize("lang", ["zh", "en"])
def test_a_whole_export_reads_with_either_language(lang: str) -> None:
    """An export with all 16 default names in either language reads without being told which."""
    header = [name for _, name in default_headers(lang)]
    row: list[Any] = ["id-1", "web-1", "nginx", "web-1-pod", "prod", "cce", "Running", "yes"]
    row += [1, 2, 3, 4, "2026-01-02 03:04:05", 0, "500m", "512Mi"]
    for data in (openpyxl_xlsx([header, row]), csv_file([header, row], "gb18030")):
        report = read_export(data)
        assert report.summary is not None, report.reason
        assert report.summary.columns == HEADER_KEYS
        assert report.summary.risk_sums == (
            ("low_risk", 1),
            ("medium_risk", 2),
            ("high_risk", 3),
            ("fatal_risk", 4),
        )
