"""Check the audit hash chain: in the database (`audit verify`) or in an export (`--file`).

Both walk the same records with the same rules, from the start of the chain (or
the latest pruning anchor) to the chain head, and name the first record that
was altered, inserted or removed. An exported file (`audit export --csv`)
carries every record's exact hashed payload and hashes in its `records`
cells and the chain head in its first row's `chain_head`, so it verifies with
no database; each row's readable cells must also agree with the records they
were folded from, so editing a visible cell is caught too.
"""

from __future__ import annotations

import csv
import dataclasses
import json
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final, Protocol

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncConnection

from bot.adapters.audit_rows import CSV_FIELDS, LEGACY_CSV_FIELDS, csv_row, fold
from bot.adapters.audit_schema import (
    COPIED_COLUMNS,
    GENESIS_HASH,
    HEAD_ID,
    RECORD_KINDS,
    canonical_json,
    chain_head,
    record_hash,
    records,
)

VERIFY_PAGE_SIZE: Final = 5000
# Cells that carry the chain itself rather than a reading of it.
_CHAIN_CELLS: Final = frozenset({"records", "chain_head"})


@dataclass(frozen=True)
class VerifyResult:
    """What `verify` found: an intact chain, or the first record that breaks it."""

    ok: bool
    records: int
    first_bad_id: int | None = None  # record seq; for a `request` record, its entry id
    reason: str = "chain intact"
    entry_id: int | None = None

    def __str__(self) -> str:
        if self.ok:
            plural = "" if self.records == 1 else "s"
            return f"ok: {self.records} record{plural}, chain intact"
        return f"TAMPERED: {self.reason}"


class ChainRecord(Protocol):
    """A stored record as the walk reads it (a database row or a record of an export)."""

    @property
    def seq(self) -> int: ...
    @property
    def entry_id(self) -> int: ...
    @property
    def kind(self) -> str: ...
    @property
    def at(self) -> str: ...
    @property
    def user_id(self) -> str | None: ...
    @property
    def dedupe_key(self) -> str | None: ...
    @property
    def saved_export(self) -> str | None: ...
    @property
    def schedule(self) -> str | None: ...
    @property
    def payload(self) -> str: ...
    @property
    def prev_hash(self) -> str: ...
    @property
    def hash(self) -> str: ...


@dataclass(frozen=True)
class FileRecord:
    """A record read from an export's `records` cell (its column copies come from its payload)."""

    seq: int
    entry_id: int
    kind: str
    at: str
    payload: str
    prev_hash: str
    hash: str
    user_id: str | None = None
    dedupe_key: str | None = None
    saved_export: str | None = None
    schedule: str | None = None


class _Walk:
    """Follow the chain record by record from where it starts."""

    def __init__(self, first: int, prev: str | None) -> None:
        self.expected = first
        self.prev = prev  # None: trust the first record's prev_hash (unreadable anchor)
        self.checked = 0

    def step(self, row: ChainRecord) -> VerifyResult | None:
        problem = _check_row(row, self.expected, row.prev_hash if self.prev is None else self.prev)
        if problem is not None:
            return VerifyResult(False, self.checked, *problem)
        self.prev, self.expected, self.checked = row.hash, self.expected + 1, self.checked + 1
        return None

    def finish(self, head_seq: int, head_hash: str) -> VerifyResult:
        last, checked = self.expected - 1, self.checked
        if head_seq > last:
            return VerifyResult(
                False,
                checked,
                last + 1,
                f"record {last + 1} removed (the chain head is at {head_seq})",
            )
        if head_seq < last:
            return VerifyResult(
                False, checked, head_seq + 1, f"record {head_seq + 1} inserted after the chain head"
            )
        if head_hash != self.prev:
            return VerifyResult(
                False,
                checked,
                last + 1,
                f"record {last + 1} removed, or the chain head edited "
                f"(the head does not match record {last})",
            )
        return VerifyResult(True, checked)


def _start(
    head_seq: int, head_hash: str, first: int | None, anchor_payload: str | None
) -> _Walk | VerifyResult:
    """Decide where the walk starts, or report that the chain's start is broken."""
    if first is None:
        if head_seq == 0 and head_hash == GENESIS_HASH:
            return VerifyResult(True, 0)
        return VerifyResult(False, 0, 1, f"records 1 to {head_seq} removed (the log is empty)")
    prev: str | None = GENESIS_HASH
    pruned_through = 0
    if anchor_payload is not None:
        try:
            anchor = json.loads(anchor_payload)
            pruned_through, prev = int(anchor["pruned_through"]), str(anchor["pruned_hash"])
        except (ValueError, KeyError, TypeError):
            # Start from whatever the first record says; the walk reports the anchor itself.
            pruned_through, prev = first - 1, None
    if first <= pruned_through or first < 1:
        return VerifyResult(
            False, 0, first, f"record {first} inserted before the start of the chain"
        )
    if first > pruned_through + 1:
        gone = pruned_through + 1
        return VerifyResult(
            False, 0, gone, f"record {gone} removed (the chain resumes at record {first})"
        )
    return _Walk(first, prev)


async def verify_database(conn: AsyncConnection) -> VerifyResult:
    """Recompute the stored chain from its start (or pruning anchor) to the chain head."""
    head = (
        await conn.execute(
            select(chain_head.c.seq, chain_head.c.hash).where(chain_head.c.id == HEAD_ID)
        )
    ).one_or_none()
    first = await conn.scalar(select(func.min(records.c.seq)))
    if head is None:
        return VerifyResult(False, 0, first, "the chain head row was removed")
    anchor_payload = await conn.scalar(
        select(records.c.payload)
        .where(records.c.kind == "anchor")
        .order_by(records.c.seq.desc())
        .limit(1)
    )
    walk = _start(int(head.seq), str(head.hash), first, anchor_payload)
    if isinstance(walk, VerifyResult):
        return walk
    while True:
        rows = (
            await conn.execute(
                select(records)
                .where(records.c.seq >= walk.expected)
                .order_by(records.c.seq)
                .limit(VERIFY_PAGE_SIZE)
            )
        ).all()
        for row in rows:
            if (problem := walk.step(row)) is not None:
                return problem
        if len(rows) < VERIFY_PAGE_SIZE:
            break
    return walk.finish(int(head.seq), str(head.hash))


def verify_file(path: Path) -> VerifyResult:
    """Verify an `audit export --csv` file on its own; name the first bad record and its row.

    Raise OSError when the file cannot be read (the CLI says so in one line).
    """
    with path.open(encoding="utf-8", newline="") as stream:
        reader = csv.DictReader(stream)
        header = None if reader.fieldnames is None else tuple(reader.fieldnames)
        if header not in (CSV_FIELDS, LEGACY_CSV_FIELDS):
            return VerifyResult(
                False, 0, None, "not an audit export: the header differs from `audit export --csv`"
            )
        parsed = _read_rows(enumerate(reader, start=1))
    if isinstance(parsed, VerifyResult):
        return parsed
    rows, found, row_of, head = parsed
    if head is None:
        return VerifyResult(
            False, 0, None, "CSV row 1 removed or altered (the chain head it carries is missing)"
        )
    ordered = [found[seq] for seq in sorted(found)]
    anchors = [r.payload for r in ordered if r.kind == "anchor"]
    walk = _start(
        head[0], head[1], ordered[0].seq if ordered else None, anchors[-1] if anchors else None
    )
    result = walk if isinstance(walk, VerifyResult) else _walk_all(walk, ordered, head)
    if not result.ok:
        where = row_of.get(result.first_bad_id or 0)
        suffix = "" if where is None else f" (CSV row {where})"
        return VerifyResult(False, result.records, result.first_bad_id, result.reason + suffix)
    for number, row, own in rows:
        problem = _check_cells(number, row, own)
        if problem is not None:
            return VerifyResult(False, result.records, None, problem)
    return result


_Parsed = tuple[
    list[tuple[int, dict[str, str], list[FileRecord]]],
    dict[int, FileRecord],
    dict[int, int],
    tuple[int, str] | None,
]


def _read_rows(numbered: Iterable[tuple[int, dict[str, str]]]) -> _Parsed | VerifyResult:
    """Read every row's records; report a row whose chain cells cannot be read."""
    rows: list[tuple[int, dict[str, str], list[FileRecord]]] = []
    found: dict[int, FileRecord] = {}
    row_of: dict[int, int] = {}
    head: tuple[int, str] | None = None
    for number, row in numbered:
        try:
            recs = [_file_record(item) for item in json.loads(row["records"] or "null")]
            if number == 1:
                seq, _, digest = (row["chain_head"] or "").partition(":")
                head = (int(seq), digest) if digest else None
        except (ValueError, KeyError, TypeError, AttributeError):
            return VerifyResult(
                False, 0, None, f"CSV row {number} altered (its chain cells are unreadable)"
            )
        for rec in recs:
            if rec.seq in found:
                return VerifyResult(
                    False, 0, rec.seq, f"record {rec.seq} inserted twice (CSV row {number})"
                )
            found[rec.seq], row_of[rec.seq] = rec, number
        rows.append((number, row, recs))
    return rows, found, row_of, head


def _walk_all(walk: _Walk, ordered: list[FileRecord], head: tuple[int, str]) -> VerifyResult:
    for rec in ordered:
        if (problem := walk.step(rec)) is not None:
            return problem
    return walk.finish(*head)


def _file_record(item: Any) -> FileRecord:
    """Build a record from its exported JSON object; its column copies come from the payload."""
    rec = FileRecord(
        seq=int(item["seq"]),
        entry_id=int(item["entry_id"]),
        kind=str(item["kind"]),
        at=str(item["at"]),
        payload=str(item["payload"]),
        prev_hash=str(item["prev_hash"]),
        hash=str(item["hash"]),
    )
    if rec.kind != "request":
        return rec
    content = json.loads(rec.payload)
    return dataclasses.replace(rec, **{name: content.get(name) for name in COPIED_COLUMNS})


def _check_cells(number: int, row: dict[str, str], recs: list[FileRecord]) -> str | None:
    """Say which readable cell of a row disagrees with the records it was folded from."""
    entry_id = row.get("id", "")
    request = next((r for r in recs if r.kind == "request" and str(r.seq) == entry_id), None)
    if request is None:
        return f"CSV row {number} altered (entry {entry_id or '?'} has no request record)"
    later = [r for r in recs if r.kind in ("outcome", "delivery") and r.entry_id == request.seq]
    expected = csv_row(fold(request, later), recs, row.get("chain_head") or None)
    for name in CSV_FIELDS:
        if name in _CHAIN_CELLS:
            continue
        value = expected[name]
        if row.get(name, "") != ("" if value is None else str(value)):
            return (
                f"entry {entry_id} altered (CSV row {number}: `{name}` differs from "
                "its hashed records)"
            )
    return None


def _check_row(row: ChainRecord, expected: int, prev: str) -> tuple[int, str, int | None] | None:  # noqa: PLR0911  one return per way a row can be wrong
    """Return (record seq, reason, entry id) for the first thing wrong with a row, or None."""
    seq, entry_id = int(row.seq), int(row.entry_id)
    if seq != expected:
        return expected, f"record {expected} removed (the chain jumps to record {seq})", None
    where = f"record {seq}, {row.kind}"
    try:
        payload = json.loads(row.payload)
        digest = record_hash(
            row.prev_hash, seq=seq, entry_id=entry_id, kind=row.kind, at=row.at, payload=row.payload
        )
    except (ValueError, TypeError):
        return seq, f"entry {entry_id} altered ({where}: content is not valid JSON)", entry_id
    if digest != row.hash or canonical_json(payload) != row.payload:
        return seq, f"entry {entry_id} altered ({where}: hash mismatch)", entry_id
    if row.prev_hash != prev:
        return (
            seq,
            f"entry {entry_id} inserted ({where} does not follow record {seq - 1})",
            entry_id,
        )
    if row.kind not in RECORD_KINDS:
        return seq, f"entry {entry_id} altered ({where}: unknown kind)", entry_id
    own = row.kind in ("request", "anchor")
    if (entry_id == seq) != own:
        return seq, f"entry {entry_id} altered ({where}: wrong entry reference)", entry_id
    copied = payload if row.kind == "request" else {}
    if any(getattr(row, name) != copied.get(name) for name in COPIED_COLUMNS):
        return seq, f"entry {entry_id} altered ({where}: columns disagree with content)", entry_id
    return None
