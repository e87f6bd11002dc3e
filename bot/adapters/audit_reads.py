"""Read the audit log: entries folded from their records, lists, lookups and the CSV export.

`AuditReader` (a `SqlStore`) holds every read; `bot.adapters.audit_store.SqlAuditLog`
adds the appends on top of it, so the append path carries none of this. An
entry is its `request` record with its later `outcome` and `delivery` records
folded in (`bot.adapters.audit_rows.fold`, the one place an `AuditEntry` is built).
"""

from __future__ import annotations

import csv
import json
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from datetime import UTC, datetime
from typing import IO, Any, Final

from sqlalchemy import and_, or_, select, text
from sqlalchemy.engine import Row
from sqlalchemy.ext.asyncio import AsyncConnection

from bot.adapters.audit_rows import CSV_FIELDS, csv_row, fold
from bot.adapters.audit_schema import (
    HEAD_ID,
    canonical_json,
    chain_head,
    format_at,
    metadata,
    records,
)
from bot.adapters.audit_setup import SCHEMA_LOCK_KEY, prepare_schema
from bot.adapters.sql import SqlStore
from bot.domain.errors import AuditUnavailable
from bot.domain.types import AuditEntry

AnyRow = Row[*tuple[Any, ...]]
PAGE_SIZE: Final = 500


def _requests(
    user: str | None,
    since: datetime | None,
    through: int | None = None,
    *,
    approver_too: bool = False,
) -> Any:
    query = select(records).where(records.c.kind == "request")
    if user is not None:
        query = query.where(_of_user(user, approver_too=approver_too))
    if since is not None:
        moment = since if since.tzinfo else since.replace(tzinfo=UTC)
        query = query.where(records.c.at >= format_at(moment))
    if through is not None:
        query = query.where(records.c.seq <= through)
    return query


def _of_user(user: str, *, approver_too: bool) -> Any:
    """Match the request rows of `user`, and with `approver_too` those they approved or decided.

    The approver is in the payloads (canonical JSON, so a key and its value appear
    exactly as the needle): `approved_by` in the request of an export an approver
    let run, `decided_by` in the outcome that decided a held request.
    """
    mine = records.c.user_id == user
    if not approver_too:
        return mine
    quoted = canonical_json(user)
    decision = records.alias("decision")
    decided = (
        select(decision.c.seq)
        .where(decision.c.kind == "outcome", decision.c.entry_id == records.c.seq)
        .where(decision.c.payload.contains(f'"decided_by":{quoted}', autoescape=True))
        .exists()
    )
    approved = records.c.payload.contains(f'"approved_by":{quoted}', autoescape=True)
    return or_(mine, approved, decided)


async def _later_of(
    conn: AsyncConnection, rows: Sequence[AnyRow], through: int | None = None
) -> dict[int, list[AnyRow]]:
    """Read the outcome and delivery records of these request rows, by entry id, in order."""
    ids = [int(r.seq) for r in rows]
    later: dict[int, list[AnyRow]] = {}
    for start in range(0, len(ids), PAGE_SIZE):
        query = (
            select(records)
            .where(records.c.kind.in_(("outcome", "delivery")))
            .where(records.c.entry_id.in_(ids[start : start + PAGE_SIZE]))
            .order_by(records.c.seq)
        )
        if through is not None:
            query = query.where(records.c.seq <= through)
        for row in (await conn.execute(query)).all():
            later.setdefault(int(row.entry_id), []).append(row)
    return later


async def _fold_all(conn: AsyncConnection, rows: Sequence[AnyRow]) -> list[AuditEntry]:
    """Fold each request row with its later outcome and delivery records."""
    if not rows:
        return []
    later = await _later_of(conn, rows)
    return [fold(row, later.get(int(row.seq), ())) for row in rows]


class AuditReader(SqlStore):
    """Every read of the audit log (the base of `SqlAuditLog`), on the stores' `SqlStore`.

    The engine, error translation and closing are the base's; the log's schema
    is its own (`prepare_schema`: a chain head and a schema version to check).
    """

    tables = metadata
    schema_lock_key = SCHEMA_LOCK_KEY
    error = AuditUnavailable
    what = "audit log"

    @property
    def backend(self) -> str:
        """Name the database kind: `sqlite` or `postgresql`."""
        return self._target.backend

    async def create_schema(self) -> None:
        """Create the log if missing, else check its tables and migrate it; safe to race."""
        await self._prepare(create=True)

    async def _prepare(self, *, create: bool) -> None:
        """Make the log usable: create it (with `create`), or check its tables and version."""
        async with self._guard(), self._locking.begin() as conn:
            await prepare_schema(conn, self._target, create=create)

    async def ping(self) -> bool:
        """Tell whether the database answers (for /readyz); raise `AuditUnavailable` if not."""
        async with self._reading() as conn:
            await conn.execute(text("SELECT 1"))
        return True

    async def history(self, user_id: str, limit: int = 10) -> list[AuditEntry]:
        """Return a user's latest entries, newest first."""
        return list(reversed(await self.list_entries(user=user_id, limit=limit)))

    async def list_entries(
        self,
        user: str | None = None,
        since: datetime | None = None,
        limit: int | None = None,
        *,
        approver_too: bool = False,
    ) -> list[AuditEntry]:
        """Return entries oldest first; with `limit`, the latest `limit` of them.

        `user`: only that user's entries; with `approver_too`, also those they
        approved or decided as an approver (the two-person rule).
        """
        if limit is None:
            found = self.iter_entries(user=user, since=since, approver_too=approver_too)
            return [entry async for entry in found]
        if limit < 1:
            return []
        query = (
            _requests(user, since, approver_too=approver_too)
            .order_by(records.c.seq.desc())
            .limit(limit)
        )
        async with self._reading() as conn:
            rows = list(reversed((await conn.execute(query)).all()))
            return await _fold_all(conn, rows)

    async def iter_entries(
        self, user: str | None = None, since: datetime | None = None, *, approver_too: bool = False
    ) -> AsyncIterator[AuditEntry]:
        """Yield entries oldest first, a page at a time (for exports of any size)."""
        async for row, later in self._pages(user, since, None, approver_too=approver_too):
            yield fold(row, later)

    async def entry(self, entry_id: int, *, through: int | None = None) -> AuditEntry | None:
        """Return one entry with its latest outcome and delivery, or None if there is none.

        With `through`, only the records up to that sequence number are folded in:
        the entry as it stood once that record was written.
        """
        query = select(records).where(records.c.seq == entry_id, records.c.kind == "request")
        async with self._reading() as conn:
            rows = (await conn.execute(query)).all()
            if not rows:
                return None
            later = await _later_of(conn, rows, through)
        return fold(rows[0], later.get(entry_id, ()))

    async def entry_with_key(self, dedupe_key: str) -> int | None:
        """Return the id of the entry recorded under `dedupe_key`, or None if there is none."""
        query = select(records.c.entry_id).where(records.c.dedupe_key == dedupe_key)
        async with self._reading() as conn:
            found = await conn.scalar(query)
        return None if found is None else int(found)

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
            select(records)
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
        self,
        stream: IO[str],
        user: str | None = None,
        since: datetime | None = None,
        *,
        approver_too: bool = False,
    ) -> int:
        """Write entries as CSV with their chain records; return how many entries.

        Only records up to the chain head read first are written, so appends made
        meanwhile never half-appear. An unfiltered export also carries the records
        that belong to no listed entry (pruning anchors, outcomes of pruned
        requests) in its first row, so `audit verify --file` can walk the whole chain.
        """
        writer = csv.DictWriter(stream, fieldnames=CSV_FIELDS, lineterminator="\n")
        writer.writeheader()
        async with self._reading() as conn:
            head = (
                await conn.execute(
                    select(chain_head.c.seq, chain_head.c.hash).where(chain_head.c.id == HEAD_ID)
                )
            ).one_or_none()
            through = None if head is None else int(head.seq)
            loose = [] if user or since else await _loose(conn, through)
        head_cell = None if head is None else f"{head.seq}:{head.hash}"
        count = 0
        async for row, later in self._pages(user, since, through, approver_too=approver_too):
            recs = [row, *later] if count else sorted([*loose, row, *later], key=lambda r: r.seq)
            writer.writerow(csv_row(fold(row, later), recs, None if count else head_cell))
            count += 1
        return count

    async def _pages(
        self,
        user: str | None,
        since: datetime | None,
        through: int | None,
        *,
        approver_too: bool = False,
    ) -> AsyncIterator[tuple[AnyRow, list[AnyRow]]]:
        """Yield request rows oldest first with their later records, a page at a time."""
        after = 0
        while True:
            query = (
                _requests(user, since, through, approver_too=approver_too)
                .where(records.c.seq > after)
                .order_by(records.c.seq)
                .limit(PAGE_SIZE)
            )
            async with self._reading() as conn:
                rows = (await conn.execute(query)).all()
                later = await _later_of(conn, rows, through) if rows else {}
            for row in rows:
                yield row, later.get(int(row.seq), [])
            if len(rows) < PAGE_SIZE:
                return
            after = rows[-1].seq

    @asynccontextmanager
    async def _reading(self, *, snapshot: bool = False) -> AsyncIterator[AsyncConnection]:
        async with self._guard(), self._engine.connect() as conn:
            if snapshot and self._target.backend == "postgresql":
                await conn.execution_options(isolation_level="REPEATABLE READ")
            async with conn.begin():
                yield conn


async def _loose(conn: AsyncConnection, through: int | None) -> list[AnyRow]:
    """Read the records no request row of the log owns: anchors and completions of pruned ones."""
    owner = records.alias("owner")
    owned = (
        select(owner.c.seq)
        .where(owner.c.seq == records.c.entry_id, owner.c.kind == "request")
        .exists()
    )
    query = select(records).where(
        or_(records.c.kind == "anchor", and_(records.c.kind != "request", ~owned))
    )
    if through is not None:
        query = query.where(records.c.seq <= through)
    return list((await conn.execute(query.order_by(records.c.seq))).all())
