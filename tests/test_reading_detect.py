"""Format detection from the bytes, and every bad file refused in one readable line."""

from __future__ import annotations

import struct
import zipfile
from pathlib import Path

import pytest
from reading_support import (
    billion_laughs_xlsx,
    csv_file,
    openpyxl_xlsx,
    replace_member,
    xlsxwriter_xlsx,
    zipped,
)

from bot.reading import tables
from bot.reading.detect import MB, Payload, ReadLimits, detect
from bot.reading.errors import UnreadableExport
from bot.reading.read import read_export

ROWS = [["容器名称", "状态"], ["web-1", "Running"]]
CSV_TEXT = "容器名称,状态\r\nweb-1,Running\r\n"


def _refusal(data: bytes, limits: ReadLimits | None = None) -> str:
    with pytest.raises(UnreadableExport) as caught:
        detect(data, limits)
    reason = str(caught.value)
    assert "\n" not in reason  # one line a person reads
    assert 0 < len(reason) <= 200
    return reason


def _patch_directory(data: bytes, offset: int, fmt: str, value: int) -> bytes:
    """Overwrite a field of the (single) central directory entry of a zip."""
    at = data.rindex(b"PK\x01\x02") + offset
    return data[:at] + struct.pack(fmt, value) + data[at + struct.calcsize(fmt) :]


def _lie_about_size(data: bytes, size: int) -> bytes:
    """Declare `size` as the member's unpacked size, in the local header and the directory."""
    data = _patch_directory(data, 24, "<L", size)
    return data[:22] + struct.pack("<L", size) + data[26:]


@pytest.mark.parametrize(
    ("data", "kind", "encoding", "member"),
    [
        pytest.param(openpyxl_xlsx(ROWS), "xlsx", None, None, id="xlsx-openpyxl"),
        pytest.param(
            xlsxwriter_xlsx([["container_name", "容器名称"]], [{"container_name": "web-1"}]),
            "xlsx",
            None,
            None,
            id="xlsx-xlsxwriter",
        ),
        pytest.param(csv_file(ROWS), "csv", "UTF-8", None, id="csv-utf8"),
        pytest.param(csv_file(ROWS, "utf-8-sig"), "csv", "UTF-8 with BOM", None, id="csv-bom"),
        pytest.param(csv_file(ROWS, "gb18030"), "csv", "GB18030", None, id="csv-gb18030"),
        pytest.param(
            zipped(("export.xlsx", openpyxl_xlsx(ROWS))), "xlsx", None, "export.xlsx", id="zip-xlsx"
        ),
        pytest.param(
            zipped(("export.csv", csv_file(ROWS, "gb18030")), ("__MACOSX/._export.csv", b"junk")),
            "csv",
            "GB18030",
            "export.csv",
            id="zip-csv-ignoring-macos-junk",
        ),
    ],
)
def test_format_is_told_from_the_content(
    data: bytes, kind: str, encoding: str | None, member: str | None
) -> None:
    """xlsx, CSV in each encoding and a zip of one are recognized whatever the file's name."""
    payload = detect(data)
    assert (payload.kind, payload.encoding, payload.member) == (kind, encoding, member)
    if kind == "csv":
        assert payload.text.replace("\r\n", "\n") == CSV_TEXT.replace("\r\n", "\n")


def test_the_format_is_described_for_the_summary() -> None:
    """The summary says what it read: `CSV (GB18030) in a zip`."""
    payload = detect(zipped(("a.csv", csv_file(ROWS, "gb18030"))))
    assert payload.describe() == "CSV (GB18030) in a zip"
    assert Payload("xlsx").describe() == "xlsx"


def _zip_bomb_declared() -> bytes:
    return zipped(("a.csv", b"0" * (2 * MB)))


def _zip_bomb_lying() -> bytes:
    return _lie_about_size(zipped(("a.csv", b"0" * (4 * MB))), 10)


def _bad_crc() -> bytes:
    return _patch_directory(zipped(("a.csv", CSV_TEXT.encode())), 16, "<L", 0xDEADBEEF)


def _encrypted() -> bytes:
    return _patch_directory(zipped(("a.csv", CSV_TEXT.encode())), 8, "<H", 0x1)


def _utf16_dtd_xlsx() -> bytes:
    plain = openpyxl_xlsx(ROWS)
    part = '<?xml version="1.0" encoding="UTF-16"?><!DOCTYPE x [<!ENTITY a "b">]><x/>'
    return replace_member(plain, "xl/styles.xml", part.encode("utf-16-le"))


SMALL = ReadLimits(max_file_bytes=MB, max_unpacked_bytes=MB)


@pytest.mark.parametrize(
    ("data", "limits", "says"),
    [
        pytest.param(b"", None, "the file is empty", id="empty"),
        pytest.param(
            b"x" * (MB + 1), SMALL, "the file is 1.0 MB; the bot summarizes", id="too-big"
        ),
        pytest.param(openpyxl_xlsx(ROWS)[:300], None, "the zip is corrupt", id="truncated-zip"),
        pytest.param(_bad_crc(), None, "does not unpack to what the zip declares", id="bad-crc"),
        pytest.param(
            _zip_bomb_declared(), SMALL, "would unpack to 2 MB, over the 1 MB", id="bomb-declared"
        ),
        pytest.param(_zip_bomb_lying(), SMALL, "unpacks to more than 1 MB", id="bomb-actual"),
        pytest.param(
            _lie_about_size(zipped(("a.csv", b"0" * 5000)), 10),
            None,
            "does not unpack to what the zip declares",
            id="size-lie-under-the-cap",
        ),
        pytest.param(_encrypted(), None, "the zip is password-protected", id="encrypted"),
        pytest.param(
            _patch_directory(zipped(("a.csv", b"a")), 6, "<H", 190),
            None,
            "the zip uses a zip feature the bot does not read (zip file version 19.0)",
            id="zip-version",
        ),
        pytest.param(
            zipped(("a.csv", csv_file(ROWS)), method=zipfile.ZIP_BZIP2),
            None,
            "uses compression method 12, not read",
            id="bzip2",
        ),
        pytest.param(
            billion_laughs_xlsx(), None, "the xlsx declares XML entities", id="billion-laughs"
        ),
        pytest.param(_utf16_dtd_xlsx(), None, "a DTD in xl/styles.xml", id="utf16-dtd"),
        pytest.param(
            zipped(("a.csv", b"a"), ("b.csv", b"b")),
            None,
            "the zip holds 2 files (a.csv, b.csv); the bot reads a zip holding exactly one",
            id="zip-of-two",
        ),
        pytest.param(zipped(), None, "the zip holds no file", id="empty-zip"),
        pytest.param(
            zipped(("in.zip", zipped(("a.csv", b"a")))), None, "is itself a zip", id="zip-in-zip"
        ),
        pytest.param(zipped(("a.csv", b"")), None, "a.csv in the zip is empty", id="empty-member"),
        pytest.param(b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1", None, "an old Excel (.xls)", id="xls"),
        pytest.param(b"%PDF-1.7\n", None, "the file is a PDF", id="pdf"),
        pytest.param(b"\x89PNG\r\n\x1a\n\x00\x00", None, "a PNG image", id="png"),
        pytest.param(b"abc\x00\x01\x02", None, "binary, not a spreadsheet", id="binary"),
        pytest.param(
            b'{"error_code": "HSS.1", "error_msg": "no"}', None, "is JSON, not an export", id="json"
        ),
        pytest.param(b"<html><body>502</body></html>", None, "HTML or XML", id="html"),
        pytest.param("容器名称,状态\n".encode("utf-16-le"), None, "is binary", id="utf-16"),
        pytest.param(
            "container,café\nweb,naïve\n".encode("latin-1"),
            None,
            "looks like text in an unknown encoding; the bot reads CSV in UTF-8",
            id="latin-1",
        ),
    ],
)
def test_bad_files_are_refused_in_one_line(
    data: bytes, limits: ReadLimits | None, says: str
) -> None:
    """Each way a file can fail gives one specific line, never a traceback."""
    assert says in _refusal(data, limits)


def test_the_xlsx_library_itself_expands_no_entity() -> None:
    """Even past the DTD check, python-calamine refuses the entity instead of expanding it."""
    with pytest.raises(UnreadableExport, match="unrecognized entity"):
        list(tables.rows(Payload("xlsx", data=billion_laughs_xlsx())))


def test_a_file_over_the_limit_on_disk_is_not_read(tmp_path: Path) -> None:
    """A path over `max_file_bytes` is refused from its size, before its bytes are read."""
    path = tmp_path / "big.csv"
    path.write_bytes(b"x" * (MB + 1))
    report = read_export(path, limits=SMALL)
    assert report.reason == "the file is 1.0 MB; the bot summarizes files up to 1 MB"


def test_nested_xlsx_in_a_zip_is_verified_too() -> None:
    """An xlsx inside a zip gets the same DTD check as a bare one."""
    reason = _refusal(zipped(("x.xlsx", billion_laughs_xlsx())))
    assert "declares XML entities" in reason
