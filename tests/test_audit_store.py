"""The SQL audit log, the same suite on SQLite and on PostgreSQL."""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import sqlite3
import textwrap
from collections.abc import AsyncIterator, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import asyncpg
import pytest
from db_fixtures import BACKENDS, PG_URL, Db, database, postgres_db, python
from sqlalchemy.engine import make_url

from bot.adapters import audit_store, sql
from bot.adapters.audit_schema import SCHEMA_VERSION
from bot.adapters.audit_store import Appended, SqlAuditLog, open_audit_log
from bot.adapters.task_store import open_task_store
from bot.domain.errors import AuditUnavailable, DuplicateCommand, TaskStoreUnavailable
from bot.domain.model import ExportBody, ExportQuery, ExportRequest, default_headers
from bot.domain.types import Actor, AuditEntry
from bot.ports import AuditLog

ALICE = Actor("T1", "U_ALICE", "C_SEC", "slash")
BOB = Actor("T1", "U_BOB", "C_OPS", "modal")
REQUEST = ExportRequest(
    query=ExportQuery(export_size=500),
    body=ExportBody(cluster_name="prod", risky=True, export_headers=default_headers("en")[:2]),
).as_audit_record()


class Clock:
    """A clock the test moves by hand."""

    def __init__(self) -> None:
        self.now = datetime(2026, 1, 1, 9, 0, tzinfo=UTC)

    def __call__(self) -> datetime:
        return self.now

    def advance(self, **delta: float) -> None:
        self.now += timedelta(**delta)


@pytest.fixture(params=BACKENDS)
def audit_db(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Db]:
    """Yield an empty audit database, once per backend."""
    with database(request.param, tmp_path) as found:
        yield found


@pytest.fixture
def clock() -> Clock:
    """Return a hand-moved clock starting 2026-01-01 09:00 UTC."""
    return Clock()


@pytest.fixture
async def log(audit_db: Db, clock: Clock) -> AsyncIterator[SqlAuditLog]:
    """Open the audit log on the test database."""
    opened = await open_audit_log(audit_db.url, clock=clock)
    yield opened
    await opened.aclose()


def test_satisfies_the_port() -> None:
    """SqlAuditLog has every method the use cases call through `AuditLog`."""
    assert all(
        callable(getattr(SqlAuditLog, name))
        for name in AuditLog.__dict__
        if not name.startswith("_") and callable(AuditLog.__dict__[name])
    )


async def test_pending_then_outcome_folds_into_one_entry(log: SqlAuditLog, clock: Clock) -> None:
    """A command is written pending before HSS, then shows its outcome, ids and request."""
    entry_id = await log.record_pending(ALICE, REQUEST, dedupe_key="slash:T1:trigger-1")
    [pending] = await log.list_entries()
    assert (pending.id, pending.outcome, pending.task_id) == (entry_id, "pending", None)

    clock.advance(seconds=2)
    await log.record_outcome(entry_id, "submitted", task_id="task-9", hss_request_id="req-1")

    [entry] = await log.list_entries()
    assert entry == AuditEntry(
        id=entry_id,
        at=datetime(2026, 1, 1, 9, 0, tzinfo=UTC),
        team_id="T1",
        user_id="U_ALICE",
        channel_id="C_SEC",
        source="slash",
        request=REQUEST,
        outcome="submitted",
        task_id="task-9",
        hss_request_id="req-1",
    )


async def test_request_is_kept_exactly_as_sent(log: SqlAuditLog) -> None:
    """The stored request equals the query and body the HSS client sends, key for key."""
    entry_id = await log.record_pending(ALICE, REQUEST)
    entry = await log.entry(entry_id)
    assert entry is not None
    assert entry.request == {"query": {"export_size": "500"}, "body": REQUEST["body"]}
    assert entry.request["body"]["export_headers"] == [
        ["container_id", "Container ID"],
        ["container_name", "Container name"],
    ]


@pytest.mark.parametrize(
    ("outcome", "error", "request_record"),
    [
        ("invalid", "`status`: got 'Sleeping'; accepted: Running, Waiting", None),
        ("denied", "U_BOB may not export in C_OPS", REQUEST),
    ],
)
async def test_refusals_are_entries_too(
    log: SqlAuditLog, outcome: Any, error: str, request_record: dict[str, Any] | None
) -> None:
    """A refused command leaves an entry with its outcome, reason and (if any) request."""
    entry_id = await log.record_refusal(BOB, outcome, error, request_record)
    [entry] = await log.list_entries()
    assert (entry.id, entry.outcome, entry.error, entry.request) == (
        entry_id,
        outcome,
        error,
        request_record,
    )
    assert await log.pending_entries() == []


async def test_failed_outcome_keeps_the_error(log: SqlAuditLog) -> None:
    """A failed HSS call shows as failed with HSS's error and request id."""
    entry_id = await log.record_pending(ALICE, REQUEST)
    await log.record_outcome(
        entry_id, "failed", hss_request_id="req-2", error="HSS.0004 (HTTP 403)"
    )
    [entry] = await log.list_entries()
    assert (entry.outcome, entry.hss_request_id, entry.error) == (
        "failed",
        "req-2",
        "HSS.0004 (HTTP 403)",
    )


async def test_pending_entries_are_those_without_outcome(log: SqlAuditLog) -> None:
    """Only commands whose HSS call never reported back are listed as pending."""
    done = await log.record_pending(ALICE, REQUEST)
    await log.record_outcome(done, "submitted", task_id="t")
    stuck = await log.record_pending(BOB, REQUEST)
    await log.record_refusal(BOB, "invalid", "bad")
    assert [e.id for e in await log.pending_entries()] == [stuck]


async def test_duplicate_dedupe_key_names_the_first_entry(log: SqlAuditLog, audit_db: Db) -> None:
    """A retried command raises DuplicateCommand with the original id and adds nothing."""
    first = await log.record_pending(ALICE, REQUEST, dedupe_key="modal:V123")
    with pytest.raises(DuplicateCommand) as caught:
        await log.record_pending(ALICE, REQUEST, dedupe_key="modal:V123")
    assert caught.value.entry_id == first

    other = await open_audit_log(audit_db.url)  # a second replica, its own engine and pool
    try:
        with pytest.raises(DuplicateCommand):
            await other.record_pending(BOB, REQUEST, dedupe_key="modal:V123")
    finally:
        await other.aclose()
    assert [e.id for e in await log.list_entries()] == [first]
    assert (await log.verify()).ok


async def test_database_itself_refuses_a_second_dedupe_key(log: SqlAuditLog, audit_db: Db) -> None:
    """The unique constraint lives in the database, so it binds writers that skip the store."""
    await log.record_pending(ALICE, REQUEST, dedupe_key="k")
    with pytest.raises(Exception, match=r"(?i)unique"):
        audit_db.sql(
            "INSERT INTO audit_records (seq, entry_id, kind, at, dedupe_key, payload, prev_hash,"
            " hash) VALUES (99, 99, 'request', 'x', 'k', '{}', 'x', 'x')"
        )


async def test_delivery_and_its_failure_are_folded_in(log: SqlAuditLog) -> None:
    """The file's name, size and sha256, or why delivery failed, show on the entry."""
    ok = await log.record_pending(ALICE, REQUEST)
    await log.record_outcome(ok, "submitted", task_id="t1")
    await log.record_delivery(ok, delivery={"file_name": "c.csv", "size": 10, "sha256": "ab"})
    bad = await log.record_pending(BOB, REQUEST)
    await log.record_outcome(bad, "submitted", task_id="t2")
    await log.record_delivery(bad, delivery=None, error="file larger than UPLOAD_MAX_BYTES")

    entries = {e.id: e for e in await log.list_entries()}
    assert entries[ok].delivery == {"file_name": "c.csv", "size": 10, "sha256": "ab"}
    assert entries[bad].delivery == {"error": "file larger than UPLOAD_MAX_BYTES"}
    assert entries[bad].outcome == "submitted"


async def test_a_delivery_recorded_again_is_kept_once(audit_db: Db, clock: Clock) -> None:
    """The tracker repeating a delivery record after a crash leaves one, chain intact, told once."""
    seen: list[Appended] = []

    async def mirror(record: Appended) -> None:
        seen.append(record)

    log = await open_audit_log(audit_db.url, on_append=mirror, clock=clock)
    try:
        entry_id = await log.record_pending(ALICE, REQUEST)
        await log.record_outcome(entry_id, "submitted", task_id="t1")
        first = {"file_name": "c.csv", "size": 10, "sha256": "ab"}
        await log.record_delivery(entry_id, delivery=first)
        await log.record_delivery(entry_id, delivery={**first, "sha256": "cd"}, error="late")
        other = await log.record_pending(BOB, REQUEST)
        await log.record_delivery(other, delivery=None, error="failed: gone")
        entry = await log.entry(entry_id)
        verified = await log.verify()
    finally:
        await log.aclose()
    assert entry is not None
    assert entry.delivery == first
    assert (verified.ok, verified.records) == (True, 5)
    assert [(r.entry_id, r.kind) for r in seen] == [
        (entry_id, "request"),
        (entry_id, "outcome"),
        (entry_id, "delivery"),
        (other, "request"),
        (other, "delivery"),
    ]


async def _waiting_behind(holder: asyncpg.Connection, count: int) -> None:
    """Return once `count` sessions wait, directly or in a queue, for a lock `holder` holds."""
    # The first waiter for a row holds its tuple lock; the next waits for that waiter.
    queued = """
        WITH RECURSIVE waiting(pid) AS (
            SELECT pid FROM pg_stat_activity WHERE $1 = ANY(pg_blocking_pids(pid))
            UNION SELECT a.pid FROM pg_stat_activity a JOIN waiting w
                ON w.pid = ANY(pg_blocking_pids(a.pid))
        ) SELECT count(*) FROM waiting
    """
    async with asyncio.timeout(30):
        # Polled: the server says nothing when a session starts waiting.
        while await holder.fetchval(queued, holder.get_server_pid()) < count:  # noqa: ASYNC110
            await asyncio.sleep(0.01)


@pytest.mark.postgres
async def test_two_replicas_recording_one_delivery_at_once_keep_one() -> None:
    """Two replicas' trackers recording the same delivery while the chain lock is taken
    (by a third appender) leave one delivery record, told to a subscriber once."""
    target = postgres_db()
    seen: list[Appended] = []

    async def mirror(record: Appended) -> None:
        seen.append(record)

    replicas = [await open_audit_log(target.url, on_append=mirror) for _ in range(2)]
    holder = await asyncpg.connect(PG_URL, server_settings={"search_path": str(target.schema)})
    try:
        entry_id = await replicas[0].record_pending(ALICE, REQUEST)
        await replicas[0].record_outcome(entry_id, "submitted", task_id="t1")
        delivery = {"file_name": "c.csv", "size": 10, "sha256": "ab"}
        async with holder.transaction():
            await holder.execute("SELECT * FROM audit_chain_head WHERE id = 1 FOR UPDATE")
            both = asyncio.gather(
                *(log.record_delivery(entry_id, delivery=delivery) for log in replicas)
            )
            await _waiting_behind(holder, 2)
        await both
        [(kept,)] = target.sql(
            "SELECT count(*) FROM audit_records WHERE entry_id = ? AND kind = 'delivery'",
            entry_id,
        )
        verified = await replicas[0].verify()
    finally:
        await holder.close()
        for log in replicas:
            await log.aclose()
        target.drop()
    assert kept == 1
    assert [r.kind for r in seen] == ["request", "outcome", "delivery"]
    assert (verified.ok, verified.records) == (True, 3)


async def test_completing_an_unknown_entry_is_refused(log: SqlAuditLog) -> None:
    """An outcome or delivery for an id that is no command is an error, and nothing is added."""
    refused = await log.record_refusal(BOB, "denied", "no")
    for call in (
        lambda: log.record_outcome(404, "submitted"),
        lambda: log.record_delivery(404, delivery={"file_name": "x"}),
    ):
        with pytest.raises(ValueError, match="no audit entry 404"):
            await call()
    assert (await log.verify()).records == 1
    assert [e.id for e in await log.list_entries()] == [refused]


async def test_history_is_the_callers_latest_newest_first(log: SqlAuditLog) -> None:
    """`history` returns only that user's last N entries, newest first."""
    alice_ids = [await log.record_pending(ALICE, REQUEST) for _ in range(12)]
    await log.record_pending(BOB, REQUEST)
    history = await log.history("U_ALICE")
    assert [e.id for e in history] == alice_ids[::-1][:10]
    assert [e.id for e in await log.history("U_BOB", limit=3)] == [13]


async def test_list_filters_by_user_since_and_limit(log: SqlAuditLog, clock: Clock) -> None:
    """`list_entries` keeps oldest-first order under every filter; limit keeps the latest."""
    ids = []
    for actor in (ALICE, BOB, ALICE, BOB, ALICE):
        ids.append(await log.record_pending(actor, REQUEST))
        clock.advance(days=1)
    since = datetime(2026, 1, 3, tzinfo=UTC)
    assert [e.id for e in await log.list_entries()] == ids
    assert [e.id for e in await log.list_entries(user="U_ALICE")] == [ids[0], ids[2], ids[4]]
    assert [e.id for e in await log.list_entries(since=since)] == ids[2:]
    assert [e.id for e in await log.list_entries(limit=2)] == ids[3:]
    assert [e.id for e in await log.list_entries(user="U_BOB", since=since, limit=5)] == [ids[3]]


async def test_listing_pages_through_large_logs(
    log: SqlAuditLog, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Entries across several pages come back complete and in order."""
    monkeypatch.setattr(audit_store, "PAGE_SIZE", 3)
    ids = []
    for n in range(8):
        ids.append(await log.record_pending(ALICE, REQUEST))
        await log.record_outcome(ids[-1], "submitted", task_id=f"t{n}")
    entries = [e async for e in log.iter_entries()]
    assert [(e.id, e.task_id) for e in entries] == [(i, f"t{n}") for n, i in enumerate(ids)]


async def test_on_append_sees_every_record_with_its_hash(audit_db: Db) -> None:
    """The subscriber gets each record as written, and its entry as of it, with the chain hash."""
    seen: list[Appended] = []

    async def mirror(record: Appended) -> None:
        seen.append(record)

    log = await open_audit_log(audit_db.url, on_append=mirror)
    try:
        entry_id = await log.record_pending(ALICE, REQUEST)
        await log.record_outcome(entry_id, "submitted", task_id="t")
        await log.record_delivery(entry_id, delivery=None, error="failed: gone")
        await log.record_refusal(BOB, "denied", "no")
        # Read after every append: each entry is still the one its record made.
        entries = [await record.entry() for record in seen]
    finally:
        await log.aclose()
    assert [(r.entry_id, r.kind, r.payload.get("error")) for r in seen] == [
        (1, "request", None),
        (1, "outcome", None),
        (1, "delivery", "failed: gone"),
        (4, "request", "no"),
    ]
    assert [(e.id, e.outcome, e.delivery) for e in entries if e is not None] == [
        (1, "pending", None),
        (1, "submitted", None),
        (1, "submitted", {"error": "failed: gone"}),
        (4, "denied", None),
    ]
    hashes = [row[0] for row in audit_db.sql("SELECT hash FROM audit_records ORDER BY seq")]
    assert [r.hash for r in seen] == hashes
    assert [e.extra["record"]["hash"] for e in entries if e is not None] == hashes


async def test_failing_subscriber_does_not_fail_the_command(audit_db: Db) -> None:
    """A broken mirror (Slack down) is logged; the entry is still recorded and returned."""

    async def broken(_record: Appended) -> None:
        raise RuntimeError("slack is down")

    log = await open_audit_log(audit_db.url, on_append=broken)
    try:
        entry_id = await log.record_pending(ALICE, REQUEST)
        assert [e.id for e in await log.list_entries()] == [entry_id]
    finally:
        await log.aclose()


async def test_failing_subscriber_is_logged_like_the_rest_of_the_bot(
    audit_db: Db, caplog: pytest.LogCaptureFixture
) -> None:
    """The failure is one stdlib WARNING naming the entry and the error type, not its text."""

    async def broken(_record: Appended) -> None:
        raise RuntimeError("xoxb-secret-in-the-message")

    log = await open_audit_log(audit_db.url, on_append=broken)
    try:
        with caplog.at_level(logging.WARNING, logger="bot.adapters.audit_store"):
            entry_id = await log.record_pending(ALICE, REQUEST)
    finally:
        await log.aclose()
    [record] = [r for r in caplog.records if r.name == "bot.adapters.audit_store"]
    assert (record.levelname, record.getMessage()) == ("WARNING", "audit on_append failed")
    assert (record.entry_id, record.error_type) == (entry_id, "RuntimeError")  # type: ignore[attr-defined]
    assert "xoxb-secret" not in caplog.text


@pytest.mark.parametrize(
    "request_record",
    [
        {"query": {}, "body": {}, "headers": {"X-Auth-Token": "tok"}},
        {"query": {}, "body": {"Authorization": "SDK-HMAC-SHA256 Access=AK, Signature=abc"}},
        {"query": {"X-Security-Token": "sts"}, "body": {}},
        {"body": {"cluster_name": "prod"}},
        {"query": {}, "body": {"password": "x"}},
        {"query": {}, "body": {"nested": [{"token": "xoxb-1"}]}},
        {"query": {}, "body": {"when": datetime(2026, 1, 1, tzinfo=UTC)}},
    ],
)
async def test_store_refuses_anything_but_the_request_record(
    log: SqlAuditLog, request_record: dict[str, Any]
) -> None:
    """Headers, credentials or non-JSON never reach the log: the call fails, nothing is stored."""
    with pytest.raises((ValueError, TypeError)) as caught:
        await log.record_pending(ALICE, request_record)
    assert "tok" not in str(caught.value)
    assert "xoxb" not in str(caught.value)
    assert await log.list_entries() == []


async def test_delivery_refuses_credentials(log: SqlAuditLog) -> None:
    """A delivery record with a token-like key (e.g. a private URL token) is refused."""
    entry_id = await log.record_pending(ALICE, REQUEST)
    with pytest.raises(ValueError, match="credential"):
        await log.record_delivery(entry_id, delivery={"file_name": "x", "token": "xoxb-1"})


async def test_verify_passes_on_an_untouched_log(log: SqlAuditLog) -> None:
    """An intact chain verifies and counts every record."""
    assert (await log.verify()).ok
    entry_id = await log.record_pending(ALICE, REQUEST)
    await log.record_outcome(entry_id, "submitted", task_id="t")
    await log.record_delivery(entry_id, delivery={"file_name": "f"})
    result = await log.verify()
    assert (result.ok, result.records, str(result)) == (True, 3, "ok: 3 records, chain intact")


async def test_silently_changed_outcome_is_caught(log: SqlAuditLog, audit_db: Db) -> None:
    """Turning a failed export into a submitted one with SQL breaks that record's hash."""
    entry_id = await log.record_pending(ALICE, REQUEST)
    await log.record_outcome(entry_id, "failed", error="HSS said no")
    audit_db.sql(
        "UPDATE audit_records SET payload = replace(payload, '\"failed\"', '\"submitted\"')"
        " WHERE seq = 2"
    )
    result = await log.verify()
    assert (result.ok, result.first_bad_id, result.entry_id) == (False, 2, entry_id)
    assert "altered" in result.reason


async def test_prune_keeps_the_chain_verifiable(
    log: SqlAuditLog,
    audit_db: Db,
    clock: Clock,
) -> None:
    """Pruning old records leaves an anchor, so the rest verifies and a later deletion shows."""
    old = [await log.record_pending(ALICE, REQUEST) for _ in range(3)]
    clock.advance(days=40)
    await log.record_outcome(old[2], "submitted", task_id="late")  # outlives its request
    recent = await log.record_pending(BOB, REQUEST)
    clock.advance(days=1)

    assert await log.prune(older_than_days=30) == 3
    assert await log.prune(older_than_days=30) == 0
    assert [e.id for e in await log.list_entries()] == [recent]
    assert (await log.verify()).ok

    clock.advance(days=60)
    await log.record_refusal(ALICE, "denied", "no")
    assert await log.prune(older_than_days=30) == 3  # outcome, request, first anchor
    result = await log.verify()
    assert (result.ok, result.records) == (True, 2)

    first = audit_db.sql("SELECT min(seq) FROM audit_records")[0][0]
    audit_db.sql("DELETE FROM audit_records WHERE seq = ?", first)
    result = await log.verify()
    assert (result.ok, result.first_bad_id) == (False, first)
    assert "removed" in result.reason


async def test_reopening_keeps_entries_and_chain(audit_db: Db) -> None:
    """Opening an existing log (a restart) neither re-creates nor breaks it."""
    first = await open_audit_log(audit_db.url)
    entry_id = await first.record_pending(ALICE, REQUEST)
    await first.aclose()
    again = await open_audit_log(audit_db.url)
    try:
        await again.record_outcome(entry_id, "submitted", task_id="t")
        assert [e.outcome for e in await again.list_entries()] == ["submitted"]
        assert (await again.verify()).ok
    finally:
        await again.aclose()


async def test_newer_schema_is_refused(audit_db: Db) -> None:
    """A database migrated by a newer bot is not written by an older one."""
    await (await open_audit_log(audit_db.url)).aclose()
    audit_db.sql(
        "UPDATE audit_meta SET value = ? WHERE key = 'schema_version'", str(SCHEMA_VERSION + 1)
    )
    with pytest.raises(AuditUnavailable, match="newer than this bot"):
        await open_audit_log(audit_db.url)


async def test_dropped_tables_are_not_silently_recreated(audit_db: Db) -> None:
    """If someone drops the records table, opening the log fails instead of starting afresh."""
    log = await open_audit_log(audit_db.url)
    await log.record_pending(ALICE, REQUEST)
    await log.aclose()
    audit_db.sql("DROP TABLE audit_records")
    with pytest.raises(AuditUnavailable, match="audit_records missing"):
        await open_audit_log(audit_db.url)


async def test_sqlite_appends_cancelled_anywhere_leave_the_log_writable(tmp_path: Path) -> None:
    """A command cancelled at any point of its append (a Slack retry's deadline, a shutdown)
    leaves no transaction open: every next append works and another process can write."""
    path = tmp_path / "audit.db"
    log = await open_audit_log(f"sqlite:///{path}")
    failures: list[str] = []
    appended: list[int] = []
    try:
        for steps in range(60):  # cancelled after 0, 1, 2 ... turns of the event loop
            append = asyncio.create_task(log.record_pending(ALICE, REQUEST))
            for _ in range(steps):
                await asyncio.sleep(0)
            append.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await append
            outside = sqlite3.connect(path, timeout=1.0, isolation_level=None)
            try:
                outside.execute("BEGIN IMMEDIATE")
                outside.execute("ROLLBACK")
            except sqlite3.OperationalError as exc:
                failures.append(f"{steps}: another writer: {exc}")
            finally:
                outside.close()
            try:
                appended.append(await log.record_pending(BOB, REQUEST))
            except AuditUnavailable as exc:
                failures.append(f"{steps}: next append: {exc}")
        verified = await log.verify()
        kept = {entry.id for entry in await log.list_entries(user="U_BOB")}
    finally:
        await log.aclose()
    assert failures == []
    # A cancelled append may have committed (its COMMIT already sent): the chain holds it.
    assert verified.ok
    assert kept == set(appended)


async def test_sqlite_writers_queued_behind_an_outside_lock_each_wait_one_busy_timeout(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Commands queued behind one stuck on another process's write lock fail after their own
    wait ("database is locked"), not after the one ahead of them has given up too."""
    path = tmp_path / "audit.db"
    log = await open_audit_log(f"sqlite:///{path}")
    await log.record_pending(ALICE, REQUEST)  # the held connection is open (busy timeout 15 s)
    # Only the wait for the held connection is shortened: the first writer's BEGIN still
    # waits SQLite's 15 s for the outside lock, so the others are done long before it.
    monkeypatch.setattr(sql, "BUSY_TIMEOUT_SECONDS", 0.2)
    outside = sqlite3.connect(path, isolation_level=None)
    outside.execute("BEGIN IMMEDIATE")
    try:
        first = asyncio.create_task(log.record_pending(ALICE, REQUEST))
        queued = [asyncio.create_task(log.record_pending(BOB, REQUEST)) for _ in range(4)]
        done, _ = await asyncio.wait(queued, timeout=10)  # before bcf9b74: behind `first`
        assert not first.done()
        outside.execute("ROLLBACK")
        await first
    finally:
        outside.close()
        await log.aclose()
    assert done == set(queued)
    assert {str(task.exception()) for task in queued} == {
        "audit log unavailable (sqlite: database is locked)"
    }


async def test_a_sqlite_library_without_returning_is_refused_at_open(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A Python whose SQLite predates 3.35 (claims are UPDATE ... RETURNING) stops the start,
    saying so, instead of failing every claim of due work later."""
    monkeypatch.setattr(sqlite3, "sqlite_version_info", (3, 34, 1))
    monkeypatch.setattr(sqlite3, "sqlite_version", "3.34.1")
    url = f"sqlite:///{tmp_path}/audit.db"
    expected = r"needs SQLite 3\.35 or newer \(RETURNING\); this Python has SQLite 3\.34\.1"
    with pytest.raises(AuditUnavailable, match=expected):
        await open_audit_log(url)
    with pytest.raises(TaskStoreUnavailable, match=expected):
        await open_task_store(url)
    assert not (tmp_path / "audit.db").exists()


async def test_read_only_open_does_not_create_a_log(audit_db: Db) -> None:
    """`create=False` (the CLI) reports a missing log instead of making an empty one."""
    with pytest.raises(AuditUnavailable, match="no audit"):
        await open_audit_log(audit_db.url, create=False)


async def test_two_replicas_appending_at_once_build_one_chain(audit_db: Db) -> None:
    """Two engines appending concurrently interleave into one verifiable chain."""
    import asyncio

    replicas = [await open_audit_log(audit_db.url) for _ in range(2)]
    try:

        async def work(log: SqlAuditLog, actor: Actor) -> list[int]:
            ids = []
            for n in range(25):
                ids.append(await log.record_pending(actor, REQUEST, dedupe_key=f"{actor}:{n}"))
                await log.record_outcome(ids[-1], "submitted", task_id=str(n))
            return ids

        a, b = await asyncio.gather(work(replicas[0], ALICE), work(replicas[1], BOB))
        assert len(set(a) | set(b)) == 50
        result = await replicas[0].verify()
        assert (result.ok, result.records) == (True, 100)
    finally:
        for log in replicas:
            await log.aclose()


APPENDER = textwrap.dedent(
    """
    import asyncio, sys
    from bot.adapters.audit_store import open_audit_log
    from bot.domain.types import Actor

    async def main(url, name, count):
        log = await open_audit_log(url)
        print("ready", flush=True)
        sys.stdin.readline()
        actor = Actor("T1", name, "C1", "cli")
        for n in range(count):
            entry_id = await log.record_pending(
                actor, {"query": {}, "body": {"n": n}}, dedupe_key=f"{name}:{n}"
            )
            await log.record_outcome(entry_id, "submitted", task_id=f"{name}-{n}")
        await log.aclose()

    asyncio.run(main(sys.argv[1], sys.argv[2], int(sys.argv[3])))
    """
)


async def test_two_processes_appending_at_once_build_one_chain(
    audit_db: Db, tmp_path: Path
) -> None:
    """Two OS processes creating the log and appending 100 commands each at once: all kept."""
    procs = [python(APPENDER, audit_db.url, name, "100", cwd=tmp_path) for name in ("P1", "P2")]
    for proc in procs:
        assert proc.stdout is not None
        if proc.stdout.readline().strip() != "ready":
            pytest.fail(f"appender did not start: {proc.communicate()[1]}")
    for proc in procs:  # release both at once
        assert proc.stdin is not None
        proc.stdin.write("go\n")
        proc.stdin.flush()
    for proc in procs:
        _out, err = proc.communicate(timeout=180)
        assert proc.returncode == 0, err

    log = await open_audit_log(audit_db.url, create=False)
    try:
        entries = await log.list_entries()
        result = await log.verify()
    finally:
        await log.aclose()
    assert (result.ok, result.records) == (True, 400)
    by_user: dict[str, list[str | None]] = {}
    for entry in entries:
        by_user.setdefault(entry.user_id, []).append(entry.task_id)
    assert by_user == {name: [f"{name}-{n}" for n in range(100)] for name in ("P1", "P2")}


# --- Failures and secrets ---------------------------------------------------------------------


async def test_locked_sqlite_becomes_audit_unavailable(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A database held locked by another writer is AuditUnavailable, not a hang or a crash."""
    import sqlite3

    monkeypatch.setattr(sql, "BUSY_TIMEOUT_SECONDS", 0.2)
    path = tmp_path / "audit.db"
    log = await open_audit_log(f"sqlite:///{path}")
    blocker = sqlite3.connect(path, isolation_level=None)
    blocker.execute("BEGIN IMMEDIATE")
    try:
        with pytest.raises(AuditUnavailable, match="database is locked"):
            await log.record_pending(ALICE, REQUEST)
    finally:
        blocker.execute("ROLLBACK")
        blocker.close()
    assert await log.record_pending(ALICE, REQUEST) == 1
    await log.aclose()


async def test_sqlite_runs_in_wal_mode_under_a_new_data_dir(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The default URL creates ./data/audit.db on first run, in WAL mode."""
    import sqlite3

    monkeypatch.chdir(tmp_path)
    log = await open_audit_log()
    await log.record_pending(ALICE, REQUEST)
    await log.aclose()
    with sqlite3.connect(tmp_path / "data" / "audit.db") as conn:
        assert conn.execute("PRAGMA journal_mode").fetchone() == ("wal",)


def _never_leaks(secret: str, exc: BaseException) -> None:
    chain: BaseException | None = exc
    while chain is not None:
        assert secret not in str(chain)
        assert secret not in repr(chain)
        chain = chain.__cause__ or chain.__context__


@pytest.mark.parametrize(
    "url",
    [
        "postgresql://auditor:pw-s3cret-42@127.0.0.1:1/audit",
        "postgresql://auditor:pw-s3cret-42@127.0.0.1:notaport/audit",
        "mysql://auditor:pw-s3cret-42@127.0.0.1/audit",
        "postgresql+psycopg://auditor:pw-s3cret-42@127.0.0.1/audit",
    ],
)
async def test_database_password_never_appears_in_errors(url: str) -> None:
    """Unreachable, malformed or unsupported URLs fail with messages free of the password."""
    with pytest.raises(AuditUnavailable) as caught:
        await open_audit_log(url)
    _never_leaks("pw-s3cret-42", caught.value)
    assert "pw-s3cret-42" not in caught.value.user_message()


@pytest.mark.postgres
async def test_database_password_never_appears_in_repr() -> None:
    """A connected log's repr hides the password (trust auth accepts any)."""
    target = postgres_db()
    url = make_url(target.url).set(password="pw-s3cret-42").render_as_string(False)
    try:
        log = await open_audit_log(url)
        try:
            assert "pw-s3cret-42" not in repr(log)
            assert "***" in repr(log)
        finally:
            await log.aclose()
    finally:
        target.drop()


def test_entries_as_json_carry_exactly_the_documented_fields() -> None:
    """`audit list --json` objects have the issue's fields, delivery and approver (issue 14),
    and where an export came from and what a change did (issue 15)."""
    entry = AuditEntry(
        id=1,
        at=datetime(2026, 1, 1, tzinfo=UTC),
        team_id="T",
        user_id="U",
        channel_id="C",
        source="cli",
        request=None,
        outcome="pending",
    )
    assert json.loads(json.dumps(audit_store.entry_as_json(entry))) == {
        "id": 1,
        "at": "2026-01-01T00:00:00.000000Z",
        "team_id": "T",
        "user_id": "U",
        "channel_id": "C",
        "source": "cli",
        "request": None,
        "outcome": "pending",
        "task_id": None,
        "hss_request_id": None,
        "error": None,
        "delivery": None,
        "approver": None,
        "saved_export": None,
        "schedule": None,
        "detail": None,
    }


async def test_an_approval_is_held_decided_and_its_export_names_the_approver(
    log: SqlAuditLog,
) -> None:
    """A held request reads `awaiting_approval`, then `approved` by whom; its export names them."""
    held = await log.record_pending(ALICE, REQUEST, "approval-key", awaiting_approval=True)
    assert (await log.history("U_ALICE"))[0].outcome == "awaiting_approval"
    await log.record_decision(held, "approved", by="U_BOB")
    approval = APPROVAL_ACTOR
    export = await log.record_pending(approval, REQUEST, "approval:x", approved_by="U_BOB")
    await log.record_outcome(export, "submitted", task_id="task-9")
    newest, oldest = await log.history("U_ALICE")
    assert (oldest.id, oldest.outcome, oldest.approver) == (held, "approved", "U_BOB")
    assert (newest.source, newest.outcome, newest.approver) == ("approval", "submitted", "U_BOB")
    assert newest.request == REQUEST
    assert (await log.verify()).ok


async def test_a_denial_keeps_who_and_why(log: SqlAuditLog) -> None:
    """`denied_by_approver` keeps the approver and their reason; `expired` has no decider."""
    denied = await log.record_pending(ALICE, REQUEST, awaiting_approval=True)
    await log.record_decision(denied, "denied_by_approver", by="U_BOB", reason="too broad")
    lapsed = await log.record_pending(ALICE, REQUEST, awaiting_approval=True)
    await log.record_decision(lapsed, "expired", by=None)
    second, first = await log.history("U_ALICE")
    assert (first.outcome, first.approver, first.error) == (
        "denied_by_approver",
        "U_BOB",
        "too broad",
    )
    assert (second.outcome, second.approver) == ("expired", None)
    with pytest.raises(ValueError, match="a decision is one of"):
        await log.record_decision(denied, "submitted", by="U_BOB")  # type: ignore[arg-type]


async def test_verify_catches_an_altered_approval(log: SqlAuditLog, audit_db: Db) -> None:
    """Turning a denial into an approval, or naming another approver, with SQL breaks the chain."""
    held = await log.record_pending(ALICE, REQUEST, awaiting_approval=True)
    await log.record_decision(held, "denied_by_approver", by="U_BOB")
    assert (await log.verify()).ok
    audit_db.sql(
        "UPDATE audit_records SET payload = replace(payload, '\"denied_by_approver\"', "
        "'\"approved\"') WHERE seq = 2"
    )
    result = await log.verify()
    assert (result.ok, result.first_bad_id, result.entry_id) == (False, 2, held)
    assert "altered" in result.reason


async def test_verify_catches_a_changed_held_request(log: SqlAuditLog, audit_db: Db) -> None:
    """Widening the request an approver will see, after it was recorded, breaks the chain."""
    held = await log.record_pending(ALICE, REQUEST, awaiting_approval=True)
    audit_db.sql(
        "UPDATE audit_records SET payload = replace(payload, '\"500\"', '\"100000\"')"
        " WHERE seq = ?",
        held,
    )
    result = await log.verify()
    assert (result.ok, result.first_bad_id) == (False, held)


APPROVAL_ACTOR = Actor("T1", "U_ALICE", "C_SEC", "approval")
