"""Keep followed export tasks in the audit log's database, leased to one worker at a time.

`open_task_store(url)` takes the same URL as the audit log (`AUDIT_DB_URL`,
mapped to the same async drivers by `bot.adapters.sql`), so one
database holds both, and creates the `tracked_tasks` table if it is missing.

Claiming is the only read-then-write, one `UPDATE … RETURNING` (`leased_claim`,
shared with the other due work): PostgreSQL selects due rows `FOR UPDATE SKIP
LOCKED`, so replicas claiming at once take disjoint tasks without waiting on
each other; on SQLite the statement holds the database-wide write lock from its
start. Every other write is one `UPDATE … WHERE lease_owner = :me`, so a
worker whose lease was taken over changes nothing. A lease is a deadline, not
a connection: a dead replica's tasks are claimed again once it passes.
Library errors leave this module only as `TaskStoreUnavailable`, without the
database password.

A task is keyed by its HSS task id alone, also with several profiles (several
HSS accounts): HSS task ids are UUIDs (Huawei's API reference answers
`"task_id": "41d200ee-6f9c-4855-9936-e50b94561544"`), 122 random bits, so two
accounts do not hand out the same one in practice. Keying by (profile, task id)
would rebuild this table's and the digests' primary keys in every deployed
database and make `status TASK_ID` ambiguous, for an event that does not
happen. Should it happen anyway, `add` refuses the second profile's task with
`TaskIdTaken` (the user is told how to fetch its file) rather than treat it as
the task already followed: nothing is delivered from the wrong account.
"""

from __future__ import annotations

import functools
import json
import sqlite3
from collections.abc import Mapping
from typing import Any, Final

from sqlalchemy import (
    BigInteger,
    Boolean,
    CheckConstraint,
    Column,
    Double,
    Index,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    bindparam,
    delete,
    insert,
    select,
    text,
    update,
)
from sqlalchemy.dialects import sqlite
from sqlalchemy.engine import Row
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncEngine

# URL mapping, engine set-up and error translation are shared with the audit log (one database).
from bot.adapters.claims import claim_params, claimed_in_order, leased_claim
from bot.adapters.sql import SqlStore, SqlTarget
from bot.domain.errors import TaskIdTaken, TaskStoreUnavailable
from bot.tracking.model import ACTIVE_STATES, FINAL_STATES, TrackedTask

# Key of the PostgreSQL advisory lock that serializes this table's creation across replicas.
SCHEMA_LOCK_KEY: Final = 0x6873735F7472616B  # "hss_trak"
_STATES: Final = tuple(sorted(ACTIVE_STATES | FINAL_STATES))

metadata = MetaData()

tracked_tasks = Table(
    "tracked_tasks",
    metadata,
    Column("task_id", String(256), primary_key=True),
    # The audit entry (`seq` of its request record) the delivery is recorded against.
    Column("entry_id", BigInteger, nullable=False),
    Column("channel_id", String(255), nullable=False),
    # The task_id message: updated as the task moves, and the thread the file goes to.
    Column("thread_ts", String(64), nullable=True),
    Column("user_id", String(255), nullable=False),
    Column("enterprise_project_id", String(256), nullable=True),
    # The request as audited (`{"query", "body"}` JSON), to render the message again.
    Column("request", Text, nullable=True),
    Column("hss_request_id", String(255), nullable=True),
    Column("state", String(16), nullable=False),
    # True once the state is final and both the audit record and the message are written.
    Column("settled", Boolean, nullable=False),
    # Times are Unix seconds (double precision), as the tracker's clock gives them.
    Column("created_at", Double, nullable=False),
    Column("next_poll_at", Double, nullable=False),
    Column("poll_interval", Double, nullable=False),
    Column("deadline", Double, nullable=False),
    Column("updated_at", Double, nullable=False),
    Column("polls", Integer, nullable=False),
    Column("attempts", Integer, nullable=False),
    Column("file_id", String(256), nullable=True),
    Column("file_name", String(1024), nullable=True),
    Column("file_size", BigInteger, nullable=True),
    Column("sha256", String(64), nullable=True),
    Column("slack_file_id", String(64), nullable=True),
    Column("error", Text, nullable=True),
    Column("error_request_id", String(255), nullable=True),
    Column("audit_done", Boolean, nullable=False),
    Column("message_done", Boolean, nullable=False),
    # A Workflow Builder step to complete once reported (issue 16); `add_missing_columns` adds it
    # to tables made before it. Only the execution id: the step is completed with the bot token.
    Column("step_execution_id", String(64), nullable=True),
    Column("step_done", Boolean, nullable=False, server_default=text("false")),
    # Added with the summaries (issue 13); `add_missing_columns` migrates older tables.
    Column("summary_done", Boolean, nullable=False, server_default=text("false")),
    Column("summary_rows", BigInteger, nullable=True),
    Column("summary_note", Text, nullable=True),
    Column("lease_owner", String(255), nullable=True),
    Column("lease_until", Double, nullable=True),
    # Added with profiles (issue 12): older tables get it from `create_schema`, empty.
    Column("profile", String(32), nullable=True),
    CheckConstraint(
        "state IN (" + ", ".join(f"'{s}'" for s in _STATES) + ")", name="tracked_tasks_state"
    ),
    Index("tracked_tasks_due", "settled", "next_poll_at"),
)

# Columns a worker may change; the identity of the task and its origin never change. Where
# it is reported may: a task with no message to thread under gets one (the user's DM).
_MUTABLE: Final = (
    "channel_id",
    "thread_ts",
    "state",
    "next_poll_at",
    "poll_interval",
    "deadline",
    "updated_at",
    "polls",
    "attempts",
    "file_id",
    "file_name",
    "file_size",
    "sha256",
    "slack_file_id",
    "error",
    "error_request_id",
    "audit_done",
    "message_done",
    "step_done",
    "summary_done",
    "summary_rows",
    "summary_note",
    "lease_owner",
    "lease_until",
)


class SqlTaskStore(SqlStore):
    """Tracked tasks over SQLAlchemy Core (implements `bot.tracking.ports.TaskStore`)."""

    tables = metadata
    schema_lock_key = SCHEMA_LOCK_KEY
    migrated = (tracked_tasks,)
    error = TaskStoreUnavailable
    what = "task store"

    def __init__(self, engine: AsyncEngine, target: SqlTarget | None = None) -> None:
        super().__init__(engine, target)
        self._backend = engine.dialect.name

    # --- TaskStore -------------------------------------------------------------------------

    async def add(self, task: TrackedTask) -> bool:
        """Insert a task; return False if it was already tracked.

        Raise `TaskIdTaken` when the id is tracked under another profile (see the
        module docstring): that is another account's task, not this one again.
        """
        values = _columns(task)
        try:
            if self._backend == "sqlite":
                # One statement, its own transaction, compiled once: one hop to aiosqlite's
                # thread instead of seven, and no per-call building of a 34-column INSERT.
                async with self._guard(), self._sqlite.use() as db:
                    await db.execute(_SQLITE_INSERT, values)
            else:
                async with self._guard(), self._engine.begin() as conn:
                    await conn.execute(_INSERT, values)
        except TaskStoreUnavailable as exc:
            if not isinstance(exc.__cause__, _DUPLICATE):
                raise
            tracked = await self.get(task.task_id)
            if tracked is not None and tracked.profile != task.profile:
                raise TaskIdTaken(
                    f"HSS gave profile {task.profile or 'default'} the task id {task.task_id}, "
                    f"which a task of profile {tracked.profile or 'default'} already has"
                ) from None
            return False
        return True

    async def claim_due(
        self, owner: str, now: float, lease_seconds: float, limit: int
    ) -> list[TrackedTask]:
        """Lease up to `limit` unsettled tasks that are due and not leased by a live worker."""
        params = claim_params(owner, now, lease_seconds, limit)
        rows: list[Mapping[str, Any]]
        if self._backend == "sqlite":
            # One statement, its own transaction (it holds the write lock from its start):
            # one hop to aiosqlite's thread, where through SQLAlchemy it took six.
            async with self._guard(), self._sqlite.use() as db:
                found = await db.execute_fetchall(_SQLITE_CLAIM, _SQLITE_CLAIM_DEFAULTS | params)
            rows = [_from_sqlite(row) for row in found]
        else:
            async with self._guard(), self._locking.begin() as conn:
                rows = [dict(row._mapping) for row in await conn.execute(_CLAIM, params)]
        return [_task(row) for row in claimed_in_order(rows, tracked_tasks.c.next_poll_at)]

    async def save(self, task: TrackedTask, owner: str) -> bool:
        """Write the task if `owner` still holds it; return False if the lease was taken."""
        values = {name: getattr(task, name) for name in _MUTABLE}
        values["settled"] = task.settled
        return await self._update_owned(task.task_id, owner, values)

    async def renew(self, task_id: str, owner: str, until: float) -> bool:
        """Extend `owner`'s lease; return False if the lease was taken."""
        return await self._update_owned(task_id, owner, {"lease_until": until})

    async def release(self, owner: str, task_ids: list[str]) -> None:
        """Give up `owner`'s leases on these tasks so any worker may claim them at once."""
        if not task_ids:
            return
        t = tracked_tasks
        async with self._guard(), self._engine.begin() as conn:
            await conn.execute(
                update(t)
                .where(t.c.task_id.in_(task_ids), t.c.lease_owner == owner)
                .values(lease_owner=None, lease_until=None)
            )

    # --- reading (operators, tests) ---------------------------------------------------------

    async def get(self, task_id: str) -> TrackedTask | None:
        """Return one tracked task, or None."""
        query = select(tracked_tasks).where(tracked_tasks.c.task_id == task_id)
        async with self._guard(), self._engine.connect() as conn:
            row = (await conn.execute(query)).one_or_none()
        return None if row is None else _task(row)

    async def list_tasks(self, *, unsettled_only: bool = False) -> list[TrackedTask]:
        """Return tracked tasks, oldest first; only the unfinished ones if asked."""
        query = select(tracked_tasks).order_by(tracked_tasks.c.created_at)
        if unsettled_only:
            query = query.where(tracked_tasks.c.settled.is_(False))
        async with self._guard(), self._engine.connect() as conn:
            rows = (await conn.execute(query)).all()
        return [_task(row) for row in rows]

    async def prune_settled(self, before: float) -> int:
        """Delete settled tasks last changed before `before` (Unix seconds); return how many.

        The audit log keeps what happened; these rows only steer the workers.
        """
        t = tracked_tasks
        async with self._guard(), self._engine.begin() as conn:
            result = await conn.execute(
                delete(t).where(t.c.settled.is_(True), t.c.updated_at < before)
            )
        return int(result.rowcount)

    # --- internals --------------------------------------------------------------------------

    async def _update_owned(self, task_id: str, owner: str, values: dict[str, Any]) -> bool:
        params = values | {"owned_task_id": task_id, "owned_by": owner}
        if self._backend == "sqlite":
            # One statement, its own transaction: one hop to aiosqlite's thread, where
            # SQLAlchemy's BEGIN, UPDATE and COMMIT took seven (docs/benchmarks.md).
            async with self._guard(), self._sqlite.use() as db:
                cursor = await db.execute(_sqlite_update_owned(tuple(values)), params)
            return bool(cursor.rowcount == 1)
        async with self._guard(), self._engine.begin() as conn:
            # The columns set are the parameters' keys; SQLAlchemy caches the compiled form.
            result = await conn.execute(_UPDATE_OWNED, params)
        return bool(result.rowcount == 1)


open_task_store = SqlTaskStore.open

# The two hot writes, built once: PostgreSQL executes them through SQLAlchemy (its
# compiled cache keyed by the statement), SQLite sends the same SQL compiled for sqlite3.
_INSERT: Final = insert(tracked_tasks)
_UPDATE_OWNED: Final = update(tracked_tasks).where(
    tracked_tasks.c.task_id == bindparam("owned_task_id"),
    tracked_tasks.c.lease_owner == bindparam("owned_by"),
)
_CLAIM: Final = leased_claim(
    tracked_tasks,
    due=tracked_tasks.c.settled.is_(False)
    & (tracked_tasks.c.next_poll_at <= bindparam("claim_now")),
    order_by=tracked_tasks.c.next_poll_at,
)
_NAMED: Final = sqlite.dialect(paramstyle="named")
_SQLITE_INSERT: Final = str(_INSERT.compile(dialect=_NAMED))
_SQLITE_CLAIM_COMPILED: Final = _CLAIM.compile(dialect=_NAMED)
_SQLITE_CLAIM: Final = str(_SQLITE_CLAIM_COMPILED)
# The claim's own constants (SQLite's OFFSET 0), which the compiled SQL names too.
_SQLITE_CLAIM_DEFAULTS: Final = {
    k: v for k, v in _SQLITE_CLAIM_COMPILED.params.items() if not k.startswith("claim_")
}
_BOOLEANS: Final = frozenset(c.name for c in tracked_tasks.columns if isinstance(c.type, Boolean))
# What a second insert of a task id raises: through SQLAlchemy, or from aiosqlite itself.
_DUPLICATE: Final = (IntegrityError, sqlite3.IntegrityError)


@functools.cache
def _sqlite_update_owned(columns: tuple[str, ...]) -> str:
    """Return `_update_owned`'s UPDATE of these columns for sqlite3, compiled once."""
    return str(_UPDATE_OWNED.compile(dialect=_NAMED, column_keys=columns))


def _columns(task: TrackedTask) -> dict[str, Any]:
    values = {c.name: getattr(task, c.name) for c in tracked_tasks.columns if c.name != "settled"}
    values["request"] = None if task.request is None else json.dumps(task.request)
    values["settled"] = task.settled
    return values


def _from_sqlite(values: Any) -> dict[str, Any]:
    """Name a row sqlite3 returned for `tracked_tasks.columns` (its 0/1 as booleans)."""
    row = dict(zip(tracked_tasks.columns.keys(), values, strict=True))
    return {k: bool(v) if k in _BOOLEANS and v is not None else v for k, v in row.items()}


def _task(row: Row[Any] | Mapping[str, Any]) -> TrackedTask:
    data = dict(row._mapping) if isinstance(row, Row) else dict(row)
    data.pop("settled", None)
    request = data.pop("request")
    return TrackedTask(request=None if request is None else json.loads(request), **data)
