"""Keep schedules and their runs in the audit log's database (`schedules`, `schedule_runs`).

A schedule is one row, unique per workspace and saved export name, claimed as
due work with the shared lease (`claim_leased`) when its `next_due_at` comes.
A run is one row per schedule and due time, `UNIQUE (schedule_id, due_at)`:
the worker holding the lease records the run before it exports, and a second
attempt at the same due time (another replica, a Slack-free retry, a clock
stepping back) is refused by the database. A run recorded but never finished
(the process died in between) is taken over by the next lease holder, who
exports with the same dedupe key, so the audit log lets it through at most
once. Library errors leave this module only as `ScheduleStoreUnavailable`,
without the database password.
"""

from __future__ import annotations

from typing import Any, Final

from sqlalchemy import (
    BigInteger,
    Boolean,
    Column,
    Double,
    Index,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    UniqueConstraint,
    case,
    delete,
    false,
    func,
    select,
    true,
    update,
)
from sqlalchemy.engine import Row
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncConnection

from bot.adapters.claims import claim_leased
from bot.adapters.sql import SqlStore
from bot.domain.errors import ScheduleStoreUnavailable
from bot.domain.saved import ScheduledExport, ScheduleRun

SCHEMA_LOCK_KEY: Final = 0x6873735F73636864  # "hss_schd"

metadata = MetaData()

schedules = Table(
    "schedules",
    metadata,
    Column("id", String(64), primary_key=True),
    Column("team_id", String(255), nullable=False),
    Column("name", String(64), nullable=False),  # the saved export it runs
    Column("owner_id", String(255), nullable=False),
    Column("channel_id", String(255), nullable=False),
    Column("cron", String(255), nullable=False),
    Column("tz", String(64), nullable=False),
    Column("summary", Text, nullable=False),
    Column("next_due_at", Double, nullable=False),
    Column("created_at", Double, nullable=False),
    Column("paused", Boolean, nullable=False, server_default=false()),
    Column("refusals", Integer, nullable=False, server_default="0"),
    Column("lease_owner", String(255), nullable=True),
    Column("lease_until", Double, nullable=True),
    UniqueConstraint("team_id", "name", name="schedules_one_per_name"),
    Index("schedules_due", "paused", "next_due_at"),
)

schedule_runs = Table(
    "schedule_runs",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("schedule_id", String(64), nullable=False),
    Column("due_at", Double, nullable=False),
    Column("started_at", Double, nullable=False),
    Column("outcome", String(16), nullable=True),  # None: started, not finished
    Column("late", Boolean, nullable=False, server_default=false()),
    Column("entry_id", BigInteger, nullable=True),
    Column("task_id", String(256), nullable=True),
    Column("channel_id", String(255), nullable=True),
    Column("thread_ts", String(64), nullable=True),
    Column("error", Text, nullable=True),
    # One run per due time: a second replica's (or a restarted worker's) insert fails here.
    UniqueConstraint("schedule_id", "due_at", name="schedule_runs_once"),
)

_RUN_FIELDS: Final = (
    "schedule_id",
    "due_at",
    "started_at",
    "outcome",
    "late",
    "entry_id",
    "task_id",
    "channel_id",
    "thread_ts",
    "error",
)


class SqlScheduleStore(SqlStore):
    """Schedules and runs over SQLAlchemy Core (implements `bot.ports.ScheduleStore`)."""

    tables = metadata
    schema_lock_key = SCHEMA_LOCK_KEY
    error = ScheduleStoreUnavailable
    what = "schedule store"

    async def add(self, schedule: ScheduledExport) -> bool:
        """Insert; False if the workspace already schedules that saved export."""
        try:
            async with self._guard(), self._engine.begin() as conn:
                await conn.execute(schedules.insert().values(**_columns(schedule)))
        except ScheduleStoreUnavailable as exc:
            if isinstance(exc.__cause__, IntegrityError):
                return False
            raise
        return True

    async def get(self, team_id: str, name: str) -> ScheduledExport | None:
        """Return the schedule of saved export `name`, with its last run, or None."""
        s = schedules.c
        found = await self._schedules((s.team_id == team_id) & (s.name == name))
        return found[0] if found else None

    async def by_id(self, schedule_id: str) -> ScheduledExport | None:
        """Return one schedule by its id, with its last run, or None."""
        found = await self._schedules(schedules.c.id == schedule_id)
        return found[0] if found else None

    async def in_team(self, team_id: str, owner_id: str | None = None) -> list[ScheduledExport]:
        """Return the workspace's schedules (only `owner_id`'s if given), by name."""
        s = schedules.c
        where = s.team_id == team_id
        if owner_id is not None:
            where = where & (s.owner_id == owner_id)
        return await self._schedules(where)

    async def count_owned(self, team_id: str, owner_id: str) -> int:
        """Return how many schedules the owner has in the workspace."""
        s = schedules.c
        query = select(func.count()).where((s.team_id == team_id) & (s.owner_id == owner_id))
        async with self._guard(), self._engine.connect() as conn:
            return int((await conn.execute(query)).scalar_one())

    async def set_paused(
        self, schedule_id: str, paused: bool, *, next_due_at: float | None = None
    ) -> bool:
        """Pause or resume; resuming sets the next due time and clears the refusals."""
        s = schedules.c
        values: dict[str, Any] = {"paused": paused}
        if not paused:
            values["refusals"] = 0
            if next_due_at is not None:
                values["next_due_at"] = next_due_at
        async with self._guard(), self._engine.begin() as conn:
            result = await conn.execute(
                update(schedules)
                .where((s.id == schedule_id) & (s.paused == (not paused)))
                .values(**values)
            )
        return int(result.rowcount) == 1

    async def delete(self, schedule_id: str) -> bool:
        """Delete a schedule and its runs (the audit log keeps what they did)."""
        async with self._guard(), self._engine.begin() as conn:
            await conn.execute(
                delete(schedule_runs).where(schedule_runs.c.schedule_id == schedule_id)
            )
            result = await conn.execute(delete(schedules).where(schedules.c.id == schedule_id))
        return int(result.rowcount) == 1

    async def claim_due(
        self, owner: str, now: float, lease_seconds: float, limit: int
    ) -> list[ScheduledExport]:
        """Lease up to `limit` unpaused schedules whose next due time has come."""
        s = schedules
        async with self._guard(), self._locking.begin() as conn:
            rows = await claim_leased(
                conn,
                s,
                due=(s.c.paused == false()) & (s.c.next_due_at <= now),
                order_by=s.c.next_due_at,
                owner=owner,
                now=now,
                lease_seconds=lease_seconds,
                limit=limit,
            )
            last = await _last_runs(conn, [row.id for row in rows])
        return [_schedule(row, last.get(row.id)) for row in rows]

    async def start_run(self, run: ScheduleRun, owner: str) -> bool:
        """Record that a due time runs now, under `owner`'s lease; False if it ran already.

        A run recorded earlier but never finished (its worker died) is taken over:
        True, and the caller exports with the run's dedupe key, which the audit
        log lets through at most once. False also when the lease was lost.
        """
        s, r = schedules.c, schedule_runs.c
        async with self._guard(), self._locking.begin() as conn:
            leased = await conn.execute(
                select(s.id).where((s.id == run.schedule_id) & (s.lease_owner == owner))
            )
            if leased.first() is None:
                return False
            existing = (
                await conn.execute(
                    select(r.outcome).where(
                        (r.schedule_id == run.schedule_id) & (r.due_at == run.due_at)
                    )
                )
            ).first()
            if existing is not None:
                if existing.outcome is not None:
                    return False
                await conn.execute(
                    update(schedule_runs)
                    .where((r.schedule_id == run.schedule_id) & (r.due_at == run.due_at))
                    .values(started_at=run.started_at, late=run.late)
                )
                return True
            try:
                async with conn.begin_nested():
                    await conn.execute(schedule_runs.insert().values(**_run_columns(run)))
            except IntegrityError:
                return False  # recorded by another worker in between: its run, not ours
        return True

    async def finish_run(  # noqa: PLR0913  the run, its lease, and what it changes
        self, run: ScheduleRun, owner: str, *, claimed_due_at: float, next_due_at: float,
        refusals: int, paused: bool,
    ) -> None:  # fmt: skip
        """Record the run's outcome, move the schedule on and release `owner`'s lease.

        A Pause or Resume clicked meanwhile wins: `paused` only pauses (never unpauses),
        and a resume's next due time (no longer `claimed_due_at`) stays, refusals cleared.
        """
        s, r = schedules.c, schedule_runs.c
        outcome = {k: v for k, v in _run_columns(run).items() if k not in ("schedule_id", "due_at")}
        untouched = s.next_due_at == claimed_due_at
        values: dict[str, Any] = {"lease_owner": None, "lease_until": None}
        values["next_due_at"] = case((untouched, next_due_at), else_=s.next_due_at)
        values["refusals"] = case((untouched, refusals), else_=s.refusals)
        if paused:
            values["paused"] = case((untouched, true()), else_=s.paused)
        async with self._guard(), self._locking.begin() as conn:
            await conn.execute(
                update(schedule_runs)
                .where((r.schedule_id == run.schedule_id) & (r.due_at == run.due_at))
                .values(**outcome)
            )
            await conn.execute(
                update(schedules)
                .where((s.id == run.schedule_id) & (s.lease_owner == owner))
                .values(**values)
            )

    async def move_on(self, schedule_id: str, owner: str, next_due_at: float) -> None:
        """Set the next due time without a run (nothing was due yet) and release the lease."""
        s = schedules.c
        async with self._guard(), self._engine.begin() as conn:
            await conn.execute(
                update(schedules)
                .where((s.id == schedule_id) & (s.lease_owner == owner))
                .values(next_due_at=next_due_at, lease_owner=None, lease_until=None)
            )

    async def runs(self, schedule_id: str, limit: int = 10) -> list[ScheduleRun]:
        """Return the schedule's latest runs, newest first."""
        r = schedule_runs.c
        query = (
            select(schedule_runs)
            .where(r.schedule_id == schedule_id)
            .order_by(r.due_at.desc())
            .limit(limit)
        )
        async with self._guard(), self._engine.connect() as conn:
            rows = (await conn.execute(query)).all()
        return [_run(row) for row in rows]

    async def release(self, owner: str, schedule_ids: list[str]) -> None:
        """Give up `owner`'s leases so any worker may claim these at once."""
        if not schedule_ids:
            return
        s = schedules.c
        async with self._guard(), self._engine.begin() as conn:
            await conn.execute(
                update(schedules)
                .where(s.id.in_(schedule_ids) & (s.lease_owner == owner))
                .values(lease_owner=None, lease_until=None)
            )

    async def _schedules(self, where: Any) -> list[ScheduledExport]:
        query = select(schedules).where(where).order_by(schedules.c.name)
        async with self._guard(), self._engine.connect() as conn:
            rows = (await conn.execute(query)).all()
            last = await _last_runs(conn, [row.id for row in rows])
        return [_schedule(row, last.get(row.id)) for row in rows]


open_schedule_store = SqlScheduleStore.open


async def _last_runs(conn: AsyncConnection, ids: list[str]) -> dict[str, ScheduleRun]:
    """Return each schedule's latest run (by due time), for those that have one."""
    if not ids:
        return {}
    r = schedule_runs.c
    latest = (
        select(r.schedule_id, func.max(r.due_at).label("due_at"))
        .where(r.schedule_id.in_(ids))
        .group_by(r.schedule_id)
        .subquery()
    )
    query = select(schedule_runs).join(
        latest, (r.schedule_id == latest.c.schedule_id) & (r.due_at == latest.c.due_at)
    )
    return {row.schedule_id: _run(row) for row in (await conn.execute(query)).all()}


def _columns(schedule: ScheduledExport) -> dict[str, Any]:
    return {
        "id": schedule.id,
        "team_id": schedule.team_id,
        "name": schedule.name,
        "owner_id": schedule.owner_id,
        "channel_id": schedule.channel_id,
        "cron": schedule.cron,
        "tz": schedule.tz,
        "summary": schedule.summary,
        "next_due_at": schedule.next_due_at,
        "created_at": schedule.created_at,
        "paused": schedule.paused,
        "refusals": schedule.refusals,
        "lease_owner": schedule.lease_owner,
        "lease_until": schedule.lease_until,
    }


def _run_columns(run: ScheduleRun) -> dict[str, Any]:
    return {name: getattr(run, name) for name in _RUN_FIELDS}


def _schedule(row: Row[Any], last: ScheduleRun | None) -> ScheduledExport:
    d = dict(row._mapping)
    d["paused"] = bool(d["paused"])
    return ScheduledExport(**d, last_run=last)


def _run(row: Row[Any]) -> ScheduleRun:
    d = {name: row._mapping[name] for name in _RUN_FIELDS}
    d["late"] = bool(d["late"])
    return ScheduleRun(**d)


__all__ = ["SqlScheduleStore", "open_schedule_store"]
