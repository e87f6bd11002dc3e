"""Rows of a recognized export, as cells: from an xlsx (python-calamine) or a CSV (csv).

python-calamine reads the rows of the benchmark's 100,000-row, 16-column xlsx
in 1.4-1.9 s where openpyxl's read-only mode takes 17-20 s (figures in
docs/benchmarks.md); it parses XML without expanding entities (and
`detect` has refused any DTD before it runs). It loads the whole sheet at
once, which is why summaries run in a worker process (see `worker`).
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterator, Sequence

import python_calamine

from bot.reading.detect import Payload
from bot.reading.errors import UnreadableExport, clip
from bot.reading.values import Cell

_DELIMITERS = (",", "\t", ";")


def rows(payload: Payload) -> Iterator[Sequence[Cell]]:
    """Yield the rows of the first worksheet, or of the CSV, in file order."""
    if payload.kind == "xlsx":
        return _xlsx_rows(payload.data)
    return _csv_rows(payload.text)


def _xlsx_rows(data: bytes) -> Iterator[Sequence[Cell]]:
    try:
        book = python_calamine.CalamineWorkbook.from_filelike(io.BytesIO(data))
        worksheets = [
            position
            for position, meta in enumerate(book.sheets_metadata)
            if meta.typ == python_calamine.SheetTypeEnum.WorkSheet
        ]
        if not worksheets:
            raise UnreadableExport("the xlsx has no worksheet")
        sheet = book.get_sheet_by_index(worksheets[0])
        found = sheet.iter_rows()
    except python_calamine.PasswordError:
        raise UnreadableExport("the xlsx is password-protected") from None
    except (python_calamine.CalamineError, ValueError, TypeError, OSError) as exc:
        raise UnreadableExport(f"the xlsx could not be read ({clip(str(exc), 80)})") from None
    return _guarded(found)


def _guarded(found: Iterator[Sequence[Cell]]) -> Iterator[Sequence[Cell]]:
    try:
        yield from found
    except (python_calamine.CalamineError, ValueError, TypeError) as exc:
        raise UnreadableExport(f"the xlsx could not be read ({clip(str(exc), 80)})") from None


def _csv_rows(text: str) -> Iterator[Sequence[Cell]]:
    first_line = text.lstrip("\r\n").split("\n", 1)[0]
    delimiter = next((d for d in _DELIMITERS if d in first_line), ",")
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=delimiter, strict=True)
    try:
        yield from reader
    except csv.Error as exc:
        raise UnreadableExport(
            f"the CSV is malformed at line {reader.line_num} ({clip(str(exc), 60)})"
        ) from None
