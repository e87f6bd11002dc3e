"""Tell what an export file is from its bytes, never its name, and unpack it safely.

HSS does not document the format of the container export (see HSS-API.md §6),
so the bot reads what it can recognize: an xlsx, a CSV (UTF-8, UTF-8 with a
BOM, or GB18030, HSS being Chinese-first), or a zip holding exactly one of
those. Anything else is refused with one line saying what the file looks like.

Zips are distrusted: the declared sizes of all members together must stay under
`ReadLimits.max_unpacked_bytes`, and every member the bot (or the xlsx library
after it) will read is inflated here first, with the same cap on what the
deflate stream *actually* produces, its CRC and size checked against the
directory. An XML part that declares a DTD (the door to entity expansion, "a
billion laughs") is refused before any XML parser sees it.
"""

from __future__ import annotations

import struct
import zipfile
import zlib
from collections.abc import Callable
from dataclasses import dataclass
from io import BytesIO
from typing import Final, Literal

from bot.reading.errors import UnreadableExport, clip

MB: Final = 1024 * 1024
_CHUNK: Final = MB
_LOCAL_HEADER: Final = struct.Struct("<4s5H3L2H")  # zip's local file header, 30 bytes
_LOCAL_SIGNATURE: Final = b"PK\x03\x04"
_ZIP_SIGNATURES: Final = (b"PK\x03\x04", b"PK\x05\x06", b"PK\x07\x08")
# A DTD is the only way into entity declarations; xlsx parts never have one.
_DTD_MARKERS: Final = tuple(
    marker.encode(codec)
    for marker in ("<!DOCTYPE", "<!ENTITY")
    for codec in ("utf-8", "utf-16-le", "utf-16-be")
)
_MARKER_OVERLAP: Final = max(len(m) for m in _DTD_MARKERS) - 1
_BINARY_KINDS: Final = (
    (b"\xd0\xcf\x11\xe0", "an old Excel (.xls) or other OLE file"),
    (b"%PDF", "a PDF"),
    (b"\x1f\x8b", "a gzip file"),
    (b"\x89PNG", "a PNG image"),
    (b"Rar!", "a RAR archive"),
    (b"7z\xbc\xaf", "a 7-Zip archive"),
)
ACCEPTED: Final = "the bot reads xlsx, CSV (UTF-8 or GB18030) and a zip holding one of them"


@dataclass(frozen=True)
class ReadLimits:
    """How much the bot is willing to read to summarize one export.

    `max_file_bytes` is the file as HSS served it; `max_unpacked_bytes` bounds
    everything a zip (an xlsx is one) unpacks to, declared and actual.
    """

    max_file_bytes: int = 50 * MB
    max_unpacked_bytes: int = 256 * MB
    max_zip_members: int = 1000


@dataclass(frozen=True)
class Payload:
    """A recognized export: an xlsx's bytes, or a CSV's decoded text."""

    kind: Literal["xlsx", "csv"]
    data: bytes = b""
    text: str = ""
    encoding: str | None = None  # CSV only: "UTF-8", "UTF-8 with BOM" or "GB18030"
    member: str | None = None  # the zip member it came from, if it came out of a zip

    def describe(self) -> str:
        """Return the format in a few words, e.g. `CSV (GB18030) in a zip`."""
        what = "xlsx" if self.kind == "xlsx" else f"CSV ({self.encoding})"
        return f"{what} in a zip" if self.member else what


def detect(data: bytes, limits: ReadLimits | None = None) -> Payload:
    """Recognize and safely unpack an export; raise `UnreadableExport` saying why not."""
    limits = limits or ReadLimits()
    if len(data) > limits.max_file_bytes:
        raise UnreadableExport(
            f"the file is {megabytes(len(data))}; the bot summarizes files up to "
            f"{megabytes(limits.max_file_bytes)}"
        )
    if not data:
        raise UnreadableExport("the file is empty")
    budget = _Budget(limits.max_unpacked_bytes)
    if data.startswith(_ZIP_SIGNATURES):
        return _from_zip(data, limits, budget)
    return _from_plain(data, member=None)


def _from_zip(data: bytes, limits: ReadLimits, budget: _Budget) -> Payload:
    archive = _open_zip(data, limits, budget, what="the zip")
    names = archive.namelist()
    if _is_xlsx(names):
        _verify_members(archive, data, budget)
        return Payload("xlsx", data=data)
    files = [
        info
        for info in archive.infolist()
        if not info.is_dir() and not info.filename.startswith(("__MACOSX/", "."))
    ]
    if len(files) != 1:
        listed = ", ".join(clip(info.filename, 40) for info in files[:3])
        more = f" and {len(files) - 3} more" if len(files) > 3 else ""
        holds = f"{len(files)} files ({listed}{more})" if files else "no file"
        raise UnreadableExport(f"the zip holds {holds}; the bot reads a zip holding exactly one")
    member = files[0]
    chunks: list[bytes] = []
    _inflate(data, member, budget, chunks.append)
    inner = b"".join(chunks)
    name = member.filename
    if inner.startswith(_ZIP_SIGNATURES):
        inner_zip = _open_zip(inner, limits, budget, what=f"{clip(name, 40)} in the zip")
        if not _is_xlsx(inner_zip.namelist()):
            raise UnreadableExport(f"{clip(name, 40)} in the zip is itself a zip; {ACCEPTED}")
        _verify_members(inner_zip, inner, budget)
        return Payload("xlsx", data=inner, member=name)
    if not inner:
        raise UnreadableExport(f"{clip(name, 40)} in the zip is empty")
    return _from_plain(inner, member=name)


def _open_zip(data: bytes, limits: ReadLimits, budget: _Budget, *, what: str) -> zipfile.ZipFile:
    try:
        archive = zipfile.ZipFile(BytesIO(data))
        infos = archive.infolist()
    except (zipfile.BadZipFile, zipfile.LargeZipFile, ValueError, EOFError, OSError) as exc:
        raise UnreadableExport(f"{what} is corrupt ({clip(str(exc), 80)})") from None
    except NotImplementedError as exc:  # e.g. "zip file version 19.0"
        raise UnreadableExport(
            f"{what} uses a zip feature the bot does not read ({clip(str(exc), 60)})"
        ) from None
    if len(infos) > limits.max_zip_members:
        raise UnreadableExport(
            f"{what} holds {len(infos)} entries; the bot opens zips of up to "
            f"{limits.max_zip_members}"
        )
    if any(info.flag_bits & 0x1 for info in infos):
        raise UnreadableExport(f"{what} is password-protected")
    declared = sum(info.file_size for info in infos)
    if declared > budget.left:
        raise UnreadableExport(
            f"{what} would unpack to {megabytes(declared)}, over the {megabytes(budget.limit)} "
            "the bot unpacks (a zip bomb?)"
        )
    return archive


def _is_xlsx(names: list[str]) -> bool:
    return "[Content_Types].xml" in names and any(name.startswith("xl/") for name in names)


def _verify_members(archive: zipfile.ZipFile, data: bytes, budget: _Budget) -> None:
    """Inflate every part of an xlsx under the cap, refusing any XML part with a DTD."""
    for info in archive.infolist():
        if info.is_dir():
            continue
        _inflate(data, info, budget, _DtdScanner(info.filename).feed)


class _Budget:
    """What is left of `max_unpacked_bytes`, shared by every member of every zip."""

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self.left = limit

    def spend(self, size: int) -> None:
        self.left -= size
        if self.left < 0:
            raise UnreadableExport(
                f"the zip unpacks to more than {megabytes(self.limit)}, the most the bot unpacks "
                "(a zip bomb?)"
            )


class _DtdScanner:
    """Find a DTD marker in a stream of chunks, across chunk boundaries."""

    def __init__(self, name: str) -> None:
        self.name = name
        self.tail = b""

    def feed(self, chunk: bytes) -> None:
        window = self.tail + chunk
        if any(marker in window for marker in _DTD_MARKERS):
            raise UnreadableExport(
                f"the xlsx declares XML entities (a DTD in {clip(self.name, 40)}); "
                "the bot does not read such files"
            )
        self.tail = window[-_MARKER_OVERLAP:]


def _inflate(
    data: bytes, info: zipfile.ZipInfo, budget: _Budget, sink: Callable[[bytes], None]
) -> None:
    """Stream one member's real content into `sink`, checking size, CRC and the cap.

    Done by hand (zlib on the raw member) rather than with `ZipFile.open`, which
    stops at the size the directory declares: the xlsx library reads the same
    bytes later, so what the deflate stream truly holds is what must be bounded.
    """
    where = f"{clip(info.filename, 40)} in the zip"
    try:
        header = _LOCAL_HEADER.unpack_from(data, info.header_offset)
    except struct.error:
        raise UnreadableExport(f"the zip is corrupt ({where} is cut short)") from None
    if header[0] != _LOCAL_SIGNATURE:
        raise UnreadableExport(f"the zip is corrupt ({where} has no local header)")
    start = info.header_offset + _LOCAL_HEADER.size + header[9] + header[10]
    raw = memoryview(data)[start : start + info.compress_size]
    if len(raw) < info.compress_size:
        raise UnreadableExport(f"the zip is corrupt ({where} is cut short)")
    if info.compress_type == zipfile.ZIP_STORED:
        produced, crc = _copy_stored(raw, budget, sink)
        finished = True
    elif info.compress_type == zipfile.ZIP_DEFLATED:
        produced, crc, finished = _copy_deflated(raw, budget, sink, where)
    else:
        raise UnreadableExport(f"{where} uses compression method {info.compress_type}, not read")
    if not finished or produced != info.file_size or crc != info.CRC:
        raise UnreadableExport(
            f"the zip is corrupt ({where} does not unpack to what the zip declares)"
        )


def _copy_stored(
    raw: memoryview, budget: _Budget, sink: Callable[[bytes], None]
) -> tuple[int, int]:
    crc = 0
    for offset in range(0, len(raw), _CHUNK):
        chunk = bytes(raw[offset : offset + _CHUNK])
        budget.spend(len(chunk))
        crc = zlib.crc32(chunk, crc)
        sink(chunk)
    return len(raw), crc


def _copy_deflated(
    raw: memoryview, budget: _Budget, sink: Callable[[bytes], None], where: str
) -> tuple[int, int, bool]:
    inflater = zlib.decompressobj(-zlib.MAX_WBITS)
    produced = crc = 0
    try:
        for offset in range(0, len(raw), _CHUNK):
            pending = bytes(raw[offset : offset + _CHUNK])
            while pending and not inflater.eof:
                # Ask for at most what the budget allows (+1, to notice going over).
                out = inflater.decompress(pending, max(1, min(_CHUNK, budget.left + 1)))
                pending = inflater.unconsumed_tail
                budget.spend(len(out))
                produced += len(out)
                crc = zlib.crc32(out, crc)
                sink(out)
    except zlib.error as exc:
        raise UnreadableExport(f"the zip is corrupt ({where}: {clip(str(exc), 60)})") from None
    return produced, crc, inflater.eof


def _from_plain(data: bytes, *, member: str | None) -> Payload:
    """Recognize a file that is not a zip: a CSV, or say what it looks like instead."""
    inside = f"{clip(member, 40)} in the zip" if member else "the file"
    for magic, kind in _BINARY_KINDS:
        if data.startswith(magic):
            raise UnreadableExport(f"{inside} is {kind}; {ACCEPTED}")
    if b"\x00" in data[:8192]:
        raise UnreadableExport(f"{inside} is binary, not a spreadsheet; {ACCEPTED}")
    text, encoding = _decode(data, inside)
    start = text.lstrip()[:1]
    if start in ("{", "["):
        raise UnreadableExport(f"{inside} is JSON, not an export: {clip(text.strip(), 60)}")
    if start == "<":
        raise UnreadableExport(f"{inside} is HTML or XML, not an export; {ACCEPTED}")
    return Payload("csv", text=text, encoding=encoding, member=member)


def _decode(data: bytes, inside: str) -> tuple[str, str]:
    if data.startswith(b"\xef\xbb\xbf"):
        try:
            return data[3:].decode("utf-8"), "UTF-8 with BOM"
        except UnicodeDecodeError:
            pass
    else:
        for codec, label in (("utf-8", "UTF-8"), ("gb18030", "GB18030")):
            try:
                return data.decode(codec), label
            except UnicodeDecodeError:
                continue
    raise UnreadableExport(
        f"{inside} looks like text in an unknown encoding; the bot reads CSV in UTF-8 "
        "(with or without BOM) or GB18030"
    )


def megabytes(size: int) -> str:
    """Return a size in MB for a message: `50 MB`, `62.3 MB`."""
    return f"{size / MB:.1f} MB" if size % MB else f"{size // MB} MB"
