"""The task store: tracked tasks in the audit log's database, leased to one worker at a time.

Run against a real SQLite file and, when one answers at TEST_POSTGRES_URL, a
real PostgreSQL (a schema of its own per test).
"""

from __future__ import annotations

import asyncio
import dataclasses
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy
from db_fixtures import BACKENDS, Db, database

from bot.adapters.audit_store import open_audit_log
from bot.adapters.task_store import SqlTaskStore, open_task_store
from bot.domain.errors import TaskStoreUnavailable
from bot.tracking.model import TrackedTask

NOW = 1_700_000_000.0


@pytest.fixture(params=BACKENDS)
def db(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Db]:
    """Give the test an empty database: SQLite, then PostgreSQL when one answers."""
    with database(request.param, tmp_path) as found:
        yield found


@pytest.fixture
async def store(db: Db) -> AsyncIterator[SqlTaskStore]:
    """Open the task store on the test's database."""
    opened = await open_task_store(db.url)
    try:
        yield opened
    finally:
        await opened.aclose()


def tracked(task_id: str, *, due: float = NOW, **changes: Any) -> TrackedTask:
    """Return a task as `follow()` records it, due at `due`."""
    task = TrackedTask(
        task_id=task_id,
        entry_id=7,
        channel_id="C0EXPORTS",
        thread_ts="1700000000.000100",
        user_id="U0ALICE",
        enterprise_project_id="eps-1",
        request={"query": {"export_size": "10"}, "body": {"risky": True, "pod_name": "日志"}},
        hss_request_id="req-create",
        state="tracking",
        created_at=NOW - 10,
        next_poll_at=due,
        poll_interval=5.0,
        deadline=NOW + 7200,
        updated_at=NOW - 10,
    )
    return dataclasses.replace(task, **changes)


async def test_a_task_reads_back_exactly_as_written(store: SqlTaskStore) -> None:
    """Every field (request JSON, floats, flags) survives the round trip."""
    task = tracked("t1", file_size=3 * 2**40, sha256="ab" * 32, error="x" * 5000)
    assert await store.add(task)
    assert await store.get("t1") == task


async def test_following_a_task_twice_keeps_the_first_record(store: SqlTaskStore) -> None:
    """A second add of the same task_id is refused and changes nothing."""
    first = tracked("t1")
    assert await store.add(first)
    assert not await store.add(tracked("t1", channel_id="C0OTHER"))
    assert await store.get("t1") == first


async def test_claims_take_due_unsettled_tasks_oldest_first(store: SqlTaskStore) -> None:
    """Only due, unsettled, unleased tasks are claimed, the longest-waiting first, up to a limit."""
    for task in [
        tracked("late", due=NOW + 60),
        tracked("second", due=NOW - 5),
        tracked("first", due=NOW - 50),
        tracked("third", due=NOW),
        tracked("settled", due=NOW - 100, state="done", audit_done=True, message_done=True),
        tracked("unreported", due=NOW - 1, state="failed", audit_done=True),
    ]:
        await store.add(task)

    claimed = await store.claim_due("w1", NOW, 30, limit=3)

    assert [t.task_id for t in claimed] == ["first", "second", "unreported"]
    assert {(t.lease_owner, t.lease_until) for t in claimed} == {("w1", NOW + 30)}
    rest = await store.claim_due("w2", NOW, 30, limit=10)
    assert [t.task_id for t in rest] == ["third"]


async def test_a_lease_keeps_others_out_until_it_expires(store: SqlTaskStore) -> None:
    """A claimed task is invisible to other workers until its lease ends, then re-claimed."""
    await store.add(tracked("t1"))
    [mine] = await store.claim_due("w1", NOW, 30, limit=5)

    assert await store.claim_due("w2", NOW + 29, 30, limit=5) == []
    [taken] = await store.claim_due("w2", NOW + 31, 30, limit=5)

    assert taken.lease_owner == "w2"
    assert not await store.save(dataclasses.replace(mine, state="failed"), "w1")
    assert not await store.renew("t1", "w1", NOW + 1000)
    assert await store.get("t1") == taken


async def test_the_lease_holder_saves_renews_and_releases(store: SqlTaskStore) -> None:
    """The owner's writes land; a release makes the task claimable at once by anyone."""
    await store.add(tracked("t1"))
    [mine] = await store.claim_due("w1", NOW, 30, limit=5)
    moved = dataclasses.replace(mine, state="delivering", file_id="f1", file_name="x.xlsx")

    assert await store.save(moved, "w1")
    assert await store.renew("t1", "w1", NOW + 90)
    await store.release("w2", ["t1"])  # not w2's to release: no effect
    assert await store.claim_due("w3", NOW + 60, 30, limit=5) == []
    await store.release("w1", ["t1"])
    [again] = await store.claim_due("w3", NOW + 1, 30, limit=5)

    assert again == dataclasses.replace(moved, lease_owner="w3", lease_until=NOW + 31)


async def test_a_worker_may_move_where_a_task_is_reported_but_not_what_it_is(
    store: SqlTaskStore,
) -> None:
    """A save can point the task at a DM thread; its id, audit entry and user never change."""
    await store.add(tracked("t1", channel_id="U0ALICE", thread_ts=None))
    [mine] = await store.claim_due("w1", NOW, 30, limit=5)
    moved = dataclasses.replace(mine, channel_id="D0ALICE", thread_ts="1700000001.000200")

    assert await store.save(dataclasses.replace(moved, entry_id=99, user_id="U0MALLORY"), "w1")

    assert await store.get("t1") == moved


async def test_a_settled_task_is_never_claimed_again(store: SqlTaskStore) -> None:
    """Once final, audited and reported, a task stays out of every claim."""
    await store.add(tracked("t1"))
    [mine] = await store.claim_due("w1", NOW, 30, limit=5)
    done = dataclasses.replace(
        mine, state="done", audit_done=True, message_done=True, lease_owner=None, lease_until=None
    )
    assert await store.save(done, "w1")

    assert await store.claim_due("w2", NOW + 10**6, 30, limit=5) == []
    assert [t.task_id for t in await store.list_tasks()] == ["t1"]
    assert await store.list_tasks(unsettled_only=True) == []


async def test_pruning_removes_only_old_settled_tasks(store: SqlTaskStore) -> None:
    """Retention deletes settled rows older than the cutoff, never a task still being worked."""
    final = {"state": "done", "audit_done": True, "message_done": True}
    await store.add(tracked("old-done", updated_at=NOW - 100, **final))
    await store.add(tracked("new-done", updated_at=NOW + 100, **final))
    await store.add(tracked("old-running", updated_at=NOW - 100))

    assert await store.prune_settled(NOW) == 1
    assert sorted(t.task_id for t in await store.list_tasks()) == ["new-done", "old-running"]


async def test_workers_claiming_at_once_never_share_a_task(db: Db, store: SqlTaskStore) -> None:
    """Four replicas claiming concurrently split 40 due tasks with no task claimed twice."""
    for n in range(40):
        await store.add(tracked(f"t{n:02d}", due=NOW - n))
    replicas = [await open_task_store(db.url) for _ in range(4)]

    async def claim_all(replica: SqlTaskStore, owner: str) -> list[str]:
        got: list[str] = []
        while batch := await replica.claim_due(owner, NOW, 60, limit=3):
            got += [t.task_id for t in batch]
            await asyncio.sleep(0)
        return got

    try:
        claims = await asyncio.gather(*(claim_all(r, f"w{i}") for i, r in enumerate(replicas)))
    finally:
        for replica in replicas:
            await replica.aclose()

    everything = [task_id for got in claims for task_id in got]
    assert sorted(everything) == [f"t{n:02d}" for n in range(40)]
    owners = {t.task_id: t.lease_owner for t in await store.list_tasks()}
    assert all(owners[task_id] == f"w{i}" for i, got in enumerate(claims) for task_id in got)


async def test_tasks_live_in_the_audit_logs_database(db: Db) -> None:
    """The audit log and the task store opened on one URL share one database."""
    audit = await open_audit_log(db.url)
    store = await open_task_store(db.url)
    await store.aclose()
    await audit.aclose()

    if db.backend == "sqlite":
        rows = db.sql("SELECT name FROM sqlite_master WHERE type = 'table'")
    else:
        rows = db.sql("SELECT tablename FROM pg_tables WHERE schemaname = current_schema()")
    assert {"audit_records", "tracked_tasks"} <= {row[0] for row in rows}


async def test_replicas_starting_together_create_the_table_once(db: Db) -> None:
    """Several instances opening the store at once all succeed on one table."""
    stores = await asyncio.gather(*(open_task_store(db.url) for _ in range(4)))
    await stores[0].add(tracked("t1"))
    seen = [await s.get("t1") for s in stores]
    for opened in stores:
        await opened.aclose()

    assert seen == [tracked("t1")] * 4


@pytest.mark.parametrize(
    "url",
    [
        pytest.param("postgresql://bot:s3cret-pw@127.0.0.1:1/audit", id="postgres-down"),
        pytest.param("mysql://bot:s3cret-pw@127.0.0.1/audit", id="unsupported"),
        pytest.param("not a url", id="garbage"),
    ],
)
async def test_an_unusable_database_is_reported_without_its_password(url: str) -> None:
    """A store that cannot be opened raises TaskStoreUnavailable, never echoing the password."""
    with pytest.raises(TaskStoreUnavailable) as caught:
        await open_task_store(url)

    assert "s3cret-pw" not in str(caught.value)
    assert "s3cret-pw" not in repr(caught.value.__cause__ or "")


async def test_a_table_from_before_workflow_steps_gets_their_columns(db: Db) -> None:
    """A tracked_tasks table made before issue 16 gains step_execution_id and step_done on open."""
    first = await open_task_store(db.url)
    await first.add(tracked("old"))
    await first.aclose()
    for column in ("step_execution_id", "step_done"):
        db.sql(f"ALTER TABLE tracked_tasks DROP COLUMN {column}")

    reopened = await open_task_store(db.url)
    try:
        old = await reopened.get("old")
        await reopened.add(tracked("new", step_execution_id="Fx0001"))
        new = await reopened.get("new")
    finally:
        await reopened.aclose()
    again = await open_task_store(db.url)  # the columns exist now: nothing to add twice
    await again.aclose()

    assert old == tracked("old")
    assert old is not None
    assert (old.step_execution_id, old.step_done) == (None, False)
    assert new is not None
    assert (new.step_execution_id, new.step_done) == ("Fx0001", False)


async def test_a_workflow_step_left_to_finish_keeps_the_task_unsettled(store: SqlTaskStore) -> None:
    """A reported task whose Workflow step is not finished is still claimed; done, it settles."""
    reported = tracked("t1", state="done", audit_done=True, message_done=True)
    await store.add(dataclasses.replace(reported, step_execution_id="Fx0001"))
    await store.add(
        dataclasses.replace(tracked("t2"), state="done", audit_done=True, message_done=True)
    )

    claimed = await store.claim_due("w1", NOW, 30.0, limit=10)

    assert [t.task_id for t in claimed] == ["t1"]
    (task,) = claimed
    assert await store.save(dataclasses.replace(task, step_done=True), "w1")
    assert await store.claim_due("w2", NOW + 60, 30.0, limit=10) == []


async def test_a_table_from_before_profiles_gains_the_column_and_old_rows_read_none(
    db: Db, store: SqlTaskStore
) -> None:
    """Opening a `tracked_tasks` without `profile` adds it; its rows read profile None."""
    assert await store.add(tracked("old", profile="beta"))
    async with store._engine.begin() as conn:
        await conn.execute(sqlalchemy.text("ALTER TABLE tracked_tasks DROP COLUMN profile"))
    reopened = await open_task_store(db.url)
    try:
        old = await reopened.get("old")
        assert old is not None
        assert old.profile is None
        assert await reopened.add(tracked("new", profile="beta"))
        new = await reopened.get("new")
        assert new is not None
        assert new.profile == "beta"
    finally:
        await reopened.aclose()


async def test_a_transaction_left_open_on_sqlite_is_rolled_back_before_the_next_use(
    tmp_path: Path,
) -> None:
    """A writer that begins and never ends (a bug, a cancelled step) cannot wedge the next one.

    The hot writes' held connection rolls back a transaction its user left open,
    as the pool's reset does for a checked-out one: what it wrote is gone and
    the next save lands.
    """
    store = await open_task_store(f"sqlite:///{tmp_path / 'audit.db'}")
    try:
        await store.add(tracked("t1"))
        [mine] = await store.claim_due("w1", NOW, 30, limit=5)
        async with store._sqlite.use() as db:
            await db.execute("BEGIN IMMEDIATE")
            await db.execute("UPDATE tracked_tasks SET state = 'failed'")
        assert await store.save(dataclasses.replace(mine, polls=1), "w1")
        saved = await store.get("t1")
    finally:
        await store.aclose()
    assert saved == dataclasses.replace(mine, polls=1)
