"""Where an export came from, and changes that are not exports, in the audit chain (issue 15).

The same suite on SQLite and on PostgreSQL: an entry names the saved export it
ran and the schedule that ran it, inside the hash chain; `saved`, `paused` and
the other changes are chained entries too; a log written before issue 15
upgrades in place and still verifies.
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest
from db_fixtures import BACKENDS, Db, database, run_sync

from bot.adapters.audit_schema import SCHEMA_VERSION
from bot.adapters.audit_store import SqlAuditLog, open_audit_log
from bot.adapters.audit_verify import verify_file
from bot.cli import main
from bot.domain import history_messages
from bot.domain.errors import DuplicateCommand
from bot.domain.model import ExportBody, ExportRequest, default_headers
from bot.domain.types import Actor, AuditEntry

ALICE = Actor("T1", "U_ALICE", "C_SEC", "slash")
SCHEDULER = Actor("T1", "U_ALICE", "C_OPS", "schedule")
PLAIN = ExportRequest(body=ExportBody(risky=True, export_headers=default_headers("en")[:2]))
FROM_SAVED = PLAIN.model_copy(update={"saved_export": "weekly-risky"})
FROM_SCHEDULE = PLAIN.model_copy(
    update={"saved_export": "weekly-risky", "schedule": "weekly-risky"}
)


@pytest.fixture(params=BACKENDS)
def audit_db(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Db]:
    """Yield an empty audit database, once per backend."""
    with database(request.param, tmp_path) as found:
        yield found


@pytest.fixture
async def log(audit_db: Db) -> AsyncIterator[SqlAuditLog]:
    """Open the audit log on the test database."""
    opened = await open_audit_log(audit_db.url)
    yield opened
    await opened.aclose()


async def test_an_export_names_its_saved_export_and_schedule(log: SqlAuditLog) -> None:
    """A run of a schedule is an entry naming both; the HSS record it keeps is unchanged."""
    entry_id = await log.record_pending(SCHEDULER, FROM_SCHEDULE.as_audit_record())
    await log.record_outcome(entry_id, "submitted", task_id="task-1")
    entry = await log.entry(entry_id)
    assert entry is not None
    assert (entry.saved_export, entry.schedule, entry.source) == (
        "weekly-risky",
        "weekly-risky",
        "schedule",
    )
    assert entry.request == PLAIN.as_audit_record()  # the names live on the entry, once
    assert (await log.verify()).ok


async def test_a_schedule_run_keeps_the_schedules_id_inside_the_chain(
    log: SqlAuditLog, audit_db: Db
) -> None:
    """The schedule's id (what its runs are compared by) is in the payload, hashed; no column."""
    run = FROM_SCHEDULE.model_copy(update={"schedule_id": "Zq3-first_schedule"})
    entry_id = await log.record_pending(SCHEDULER, run.as_audit_record())
    [(payload,)] = audit_db.sql("SELECT payload FROM audit_records WHERE seq = ?", entry_id)
    assert json.loads(payload)["schedule_id"] == "Zq3-first_schedule"
    entry = await log.entry(entry_id)
    assert entry is not None
    assert entry.request == PLAIN.as_audit_record()
    assert (await log.verify()).ok
    edited = payload.replace("Zq3-first_schedule", "Kp9-other_schedule")
    audit_db.sql("UPDATE audit_records SET payload = ? WHERE seq = ?", edited, entry_id)
    assert "hash mismatch" in (await log.verify()).reason
    with pytest.raises(ValueError, match="schedule_id must match"):
        await log.record_pending(SCHEDULER, {**run.as_audit_record(), "schedule_id": "a b"})


async def test_plain_exports_name_neither(log: SqlAuditLog, audit_db: Db) -> None:
    """A typed export's payload is exactly as before issue 15: no new keys, empty columns."""
    await log.record_pending(ALICE, PLAIN.as_audit_record())
    [(payload, saved, schedule)] = audit_db.sql(
        "SELECT payload, saved_export, schedule FROM audit_records"
    )
    assert (saved, schedule) == (None, None)
    assert not {"saved_export", "schedule", "detail"} & set(json.loads(payload))


async def test_a_refused_saved_export_names_it_without_a_request(log: SqlAuditLog) -> None:
    """Stored fields that no longer parse: `invalid`, naming the saved export and the key."""
    entry_id = await log.record_refusal(
        ALICE, "invalid", "`status`: got 'sleeping'", saved_export="weekly-risky"
    )
    entry = await log.entry(entry_id)
    assert entry is not None
    assert (entry.outcome, entry.saved_export, entry.request) == ("invalid", "weekly-risky", None)


async def test_changes_are_chained_entries_shown_by_history(log: SqlAuditLog) -> None:
    """`saved`, `scheduled`, `paused`: entries in the chain, listed by `history` with names."""
    await log.record_change(
        ALICE,
        "saved",
        saved_export="weekly-risky",
        request=FROM_SAVED.as_audit_record(),
        detail="risky=yes",
    )
    await log.record_change(
        ALICE, "scheduled", schedule="weekly-risky", detail="every monday 09:00 (Europe/Berlin)"
    )
    await log.record_change(ALICE, "paused", schedule="weekly-risky")
    entries = await log.history("U_ALICE")
    assert [(e.outcome, e.saved_export, e.schedule) for e in entries] == [
        ("paused", None, "weekly-risky"),
        ("scheduled", None, "weekly-risky"),
        ("saved", "weekly-risky", None),
    ]
    assert entries[2].request == PLAIN.as_audit_record()
    assert entries[1].detail == "every monday 09:00 (Europe/Berlin)"
    assert (await log.verify()).ok
    text = history_messages.history(entries).text + json.dumps(
        history_messages.history(entries).blocks, ensure_ascii=False
    )
    assert "*saved* · saved export `weekly-risky`" in text
    assert "*scheduled* · schedule `weekly-risky` · every monday 09:00 (Europe/Berlin)" in text
    assert "no request" not in text  # a change says what it did, not "no request"


async def test_a_change_is_refused_without_a_name_or_with_a_bad_outcome(log: SqlAuditLog) -> None:
    """A change names what it changed, and is one of the known changes."""
    with pytest.raises(ValueError, match="names the saved export or schedule"):
        await log.record_change(ALICE, "saved")
    with pytest.raises(ValueError, match="a change is one of"):
        await log.record_change(ALICE, "submitted", saved_export="x")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="saved_export must match"):
        await log.record_change(ALICE, "saved", saved_export="Not A Name")
    assert await log.list_entries() == []


async def test_a_double_click_on_a_change_is_one_entry(log: SqlAuditLog) -> None:
    """The same dedupe key twice (a Home button clicked twice) names the first entry."""
    first = await log.record_change(ALICE, "forgotten", saved_export="x", dedupe_key="home:a1")
    with pytest.raises(DuplicateCommand) as caught:
        await log.record_change(ALICE, "forgotten", saved_export="x", dedupe_key="home:a1")
    assert caught.value.entry_id == first
    assert len(await log.list_entries()) == 1


async def test_an_edited_name_breaks_the_chain(log: SqlAuditLog, audit_db: Db) -> None:
    """Changing the schedule's name in the column, or in the payload, is caught by verify."""
    entry_id = await log.record_pending(SCHEDULER, FROM_SCHEDULE.as_audit_record())
    audit_db.sql("UPDATE audit_records SET schedule = ? WHERE seq = ?", "other", entry_id)
    result = await log.verify()
    assert not result.ok
    assert "columns disagree with content" in result.reason
    audit_db.sql("UPDATE audit_records SET schedule = ? WHERE seq = ?", "weekly-risky", entry_id)
    [(payload,)] = audit_db.sql("SELECT payload FROM audit_records WHERE seq = ?", entry_id)
    edited = payload.replace('"schedule":"weekly-risky"', '"schedule":"other"')
    audit_db.sql("UPDATE audit_records SET payload = ? WHERE seq = ?", edited, entry_id)
    assert "hash mismatch" in (await log.verify()).reason


def _downgrade_to_v1(audit_db: Db) -> None:
    """Make the database what a bot before issue 15 left: no name columns, schema version 1."""
    for name in ("saved_export", "schedule"):
        audit_db.sql(f"DROP INDEX audit_records_{name}")
        audit_db.sql(f"ALTER TABLE audit_records DROP COLUMN {name}")
    audit_db.sql("UPDATE audit_meta SET value = '1' WHERE key = 'schema_version'")


def test_an_old_log_upgrades_in_place_and_still_verifies(
    audit_db: Db, capsys: pytest.CaptureFixture[str]
) -> None:
    """Entries written before issue 15 stay, verify, and new entries name their saved export."""

    async def write_old() -> int:
        old = await open_audit_log(audit_db.url)
        try:
            first = await old.record_pending(ALICE, PLAIN.as_audit_record(), "slash:T1:1")
            await old.record_outcome(first, "submitted", task_id="task-1")
        finally:
            await old.aclose()
        return first

    async def write_new() -> tuple[list[AuditEntry], bool]:
        log = await open_audit_log(audit_db.url)
        try:
            await log.record_pending(SCHEDULER, FROM_SCHEDULE.as_audit_record())
            return await log.list_entries(), (await log.verify()).ok
        finally:
            await log.aclose()

    first = run_sync(write_old())
    _downgrade_to_v1(audit_db)
    assert (
        main(["audit", "verify", "--db", audit_db.url]) == 0
    )  # upgrades it in place, then checks it
    [kept, new], ok = run_sync(write_new())
    assert ok
    assert audit_db.sql("SELECT value FROM audit_meta") == [(str(SCHEMA_VERSION),)]
    assert (kept.id, kept.task_id, kept.saved_export) == (first, "task-1", None)
    assert new.schedule == "weekly-risky"
    assert main(["audit", "verify", "--db", audit_db.url]) == 0
    capsys.readouterr()
    assert main(["audit", "list", "--json", "--db", audit_db.url]) == 0
    shown = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert [(e["saved_export"], e["schedule"]) for e in shown] == [
        (None, None),
        ("weekly-risky", "weekly-risky"),
    ]


async def test_an_export_file_of_before_issue_15_still_verifies(
    log: SqlAuditLog, tmp_path: Path
) -> None:
    """A CSV written without the three new columns verifies; the new one shows the names."""
    await log.record_pending(ALICE, PLAIN.as_audit_record())
    stream = io.StringIO()
    await log.export_csv(stream)
    rows = list(csv.reader(io.StringIO(stream.getvalue())))
    legacy = tmp_path / "legacy.csv"
    with legacy.open("w", encoding="utf-8", newline="") as out:
        csv.writer(out, lineterminator="\n").writerows(row[:-3] for row in rows)
    assert verify_file(legacy).ok

    await log.record_change(ALICE, "saved", saved_export="weekly-risky", detail="risky=yes")
    current = tmp_path / "current.csv"
    with current.open("w", encoding="utf-8", newline="") as out:
        await log.export_csv(out)
    assert verify_file(current).ok
    last = list(csv.DictReader(current.open(encoding="utf-8")))[-1]
    assert (last["outcome"], last["saved_export"], last["detail"]) == (
        "saved",
        "weekly-risky",
        "risky=yes",
    )
    edited = current.read_text(encoding="utf-8").replace(",weekly-risky,", ",other,")
    current.write_text(edited, encoding="utf-8")
    assert "`saved_export` differs" in verify_file(current).reason


def test_provenance_is_not_sent_to_hss() -> None:
    """The body and query HSS gets (and signs) are the same with or without the names."""
    assert FROM_SCHEDULE.body_bytes() == PLAIN.body_bytes()
    assert FROM_SCHEDULE.query_params() == PLAIN.query_params()
    record = FROM_SCHEDULE.as_audit_record()
    assert (record["saved_export"], record["schedule"]) == ("weekly-risky", "weekly-risky")
    assert ExportRequest.from_audit_record(record) == FROM_SCHEDULE  # a held approval keeps them
