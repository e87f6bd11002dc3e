"""One data row as a container record: only the columns the summary and digest use.

Of the 16 columns, the summary needs the names, status, risky flag, the four
risk counts and the creation time; the rest (restart count, limits, cluster
type) are not parsed at all, so a 100,000-row file costs no more than it must.
A value that cannot be read is left out (None) and counted, with the first
example kept for the summary's note: one bad cell never costs the summary.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from datetime import datetime
from typing import Any, Final, NamedTuple

from bot.reading import values
from bot.reading.columns import ColumnMap
from bot.reading.errors import clip
from bot.reading.values import Cell

RISK_KEYS: Final = ("low_risk", "medium_risk", "high_risk", "fatal_risk")
Risks = tuple[int | None, int | None, int | None, int | None]  # low, medium, high, fatal


class Container(NamedTuple):
    """What one row says about one container; None where the column is absent or blank.

    A named tuple, not a dataclass: 100,000 of them are made per large export,
    and a tuple is the cheapest record Python builds.
    """

    row: int  # the row's number among the data rows, from 1
    container_id: str | None
    container_name: str | None
    image_name: str | None
    pod_name: str | None
    cluster_name: str | None
    status: str | None
    risky: bool | None
    risks: Risks
    created: datetime | None

    def label(self) -> str:
        """Return the best name for a person: the container name, else its id."""
        return self.container_name or self.container_id or f"row {self.row}"


# The columns read, in `Container`'s order (after `row`), and whether their values repeat
# enough (statuses, flags, counts) for a per-batch memo to pay.
_FIELDS: Final[tuple[tuple[str, Callable[[Cell], Any], bool], ...]] = (
    ("container_id", values.text, False),
    ("container_name", values.text, False),
    ("image_name", values.text, False),
    ("pod_name", values.text, False),
    ("cluster_name", values.text, False),
    ("status", values.status, True),
    ("risky", values.boolean, True),
    ("low_risk", values.count, True),
    ("medium_risk", values.count, True),
    ("high_risk", values.count, True),
    ("fatal_risk", values.count, True),
    ("create_time", values.moment, False),
)
BATCH_ROWS: Final = 4096


class RowReader:
    """Read rows laid out as `columns` says, counting the values it could not read.

    Rows are read a batch at a time and column by column: one parser over one
    column's values, memoized where values repeat, is several times faster than
    sixteen calls per row, which matters at 100,000 rows.
    """

    def __init__(self, columns: ColumnMap) -> None:
        self.columns = columns
        self.unreadable = 0
        self.example: str | None = None  # the first unreadable value, e.g. "low_risk 'x' in row 3"
        self._example_at: tuple[int, int] | None = None  # (row, column) of `example`
        self._rows = 0
        # Absent columns are left out of the plan: their fields are None without a look.
        self._plan = tuple(
            (slot, key, columns.index[key], parse, memo)
            for slot, (key, parse, memo) in enumerate(_FIELDS)
            if key in columns.index
        )

    def read(self, rows: Sequence[Sequence[Cell]]) -> list[Container]:
        """Return the containers a batch of data rows describes (blank rows are skipped)."""
        rows = [row for row in rows if row.count("") + row.count(None) != len(row)]
        first = self._rows + 1
        self._rows += len(rows)
        nothing: list[Any] = [None] * len(rows)
        found: list[list[Any]] = [nothing] * len(_FIELDS)
        for slot, key, position, parse, memo in self._plan:
            cells = [row[position] if position < len(row) else None for row in rows]
            found[slot] = self._column(key, position, cells, parse, memo, first)
        return list(
            map(
                Container._make,
                zip(
                    range(first, first + len(rows)),
                    *found[:7],
                    zip(found[7], found[8], found[9], found[10], strict=True),
                    found[11],
                    strict=True,
                ),
            )
        )

    def _column(  # noqa: PLR0913, PLR0917  a hot inner loop: locals, not an object per column
        self,
        key: str,
        position: int,
        cells: list[Cell],
        parse: Callable[[Cell], Any],
        memo: bool,
        first: int,
    ) -> list[Any]:
        if parse is values.text:  # names: nearly all text cells, nearly all distinct
            plain = [cell.strip() or None if type(cell) is str else _BAD for cell in cells]
            if _BAD not in plain:
                return plain
        known: dict[tuple[type, Cell], Any] = {}
        out: list[Any] = []
        for offset, cell in enumerate(cells):
            if cell is None or cell == "":
                out.append(None)
                continue
            marker = (type(cell), cell)
            if memo and marker in known:
                out.append(known[marker])
                continue
            try:
                value = parse(cell)
            except ValueError:  # not memoized: an unreadable value is counted every time
                self.unreadable += 1
                at = (first + offset, position)  # columns are read one by one: keep the earliest
                if self._example_at is None or at < self._example_at:
                    self._example_at = at
                    self.example = f"{key} {clip(str(cell), 30)!r} in row {first + offset}"
                out.append(None)
                continue
            if memo:
                known[marker] = value
            out.append(value)
        return out


_BAD: Final = object()  # a cell the fast path for names cannot take


def batches(
    rows: Iterator[Sequence[Cell]], size: int = BATCH_ROWS
) -> Iterator[list[Sequence[Cell]]]:
    """Group rows into lists of `size` (the last may be shorter)."""
    batch: list[Sequence[Cell]] = []
    for row in rows:
        batch.append(row)
        if len(batch) >= size:
            yield batch
            batch = []
    if batch:
        yield batch
