"""Keep one compact digest per delivered export, to say what changed since the last one.

The table `export_digests` lives in the audit log's database (`AUDIT_DB_URL`)
and is created, or migrated, like the tracker's. A row is a task's digest
(`bot.reading.Digest` JSON, at most `DIGEST_CONTAINERS` containers, about half
a megabyte at worst) keyed by its filter key: the hash of the exact request
the task sent (see `bot.tracking.summaries.filter_key`), so "the last export
with the same filters" is one indexed lookup, whoever ran it. Never the file.
Rows older than the audit retention are pruned with it (`prune`, from the
daily prune in `bot.bootstrap`). Library errors leave as `TaskStoreUnavailable`.
"""

from __future__ import annotations

from typing import Final

from sqlalchemy import (
    BigInteger,
    Column,
    Double,
    Index,
    MetaData,
    String,
    Table,
    Text,
    delete,
    func,
    insert,
    select,
)
from sqlalchemy.exc import IntegrityError

from bot.adapters.sql import SqlStore
from bot.domain.errors import TaskStoreUnavailable
from bot.tracking.ports import StoredDigest

# Key of the PostgreSQL advisory lock that serializes this table's creation across replicas.
SCHEMA_LOCK_KEY: Final = 0x6873735F64696765  # "hss_dige"

metadata = MetaData()

export_digests = Table(
    "export_digests",
    metadata,
    Column("task_id", String(256), primary_key=True),
    Column("filter_key", String(64), nullable=False),
    Column("entry_id", BigInteger, nullable=False),
    Column("user_id", String(255), nullable=False),
    Column("created_at", Double, nullable=False),
    Column("digest", Text, nullable=False),
    Index("export_digests_by_filter", "filter_key", "created_at"),
)


class SqlDigestStore(SqlStore):
    """Export digests over SQLAlchemy Core (implements `bot.tracking.ports.DigestStore`)."""

    tables = metadata
    schema_lock_key = SCHEMA_LOCK_KEY
    migrated = (export_digests,)
    error = TaskStoreUnavailable
    what = "digest store"

    async def add(self, digest: StoredDigest) -> None:
        """Keep a digest; a second one for the same task (a retried step) changes nothing."""
        values = {c.name: getattr(digest, c.name) for c in export_digests.columns}
        try:
            async with self._guard(), self._engine.begin() as conn:
                await conn.execute(insert(export_digests).values(**values))
        except TaskStoreUnavailable as exc:
            if not isinstance(exc.__cause__, IntegrityError):
                raise

    async def previous(self, filter_key: str, task_id: str, before: float) -> StoredDigest | None:
        """Return the newest digest with this key of another task created by `before`, or None."""
        d = export_digests
        query = (
            select(d)
            .where(d.c.filter_key == filter_key, d.c.task_id != task_id, d.c.created_at <= before)
            .order_by(d.c.created_at.desc())
            .limit(1)
        )
        async with self._guard(), self._engine.connect() as conn:
            row = (await conn.execute(query)).one_or_none()
        return None if row is None else StoredDigest(**dict(row._mapping))

    async def recent(self, filter_key: str, limit: int) -> list[StoredDigest]:
        """Return the newest `limit` digests with this key, oldest first."""
        d = export_digests
        query = (
            select(d)
            .where(d.c.filter_key == filter_key)
            .order_by(d.c.created_at.desc())
            .limit(limit)
        )
        async with self._guard(), self._engine.connect() as conn:
            rows = (await conn.execute(query)).all()
        return [StoredDigest(**dict(row._mapping)) for row in reversed(rows)]

    async def prune(self, before: float) -> int:
        """Delete digests written before `before` (Unix seconds); return how many."""
        async with self._guard(), self._engine.begin() as conn:
            result = await conn.execute(
                delete(export_digests).where(export_digests.c.created_at < before)
            )
        return int(result.rowcount)

    async def count(self) -> int:
        """Return how many digests are kept (operators, tests)."""
        async with self._guard(), self._engine.connect() as conn:
            found = await conn.scalar(select(func.count()).select_from(export_digests))
        return int(found or 0)


open_digest_store = SqlDigestStore.open
