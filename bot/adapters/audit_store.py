"""Keep the hash-chained audit log in SQLite (default) or PostgreSQL (several replicas).

`open_audit_log(url)` returns a `SqlAuditLog`, the one `bot.ports.AuditLog`
implementation. Every append runs in one transaction that first takes the
chain lock (PostgreSQL: the chain-head row `FOR UPDATE`; SQLite: `BEGIN
IMMEDIATE`), so replicas appending at once still build one unbroken chain.
Library errors leave this module only as `AuditUnavailable`, whose message
never carries the database password.
"""

from __future__ import annotations

import csv
import json
import re
import shlex
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import IO, Any, Final, Literal, get_args

import structlog
from sqlalchemy import event, func, insert, inspect, select, text, update
from sqlalchemy.engine import URL, Connection, Row, make_url
from sqlalchemy.exc import ArgumentError, DBAPIError, IntegrityError, SQLAlchemyError
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, create_async_engine

from bot.adapters.audit_schema import (
    GENESIS_HASH,
    HEAD_ID,
    MAX_KEY_LENGTH,
    RECORD_KINDS,
    SCHEMA_VERSION,
    canonical_json,
    chain_head,
    format_at,
    metadata,
    parse_at,
    record_hash,
    records,
    schema_meta,
)
from bot.domain.errors import AuditUnavailable, DuplicateCommand
from bot.domain.text import clip
from bot.domain.types import Actor, AuditEntry, Outcome, Source, StoredRequest

AnyRow = Row[*tuple[Any, ...]]
OnAppend = Callable[[AuditEntry], Awaitable[None]]
Clock = Callable[[], datetime]

DEFAULT_URL: Final = "sqlite:///./data/audit.db"
BUSY_TIMEOUT_SECONDS: Final = 15.0
WAL_ATTEMPTS: Final = 20
CONNECT_TIMEOUT_SECONDS: Final = 10.0
PAGE_SIZE: Final = 500
VERIFY_PAGE_SIZE: Final = 5000
MAX_ERROR_LENGTH: Final = 2000
# Key of the PostgreSQL advisory lock that serializes schema creation across replicas.
SCHEMA_LOCK_KEY: Final = 0x6873735F61756474  # "hss_audt"
CSV_FIELDS: Final = (
    "id",
    "at",
    "team_id",
    "user_id",
    "channel_id",
    "source",
    "outcome",
    "task_id",
    "hss_request_id",
    "error",
    "request",
    "delivery",
)

# Keys that would only appear if someone passed credentials or HTTP headers by mistake.
_SECRET_KEY = re.compile(
    r"authorization|token|secret|password|passwd|signature|cookie|api[-_]?key|x-sdk-|^ak$|^sk$",
    re.IGNORECASE,
)
_SOURCES: Final = frozenset(get_args(Source))
_COMPLETIONS: Final = frozenset({"submitted", "invalid", "denied", "failed", "unknown"})
WRITE_LOCK: Final = "audit_write"

_log = structlog.get_logger(__name__)


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


@dataclass(frozen=True)
class _Written:
    """A record as `_insert` wrote it: enough to tell a subscriber without reading it back."""

    seq: int
    at: str
    payload: str
    hash: str


@dataclass(frozen=True)
class _Target:
    url: URL
    backend: Literal["sqlite", "postgresql"]
    connect_args: dict[str, Any] = field(default_factory=dict)
    schema: str | None = None  # PostgreSQL: first schema of `search_path`, made on demand

    @property
    def safe(self) -> str:
        return self.url.render_as_string(hide_password=True)


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
    `on_append(entry)` is awaited after each committed command record.
    """
    target = resolve_url(url, create=create)
    log = SqlAuditLog(target, on_append=on_append, clock=clock)
    try:
        await log._prepare(create=create)
    except BaseException:
        await log.aclose()
        raise
    return log


class SqlAuditLog:
    """The audit log over SQLAlchemy Core: appends records, folds them into entries."""

    def __init__(
        self, target: _Target, *, on_append: OnAppend | None = None, clock: Clock | None = None
    ) -> None:
        self._target = target
        self._on_append = on_append
        self._clock: Clock = clock or (lambda: datetime.now(UTC))
        self._engine = create_engine_for(target)
        # Connections from this engine take the SQLite write lock when they begin.
        self._writer = self._engine.execution_options(**{WRITE_LOCK: True})

    def __repr__(self) -> str:
        return f"SqlAuditLog({self._target.safe!r})"

    @property
    def backend(self) -> str:
        """Name the database kind: `sqlite` or `postgresql`."""
        return self._target.backend

    # --- AuditLog -----------------------------------------------------------------------

    async def record_pending(
        self, actor: Actor, request: dict[str, Any], dedupe_key: str | None = None
    ) -> int:
        """Append a `pending` entry before HSS is called; return its id.

        Raise `DuplicateCommand` when `dedupe_key` was recorded before (the
        database's unique constraint decides, across replicas).
        """
        if dedupe_key is not None and not 1 <= len(dedupe_key) <= MAX_KEY_LENGTH:
            raise ValueError(f"dedupe_key must be 1-{MAX_KEY_LENGTH} characters")
        payload = _request_payload(actor, _checked_request(request), "pending", None)
        payload["dedupe_key"] = dedupe_key
        return await self._append_command(payload, actor.user_id, dedupe_key)

    async def record_refusal(
        self,
        actor: Actor,
        outcome: Literal["invalid", "denied"],
        error: str,
        request: dict[str, Any] | None = None,
    ) -> int:
        """Append a refused command (bad input or access denied); return its id."""
        if outcome not in ("invalid", "denied"):
            raise ValueError(f"a refusal is invalid or denied, not {outcome!r}")
        checked = None if request is None else _checked_request(request)
        payload = _request_payload(actor, checked, outcome, clip(error, MAX_ERROR_LENGTH))
        payload["dedupe_key"] = None
        return await self._append_command(payload, actor.user_id, None)

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
        """Append what became of the file (name, size, sha256) or why it was not delivered."""
        if delivery is None and error is None:
            raise ValueError("record_delivery needs a delivery, an error, or both")
        if delivery is not None:
            _refuse_secrets(delivery, "delivery")
        payload = {
            "delivery": delivery,
            "error": None if error is None else clip(error, MAX_ERROR_LENGTH),
        }
        await self._append_completion(entry_id, "delivery", payload)

    async def history(self, user_id: str, limit: int = 10) -> list[AuditEntry]:
        """Return a user's latest entries, newest first."""
        return list(reversed(await self.list_entries(user=user_id, limit=limit)))

    async def aclose(self) -> None:
        """Release connections."""
        await self._engine.dispose()

    async def ping(self) -> bool:
        """Tell whether the database answers (for /readyz); raise `AuditUnavailable` if not."""
        async with self._reading() as conn:
            await conn.execute(text("SELECT 1"))
        return True

    # --- Reading ------------------------------------------------------------------------

    async def list_entries(
        self, user: str | None = None, since: datetime | None = None, limit: int | None = None
    ) -> list[AuditEntry]:
        """Return entries oldest first; with `limit`, the latest `limit` of them."""
        if limit is None:
            return [entry async for entry in self.iter_entries(user=user, since=since)]
        if limit < 1:
            return []
        query = _requests(user, since).order_by(records.c.seq.desc()).limit(limit)
        async with self._reading() as conn:
            rows = list(reversed((await conn.execute(query)).all()))
            return await _fold_all(conn, rows)

    async def iter_entries(
        self, user: str | None = None, since: datetime | None = None
    ) -> AsyncIterator[AuditEntry]:
        """Yield entries oldest first, a page at a time (for exports of any size)."""
        after = 0
        while True:
            query = (
                _requests(user, since)
                .where(records.c.seq > after)
                .order_by(records.c.seq)
                .limit(PAGE_SIZE)
            )
            async with self._reading() as conn:
                rows = (await conn.execute(query)).all()
                entries = await _fold_all(conn, rows)
            for entry in entries:
                yield entry
            if len(rows) < PAGE_SIZE:
                return
            after = rows[-1].seq

    async def entry(self, entry_id: int) -> AuditEntry | None:
        """Return one entry with its latest outcome and delivery, or None if there is none."""
        query = select(*_ROW).where(records.c.seq == entry_id, records.c.kind == "request")
        async with self._reading() as conn:
            rows = (await conn.execute(query)).all()
            folded = await _fold_all(conn, rows)
        return folded[0] if folded else None

    async def entry_for_task(self, task_id: str) -> AuditEntry | None:
        """Return the latest entry whose outcome names this HSS task, or None if none does."""
        # Outcome payloads are canonical JSON, so the task id appears exactly as this.
        needle = f'"task_id":{canonical_json(task_id)}'
        query = (
            select(records.c.entry_id, records.c.payload)
            .where(records.c.kind == "outcome")
            .where(records.c.payload.contains(needle, autoescape=True))
            .order_by(records.c.seq.desc())
        )
        async with self._reading() as conn:
            rows = (await conn.execute(query)).all()
        found = next((r for r in rows if json.loads(r.payload).get("task_id") == task_id), None)
        return None if found is None else await self.entry(int(found.entry_id))

    async def pending_entries(self) -> list[AuditEntry]:
        """Return entries still `pending`: HSS was about to be called and no outcome followed."""
        done = records.alias("done")
        query = (
            select(*_ROW)
            .where(records.c.kind == "request")
            .where(
                ~select(done.c.seq)
                .where(done.c.kind == "outcome", done.c.entry_id == records.c.seq)
                .exists()
            )
            .order_by(records.c.seq)
        )
        async with self._reading() as conn:
            rows = (await conn.execute(query)).all()
            entries = await _fold_all(conn, rows)
        return [e for e in entries if e.outcome == "pending"]

    async def export_csv(
        self, stream: IO[str], user: str | None = None, since: datetime | None = None
    ) -> int:
        """Write entries as CSV (request and delivery as JSON cells); return how many."""
        writer = csv.DictWriter(stream, fieldnames=CSV_FIELDS, lineterminator="\n")
        writer.writeheader()
        count = 0
        async for entry in self.iter_entries(user=user, since=since):
            row = entry_as_json(entry)
            row["request"] = None if entry.request is None else canonical_json(row["request"])
            row["delivery"] = None if entry.delivery is None else canonical_json(entry.delivery)
            writer.writerow({k: row.get(k) for k in CSV_FIELDS})
            count += 1
        return count

    # --- Integrity and retention -----------------------------------------------------------

    async def verify(self) -> VerifyResult:
        """Recompute the chain from its start (or pruning anchor) to the chain head."""
        async with self._reading(snapshot=True) as conn:
            return await _verify(conn)

    async def prune(self, older_than_days: int) -> int:
        """Delete the records older than `older_than_days`, keeping the chain verifiable.

        An `anchor` record appended in the same transaction names the last
        removed record and its hash, so `verify` starts there; removing any
        other record is still reported. Return how many records were removed.
        """
        if older_than_days < 1:
            raise ValueError("older_than_days must be at least 1")
        cutoff = format_at(self._clock() - timedelta(days=older_than_days))
        async with self._appending() as (conn, head_seq, head_hash):
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
            await self._insert(conn, head_seq, head_hash, "anchor", None, payload, None, None)
            return int(removed.rowcount)

    # --- Internals ------------------------------------------------------------------------

    async def _prepare(self, *, create: bool) -> None:
        async with self._guard(), self._writer.begin() as conn:
            if self._target.backend == "postgresql":
                # DDL is transactional here: replicas starting together create it once.
                await conn.execute(
                    text("SELECT pg_advisory_xact_lock(:key)"), {"key": SCHEMA_LOCK_KEY}
                )
                if create and self._target.schema:
                    quoted = conn.dialect.identifier_preparer.quote(self._target.schema)
                    await conn.execute(text(f"CREATE SCHEMA IF NOT EXISTS {quoted}"))
            tables = await conn.run_sync(lambda sync: set(inspect(sync).get_table_names()))
            if schema_meta.name not in tables:
                if not create:
                    raise AuditUnavailable(
                        "no audit log in this database yet (the bot creates it on first start)"
                    )
                await conn.run_sync(metadata.create_all)
                await conn.execute(
                    insert(schema_meta).values(key="schema_version", value=str(SCHEMA_VERSION))
                )
                await conn.execute(insert(chain_head).values(id=HEAD_ID, seq=0, hash=GENESIS_HASH))
                return
            # An existing log is never re-created: a dropped table must stay visible.
            missing = {records.name, chain_head.name} - tables
            if missing:
                raise AuditUnavailable(
                    f"the audit log is damaged: table(s) {', '.join(sorted(missing))} missing"
                )
            await _migrate(conn)

    async def _append_command(
        self, payload: dict[str, Any], user_id: str, dedupe_key: str | None
    ) -> int:
        try:
            async with self._appending() as (conn, head_seq, head_hash):
                if dedupe_key is not None:
                    earlier = await conn.scalar(
                        select(records.c.entry_id).where(records.c.dedupe_key == dedupe_key)
                    )
                    if earlier is not None:
                        raise DuplicateCommand(int(earlier))
                written = await self._insert(
                    conn, head_seq, head_hash, "request", None, payload, user_id, dedupe_key
                )
        except AuditUnavailable as exc:
            if dedupe_key is not None and isinstance(exc.__cause__, IntegrityError):
                await self._raise_if_duplicate(dedupe_key)
            raise
        await self._notify(written.seq, written, "request")
        return written.seq

    async def _append_completion(
        self, entry_id: int, kind: Literal["outcome", "delivery"], payload: dict[str, Any]
    ) -> None:
        async with self._appending() as (conn, head_seq, head_hash):
            target = await conn.scalar(select(records.c.kind).where(records.c.seq == entry_id))
            if target != "request":
                raise ValueError(f"no audit entry {entry_id}")
            written = await self._insert(
                conn, head_seq, head_hash, kind, entry_id, payload, None, None
            )
        await self._notify(entry_id, written, kind)

    async def _insert(
        self,
        conn: AsyncConnection,
        head_seq: int,
        head_hash: str,
        kind: str,
        entry_id: int | None,
        payload: dict[str, Any],
        user_id: str | None,
        dedupe_key: str | None,
    ) -> _Written:
        seq = head_seq + 1
        entry = seq if entry_id is None else entry_id
        at = format_at(self._clock())
        body = canonical_json(payload)
        digest = record_hash(head_hash, seq=seq, entry_id=entry, kind=kind, at=at, payload=body)
        await conn.execute(
            insert(records).values(
                seq=seq,
                entry_id=entry,
                kind=kind,
                at=at,
                user_id=user_id,
                dedupe_key=dedupe_key,
                payload=body,
                prev_hash=head_hash,
                hash=digest,
            )
        )
        await conn.execute(
            update(chain_head).where(chain_head.c.id == HEAD_ID).values(seq=seq, hash=digest)
        )
        return _Written(seq, at, body, digest)

    @asynccontextmanager
    async def _appending(self) -> AsyncIterator[tuple[AsyncConnection, int, str]]:
        """Open a write transaction holding the chain lock; yield it with the chain head."""
        async with self._guard(), self._writer.begin() as conn:
            head = (
                await conn.execute(
                    select(chain_head.c.seq, chain_head.c.hash)
                    .where(chain_head.c.id == HEAD_ID)
                    .with_for_update()
                )
            ).one_or_none()
            if head is None:
                raise AuditUnavailable(
                    "the audit chain head is missing; run `hss-export-bot audit verify`"
                )
            yield conn, int(head.seq), str(head.hash)

    @asynccontextmanager
    async def _reading(self, *, snapshot: bool = False) -> AsyncIterator[AsyncConnection]:
        async with self._guard(), self._engine.connect() as conn:
            if snapshot and self._target.backend == "postgresql":
                await conn.execution_options(isolation_level="REPEATABLE READ")
            async with conn.begin():
                yield conn

    @asynccontextmanager
    async def _guard(self) -> AsyncIterator[None]:
        """Turn the database's errors into `AuditUnavailable` with a password-free message."""
        try:
            yield
        except (SQLAlchemyError, OSError, TimeoutError) as exc:
            raise AuditUnavailable(self._describe(exc)) from exc

    async def _raise_if_duplicate(self, dedupe_key: str) -> None:
        async with self._reading() as conn:
            earlier = await conn.scalar(
                select(records.c.entry_id).where(records.c.dedupe_key == dedupe_key)
            )
        if earlier is not None:
            raise DuplicateCommand(int(earlier))

    async def _notify(self, entry_id: int, written: _Written, kind: str) -> None:
        if self._on_append is None:
            return
        try:
            # A request record is the whole entry: fold what was written, no read back
            # (reading it back doubled the CPU an append costs).
            entry = _fold(written, ()) if kind == "request" else await self.entry(entry_id)
            if entry is None:
                return
            extra = {"record": {"seq": written.seq, "kind": kind, "hash": written.hash}}
            await self._on_append(_with_extra(entry, extra))
        except Exception as exc:  # noqa: BLE001 - a failing mirror must not fail a committed record
            _log.warning("audit_on_append_failed", entry_id=entry_id, error_type=type(exc).__name__)

    def _describe(self, exc: BaseException) -> str:
        cause: BaseException = exc.orig if isinstance(exc, DBAPIError) and exc.orig else exc
        if isinstance(cause, OSError) and cause.strerror:
            detail = cause.strerror
        else:
            detail = str(cause).strip().splitlines()[0] if str(cause).strip() else ""
        detail = detail or type(cause).__name__
        password = self._target.url.password
        if password:
            detail = detail.replace(str(password), "***")
        return f"audit log unavailable ({self._target.backend}: {clip(detail, 300)})"


# --- URL and engine ----------------------------------------------------------------------


def resolve_url(text_url: str, *, create: bool) -> _Target:
    """Map the URL an operator typed to an async driver URL and its connect arguments."""
    if text_url.startswith("postgres://"):
        text_url = "postgresql://" + text_url.removeprefix("postgres://")
    try:
        url = make_url(text_url)
    except (ArgumentError, ValueError):
        # The library's message repeats the URL, password included.
        raise AuditUnavailable(
            "AUDIT_DB_URL is not a database URL (expected sqlite:///path or postgresql://…)"
        ) from None
    backend, _, driver = url.drivername.partition("+")
    if backend == "sqlite" and driver in ("", "pysqlite", "aiosqlite"):
        return _sqlite_target(url.set(drivername="sqlite+aiosqlite"), create=create)
    if backend == "postgresql" and driver in ("", "asyncpg"):
        return _postgres_target(url.set(drivername="postgresql+asyncpg"))
    raise AuditUnavailable(
        f"unsupported audit database {url.drivername!r}: use sqlite:///path or postgresql://…"
    )


def _sqlite_target(url: URL, *, create: bool) -> _Target:
    database = url.database or ""
    if database in ("", ":memory:") or database.startswith("file::memory:"):
        raise AuditUnavailable("the audit log needs a file: use sqlite:///path/to/audit.db")
    path = Path(database)
    if create:
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise AuditUnavailable(
                f"cannot create the audit database folder {path.parent} ({exc.strerror})"
            ) from None
    elif not path.exists():
        raise AuditUnavailable(f"no audit database at {database}")
    return _Target(url, "sqlite", {"timeout": BUSY_TIMEOUT_SECONDS})


def _postgres_target(url: URL) -> _Target:
    query = dict(url.query)
    settings = {"lock_timeout": str(int(BUSY_TIMEOUT_SECONDS * 1000))}
    options = query.pop("options", None)
    for option in [options] if isinstance(options, str) else (options or ()):
        settings.update(_server_settings(option))
    connect_args: dict[str, Any] = {
        "server_settings": settings,
        "timeout": CONNECT_TIMEOUT_SECONDS,
    }
    sslmode = query.pop("sslmode", None)
    if sslmode is not None:
        connect_args["ssl"] = sslmode if isinstance(sslmode, str) else sslmode[0]
    first = settings.get("search_path", "").split(",")[0].strip().strip('"')
    schema = first if first and first not in ("$user", "public") else None
    return _Target(url.set(query=query), "postgresql", connect_args, schema)


def _server_settings(options: str) -> dict[str, str]:
    """Read libpq `options` (`-c name=value`, `--name=value`) as asyncpg server settings."""
    found: dict[str, str] = {}
    words = iter(shlex.split(options))
    for word in words:
        if word == "-c":
            word = next(words, "")
        elif word.startswith(("-c", "--")):
            word = word[2:]
        name, sep, value = word.partition("=")
        if not sep or not name:
            raise AuditUnavailable("AUDIT_DB_URL options must look like -c name=value")
        found[name.replace("-", "_")] = value
    return found


def create_engine_for(target: _Target) -> AsyncEngine:
    if target.backend == "postgresql":
        return create_async_engine(target.url, connect_args=target.connect_args, pool_pre_ping=True)
    engine = create_async_engine(target.url, connect_args=target.connect_args)

    @event.listens_for(engine.sync_engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        # Let SQLAlchemy's "begin" event (below) emit BEGIN, not the driver.
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute(f"PRAGMA busy_timeout = {int(BUSY_TIMEOUT_SECONDS * 1000)}")
        _use_wal(cursor)
        cursor.execute("PRAGMA synchronous = FULL")
        cursor.close()

    @event.listens_for(engine.sync_engine, "begin")
    def _on_begin(conn: Connection) -> None:
        # Writers take the write lock up front: two appenders never read the same head.
        write = conn.get_execution_options().get(WRITE_LOCK, False)
        conn.exec_driver_sql("BEGIN IMMEDIATE" if write else "BEGIN")

    return engine


def _use_wal(cursor: Any) -> None:
    """Put the file in WAL mode (it stays so); retry while another opener holds the lock.

    Switching the journal mode can answer "database is locked" at once, without the
    busy timeout, when several processes open a new file together. WAL is a property
    of the file, so only the first opener has to win; the others find it set.
    """
    for attempt in range(WAL_ATTEMPTS):
        try:
            cursor.execute("PRAGMA journal_mode")
            if str(cursor.fetchone()[0]).lower() == "wal":
                return
            cursor.execute("PRAGMA journal_mode = WAL")
            return
        except Exception as exc:  # the driver adapter's OperationalError; anything else re-raised
            if "locked" not in str(exc) or attempt == WAL_ATTEMPTS - 1:
                raise
            time.sleep(0.05 * (attempt + 1))  # a connect hook is synchronous (aiosqlite's thread)


async def _migrate(conn: AsyncConnection) -> None:
    """Record the schema version, refusing a database newer than this code."""
    stored = await conn.scalar(
        select(schema_meta.c.value).where(schema_meta.c.key == "schema_version")
    )
    if stored is None:
        await conn.execute(
            insert(schema_meta).values(key="schema_version", value=str(SCHEMA_VERSION))
        )
        return
    version = int(stored)
    if version > SCHEMA_VERSION:
        raise AuditUnavailable(
            f"the audit database has schema version {version}, newer than this bot's "
            f"({SCHEMA_VERSION}); upgrade the bot"
        )
    for step in range(version + 1, SCHEMA_VERSION + 1):
        await _MIGRATIONS[step](conn)
    if version < SCHEMA_VERSION:
        await conn.execute(
            update(schema_meta)
            .where(schema_meta.c.key == "schema_version")
            .values(value=str(SCHEMA_VERSION))
        )


# Step N takes a version N-1 database to version N, inside the schema-lock transaction.
_MIGRATIONS: dict[int, Callable[[AsyncConnection], Awaitable[None]]] = {}


# --- Payloads and folding ----------------------------------------------------------------


def _checked_request(request: dict[str, Any]) -> dict[str, Any]:
    """Accept only the `{"query", "body"}` audit record of a request: never headers."""
    if not isinstance(request, dict) or set(request) != {"query", "body"}:
        raise ValueError(
            'the audited request is {"query": {...}, "body": {...}} '
            "(ExportRequest.as_audit_record()), nothing else"
        )
    if not isinstance(request["query"], dict) or not isinstance(request["body"], dict):
        raise ValueError("the audited request's query and body must be objects")
    _refuse_secrets(request, "request")
    canonical_json(request)  # raises if it is not plain JSON
    return request


def _refuse_secrets(value: Any, where: str) -> None:
    if isinstance(value, dict):
        for key, item in value.items():
            if not isinstance(key, str) or _SECRET_KEY.search(key):
                raise ValueError(f"{where} has a key that looks like a credential or header")
            _refuse_secrets(item, where)
    elif isinstance(value, list | tuple):
        for item in value:
            _refuse_secrets(item, where)


def _request_payload(
    actor: Actor, request: dict[str, Any] | None, outcome: str, error: str | None
) -> dict[str, Any]:
    for name in ("team_id", "user_id", "channel_id"):
        value = getattr(actor, name)
        if not isinstance(value, str) or len(value) > MAX_KEY_LENGTH:
            raise ValueError(f"actor.{name} must be a string of at most {MAX_KEY_LENGTH}")
    if actor.source not in _SOURCES:
        raise ValueError(f"actor.source is one of {sorted(_SOURCES)}, not {actor.source!r}")
    return {
        "team_id": actor.team_id,
        "user_id": actor.user_id,
        "channel_id": actor.channel_id,
        "source": actor.source,
        "request": request,
        "outcome": outcome,
        "error": error,
    }


_ROW = (records.c.seq, records.c.entry_id, records.c.kind, records.c.at, records.c.payload)


def _requests(user: str | None, since: datetime | None) -> Any:
    query = select(*_ROW).where(records.c.kind == "request")
    if user is not None:
        query = query.where(records.c.user_id == user)
    if since is not None:
        moment = since if since.tzinfo else since.replace(tzinfo=UTC)
        query = query.where(records.c.at >= format_at(moment))
    return query


async def _fold_all(conn: AsyncConnection, rows: Sequence[AnyRow]) -> list[AuditEntry]:
    """Fold each request row with its later outcome and delivery records."""
    if not rows:
        return []
    ids = [int(r.seq) for r in rows]
    later: dict[int, list[AnyRow]] = {}
    for start in range(0, len(ids), PAGE_SIZE):
        query = (
            select(*_ROW)
            .where(records.c.kind.in_(("outcome", "delivery")))
            .where(records.c.entry_id.in_(ids[start : start + PAGE_SIZE]))
            .order_by(records.c.seq)
        )
        for row in (await conn.execute(query)).all():
            later.setdefault(int(row.entry_id), []).append(row)
    return [_fold(row, later.get(int(row.seq), ())) for row in rows]


def _fold(request: AnyRow | _Written, later: Iterable[AnyRow]) -> AuditEntry:
    p = json.loads(request.payload)
    outcome, task_id, hss_request_id, error = p["outcome"], None, None, p["error"]
    delivery: dict[str, Any] | None = None
    for row in later:
        q = json.loads(row.payload)
        if row.kind == "outcome":
            outcome, task_id, hss_request_id = q["outcome"], q["task_id"], q["hss_request_id"]
            error = q["error"]
        else:
            delivery = dict(q["delivery"] or {})
            if q["error"] is not None:
                delivery["error"] = q["error"]
    return AuditEntry(
        id=int(request.seq),
        at=parse_at(request.at),
        team_id=p["team_id"],
        user_id=p["user_id"],
        channel_id=p["channel_id"],
        source=p["source"],
        request=StoredRequest.from_record(p["request"]),
        outcome=outcome,
        task_id=task_id,
        hss_request_id=hss_request_id,
        error=error,
        delivery=delivery,
    )


def _with_extra(entry: AuditEntry, extra: dict[str, Any]) -> AuditEntry:
    fields = {name: getattr(entry, name) for name in entry.__dataclass_fields__}
    fields["extra"] = extra
    return AuditEntry(**fields)


def entry_as_json(entry: AuditEntry) -> dict[str, Any]:
    """Return an entry as the plain JSON object `audit list --json` prints."""
    return {
        "id": entry.id,
        "at": format_at(entry.at),
        "team_id": entry.team_id,
        "user_id": entry.user_id,
        "channel_id": entry.channel_id,
        "source": entry.source,
        "request": None if entry.request is None else entry.request.as_record(),
        "outcome": entry.outcome,
        "task_id": entry.task_id,
        "hss_request_id": entry.hss_request_id,
        "error": entry.error,
        "delivery": entry.delivery,
    }


# --- Verification --------------------------------------------------------------------------


async def _verify(conn: AsyncConnection) -> VerifyResult:
    head = (
        await conn.execute(
            select(chain_head.c.seq, chain_head.c.hash).where(chain_head.c.id == HEAD_ID)
        )
    ).one_or_none()
    first = await conn.scalar(select(func.min(records.c.seq)))
    if head is None:
        return VerifyResult(False, 0, first, "the chain head row was removed")
    if first is None:
        if head.seq == 0 and head.hash == GENESIS_HASH:
            return VerifyResult(True, 0)
        return VerifyResult(False, 0, 1, f"records 1 to {head.seq} removed (the log is empty)")

    anchor_payload = await conn.scalar(
        select(records.c.payload)
        .where(records.c.kind == "anchor")
        .order_by(records.c.seq.desc())
        .limit(1)
    )
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

    expected, checked = first, 0
    while True:
        rows = (
            await conn.execute(
                select(records)
                .where(records.c.seq >= expected)
                .order_by(records.c.seq)
                .limit(VERIFY_PAGE_SIZE)
            )
        ).all()
        for row in rows:
            problem = _check_row(row, expected, row.prev_hash if prev is None else prev)
            if problem is not None:
                return VerifyResult(False, checked, *problem)
            prev, expected, checked = row.hash, expected + 1, checked + 1
        if len(rows) < VERIFY_PAGE_SIZE:
            break

    last = expected - 1
    if head.seq > last:
        return VerifyResult(
            False, checked, last + 1, f"record {last + 1} removed (the chain head is at {head.seq})"
        )
    if head.seq < last:
        return VerifyResult(
            False, checked, head.seq + 1, f"record {head.seq + 1} inserted after the chain head"
        )
    if head.hash != prev:
        return VerifyResult(
            False,
            checked,
            last + 1,
            f"record {last + 1} removed, or the chain head edited "
            f"(the head does not match record {last})",
        )
    return VerifyResult(True, checked)


def _check_row(row: AnyRow, expected: int, prev: str) -> tuple[int, str, int | None] | None:
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
    is_request = row.kind == "request"
    user = payload.get("user_id") if is_request else None
    key = payload.get("dedupe_key") if is_request else None
    if row.user_id != user or row.dedupe_key != key:
        return seq, f"entry {entry_id} altered ({where}: columns disagree with content)", entry_id
    return None
