"""Export files for the reader's tests, written by other libraries than the reader's.

openpyxl and xlsxwriter write the xlsx files, the csv module the CSVs and
zipfile the zips; python-calamine (the reader) writes nothing here.
"""

from __future__ import annotations

import csv
import io
import zipfile
from collections.abc import Sequence
from typing import Any

import openpyxl

from bot.domain.model import HEADER_NAMES
from emulators.export_files import xlsx_bytes

Table = Sequence[Sequence[Any]]


def openpyxl_xlsx(rows: Table) -> bytes:
    """Write rows (the first is the header) with openpyxl."""
    book = openpyxl.Workbook()
    sheet = book.active
    assert sheet is not None
    for row in rows:
        sheet.append(list(row))
    buffer = io.BytesIO()
    book.save(buffer)
    return buffer.getvalue()


def xlsxwriter_xlsx(headers: Sequence[Sequence[str]], rows: Sequence[dict[str, Any]]) -> bytes:
    """Write rows keyed by header key with xlsxwriter, as the fake HSS does."""
    return xlsx_bytes(headers, rows)


def csv_file(rows: Table, encoding: str = "utf-8", delimiter: str = ",") -> bytes:
    """Write rows as CSV text in `encoding` (`utf-8-sig` adds the BOM)."""
    buffer = io.StringIO(newline="")
    csv.writer(buffer, delimiter=delimiter).writerows(rows)
    return buffer.getvalue().encode(encoding)


def zipped(*members: tuple[str, bytes], method: int = zipfile.ZIP_DEFLATED) -> bytes:
    """Put files into a zip."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", method) as archive:
        for name, content in members:
            archive.writestr(name, content)
    return buffer.getvalue()


def replace_member(xlsx: bytes, name: str, content: bytes) -> bytes:
    """Return the xlsx with one part replaced (to plant a DTD, say)."""
    source = zipfile.ZipFile(io.BytesIO(xlsx))
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for info in source.infolist():
            archive.writestr(info, content if info.filename == name else source.read(info))
    return buffer.getvalue()


def billion_laughs_xlsx() -> bytes:
    """An xlsx whose sheet declares nested entities: 10^9 "lol"s if a parser expanded them."""
    plain = openpyxl_xlsx([["容器名称"], ["x"]])
    sheet = zipfile.ZipFile(io.BytesIO(plain)).read("xl/worksheets/sheet1.xml").decode()
    entities = ['<!ENTITY lol0 "lol">'] + [
        f'<!ENTITY lol{i} "{f"&lol{i - 1};" * 10}">' for i in range(1, 10)
    ]
    dtd = '<?xml version="1.0"?><!DOCTYPE worksheet [' + "".join(entities) + "]>"
    poisoned = dtd + sheet.replace("<t>x</t>", "<t>&lol9;</t>")
    return replace_member(plain, "xl/worksheets/sheet1.xml", poisoned.encode())


def names(lang: str, keys: Sequence[str]) -> list[list[str]]:
    """Return `export_headers` pairs for keys with the default names in `lang`."""
    return [[key, HEADER_NAMES[key][lang]] for key in keys]
