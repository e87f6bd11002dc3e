"""Where the summaries' state lives: the tracker's new columns, the digests table, the filter key.

Run against a real SQLite file and, when one answers at TEST_POSTGRES_URL, a
real PostgreSQL (a schema of its own per test).
"""

from __future__ import annotations

import dataclasses
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest
from db_fixtures import BACKENDS, Db, database
from test_task_store import NOW, tracked

from bot.adapters.digest_store import SqlDigestStore, open_digest_store
from bot.adapters.task_store import open_task_store
from bot.tracking.model import audit_delivery
from bot.tracking.ports import StoredDigest
from bot.tracking.summaries import filter_key

RECORD = {"query": {"export_size": "10"}, "body": {"risky": True, "export_headers": [["a", "A"]]}}


@pytest.fixture(params=BACKENDS)
def db(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Db]:
    """Give the test an empty database: SQLite, then PostgreSQL when one answers."""
    with database(request.param, tmp_path) as found:
        yield found


@pytest.fixture
async def digests(db: Db) -> AsyncIterator[SqlDigestStore]:
    """Open the digest store on the test's database."""
    opened = await open_digest_store(db.url)
    try:
        yield opened
    finally:
        await opened.aclose()


def stored(task_id: str, at: float, key: str = "k1", user: str = "U0ALICE") -> StoredDigest:
    """Return a digest row of a task."""
    return StoredDigest(key, task_id, 7, user, at, f'{{"task":"{task_id}"}}')


async def test_a_tracker_table_from_before_summaries_is_migrated(db: Db) -> None:
    """An older tracked_tasks table gains the summary columns; its rows read as not summarized."""
    store = await open_task_store(db.url)
    await store.add(tracked("old-task", state="done"))
    await store.aclose()
    for column in ("summary_done", "summary_rows", "summary_note"):
        db.sql(f"ALTER TABLE tracked_tasks DROP COLUMN {column}")
    store = await open_task_store(db.url)
    try:
        task = await store.get("old-task")
        assert task is not None
        assert (task.summary_done, task.summary_rows, task.summary_note) == (False, None, None)
        [claimed] = await store.claim_due("me", NOW, 60, 10)
        done = dataclasses.replace(claimed, summary_done=True, summary_rows=42)
        assert await store.save(done, "me")
        again = await store.get("old-task")
        assert again is not None
        assert (again.summary_done, again.summary_rows) == (True, 42)
    finally:
        await store.aclose()


async def test_the_previous_digest_is_the_newest_other_one_with_the_same_key(
    digests: SqlDigestStore,
) -> None:
    """Same key, another task, created before: the newest such; other keys never."""
    await digests.add(stored("t1", NOW - 300))
    await digests.add(stored("t2", NOW - 200, user="U0BOB"))
    await digests.add(stored("t9", NOW - 100, key="k2"))
    await digests.add(stored("t3", NOW))
    found = await digests.previous("k1", "t3", NOW)
    assert found == stored("t2", NOW - 200, user="U0BOB")
    assert await digests.previous("k2", "t9", NOW - 100) is None  # only itself
    earlier = await digests.previous("k1", "t2", NOW - 200)
    assert earlier is not None
    assert earlier.task_id == "t1"  # t3 came later


async def test_a_digest_is_kept_once_per_task_and_pruned_by_age(digests: SqlDigestStore) -> None:
    """A retried step adds nothing; pruning removes only digests older than the cut."""
    await digests.add(stored("t1", NOW - 90_000))
    await digests.add(stored("t1", NOW - 90_000))
    await digests.add(stored("t2", NOW))
    assert await digests.count() == 2
    assert await digests.prune(NOW - 86_400) == 1
    assert [d.task_id for d in [await digests.previous("k1", "x", NOW)] if d] == ["t2"]


def test_the_filter_key_is_the_exact_request() -> None:
    """Key order does not matter; a different body, query or profile is a different key."""
    same = {"body": dict(reversed(list(RECORD["body"].items()))), "query": RECORD["query"]}
    assert filter_key(RECORD) == filter_key(same)
    assert filter_key(RECORD) != filter_key({**RECORD, "body": {"risky": False}})
    assert filter_key(RECORD) != filter_key({**RECORD, "query": {}})
    assert filter_key(RECORD) != filter_key({**RECORD, "profile": "prod"})
    assert filter_key({**RECORD, "profile": None}) == filter_key(RECORD)
    assert filter_key(None) is None


def test_the_delivery_record_notes_the_summary() -> None:
    """Rows when summarized, the reason when not, nothing when summaries are off."""
    done = tracked("t", state="done", file_name="f.xlsx", file_size=3, sha256="ab")
    assert "summary" not in (audit_delivery(done)[0] or {})
    rows = dataclasses.replace(done, summary_done=True, summary_rows=40)
    assert (audit_delivery(rows)[0] or {})["summary"] == {"rows": 40}
    none = dataclasses.replace(done, summary_done=True, summary_note="the file is empty")
    assert (audit_delivery(none)[0] or {})["summary"] == {"none": "the file is empty"}
