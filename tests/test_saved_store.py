"""The saved exports' store (issue 15), the same suite on SQLite and on PostgreSQL."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest
from db_fixtures import BACKENDS, Db, database
from sqlalchemy.engine import make_url

from bot.adapters.saved_store import SqlSavedExportStore, open_saved_store
from bot.domain.errors import SavedExportStoreUnavailable
from bot.domain.saved import SavedExport
from bot.ports import SavedExportStore

ALICE, BOB = "U_ALICE", "U_BOB"


def preset(name: str, owner: str = ALICE, at: float = 100.0, **fields: str) -> SavedExport:
    """Return a saved export of workspace T1."""
    return SavedExport("T1", name, owner, fields or {"status": "running"}, at)


@pytest.fixture(params=BACKENDS)
def db(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Db]:
    """Yield an empty database, once per backend."""
    with database(request.param, tmp_path) as found:
        yield found


@pytest.fixture
async def store(db: Db) -> AsyncIterator[SqlSavedExportStore]:
    """Open the store on the test database."""
    opened = await open_saved_store(db.url)
    yield opened
    await opened.aclose()


def test_satisfies_the_port() -> None:
    """The SQL store has every method of `SavedExportStore`."""
    assert all(
        callable(getattr(SqlSavedExportStore, name))
        for name in SavedExportStore.__dict__
        if not name.startswith("_") and callable(SavedExportStore.__dict__[name])
    )


async def test_saved_fields_come_back_as_typed(store: SqlSavedExportStore) -> None:
    """The raw text is kept (never a built request), quotes and `=` included."""
    fields = {"pod_name": "web 1", "image_name": "a=b", "status": "运行中"}
    assert await store.save(preset("weekly", **fields))
    got = await store.get("T1", "weekly")
    assert got == SavedExport("T1", "weekly", ALICE, fields, 100.0)


async def test_the_owner_replaces_their_own_and_keeps_its_creation_time(
    store: SqlSavedExportStore,
) -> None:
    """Saving over one's own NAME replaces the fields; `updated_at` says when."""
    await store.save(preset("weekly", at=100.0, status="running"))
    assert await store.save(preset("weekly", at=200.0, risky="yes"))
    got = await store.get("T1", "weekly")
    assert got is not None
    assert (dict(got.fields), got.created_at, got.updated_at) == ({"risky": "yes"}, 100.0, 200.0)


async def test_another_users_name_is_not_overwritten(store: SqlSavedExportStore) -> None:
    """Bob saving Alice's NAME changes nothing and says so (False)."""
    await store.save(preset("weekly", status="running"))
    assert not await store.save(preset("weekly", BOB, risky="yes"))
    got = await store.get("T1", "weekly")
    assert got is not None
    assert (got.owner_id, dict(got.fields)) == (ALICE, {"status": "running"})


async def test_two_users_saving_one_name_at_once_leave_one_owner(db: Db) -> None:
    """Two replicas racing on one NAME: exactly one save wins, the other is told."""
    first, second = await open_saved_store(db.url), await open_saved_store(db.url)
    try:
        results = await asyncio.gather(
            first.save(preset("weekly", ALICE)), second.save(preset("weekly", BOB))
        )
        assert sorted(results) == [False, True]
        got = await first.get("T1", "weekly")
        assert got is not None
        assert got.owner_id == (ALICE if results[0] else BOB)
    finally:
        await first.aclose()
        await second.aclose()


async def test_lists_by_workspace_and_owner_by_name(store: SqlSavedExportStore) -> None:
    """`in_team` lists one workspace's, by name; with an owner, only theirs."""
    await store.save(preset("zeta"))
    await store.save(preset("alpha", BOB))
    await store.save(SavedExport("T2", "other-team", ALICE, {}, 1.0))
    assert [s.name for s in await store.in_team("T1")] == ["alpha", "zeta"]
    assert [s.name for s in await store.in_team("T1", ALICE)] == ["zeta"]
    assert await store.get("T2", "zeta") is None  # names are per workspace


async def test_forget_deletes_once(store: SqlSavedExportStore) -> None:
    """Forgetting says whether there was something to forget."""
    await store.save(preset("weekly"))
    assert await store.forget("T1", "weekly")
    assert not await store.forget("T1", "weekly")
    assert await store.get("T1", "weekly") is None


async def test_reopening_keeps_the_saved_exports(db: Db) -> None:
    """A restart (a second open, creating the table again) keeps every row."""
    first = await open_saved_store(db.url)
    await first.save(preset("weekly"))
    await first.aclose()
    again = await open_saved_store(db.url)
    try:
        assert [s.name for s in await again.in_team("T1")] == ["weekly"]
    finally:
        await again.aclose()


async def test_an_unreachable_database_is_a_clean_error_without_the_password() -> None:
    """No server: `SavedExportStoreUnavailable`, the password never in the message."""
    url = make_url("postgresql://bot:pw-s3cret-42@127.0.0.1:9/db").render_as_string(False)
    with pytest.raises(SavedExportStoreUnavailable) as caught:
        await open_saved_store(url)
    assert "pw-s3cret-42" not in str(caught.value)
    assert "saved exports unavailable" in str(caught.value)
