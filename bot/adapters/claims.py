"""The one claim of the bot's due work: lease due rows to a worker in one statement.

Tracked tasks, approval expiries and schedules are claimed alike (`leased_claim`):
each table has a one-column primary key and `lease_owner`/`lease_until`
columns. The task store builds its claim once and sends it raw on SQLite; the
other stores run it through SQLAlchemy (`claim_leased`), in a transaction they
may go on with.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from sqlalchemy import Column, ColumnElement, Table, Update, bindparam, or_, select, update
from sqlalchemy.engine import Row
from sqlalchemy.ext.asyncio import AsyncConnection
from sqlalchemy.sql.elements import BindParameter


def leased_claim(table: Table, *, due: ColumnElement[bool], order_by: Column[Any]) -> Update:
    """Return the one claim of the bot's due work, its parameters named by `claim_params`.

    Tracked tasks, approval expiries, schedules: the table has a one-column
    primary key and `lease_owner`/`lease_until` columns; `due` may compare with
    `bindparam("claim_now")`. One statement, the same on both databases: an
    `UPDATE … RETURNING` of the rows its subquery picks (three statements before:
    the ids, the update, the rows). The subquery selects `FOR UPDATE SKIP LOCKED`
    on PostgreSQL, so replicas claiming at once take disjoint rows without
    waiting; SQLite has no such clause (SQLAlchemy leaves it out) and needs none:
    a write statement holds its one write lock from its start. RETURNING
    promises no order: sort what it returns by `order_by` (`claimed_in_order`).
    """
    (key,) = table.primary_key.columns
    c = table.c
    now: BindParameter[float] = bindparam("claim_now")
    picked = (
        select(key)
        .where(due, or_(c.lease_until.is_(None), c.lease_until <= now))
        .order_by(order_by)
        .limit(bindparam("claim_limit"))
        .with_for_update(skip_locked=True)
    )
    return (
        update(table)
        .where(key.in_(picked.scalar_subquery()))
        .values(lease_owner=bindparam("claim_owner"), lease_until=bindparam("claim_until"))
        .returning(*table.columns)
    )


def claim_params(owner: str, now: float, lease_seconds: float, limit: int) -> dict[str, Any]:
    """Return the parameters of a `leased_claim`: lease to `owner` until now + lease."""
    return {
        "claim_owner": owner,
        "claim_now": now,
        "claim_until": now + lease_seconds,
        "claim_limit": limit,
    }


def claimed_in_order(rows: Iterable[Mapping[str, Any]], order_by: Column[Any]) -> list[Any]:
    """Return the claimed rows in the claim's order (RETURNING promises none)."""
    return sorted(rows, key=lambda row: row[order_by.name])


async def claim_leased(  # noqa: PLR0913  the claim's table, columns and lease are keyword settings
    conn: AsyncConnection,
    table: Table,
    *,
    due: ColumnElement[bool],
    order_by: Column[Any],
    owner: str,
    now: float,
    lease_seconds: float,
    limit: int,
) -> list[Row[Any]]:
    """Lease up to `limit` due rows not leased by a live worker; return them in `order_by` order.

    `leased_claim` run through SQLAlchemy: in a writing transaction (`WRITE_LOCK`)
    that the caller may go on with.
    """
    claim = leased_claim(table, due=due, order_by=order_by)
    rows = list(await conn.execute(claim, claim_params(owner, now, lease_seconds, limit)))
    return sorted(rows, key=lambda row: row._mapping[order_by])
