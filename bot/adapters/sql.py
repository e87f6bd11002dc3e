"""Reach the database the audit log and the task store share (`AUDIT_DB_URL`).

One place maps the URL an operator types to an async driver, creates the
engine (SQLite: WAL mode, busy timeout, `BEGIN IMMEDIATE` for writers), turns
driver errors into the store's own error with a password-free message, and
serializes schema creation across replicas. `bot.adapters.audit_store` and
the other stores all build on it, so they stay in one database; `SqlStore` is
what the audit log (`AuditReader`, whose schema creation is its own) and the task,
digest, approval, saved-export and schedule stores share: opening
(`SqlStore.open`), schema creation, error translation and closing, and on
SQLite the connection its hot writes hold (`HeldSqlite`). The claim of due
work is `bot.adapters.claims`.
"""

from __future__ import annotations

import asyncio
import contextlib
import sqlite3
import time
from collections.abc import AsyncIterator
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar, Final, Literal, Self

from sqlalchemy import (
    MetaData,
    Table,
    event,
    inspect,
    text,
)
from sqlalchemy.engine import URL, Connection
from sqlalchemy.exc import DBAPIError, SQLAlchemyError
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, create_async_engine

from bot.db_url import DbUrlProblem, async_db_url, server_settings
from bot.domain.errors import AuditUnavailable
from bot.domain.text import clip

BUSY_TIMEOUT_SECONDS: Final = 15.0
# The claims (`bot.adapters.claims`) are `UPDATE ... RETURNING`, which SQLite has since 3.35.
SQLITE_MINIMUM: Final = (3, 35)
WAL_ATTEMPTS: Final = 20
CONNECT_TIMEOUT_SECONDS: Final = 10.0
# Execution option: connections carrying it take SQLite's write lock when they begin.
WRITE_LOCK: Final = "audit_write"

Backend = Literal["sqlite", "postgresql"]


@dataclass(frozen=True)
class SqlTarget:
    """A resolved database: the async driver URL and what connecting to it needs."""

    url: URL
    backend: Backend
    connect_args: dict[str, Any] = field(default_factory=dict)
    schema: str | None = None  # PostgreSQL: first schema of `search_path`, made on demand

    @property
    def safe(self) -> str:
        """The URL with its password hidden, for messages and reprs."""
        return self.url.render_as_string(hide_password=True)


def resolve_url(text_url: str, *, create: bool) -> SqlTarget:
    """Map the URL an operator typed to an async driver URL and its connect arguments.

    Raise `AuditUnavailable` (the other stores re-raise it as their own error) for
    a URL that `bot.db_url` refuses (not a database, a driver we do not support,
    SQLite without a file) or, with `create` unset, a SQLite file that does not exist.
    """
    try:
        url = async_db_url(text_url)
    except DbUrlProblem as exc:
        raise AuditUnavailable(str(exc)) from None
    if url.get_backend_name() == "sqlite":
        return _sqlite_target(url, create=create)
    return _postgres_target(url)


def _sqlite_target(url: URL, *, create: bool) -> SqlTarget:
    if sqlite3.sqlite_version_info < SQLITE_MINIMUM:
        # Refused here, not by the first claim of due work (`UPDATE ... RETURNING`).
        raise AuditUnavailable(
            f"the audit database needs SQLite {'.'.join(map(str, SQLITE_MINIMUM))} or newer "
            f"(RETURNING); this Python has SQLite {sqlite3.sqlite_version}"
        )
    path = Path(url.database or "")
    if create:
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise AuditUnavailable(
                f"cannot create the audit database folder {path.parent} ({exc.strerror})"
            ) from None
    elif not path.exists():
        raise AuditUnavailable(f"no audit database at {url.database}")
    return SqlTarget(url, "sqlite", {"timeout": BUSY_TIMEOUT_SECONDS})


def _postgres_target(url: URL) -> SqlTarget:
    query = dict(url.query)
    settings = {"lock_timeout": str(int(BUSY_TIMEOUT_SECONDS * 1000))}
    options = query.pop("options", None)
    for option in [options] if isinstance(options, str) else (options or ()):
        settings.update(server_settings(option))  # async_db_url checked them
    connect_args: dict[str, Any] = {
        "server_settings": settings,
        "timeout": CONNECT_TIMEOUT_SECONDS,
    }
    sslmode = query.pop("sslmode", None)
    if sslmode is not None:
        connect_args["ssl"] = sslmode if isinstance(sslmode, str) else sslmode[0]
    first = settings.get("search_path", "").split(",")[0].strip().strip('"')
    schema = first if first and first not in ("$user", "public") else None
    return SqlTarget(url.set(query=query), "postgresql", connect_args, schema)


def create_engine_for(target: SqlTarget) -> AsyncEngine:
    """Create the engine; on SQLite set WAL and the busy timeout on every new connection."""
    if target.backend == "postgresql":
        return create_async_engine(target.url, connect_args=target.connect_args, pool_pre_ping=True)
    # The pool's own reset (a ROLLBACK on every check-in, a hop to aiosqlite's thread)
    # is replaced by `_on_reset`, which rolls back only a transaction left open.
    engine = create_async_engine(
        target.url, connect_args=target.connect_args, pool_reset_on_return=None
    )

    @event.listens_for(engine.sync_engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        # Let SQLAlchemy's "begin" event (below) emit BEGIN, not the driver.
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute(f"PRAGMA busy_timeout = {int(BUSY_TIMEOUT_SECONDS * 1000)}")
        _use_wal(cursor)
        cursor.execute("PRAGMA synchronous = FULL")
        cursor.close()

    @event.listens_for(engine.sync_engine.pool, "reset")
    def _on_reset(dbapi_connection: Any, record: Any, _state: Any) -> None:
        # Most check-ins end no transaction: a statement in autocommit mode (the
        # task store's writes), or one that SQLAlchemy or the audit append ended.
        if record.driver_connection.in_transaction:
            dbapi_connection.rollback()

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


def describe_error(exc: BaseException, target: SqlTarget, what: str) -> str:
    """Say what went wrong in one line, `what unavailable (backend: detail)`, never the password.

    The driver's own error is preferred to SQLAlchemy's wrapper (which repeats the
    statement); an OSError says its strerror; the detail is the first line, clipped.
    """
    cause: BaseException = exc.orig if isinstance(exc, DBAPIError) and exc.orig else exc
    if isinstance(cause, OSError) and cause.strerror:
        detail = cause.strerror
    else:
        detail = str(cause).strip().splitlines()[0] if str(cause).strip() else ""
    detail = detail or type(cause).__name__
    password = target.url.password
    if password:
        detail = detail.replace(str(password), "***")
    return f"{what} unavailable ({target.backend}: {clip(detail, 300)})"


class HeldSqlite:
    """One connection of a SQLite engine's pool, held for a store's hot writes.

    `use()` yields aiosqlite's own connection under it, to one caller at a time.
    Each of its calls is one hop to aiosqlite's thread, where through SQLAlchemy a
    statement also opens and closes a cursor (a hop each): the hot writes (audit
    append, task saves) go this way. It is in autocommit mode: a single statement is
    its own transaction; a caller that sends `BEGIN` ends it before it is done.

    Held, not checked out per write: a check-out and check-in cost more CPU than the
    write (bench/bench_sql.py). One caller at a time costs SQLite writers nothing
    (they take its one write lock in turn anyway), and an in-process waiter is
    handed the connection at once, where a second connection waiting for the write
    lock sleeps in SQLite's busy handler. A writer waits for the connection no
    longer than SQLite's busy timeout, then fails as SQLite would ("database is
    locked"): writers queued behind a lock held from outside all fail within it,
    not one busy timeout after another. A connection an error may have broken (any
    but a constraint's) is closed and the next write opens another.
    """

    def __init__(self, engine: AsyncEngine) -> None:
        self._engine = engine
        self._conn: AsyncConnection | None = None
        self._driver: Any = None
        self._lock = asyncio.Lock()

    @asynccontextmanager
    async def use(self) -> AsyncIterator[Any]:
        """Yield aiosqlite's connection, opened on first use; one caller at a time."""
        try:
            async with asyncio.timeout(BUSY_TIMEOUT_SECONDS):
                await self._lock.acquire()
        except TimeoutError:
            raise sqlite3.OperationalError("database is locked") from None
        try:
            if self._conn is None:
                conn = await self._engine.connect()
                try:
                    self._driver = (await conn.get_raw_connection()).driver_connection
                except BaseException:
                    await conn.close()
                    raise
                self._conn = conn
            try:
                yield self._driver
                if self._driver.in_transaction:  # a caller's bug: never wrap the next write
                    await self._driver.rollback()
            except sqlite3.IntegrityError:
                raise  # a refused statement; the connection is as it was
            except BaseException:
                # Queued behind any statement still running in aiosqlite's thread (a
                # cancelled `BEGIN`), so it ends the transaction that statement opens:
                # the pool's reset, which looks at once, would find none yet.
                with contextlib.suppress(Exception):
                    await self._driver.rollback()
                await self._drop()
                raise
        finally:
            self._lock.release()

    async def aclose(self) -> None:
        """Give the connection back to the pool (before the engine is disposed)."""
        async with self._lock:
            await self._drop()

    async def _drop(self) -> None:
        conn, self._conn, self._driver = self._conn, None, None
        if conn is not None:
            with contextlib.suppress(Exception):  # the pool rolls back what is left open
                await conn.close()


@asynccontextmanager
async def translated(target: SqlTarget, error: type[Exception], what: str) -> AsyncIterator[None]:
    """Turn the database's errors into `error(describe_error(...))`, the cause kept chained."""
    try:
        yield
    except (SQLAlchemyError, sqlite3.Error, OSError, TimeoutError) as exc:
        # sqlite3.Error: the audit append talks to aiosqlite's connection directly.
        raise error(describe_error(exc, target, what)) from exc


async def take_schema_lock(
    conn: AsyncConnection, target: SqlTarget, key: int, *, create_schema: bool = True
) -> None:
    """Serialize schema creation across replicas for the rest of this transaction.

    PostgreSQL: a transaction-scoped advisory lock on `key`, then the URL's schema
    made if asked (DDL is transactional there, so replicas starting together create
    it once). SQLite: the caller's `BEGIN IMMEDIATE` already holds the write lock.
    """
    if target.backend != "postgresql":
        return
    await conn.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": key})
    if create_schema and target.schema:
        quoted = conn.dialect.identifier_preparer.quote(target.schema)
        await conn.execute(text(f"CREATE SCHEMA IF NOT EXISTS {quoted}"))


async def add_missing_columns(conn: AsyncConnection, table: Any) -> list[str]:
    """Add to an existing `table` the columns its definition gained since it was created.

    The migration of the tracker's and the digests' tables: a column added
    later must be nullable or have a `server_default`, so rows written by an
    older bot read as "not yet" (a flag false, a note absent). Run it inside
    the transaction holding the schema lock; return the names added.
    """

    def missing(sync: Connection) -> list[Any]:
        present = {c["name"] for c in inspect(sync).get_columns(table.name, schema=table.schema)}
        return [column for column in table.columns if column.name not in present]

    added = await conn.run_sync(missing)
    preparer = conn.dialect.identifier_preparer
    for column in added:
        kind = column.type.compile(dialect=conn.dialect)
        default = column.server_default
        clause = f" DEFAULT {default.arg}" if default is not None else ""
        null = "" if column.nullable else " NOT NULL"
        await conn.execute(
            text(
                f"ALTER TABLE {preparer.format_table(table)} "
                f"ADD COLUMN {preparer.format_column(column)} {kind}{clause}{null}"
            )
        )
    return [column.name for column in added]


class SqlStore:
    """What every store over `AUDIT_DB_URL` shares: its engine, schema, errors and closing.

    A subclass names only what is its own: its tables, the advisory lock key
    that serializes their creation, the tables whose new columns are added to
    older databases, and the error (with the words) its failures leave as.
    """

    tables: ClassVar[MetaData]  # what `create_schema` creates
    schema_lock_key: ClassVar[int]
    migrated: ClassVar[tuple[Table, ...]] = ()  # tables that gain columns (`add_missing_columns`)
    error: ClassVar[type[Exception]]
    what: ClassVar[str]  # `describe_error`'s "what unavailable"

    def __init__(self, engine: AsyncEngine, target: SqlTarget | None = None) -> None:
        self._engine = engine
        # Without a target (an engine made elsewhere), messages name the engine's URL.
        self._target = target or SqlTarget(
            engine.url, "postgresql" if engine.dialect.name == "postgresql" else "sqlite"
        )
        # SQLite: connections from this engine begin with BEGIN IMMEDIATE (`_on_begin`).
        self._locking = engine.execution_options(**{WRITE_LOCK: True})
        # SQLite: the connection the hot writes take, one at a time (raw aiosqlite).
        self._sqlite = HeldSqlite(engine)

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self._target.backend})"

    @classmethod
    async def open(cls, url: str, *, create: bool = True) -> Self:
        """Connect at the audit log's URL, creating the store's tables when `create`.

        A URL that cannot be used raises the store's own error (`resolve_url`'s
        message); a failed schema creation closes the engine before it propagates.
        """
        try:
            target = resolve_url(url, create=create)
        except AuditUnavailable as exc:
            raise cls.error(str(exc)) from None
        store = cls(create_engine_for(target), target)
        try:
            if create:
                await store.create_schema()
        except BaseException:
            await store.aclose()
            raise
        return store

    async def create_schema(self) -> None:
        """Create the tables (and the URL's PostgreSQL schema) if missing; safe to race."""
        async with self._guard(), self._locking.begin() as conn:
            await take_schema_lock(conn, self._target, self.schema_lock_key)
            await conn.run_sync(self.tables.create_all)
            for table in self.migrated:
                await add_missing_columns(conn, table)

    async def aclose(self) -> None:
        """Release connections."""
        await self._sqlite.aclose()
        await self._engine.dispose()

    def _guard(self) -> AbstractAsyncContextManager[None]:
        """Turn the database's errors into the store's own, with a password-free message."""
        return translated(self._target, self.error, self.what)
