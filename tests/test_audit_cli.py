"""`hss-export-bot audit list|verify|export|prune`, run as an operator would, on both backends."""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from db_fixtures import BACKENDS, Db, database, run_sync

from bot.adapters.audit_schema import canonical_json, record_hash
from bot.adapters.audit_store import open_audit_log
from bot.cli import main
from bot.cli.audit import render_table
from bot.domain.types import Actor, AuditEntry

ALICE = Actor("T1", "U_ALICE", "C_SEC", "slash")
BOB = Actor("T1", "U_BOB", "C_OPS", "modal")
REQUEST = {"query": {"export_size": "10"}, "body": {"export_headers": [["status", "Status"]]}}
START = datetime.now(UTC).replace(microsecond=0) - timedelta(days=100)


@pytest.fixture(params=BACKENDS)
def audit_db(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Db]:
    """Yield an audit database holding a few commands, once per backend.

    Records: 1 Alice's request, 2 its outcome (submitted), 3 its delivery,
    4 Bob's request (a day later), 5 its outcome (failed), 6 Alice's invalid command.
    """
    with database(request.param, tmp_path) as found:
        run_sync(_populate(found.url))
        yield found


async def _populate(url: str) -> None:
    now = [START]
    log = await open_audit_log(url, clock=lambda: now[0])
    try:
        alice = await log.record_pending(ALICE, REQUEST, dedupe_key="slash:1")
        await log.record_outcome(alice, "submitted", task_id="task-1", hss_request_id="req-1")
        await log.record_delivery(alice, delivery={"file_name": "c.csv", "size": 3})
        now[0] += timedelta(days=1)
        bob = await log.record_pending(BOB, REQUEST)
        await log.record_outcome(bob, "failed", hss_request_id="req-2", error="HSS.0004")
        now[0] += timedelta(days=1)
        await log.record_refusal(ALICE, "invalid", "`status`: got 'Sleeping'")
    finally:
        await log.aclose()


def audit(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    """Run `hss-export-bot audit ARGS`; return its exit code, stdout and stderr."""
    code = main(["audit", *args])
    out, err = capsys.readouterr()
    return code, out, err


def test_list_json_prints_one_object_per_entry_oldest_first(
    audit_db: Db, capsys: pytest.CaptureFixture[str]
) -> None:
    """`audit list --json` prints each command once, folded, with the documented fields."""
    code, out, _ = audit(capsys, "list", "--json", "--db", audit_db.url)
    lines = [json.loads(line) for line in out.splitlines()]
    assert code == 0
    assert [(e["id"], e["user_id"], e["outcome"]) for e in lines] == [
        (1, "U_ALICE", "submitted"),
        (4, "U_BOB", "failed"),
        (6, "U_ALICE", "invalid"),
    ]
    assert lines[0] == {
        "id": 1,
        "at": START.strftime("%Y-%m-%dT%H:%M:%S.000000Z"),
        "team_id": "T1",
        "user_id": "U_ALICE",
        "channel_id": "C_SEC",
        "source": "slash",
        "request": REQUEST,
        "outcome": "submitted",
        "task_id": "task-1",
        "hss_request_id": "req-1",
        "error": None,
        "delivery": {"file_name": "c.csv", "size": 3},
        "approver": None,
        "saved_export": None,
        "schedule": None,
        "detail": None,
        "profile": "default",  # recorded without one: the only account there was
    }


@pytest.mark.parametrize(
    ("filters", "ids"),
    [
        (["--user", "U_ALICE"], [1, 6]),
        (["--since", (START + timedelta(days=1)).date().isoformat()], [4, 6]),
        (["--since", (START + timedelta(days=1)).isoformat()], [4, 6]),
        (["--limit", "2"], [4, 6]),
        (["--user", "U_ALICE", "--limit", "1"], [6]),
        (["--user", "U_NOBODY"], []),
    ],
)
def test_list_filters(
    audit_db: Db, capsys: pytest.CaptureFixture[str], filters: list[str], ids: list[int]
) -> None:
    """--user, --since and --limit narrow the listing; --limit keeps the latest."""
    code, out, _ = audit(capsys, "list", "--json", "--db", audit_db.url, *filters)
    assert code == 0
    assert [json.loads(line)["id"] for line in out.splitlines()] == ids


@pytest.fixture(params=BACKENDS)
def approvals_db(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Db]:
    """Yield an audit database where Bob approved one held export and denied another.

    Entries: 1 Alice's held request (approved by Bob), 3 the export it let run (Alice's,
    approved by Bob), 5 Carol's held request (denied by Bob), 7 Bob's own command, 9
    Carol's invalid command whose text names Bob as a would-be approver (not a match).
    """
    carol = Actor("T1", "U_CAROL", "C_SEC", "slash")
    with database(request.param, tmp_path) as found:

        async def populate() -> None:
            log = await open_audit_log(found.url)
            try:
                held = await log.record_pending(ALICE, REQUEST, awaiting_approval=True)
                await log.record_decision(held, "approved", by=BOB.user_id)
                run = await log.record_pending(ALICE, REQUEST, approved_by=BOB.user_id)
                await log.record_outcome(run, "submitted", task_id="task-1")
                other = await log.record_pending(carol, REQUEST, awaiting_approval=True)
                await log.record_decision(other, "denied_by_approver", by=BOB.user_id)
                own = await log.record_pending(BOB, REQUEST)
                await log.record_outcome(own, "failed", error="HSS.0004")
                decoy = '"approved_by":"U_BOB" "decided_by":"U_BOB"'
                await log.record_refusal(carol, "invalid", decoy)
            finally:
                await log.aclose()

        run_sync(populate())
        yield found


def test_list_by_user_finds_what_they_approved_or_denied(
    approvals_db: Db, capsys: pytest.CaptureFixture[str]
) -> None:
    """`--user U_BOB` lists Bob's own entries and those where Bob was the approver."""
    code, out, _ = audit(capsys, "list", "--json", "--db", approvals_db.url, "--user", "U_BOB")
    lines = [json.loads(line) for line in out.splitlines()]
    assert code == 0
    assert [(e["id"], e["user_id"], e["outcome"], e["approver"]) for e in lines] == [
        (1, "U_ALICE", "approved", "U_BOB"),
        (3, "U_ALICE", "submitted", "U_BOB"),
        (5, "U_CAROL", "denied_by_approver", "U_BOB"),
        (7, "U_BOB", "failed", None),
    ]
    code, out, _ = audit(capsys, "list", "--json", "--db", approvals_db.url, "--user", "U_ALICE")
    assert [json.loads(line)["id"] for line in out.splitlines()] == [1, 3]
    code, out, _ = audit(
        capsys, "list", "--json", "--db", approvals_db.url, "--user", "U_BOB", "--limit", "2"
    )
    assert [json.loads(line)["id"] for line in out.splitlines()] == [5, 7]
    code, out, err = audit(capsys, "export", "--db", approvals_db.url, "--user", "U_BOB")
    assert [row["id"] for row in csv.DictReader(io.StringIO(out))] == ["1", "3", "5", "7"]
    assert err == "exported 4 entries\n"


def test_user_filter_help_says_it_matches_the_approver(capsys: pytest.CaptureFixture[str]) -> None:
    """`audit list --help` says --user also finds the entries the user approved or denied."""
    with pytest.raises(SystemExit):
        main(["audit", "list", "--help"])
    assert "approved or denied as an approver" in " ".join(capsys.readouterr().out.split())


def test_list_by_profile_and_json_names_it(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """`audit list --profile beta` keeps beta's requests; `--json` says each entry's profile."""
    url = f"sqlite:///{tmp_path / 'audit.db'}"

    async def populate() -> None:
        log = await open_audit_log(url)
        try:
            await log.record_pending(ALICE, {**REQUEST, "profile": "alpha"})
            await log.record_pending(
                BOB, {**REQUEST, "profile": "beta", "region": "ap-southeast-1"}
            )
            await log.record_pending(ALICE, {**REQUEST, "profile": "beta"})
            await log.record_refusal(BOB, "denied", "no")
        finally:
            await log.aclose()

    run_sync(populate())
    code, out, _ = audit(capsys, "list", "--json", "--profile", "beta", "--db", url)
    assert code == 0
    lines = [json.loads(line) for line in out.splitlines()]
    assert [(e["id"], e["profile"]) for e in lines] == [(2, "beta"), (3, "beta")]
    _, out, _ = audit(capsys, "list", "--json", "--profile", "beta", "--limit", "1", "--db", url)
    assert [json.loads(line)["id"] for line in out.splitlines()] == [3]
    _, out, _ = audit(capsys, "list", "--json", "--db", url)
    assert [json.loads(line)["profile"] for line in out.splitlines()] == [
        "alpha",
        "beta",
        "beta",
        None,
    ]


def test_list_text_is_a_readable_table(audit_db: Db, capsys: pytest.CaptureFixture[str]) -> None:
    """The plain listing shows who, where, outcome, task and what came of it, one line each."""
    code, out, _ = audit(capsys, "list", "--db", audit_db.url)
    header, *rows = out.splitlines()
    assert code == 0
    assert header.split() == [
        "ID", "AT", "(UTC)", "USER", "CHANNEL", "SOURCE", "OUTCOME", "TASK", "DETAIL"
    ]  # fmt: skip
    assert rows[0].split()[3:8] == ["U_ALICE", "C_SEC", "slash", "submitted", "task-1"]
    assert rows[0].endswith("file c.csv")
    assert rows[1].endswith("HSS.0004")
    assert rows[2].split()[6] == "invalid"


def test_verify_reports_an_intact_chain(audit_db: Db, capsys: pytest.CaptureFixture[str]) -> None:
    """`audit verify` exits 0 and says how many records it checked."""
    assert audit(capsys, "verify", "--db", audit_db.url) == (
        0,
        "ok: 6 records, chain intact\n",
        "",
    )


def _forged(db: Db, seq: int, prev_seq: int | None) -> None:
    """Insert a record whose own hash is right, chained after `prev_seq` (or genesis)."""
    prev = (
        "0" * 64
        if prev_seq is None
        else db.sql("SELECT hash FROM audit_records WHERE seq = ?", prev_seq)[0][0]
    )
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
    at = "2026-01-01T00:00:00.000000Z"
    digest = record_hash(prev, seq=seq, entry_id=seq, kind="request", at=at, payload=payload)
    db.sql(
        "INSERT INTO audit_records (seq, entry_id, kind, at, user_id, payload, prev_hash, hash)"
        " VALUES (?, ?, 'request', ?, 'U_MALLORY', ?, ?, ?)",
        seq,
        seq,
        at,
        payload,
        prev,
        digest,
    )


def _renumber_and_insert(db: Db) -> None:
    db.sql("UPDATE audit_records SET seq = seq + 1000 WHERE seq >= 4")
    db.sql("UPDATE audit_records SET seq = seq - 999 WHERE seq >= 1000")
    _forged(db, 4, 3)


TAMPERING: list[tuple[str, Callable[[Db], object], str]] = [
    (
        "request rewritten",
        lambda db: db.sql(
            "UPDATE audit_records SET payload = replace(payload, 'U_ALICE', 'U_EVE') WHERE seq = 1"
        ),
        "entry 1 altered (record 1, request: hash mismatch)",
    ),
    (
        "user column rewritten",
        lambda db: db.sql("UPDATE audit_records SET user_id = 'U_EVE' WHERE seq = 1"),
        "entry 1 altered (record 1, request: columns disagree with content)",
    ),
    (
        "failed outcome turned submitted",
        lambda db: db.sql(
            "UPDATE audit_records SET payload = replace(payload, 'failed', 'submitted')"
            " WHERE seq = 5"
        ),
        "entry 4 altered (record 5, outcome: hash mismatch)",
    ),
    (
        "timestamp moved",
        lambda db: db.sql(
            "UPDATE audit_records SET at = '2020-01-01T00:00:00.000000Z' WHERE seq = 3"
        ),
        "entry 1 altered (record 3, delivery: hash mismatch)",
    ),
    (
        "stored hash overwritten",
        lambda db: db.sql("UPDATE audit_records SET hash = prev_hash WHERE seq = 2"),
        "entry 1 altered (record 2, outcome: hash mismatch)",
    ),
    (
        "first record deleted",
        lambda db: db.sql("DELETE FROM audit_records WHERE seq = 1"),
        "record 1 removed",
    ),
    (
        "middle record deleted",
        lambda db: db.sql("DELETE FROM audit_records WHERE seq = 3"),
        "record 3 removed",
    ),
    (
        "last record deleted",
        lambda db: db.sql("DELETE FROM audit_records WHERE seq = 6"),
        "record 6 removed",
    ),
    (
        "last record deleted and the head rewound",
        lambda db: (
            db.sql("DELETE FROM audit_records WHERE seq = 6"),
            db.sql("UPDATE audit_chain_head SET seq = 5"),
        ),
        "record 6 removed, or the chain head edited",
    ),
    (
        "chain head deleted",
        lambda db: db.sql("DELETE FROM audit_chain_head"),
        "the chain head row was removed",
    ),
    (
        "well-formed record appended behind the store's back",
        lambda db: _forged(db, 7, 6),
        "record 7 inserted after the chain head",
    ),
    (
        "record inserted before the first",
        lambda db: _forged(db, 0, None),
        "record 0 inserted before the start of the chain",
    ),
    (
        "records renumbered to insert one in the middle",
        _renumber_and_insert,
        "entry 4 altered (record 5, request: hash mismatch)",
    ),
]


@pytest.mark.parametrize(
    ("tamper", "expected"),
    [pytest.param(tamper, expected, id=name) for name, tamper, expected in TAMPERING],
)
def test_verify_names_the_first_tampered_record(
    audit_db: Db,
    capsys: pytest.CaptureFixture[str],
    tamper: Callable[[Db], object],
    expected: str,
) -> None:
    """Plain-SQL edits, deletions and insertions make `audit verify` exit 1 naming the spot."""
    tamper(audit_db)
    code, out, err = audit(capsys, "verify", "--db", audit_db.url)
    assert (code, out) == (1, "")
    assert err.startswith("TAMPERED: ")
    assert expected in err


def test_export_csv_has_a_row_per_entry(audit_db: Db, capsys: pytest.CaptureFixture[str]) -> None:
    """`audit export --csv` writes a header and one row per command, request as JSON."""
    code, out, err = audit(capsys, "export", "--csv", "--db", audit_db.url)
    rows = list(csv.DictReader(io.StringIO(out)))
    assert (code, err) == (0, "exported 3 entries\n")
    assert [(r["id"], r["user_id"], r["outcome"], r["error"]) for r in rows] == [
        ("1", "U_ALICE", "submitted", ""),
        ("4", "U_BOB", "failed", "HSS.0004"),
        ("6", "U_ALICE", "invalid", "`status`: got 'Sleeping'"),
    ]
    assert json.loads(rows[0]["request"]) == REQUEST
    assert json.loads(rows[0]["delivery"]) == {"file_name": "c.csv", "size": 3}


def test_export_csv_to_a_file(
    audit_db: Db, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    """`--output FILE` writes the same CSV to a file instead of stdout."""
    target = tmp_path / "audit.csv"
    code, out, _ = audit(capsys, "export", "--db", audit_db.url, "--output", str(target))
    assert (code, out) == (0, "")
    assert [row["id"] for row in csv.DictReader(target.open(encoding="utf-8"))] == ["1", "4", "6"]


def test_export_to_an_unwritable_place_is_one_line_not_a_traceback(
    audit_db: Db, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    """An output path in a missing folder exits 2 with one line naming the path."""
    target = tmp_path / "no-such-folder" / "audit.csv"
    code, out, err = audit(capsys, "export", "--db", audit_db.url, "--output", str(target))
    assert (code, out) == (2, "")
    assert err == f"error: No such file or directory: {target}\n"


def test_prune_then_verify(audit_db: Db, capsys: pytest.CaptureFixture[str]) -> None:
    """`audit prune` removes records older than N days and the chain still verifies."""
    code, out, _ = audit(capsys, "prune", "--older-than-days", "30", "--db", audit_db.url)
    assert (code, out) == (0, "removed 6 records older than 30 days; the chain still verifies\n")
    assert audit(capsys, "verify", "--db", audit_db.url)[:2] == (
        0,
        "ok: 1 record, chain intact\n",
    )
    assert audit(capsys, "list", "--json", "--db", audit_db.url)[1] == ""


def test_database_comes_from_audit_db_url(
    audit_db: Db,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
) -> None:
    """Without --db the CLI reads AUDIT_DB_URL, as the bot does."""
    monkeypatch.chdir(tmp_path)  # no developer .env in the way
    monkeypatch.setenv("AUDIT_DB_URL", audit_db.url)
    code, out, _ = audit(capsys, "list", "--json", "--limit", "1")
    assert (code, json.loads(out)["id"]) == (0, 6)


def test_missing_database_is_an_error_not_a_new_log(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    """Pointing the CLI at a log that does not exist fails and creates nothing."""
    missing = tmp_path / "nope" / "audit.db"
    code, out, err = audit(capsys, "verify", "--db", f"sqlite:///{missing}")
    assert (code, out) == (2, "")
    assert err == f"error: no audit database at {missing}\n"
    assert not missing.parent.exists()


def test_unreachable_database_hides_its_password(capsys: pytest.CaptureFixture[str]) -> None:
    """An unreachable PostgreSQL is a one-line error without the URL's password."""
    code, _, err = audit(capsys, "list", "--db", "postgresql://u:pw-s3cret@127.0.0.1:1/audit")
    assert code == 2
    assert err.startswith("error: audit log unavailable (postgresql: ")
    assert "pw-s3cret" not in err


@pytest.mark.parametrize(
    ("args", "complaint"),
    [
        (["list", "--since", "last tuesday"], "expected a date like 2026-01-31"),
        (["list", "--limit", "0"], "expected a whole number of at least 1"),
        (["export", "--nonsense"], "unrecognized arguments: --nonsense"),
    ],
)
def test_bad_arguments_are_usage_errors(
    capsys: pytest.CaptureFixture[str], args: list[str], complaint: str
) -> None:
    """Malformed options exit 2 with argparse's usage message naming the problem."""
    with pytest.raises(SystemExit) as exited:
        main(["audit", *args])
    assert exited.value.code == 2
    assert complaint in capsys.readouterr().err


def test_list_shows_the_approver_of_each_approved_export() -> None:
    """`audit list` names who approved an export, and who denied a held one."""
    at = datetime(2026, 1, 1, tzinfo=UTC)
    approved = AuditEntry(
        7, at, "T1", "U_ALICE", "C1", "approval", None, "submitted", "task-1", approver="U_BOB"
    )
    denied = AuditEntry(
        5, at, "T1", "U_ALICE", "C1", "slash", None, "denied_by_approver", error="too broad",
        approver="U_CAROL",
    )  # fmt: skip
    table = render_table([denied, approved]).splitlines()
    assert table[1].endswith("decided by U_CAROL; too broad")
    assert table[2].endswith("approved by U_BOB")
    assert "approval" in table[2]
