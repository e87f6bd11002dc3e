"""Keep each workspace's saved exports in the audit log's database (`saved_exports`).

One row per (workspace, name): its owner and the `key=value` fields as typed
(JSON), never a built request, so each run parses them again under today's
rules. Saving is one upsert whose update applies only when the row is the
saver's own: two users saving one name at once, or someone saving over
another's, leave exactly one owner, decided by the database. Library errors
leave this module only as `SavedExportStoreUnavailable`, without the password.
"""

from __future__ import annotations

import json
from typing import Any, Final

from sqlalchemy import Column, Double, MetaData, String, Table, Text, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Row

from bot.adapters.sql import SqlStore
from bot.domain.errors import SavedExportStoreUnavailable
from bot.domain.saved import SavedExport

SCHEMA_LOCK_KEY: Final = 0x6873735F73617664  # "hss_savd"

metadata = MetaData()

saved_exports = Table(
    "saved_exports",
    metadata,
    Column("team_id", String(255), primary_key=True),
    Column("name", String(64), primary_key=True),
    Column("owner_id", String(255), nullable=False),
    # The raw fields as typed: a JSON object of text to text.
    Column("fields", Text, nullable=False),
    Column("created_at", Double, nullable=False),
    Column("updated_at", Double, nullable=True),
)


class SqlSavedExportStore(SqlStore):
    """Saved exports over SQLAlchemy Core (implements `bot.ports.SavedExportStore`)."""

    tables = metadata
    schema_lock_key = SCHEMA_LOCK_KEY
    error = SavedExportStoreUnavailable
    what = "saved exports"

    async def save(self, saved: SavedExport) -> bool:
        """Insert, or replace the fields of the owner's own; False if another user owns NAME.

        A replaced row keeps its `created_at`; its `updated_at` is the new row's `created_at`.
        """
        s = saved_exports
        dialect = postgresql if self._target.backend == "postgresql" else sqlite
        statement = dialect.insert(s).values(
            team_id=saved.team_id,
            name=saved.name,
            owner_id=saved.owner_id,
            fields=_fields_json(saved.fields),
            created_at=saved.created_at,
            updated_at=None,
        )
        statement = statement.on_conflict_do_update(
            index_elements=[s.c.team_id, s.c.name],
            set_={"fields": statement.excluded.fields, "updated_at": statement.excluded.created_at},
            where=s.c.owner_id == statement.excluded.owner_id,
        )
        async with self._guard(), self._locking.begin() as conn:
            result = await conn.execute(statement)
        return int(result.rowcount) == 1

    async def get(self, team_id: str, name: str) -> SavedExport | None:
        """Return one saved export, or None."""
        s = saved_exports.c
        query = select(saved_exports).where(s.team_id == team_id, s.name == name)
        async with self._guard(), self._engine.connect() as conn:
            row = (await conn.execute(query)).one_or_none()
        return None if row is None else _saved(row)

    async def in_team(self, team_id: str, owner_id: str | None = None) -> list[SavedExport]:
        """Return the workspace's saved exports (only `owner_id`'s if given), by name."""
        s = saved_exports.c
        query = select(saved_exports).where(s.team_id == team_id).order_by(s.name)
        if owner_id is not None:
            query = query.where(s.owner_id == owner_id)
        async with self._guard(), self._engine.connect() as conn:
            rows = (await conn.execute(query)).all()
        return [_saved(row) for row in rows]

    async def forget(self, team_id: str, name: str) -> bool:
        """Delete one; True if it existed."""
        s = saved_exports.c
        async with self._guard(), self._locking.begin() as conn:
            result = await conn.execute(
                saved_exports.delete().where(s.team_id == team_id, s.name == name)
            )
        return int(result.rowcount) == 1


open_saved_store = SqlSavedExportStore.open


def _fields_json(fields: Any) -> str:
    """Serialize the fields as one JSON object of text, keys sorted (what is stored)."""
    if not all(isinstance(k, str) and isinstance(v, str) for k, v in fields.items()):
        raise ValueError("a saved export's fields are text keys and text values")
    return json.dumps(dict(fields), ensure_ascii=False, sort_keys=True)


def _saved(row: Row[Any]) -> SavedExport:
    d = row._mapping
    return SavedExport(
        team_id=d["team_id"],
        name=d["name"],
        owner_id=d["owner_id"],
        fields=json.loads(d["fields"]),
        created_at=float(d["created_at"]),
        updated_at=None if d["updated_at"] is None else float(d["updated_at"]),
    )


__all__ = ["SqlSavedExportStore", "open_saved_store", "saved_exports"]
