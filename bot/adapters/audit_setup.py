"""Create the audit log's tables on first start, or check and migrate an existing log.

Runs inside the caller's write transaction, after the schema lock (`bot.adapters.sql`),
so replicas starting together create the log once. An existing log is never
re-created: a dropped table stays visible as damage, not a fresh empty log.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Final

from sqlalchemy import insert, inspect, select, update
from sqlalchemy.engine import Connection
from sqlalchemy.ext.asyncio import AsyncConnection

from bot.adapters.audit_schema import (
    GENESIS_HASH,
    HEAD_ID,
    PROVENANCE_COLUMNS,
    SCHEMA_VERSION,
    chain_head,
    metadata,
    records,
    schema_meta,
)
from bot.adapters.sql import SqlTarget, add_missing_columns, take_schema_lock
from bot.domain.errors import AuditUnavailable

# Key of the PostgreSQL advisory lock that serializes schema creation across replicas.
SCHEMA_LOCK_KEY: Final = 0x6873735F61756474  # "hss_audt"


async def prepare_schema(conn: AsyncConnection, target: SqlTarget, *, create: bool) -> None:
    """Make the log usable: create it (with `create`), or check its tables and version."""
    await take_schema_lock(conn, target, SCHEMA_LOCK_KEY, create_schema=create)
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


async def _provenance_columns(conn: AsyncConnection) -> None:
    """Version 2: the `saved_export` and `schedule` columns and their indexes (issue 15).

    Both are nullable: a record written before names neither, in its payload or its
    columns, so the chain verifies unchanged.
    """
    await add_missing_columns(conn, records)
    added = [i for i in records.indexes if {c.name for c in i.columns} & set(PROVENANCE_COLUMNS)]

    def create(sync: Connection) -> None:
        for index in added:
            index.create(sync, checkfirst=True)

    await conn.run_sync(create)


# Step N takes a version N-1 database to version N, inside the schema-lock transaction.
_MIGRATIONS: dict[int, Callable[[AsyncConnection], Awaitable[None]]] = {
    2: _provenance_columns,
}
