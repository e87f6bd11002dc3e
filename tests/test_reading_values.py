"""Cell values as HSS may write them: typed cells or text, each spelling read or refused."""

from __future__ import annotations

from datetime import date, datetime

import pytest

from bot.reading import values


@pytest.mark.parametrize(
    ("cell", "expected"),
    [
        (True, True),
        (False, False),
        ("true", True),
        ("FALSE", False),
        ("Yes", True),
        ("no", False),
        ("是", True),
        ("否", False),
        ("1", True),
        ("0", False),
        (1, True),
        (0.0, False),
        (" yes ", True),
        ("", None),
        (None, None),
    ],
)
def test_booleans_in_every_spelling(cell: values.Cell, expected: bool | None) -> None:
    """true/false, yes/no, 是/否 and 1/0 read as booleans, as cells or text; blank is None."""
    assert values.boolean(cell) is expected


@pytest.mark.parametrize("cell", ["maybe", "2", 2, "有风险", 0.5])
def test_other_booleans_are_refused(cell: values.Cell) -> None:
    """A value that is no yes/no spelling is refused, not guessed."""
    with pytest.raises(ValueError, match="yes/no"):
        values.boolean(cell)


@pytest.mark.parametrize(
    ("cell", "expected"),
    [(3, 3), (3.0, 3), ("3", 3), ("3.0", 3), ("1,234", 1234), (" 7 ", 7), ("", None), (None, None)],
)
def test_counts_as_numbers_or_text(cell: values.Cell, expected: int | None) -> None:
    """A count reads from a number cell or from text, with or without a thousands separator."""
    assert values.count(cell) == expected


@pytest.mark.parametrize("cell", [-1, -1.0, 2.5, "2.5", "many", "1,23", True])
def test_impossible_counts_are_refused(cell: values.Cell) -> None:
    """Negative, fractional, boolean or wordy counts are refused."""
    with pytest.raises(ValueError, match=r"count|number"):
        values.count(cell)


@pytest.mark.parametrize(
    ("cell", "expected"),
    [
        (datetime(2026, 3, 1, 8, 30), datetime(2026, 3, 1, 8, 30)),
        (date(2026, 3, 1), datetime(2026, 3, 1)),
        (46082.5, datetime(2026, 3, 1, 12, 0)),  # a spreadsheet serial without a date format
        ("46082.5", datetime(2026, 3, 1, 12, 0)),
        (1772366400000, datetime(2026, 3, 1, 12, 0)),  # epoch ms, HSS's own convention
        ("1772366400000", datetime(2026, 3, 1, 12, 0)),
        ("2026-03-01 08:30:00", datetime(2026, 3, 1, 8, 30)),
        ("2026/03/01 08:30:00", datetime(2026, 3, 1, 8, 30)),
        ("2026-03-01T08:30:00Z", datetime(2026, 3, 1, 8, 30)),
        ("2026-03-01T16:30:00+08:00", datetime(2026, 3, 1, 8, 30)),
        ("2026-03-01", datetime(2026, 3, 1)),
        ("", None),
    ],
)
def test_times_as_text_or_spreadsheet_dates(cell: values.Cell, expected: datetime | None) -> None:
    """Date cells, serial numbers, epoch milliseconds and ISO-like text all read as times."""
    assert values.moment(cell) == expected


@pytest.mark.parametrize("cell", ["yesterday", "2026-13-01", -5, True, 10**16])
def test_impossible_times_are_refused(cell: values.Cell) -> None:
    """A value that is no time is refused."""
    with pytest.raises(ValueError, match=r"time|date"):
        values.moment(cell)


@pytest.mark.parametrize(
    ("cell", "expected"),
    [("running", "Running"), ("TERMINATED", "Terminated"), ("运行中", "运行中"), ("", None)],
)
def test_status_takes_the_api_spelling_or_stays_as_written(
    cell: values.Cell, expected: str | None
) -> None:
    """A known status gets the API's spelling; an unknown one is kept, not guessed."""
    assert values.status(cell) == expected


def test_cluster_type_takes_the_api_spelling() -> None:
    """Cluster types fold to the API's lower-case spelling; unknown ones are kept."""
    assert (values.cluster_type("CCE"), values.cluster_type("OpenShift")) == ("cce", "OpenShift")


@pytest.mark.parametrize(
    ("cell", "expected"),
    [(12.0, "12"), (12.5, "12.5"), (" web ", "web"), ("  ", None), (True, "true")],
)
def test_text_of_a_cell(cell: values.Cell, expected: str | None) -> None:
    """Names read as trimmed text; a whole number written as a number loses its `.0`."""
    assert values.text(cell) == expected
