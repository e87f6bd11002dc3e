"""Append to the hash-chained audit log in SQLite (default) or PostgreSQL (several replicas).

`open_audit_log(url)` returns a `SqlAuditLog`, the one `bot.ports.AuditLog`
implementation: the appends here, every read inherited from
`bot.adapters.audit_reads.AuditReader`, chain checks in `bot.adapters.audit_verify`,
engine and error translation in `bot.adapters.sql`.

An append is one transaction of three statements: read the chain head under
the chain lock (PostgreSQL: the head row `FOR UPDATE`; SQLite: `BEGIN
IMMEDIATE`), insert the record, move the head. Replicas appending at once still
build one unbroken chain, and the unique `dedupe_key` decides duplicates.
Library errors leave this module only as `AuditUnavailable`, whose message
never carries the database password.

The module is longer than 400 lines because every writer of the chain lives in
one class: the appends and `prune` (which appends an anchor) share the chain
lock, the head and the hashing of `_appending` and `_record`, and a split would
hand those internals to a second module.
"""

from __future__ import annotations

import dataclasses
import logging
import sqlite3
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any, Final, Literal

from sqlalchemy import (
    ColumnElement,
    bindparam,
    exists,
    func,
    insert,
    literal_column,
    select,
    update,
)
from sqlalchemy.dialects import sqlite
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from bot.adapters.audit_reads import PAGE_SIZE, AuditReader
from bot.adapters.audit_rows import CSV_FIELDS, entry_as_json, fold
from bot.adapters.audit_schema import (
    HEAD_ID,
    MAX_KEY_LENGTH,
    canonical_json,
    chain_head,
    checked_request,
    format_at,
    provenance,
    record_hash,
    records,
    refuse_secrets,
    request_payload,
)
from bot.adapters.audit_verify import VerifyResult, verify_database
from bot.adapters.sql import (
    WRITE_LOCK,
    SqlTarget,
    create_engine_for,
    resolve_url,
)
from bot.domain.errors import AuditUnavailable, DuplicateCommand
from bot.domain.text import clip
from bot.domain.types import CHANGES, Actor, AuditEntry, Change, Outcome

# Names other modules and tests import from here, now defined next door.
__all__ = [
    "CSV_FIELDS",
    "DEFAULT_URL",
    "PAGE_SIZE",
    "WRITE_LOCK",
    "SqlAuditLog",
    "VerifyResult",
    "create_engine_for",
    "entry_as_json",
    "open_audit_log",
    "resolve_url",
]

OnAppend = Callable[["Appended"], Awaitable[None]]
Clock = Callable[[], datetime]

DEFAULT_URL: Final = "sqlite:///./data/audit.db"
MAX_ERROR_LENGTH: Final = 2000

_COMPLETIONS: Final = frozenset({"submitted", "invalid", "denied", "failed", "unknown"})
# What an approver's decision (or the clock) makes of an `awaiting_approval` entry.
_DECISIONS: Final = frozenset({"approved", "denied_by_approver", "expired"})

log = logging.getLogger(__name__)
# What a second insert of a dedupe key raises: through SQLAlchemy, or from aiosqlite itself.
_DUPLICATE: Final = (IntegrityError, sqlite3.IntegrityError)


@dataclass(frozen=True)
class _Written:
    """A record as `_append` wrote it: enough to tell a subscriber without reading it back."""

    seq: int
    at: str
    payload: str
    hash: str


@dataclass(frozen=True)
class Appended:
    """One committed record as it was written: what an `on_append` subscriber is handed.

    `payload` is what was hashed (a delivery's file or error, an outcome's task id),
    enough for a counter. `entry()` loads the whole entry as it stood once this
    record was written, for a subscriber that needs it (the channel mirror, in the
    background): a request record is the whole entry and costs no read, a
    completion one read. Handing the entry over read back on every append cost
    the read whether anyone used it or not.
    """

    entry_id: int
    seq: int
    kind: str  # request, outcome, delivery
    hash: str
    payload: Mapping[str, Any]
    _written: _Written = field(repr=False)
    _reader: AuditReader = field(repr=False)

    async def entry(self) -> AuditEntry | None:
        """Return the entry up to this record (later records not folded), with its chain hash."""
        extra = {"record": {"seq": self.seq, "kind": self.kind, "hash": self.hash}}
        if self.kind == "request":
            return fold(self._written, (), extra)
        found = await self._reader.entry(self.entry_id, through=self.seq)
        return None if found is None else dataclasses.replace(found, extra=extra)


async def open_audit_log(
    url: str = DEFAULT_URL,
    *,
    on_append: OnAppend | None = None,
    clock: Clock | None = None,
    create: bool = True,
) -> SqlAuditLog:
    """Connect to the audit store, creating or migrating its schema when `create` is set.

    `url` is what an operator types: `sqlite:///path` (WAL mode, directory made
    on demand) or `postgresql://user:pass@host/db`, optionally with
    `?options=-csearch_path%3Dschema` and `sslmode=`. With `create=False` (the
    read-only CLI) a missing store is an `AuditUnavailable`, not a new empty one.
    `on_append(record)` is awaited after each committed record (an `Appended`).
    """
    target = resolve_url(url, create=create)
    log = SqlAuditLog(create_engine_for(target), target, on_append=on_append, clock=clock)
    try:
        await log._prepare(create=create)
    except BaseException:
        await log.aclose()
        raise
    return log


class SqlAuditLog(AuditReader):
    """The audit log over SQLAlchemy Core: appends chained records (reads: `AuditReader`)."""

    def __init__(
        self,
        engine: AsyncEngine,
        target: SqlTarget | None = None,
        *,
        on_append: OnAppend | None = None,
        clock: Clock | None = None,
    ) -> None:
        super().__init__(engine, target)
        self._on_append = on_append
        self._clock: Clock = clock or (lambda: datetime.now(UTC))

    def __repr__(self) -> str:
        return f"SqlAuditLog({self._target.safe!r})"

    # --- AuditLog -----------------------------------------------------------------------

    async def record_pending(
        self,
        actor: Actor,
        request: dict[str, Any],
        dedupe_key: str | None = None,
        *,
        approved_by: str | None = None,
        awaiting_approval: bool = False,
    ) -> int:
        """Append a `pending` entry before HSS is called; return its id.

        Raise `DuplicateCommand` when `dedupe_key` was recorded before (the
        database's unique constraint decides, across replicas). `approved_by`
        names the approver of an export that waited for one; with
        `awaiting_approval` the entry is held (`awaiting_approval`), not run.
        The saved export and schedule the request record carries become the entry's.
        """
        if dedupe_key is not None and not 1 <= len(dedupe_key) <= MAX_KEY_LENGTH:
            raise ValueError(f"dedupe_key must be 1-{MAX_KEY_LENGTH} characters")
        outcome = "awaiting_approval" if awaiting_approval else "pending"
        record, names = provenance(checked_request(request), saved_export=None, schedule=None)
        payload = request_payload(actor, record, outcome, None, names)
        payload["dedupe_key"] = dedupe_key
        if approved_by is not None:
            payload["approved_by"] = clip(approved_by, MAX_KEY_LENGTH)
        return await self._append_command(payload, actor.user_id, dedupe_key)

    async def record_decision(
        self,
        entry_id: int,
        outcome: Literal["approved", "denied_by_approver", "expired"],
        *,
        by: str | None,
        reason: str | None = None,
    ) -> None:
        """Append what became of an `awaiting_approval` entry: who decided, and why (chained)."""
        if outcome not in _DECISIONS:
            raise ValueError(f"a decision is one of {sorted(_DECISIONS)}, not {outcome!r}")
        payload = {
            "outcome": outcome,
            "task_id": None,
            "hss_request_id": None,
            "error": None if reason is None else clip(reason, MAX_ERROR_LENGTH),
            "decided_by": None if by is None else clip(by, MAX_KEY_LENGTH),
        }
        await self._append_completion(entry_id, "outcome", payload)

    async def record_refusal(  # noqa: PLR0913  keyword-only: where a refusal came from
        self,
        actor: Actor,
        outcome: Literal["invalid", "denied"],
        error: str,
        request: dict[str, Any] | None = None,
        *,
        saved_export: str | None = None,
        schedule: str | None = None,
    ) -> int:
        """Append a refused command (bad input or access denied); return its id.

        `saved_export`/`schedule`: where the refused command came from, when no
        request could be built to carry them (a saved export that no longer parses).
        """
        if outcome not in ("invalid", "denied"):
            raise ValueError(f"a refusal is invalid or denied, not {outcome!r}")
        checked = None if request is None else checked_request(request)
        record, names = provenance(checked, saved_export=saved_export, schedule=schedule)
        payload = request_payload(actor, record, outcome, clip(error, MAX_ERROR_LENGTH), names)
        payload["dedupe_key"] = None
        return await self._append_command(payload, actor.user_id, None)

    async def record_change(  # noqa: PLR0913  keyword-only: what changed, and how
        self,
        actor: Actor,
        outcome: Change,
        *,
        saved_export: str | None = None,
        schedule: str | None = None,
        request: dict[str, Any] | None = None,
        detail: str | None = None,
        dedupe_key: str | None = None,
    ) -> int:
        """Append a change that is not an export (a saved export or schedule made or removed).

        One chained entry, like a command: its outcome names the change, `detail`
        says what it was in a few words (never a secret), `request` is the request
        the saved fields build when there is one. Raise `DuplicateCommand` when
        `dedupe_key` was recorded before (a double click). Return its id.
        """
        if outcome not in CHANGES:
            raise ValueError(f"a change is one of {list(CHANGES)}, not {outcome!r}")
        if saved_export is None and schedule is None:
            raise ValueError("a change names the saved export or schedule it changed")
        if dedupe_key is not None and not 1 <= len(dedupe_key) <= MAX_KEY_LENGTH:
            raise ValueError(f"dedupe_key must be 1-{MAX_KEY_LENGTH} characters")
        checked = None if request is None else checked_request(request)
        record, names = provenance(checked, saved_export=saved_export, schedule=schedule)
        payload = request_payload(actor, record, outcome, None, names)
        payload["dedupe_key"] = dedupe_key
        if detail is not None:
            payload["detail"] = clip(detail, MAX_ERROR_LENGTH)
        return await self._append_command(payload, actor.user_id, dedupe_key)

    async def record_outcome(
        self,
        entry_id: int,
        outcome: Outcome,
        *,
        task_id: str | None = None,
        hss_request_id: str | None = None,
        error: str | None = None,
    ) -> None:
        """Append the outcome of a pending entry as a chained completion record."""
        if outcome not in _COMPLETIONS:
            raise ValueError(f"an outcome is one of {sorted(_COMPLETIONS)}, not {outcome!r}")
        payload = {
            "outcome": outcome,
            "task_id": task_id,
            "hss_request_id": hss_request_id,
            "error": None if error is None else clip(error, MAX_ERROR_LENGTH),
        }
        await self._append_completion(entry_id, "outcome", payload)

    async def record_delivery(
        self, entry_id: int, *, delivery: dict[str, Any] | None, error: str | None = None
    ) -> None:
        """Append what became of the file (name, size, sha256) or why it was not delivered.

        Once per entry: when the entry has its delivery record already, nothing is
        appended (nor told to `on_append`). The tracker records a delivery and
        saves that it did with its next step's save, so a crash or a lost lease in
        between makes it record the same delivery again: the chain keeps one.
        """
        if delivery is None and error is None:
            raise ValueError("record_delivery needs a delivery, an error, or both")
        if delivery is not None:
            refuse_secrets(delivery, "delivery")
        payload = {
            "delivery": delivery,
            "error": None if error is None else clip(error, MAX_ERROR_LENGTH),
        }
        await self._append_completion(entry_id, "delivery", payload)

    # --- Integrity and retention -----------------------------------------------------------

    async def verify(self) -> VerifyResult:
        """Recompute the chain from its start (or pruning anchor) to the chain head."""
        async with self._reading(snapshot=True) as conn:
            return await verify_database(conn)

    async def prune(self, older_than_days: int) -> int:
        """Delete the records older than `older_than_days`, keeping the chain verifiable.

        An `anchor` record appended in the same transaction names the last
        removed record and its hash, so `verify` starts there; removing any
        other record is still reported. Return how many records were removed.
        """
        if older_than_days < 1:
            raise ValueError("older_than_days must be at least 1")
        cutoff = format_at(self._clock() - timedelta(days=older_than_days))
        async with self._appending() as (conn, head_seq, head_hash, _):
            first = await conn.scalar(select(func.min(records.c.seq)))
            kept = await conn.scalar(select(func.min(records.c.seq)).where(records.c.at >= cutoff))
            last_pruned = head_seq if kept is None else kept - 1
            if first is None or last_pruned < first:
                return 0
            pruned_hash = await conn.scalar(
                select(records.c.hash).where(records.c.seq == last_pruned)
            )
            removed = await conn.execute(records.delete().where(records.c.seq <= last_pruned))
            payload = {
                "pruned_through": last_pruned,
                "pruned_hash": pruned_hash,
                "pruned_records": removed.rowcount,
                "cutoff": cutoff,
            }
            values = self._record(head_seq, head_hash, "anchor", None, payload, None, None)
            await _insert(conn, values)
            return int(removed.rowcount)

    # --- Internals ------------------------------------------------------------------------

    async def _append_command(
        self, payload: dict[str, Any], user_id: str, dedupe_key: str | None
    ) -> int:
        try:
            written = await self._append("request", None, payload, user_id, dedupe_key)
            assert written is not None  # only a delivery is ever left unwritten
        except AuditUnavailable as exc:
            # The unique constraint, not a read before the insert, decides a duplicate:
            # one statement fewer per append, and the same answer across replicas.
            if dedupe_key is not None and isinstance(exc.__cause__, _DUPLICATE):
                await self._raise_if_duplicate(dedupe_key)
            raise
        await self._notify(written.seq, written, "request", payload)
        return written.seq

    async def _append_completion(
        self, entry_id: int, kind: Literal["outcome", "delivery"], payload: dict[str, Any]
    ) -> None:
        written = await self._append(kind, entry_id, payload, None, None)
        if written is not None:
            await self._notify(entry_id, written, kind, payload)

    async def _append(
        self,
        kind: Literal["request", "outcome", "delivery"],
        entry_id: int | None,
        payload: dict[str, Any],
        user_id: str | None,
        dedupe_key: str | None,
    ) -> _Written | None:
        """Append one record in one transaction: head (and target) read, insert, head moved.

        Return None, having written nothing, for a delivery its entry has already.
        """
        if self._target.backend == "sqlite":
            return await self._append_sqlite(kind, entry_id, payload, user_id, dedupe_key)
        async with self._appending(entry_id) as (conn, head_seq, head_hash, target):
            if entry_id is not None and target != "request":
                raise ValueError(f"no audit entry {entry_id}")
            # A statement of its own, after the head's lock: under READ COMMITTED it sees
            # a delivery committed by the appender the lock made us wait for, where a
            # subquery of the locking read keeps the snapshot taken before the wait.
            if kind == "delivery" and await conn.scalar(select(_delivered(entry_id))):
                return None
            values = self._record(head_seq, head_hash, kind, entry_id, payload, user_id, dedupe_key)
            return await _insert(conn, values)

    async def _append_sqlite(
        self,
        kind: str,
        entry_id: int | None,
        payload: dict[str, Any],
        user_id: str | None,
        dedupe_key: str | None,
    ) -> _Written | None:
        """The same three statements on aiosqlite's own connection, one thread hop each.

        Through SQLAlchemy each statement also opens and closes a cursor, each a hop
        to aiosqlite's thread: 15 hops an append instead of 6 (bench/bench_audit.py).
        """
        async with self._guard(), self._sqlite.use() as db:
            try:  # a cancelled BEGIN may still take the lock: it too is rolled back
                await db.execute("BEGIN IMMEDIATE")  # the chain lock: one writer at a time
                head = await db.execute_fetchall(
                    _SQLITE_HEAD, {"target": entry_id, "head_id": HEAD_ID}
                )
                if not head:
                    raise AuditUnavailable(
                        "the audit chain head is missing; run `hss-export-bot audit verify`"
                    )
                (head_seq, head_hash, target, delivered), *_ = head
                if entry_id is not None and target != "request":
                    raise ValueError(f"no audit entry {entry_id}")
                if kind == "delivery" and delivered:
                    await db.rollback()
                    return None
                values = self._record(
                    int(head_seq), str(head_hash), kind, entry_id, payload, user_id, dedupe_key
                )
                await db.execute(_SQLITE_INSERT, values)
                await db.execute(_SQLITE_MOVE_HEAD, values | {"head_id": HEAD_ID})
                await db.commit()
            except BaseException:
                await db.rollback()
                raise
        return _Written(values["seq"], values["at"], values["payload"], values["hash"])

    def _record(  # noqa: PLR0913, PLR0917  the columns of one record
        self,
        head_seq: int,
        head_hash: str,
        kind: str,
        entry_id: int | None,
        payload: dict[str, Any],
        user_id: str | None,
        dedupe_key: str | None,
    ) -> dict[str, Any]:
        """Return the columns of the record that follows the head, hashed."""
        seq = head_seq + 1
        entry = seq if entry_id is None else entry_id
        at = format_at(self._clock())
        body = canonical_json(payload)
        digest = record_hash(head_hash, seq=seq, entry_id=entry, kind=kind, at=at, payload=body)
        # A request record's payload names where it came from; the columns copy it.
        came_from = payload if kind == "request" else {}
        return {
            "seq": seq,
            "entry_id": entry,
            "kind": kind,
            "at": at,
            "user_id": user_id,
            "dedupe_key": dedupe_key,
            "saved_export": came_from.get("saved_export"),
            "schedule": came_from.get("schedule"),
            "payload": body,
            "prev_hash": head_hash,
            "hash": digest,
        }

    @asynccontextmanager
    async def _appending(
        self, entry_id: int | None = None
    ) -> AsyncIterator[tuple[AsyncConnection, int, str, str | None]]:
        """Open a write transaction holding the chain lock; yield it with the chain head.

        With `entry_id`, the same statement reads the kind of that record (the
        entry a completion belongs to), so a completion costs no extra round trip:
        the entry was committed before its completion began, so the snapshot the
        locking read's subquery keeps (taken before waiting for the lock) has it.
        """
        query = select(chain_head.c.seq, chain_head.c.hash)
        if entry_id is not None:
            query = query.add_columns(_entry_kind(entry_id).label("target"))
        query = query.where(chain_head.c.id == HEAD_ID).with_for_update(of=chain_head)
        async with self._guard(), self._locking.begin() as conn:
            head = (await conn.execute(query)).one_or_none()
            if head is None:
                raise AuditUnavailable(
                    "the audit chain head is missing; run `hss-export-bot audit verify`"
                )
            target = None if entry_id is None else head.target
            yield conn, int(head.seq), str(head.hash), target

    async def _raise_if_duplicate(self, dedupe_key: str) -> None:
        earlier = await self.entry_with_key(dedupe_key)
        if earlier is not None:
            raise DuplicateCommand(earlier)

    async def _notify(
        self, entry_id: int, written: _Written, kind: str, payload: dict[str, Any]
    ) -> None:
        if self._on_append is None:
            return
        record = Appended(entry_id, written.seq, kind, written.hash, payload, written, self)
        try:
            await self._on_append(record)
        except Exception as exc:  # noqa: BLE001 - a failing mirror must not fail a committed record
            log.warning(
                "audit on_append failed",
                extra={"entry_id": entry_id, "error_type": type(exc).__name__},
            )


def _entry_kind(entry_id: Any) -> Any:
    """The kind of the record `entry_id` names (a request, for an entry that exists)."""
    return select(records.c.kind).where(records.c.seq == entry_id).scalar_subquery()


def _delivered(entry_id: Any) -> Any:
    """Whether the entry `entry_id` has its delivery record (`record_delivery`: once)."""
    # Not a parameter: the SQLite append names its own.
    delivery: ColumnElement[str] = literal_column("'delivery'")
    return exists().where(records.c.entry_id == entry_id, records.c.kind == delivery)


# SQLite's append (`_append_sqlite`), compiled once from the tables: named parameters
# from `_record`'s columns (sqlite3 ignores the keys a statement does not name).
# SQLite reads the head after `BEGIN IMMEDIATE` took the write lock, so its one head
# statement may also say whether the entry has its delivery record.
_NAMED: Final = sqlite.dialect(paramstyle="named")
_SQLITE_HEAD: Final = str(
    select(
        chain_head.c.seq,
        chain_head.c.hash,
        _entry_kind(bindparam("target")),
        _delivered(bindparam("target")),
    )
    .where(chain_head.c.id == bindparam("head_id"))
    .compile(dialect=_NAMED)
)
_SQLITE_INSERT: Final = str(insert(records).compile(dialect=_NAMED))
_SQLITE_MOVE_HEAD: Final = str(
    update(chain_head)
    .where(chain_head.c.id == bindparam("head_id"))
    .compile(dialect=_NAMED, column_keys=["seq", "hash"])
)


async def _insert(conn: AsyncConnection, values: dict[str, Any]) -> _Written:
    """Insert a record and move the chain head to it (PostgreSQL: one statement)."""
    move = update(chain_head).where(chain_head.c.id == HEAD_ID)
    if conn.dialect.name == "postgresql":
        appended = insert(records).values(**values).returning(records.c.seq, records.c.hash)
        cte = appended.cte("appended")
        moved = move.values(
            seq=select(cte.c.seq).scalar_subquery(), hash=select(cte.c.hash).scalar_subquery()
        )
        await conn.execute(moved.add_cte(cte))
    else:
        await conn.execute(insert(records).values(**values))
        await conn.execute(move.values(seq=values["seq"], hash=values["hash"]))
    return _Written(values["seq"], values["at"], values["payload"], values["hash"])
