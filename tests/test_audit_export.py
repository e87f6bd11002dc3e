"""`audit export --csv` carries the hash chain, and `audit verify --file` checks a copy alone."""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path

import pytest
from db_fixtures import BACKENDS, Db, database, run_sync
from test_audit_cli import ALICE, BOB, REQUEST, START, audit, audit_db

from bot.adapters.audit_schema import canonical_json, record_hash
from bot.adapters.audit_store import open_audit_log

__all__ = ["audit_db"]  # the fixture, shared with the CLI tests

Rows = list[dict[str, str]]


def export(capsys: pytest.CaptureFixture[str], db: Db, target: Path) -> Rows:
    """Export the whole log to `target`; return its rows."""
    code, _, err = audit(capsys, "export", "--csv", "--db", db.url, "--output", str(target))
    assert (code, err) == (0, f"exported {err.split()[1]} entries\n")
    with target.open(encoding="utf-8", newline="") as stream:
        return list(csv.DictReader(stream))


def rewrite(target: Path, rows: Rows) -> None:
    """Write rows back as an auditor's spreadsheet would (same header, same quoting)."""
    with target.open("w", encoding="utf-8", newline="") as stream:
        writer = csv.DictWriter(stream, fieldnames=list(rows[0]), lineterminator="\n")
        writer.writeheader()
        writer.writerows(rows)


def test_export_carries_every_record_and_the_chain_head(
    audit_db: Db, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    """Each row holds its request's hashes and every record folded into it, payload exact."""
    rows = export(capsys, audit_db, tmp_path / "audit.csv")
    stored = audit_db.sql("SELECT seq, kind, payload, prev_hash, hash FROM audit_records")
    by_seq = {seq: (kind, payload, prev, digest) for seq, kind, payload, prev, digest in stored}
    cells = [json.loads(row["records"]) for row in rows]
    assert [[r["seq"] for r in cell] for cell in cells] == [[1, 2, 3], [4, 5], [6]]
    for cell in cells:
        for r in cell:
            assert (r["kind"], r["payload"], r["prev_hash"], r["hash"]) == by_seq[r["seq"]]
    assert (rows[0]["prev_hash"], rows[0]["hash"]) == by_seq[1][2:]
    head_seq, head_hash = audit_db.sql("SELECT seq, hash FROM audit_chain_head")[0]
    assert [row["chain_head"] for row in rows] == [f"{head_seq}:{head_hash}", "", ""]


def test_an_untouched_export_verifies_without_the_database(
    audit_db: Db, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    """`audit verify --file` on a fresh export says the chain is intact, as `verify` does."""
    target = tmp_path / "audit.csv"
    export(capsys, audit_db, target)
    audit_db.drop()  # the copy stands on its own: no database left to read
    if audit_db.path is not None:
        audit_db.path.unlink()
    assert audit(capsys, "verify", "--file", str(target)) == (
        0,
        "ok: 6 records, chain intact\n",
        "",
    )


def _set(row: int, column: str, value: str) -> Callable[[Rows], Rows]:
    def edit(rows: Rows) -> Rows:
        rows[row][column] = value
        return rows

    return edit


def _edit_payload(row: int, seq: int, old: str, new: str) -> Callable[[Rows], Rows]:
    def edit(rows: Rows) -> Rows:
        recs = json.loads(rows[row]["records"])
        for r in recs:
            if r["seq"] == seq:
                r["payload"] = r["payload"].replace(old, new)
        rows[row]["records"] = canonical_json(recs)
        return rows

    return edit


def _append_forged(rows: Rows) -> Rows:
    """Add a well-formed request record chained after the last one, as a new row."""
    last = json.loads(rows[-1]["records"])[-1]
    payload = canonical_json(
        {
            "team_id": "T1",
            "user_id": "U_MALLORY",
            "channel_id": "C",
            "source": "cli",
            "request": None,
            "outcome": "denied",
            "error": "x",
            "dedupe_key": None,
        }
    )
    seq, at, prev = last["seq"] + 1, "2026-01-01T00:00:00.000000Z", last["hash"]
    digest = record_hash(prev, seq=seq, entry_id=seq, kind="request", at=at, payload=payload)
    record = {"seq": seq, "entry_id": seq, "kind": "request", "at": at, "payload": payload}
    record |= {"prev_hash": prev, "hash": digest}
    forged = dict(rows[-1]) | {"id": str(seq), "records": canonical_json([record])}
    return [*rows, forged]


FILE_TAMPERING: list[tuple[str, Callable[[Rows], Rows], str]] = [
    (
        "readable outcome cell edited",
        _set(1, "outcome", "submitted"),
        "entry 4 altered (CSV row 2: `outcome` differs from its hashed records)",
    ),
    (
        "readable user cell edited",
        _set(0, "user_id", "U_EVE"),
        "entry 1 altered (CSV row 1: `user_id` differs from its hashed records)",
    ),
    (
        "hashed payload edited",
        _edit_payload(1, 5, "failed", "submitted"),
        "entry 4 altered (record 5, outcome: hash mismatch) (CSV row 2)",
    ),
    (
        "a middle row deleted",
        lambda rows: [rows[0], rows[2]],
        "record 4 removed (the chain jumps to record 6)",
    ),
    (
        "the last row deleted",
        lambda rows: rows[:2],
        "record 6 removed (the chain head is at 6)",
    ),
    (
        "the first row (with the chain head) deleted",
        lambda rows: rows[1:],
        "CSV row 1 removed or altered (the chain head it carries is missing)",
    ),
    (
        "a row duplicated",
        lambda rows: [rows[0], rows[1], rows[1], rows[2]],
        "record 4 inserted twice (CSV row 3)",
    ),
    (
        "a well-formed row appended",
        _append_forged,
        "record 7 inserted after the chain head (CSV row 4)",
    ),
    (
        "records cell mangled",
        _set(2, "records", "[{not json"),
        "CSV row 3 altered (its chain cells are unreadable)",
    ),
]


@pytest.mark.parametrize(
    ("tamper", "expected"),
    [pytest.param(tamper, expected, id=name) for name, tamper, expected in FILE_TAMPERING],
)
def test_verify_file_names_the_first_tampered_row(
    audit_db: Db,
    capsys: pytest.CaptureFixture[str],
    tmp_path: Path,
    tamper: Callable[[Rows], Rows],
    expected: str,
) -> None:
    """Edited cells, deleted, duplicated or forged rows make `verify --file` exit 1 naming them."""
    target = tmp_path / "audit.csv"
    rewrite(target, tamper(export(capsys, audit_db, target)))
    code, out, err = audit(capsys, "verify", "--file", str(target))
    assert (code, out) == (1, "")
    assert err == f"TAMPERED: {expected}\n"


@pytest.mark.parametrize("backend", BACKENDS)
def test_an_export_of_a_pruned_log_verifies_from_its_anchor(
    backend: str, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    """After pruning, the anchor and outcomes of pruned commands travel in the first row."""
    with database(backend, tmp_path) as db:
        run_sync(_pruned_log(db.url))
        target = tmp_path / "audit.csv"
        rows = export(capsys, db, target)
        assert [row["id"] for row in rows] == ["5"]
        kinds = [(r["seq"], r["kind"]) for r in json.loads(rows[0]["records"])]
        assert kinds == [(3, "outcome"), (4, "outcome"), (5, "request"), (6, "anchor")]
        assert audit(capsys, "verify", "--file", str(target))[:2] == (
            0,
            "ok: 4 records, chain intact\n",
        )
        rewrite(target, _edit_payload(0, 3, "task-a", "task-z")(rows))
        code, _, err = audit(capsys, "verify", "--file", str(target))
        assert (code, err) == (
            1,
            "TAMPERED: entry 1 altered (record 3, outcome: hash mismatch) (CSV row 1)\n",
        )


async def _pruned_log(url: str) -> None:
    """Records: 1 A, 2 B (old); 3, 4 their outcomes and 5 C (new); 6 the anchor of 1-2."""
    now = [START]
    log = await open_audit_log(url, clock=lambda: now[0])
    try:
        a = await log.record_pending(ALICE, REQUEST)
        b = await log.record_pending(BOB, REQUEST)
        now[0] += timedelta(days=50)
        await log.record_outcome(a, "submitted", task_id="task-a")
        await log.record_outcome(b, "failed", error="HSS.0004")
        await log.record_refusal(ALICE, "denied", "not allowed here")
        now[0] += timedelta(days=10)
        assert await log.prune(30) == 2
    finally:
        await log.aclose()


def test_verify_file_refuses_what_is_not_an_export(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    """A CSV that is not an audit export, or no file at all, is one line, never a traceback."""
    other = tmp_path / "other.csv"
    other.write_text("name,size\nc.csv,3\n", encoding="utf-8")
    code, _, err = audit(capsys, "verify", "--file", str(other))
    assert (code, err) == (
        1,
        "TAMPERED: not an audit export: the header differs from `audit export --csv`\n",
    )
    missing = tmp_path / "missing.csv"
    code, _, err = audit(capsys, "verify", "--file", str(missing))
    assert (code, err) == (2, f"error: cannot read {missing}: No such file or directory\n")


def test_list_says_what_an_entry_id_is(audit_db: Db, capsys: pytest.CaptureFixture[str]) -> None:
    """The table's footer explains why IDs 1, 4, 6 have gaps (completion records between)."""
    code, out, _ = audit(capsys, "list", "--db", audit_db.url)
    lines = out.splitlines()
    assert code == 0
    assert [line.split()[0] for line in lines[1:4]] == ["1", "4", "6"]
    assert lines[-1].startswith("3 entries. An ID is the record number of the command")
    assert "outcome and delivery records take the numbers in between" in lines[-1]
    assert "--json" not in out
    _, json_out, _ = audit(capsys, "list", "--json", "--db", audit_db.url)
    assert all(json.loads(line) for line in json_out.splitlines())  # JSON stays JSON
    assert len(json_out.splitlines()) == 3


def test_export_reads_as_it_did_for_entries(
    audit_db: Db, capsys: pytest.CaptureFixture[str]
) -> None:
    """The readable cells are unchanged: chain columns come after them, then issue 15's."""
    _, out, _ = audit(capsys, "export", "--csv", "--db", audit_db.url)
    header = next(csv.reader(io.StringIO(out)))
    assert header[:12] == [
        "id", "at", "team_id", "user_id", "channel_id", "source", "outcome", "task_id",
        "hss_request_id", "error", "request", "delivery",
    ]  # fmt: skip
    assert header[12:16] == ["prev_hash", "hash", "records", "chain_head"]
    assert header[16:] == ["saved_export", "schedule", "detail"]
