"""Held exports in the database: one decision wins, expiry is leased due work, on both backends."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest
from db_fixtures import BACKENDS, Db, database

from bot.adapters.approval_store import SqlApprovalStore, open_approval_store
from bot.domain.approvals import Approval, new_approval_id
from bot.domain.model import ExportBody, ExportQuery, ExportRequest, default_headers
from bot.domain.types import Actor

ALICE = Actor("T1", "U_ALICE", "C_SEC", "slash")
REQUEST = ExportRequest(
    query=ExportQuery(enterprise_project_id="all_granted_eps", export_size=500),
    body=ExportBody(export_headers=default_headers("zh")[:3]),
)
NOW = 1_767_258_000.0


def _held(expires_in: float = 3600.0, **changes: object) -> Approval:
    fields: dict[str, object] = {
        "id": new_approval_id(),
        "entry_id": 7,
        "requester": ALICE,
        "record": REQUEST.as_audit_record(),
        "reasons": ("it covers all enterprise projects",),
        "reply_channel": "C_SEC",
        "created_at": NOW,
        "expires_at": NOW + expires_in,
    }
    fields.update(changes)
    return Approval(**fields)  # type: ignore[arg-type]


@pytest.fixture(params=BACKENDS)
def db(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Db]:
    """Yield an empty database, once per backend."""
    with database(request.param, tmp_path) as found:
        yield found


@pytest.fixture
async def store(db: Db) -> AsyncIterator[SqlApprovalStore]:
    """Open the approval store on the test database."""
    opened = await open_approval_store(db.url)
    yield opened
    await opened.aclose()


async def test_a_held_request_reads_back_exactly(store: SqlApprovalStore) -> None:
    """What was held is what is read: the requester, the reasons, and the request, call for call."""
    held = _held()
    await store.add(held)
    await store.set_message(held.id, "C_APPROVALS", "1700000000.000100")
    back = await store.get(held.id)
    assert back is not None
    assert back == Approval(**{**held.__dict__, "message_channel": "C_APPROVALS",
                               "message_ts": "1700000000.000100"})  # fmt: skip
    assert back.request() == REQUEST
    assert await store.get("not-an-id") is None


async def test_ids_are_unguessable() -> None:
    """Approval ids are long random strings, never sequential."""
    ids = {new_approval_id() for _ in range(1000)}
    assert len(ids) == 1000
    assert all(len(i) == 24 for i in ids)


async def test_only_one_decision_wins_even_at_once(db: Db) -> None:
    """Ten approvers (on ten connections, as ten replicas) clicking together make one decision."""
    stores = [await open_approval_store(db.url) for _ in range(10)]
    try:
        held = _held()
        await stores[0].add(held)
        results = await asyncio.gather(
            *(
                s.decide(held.id, "approved" if i % 2 else "denied", by=f"U{i}", at=NOW + 1)
                for i, s in enumerate(stores)
            )
        )
        assert sum(results) == 1
        winner = results.index(True)
        back = await stores[0].get(held.id)
        assert back is not None
        assert (back.decided_by, back.status) == (
            f"U{winner}",
            "approved" if winner % 2 else "denied",
        )
        assert not await stores[1].decide(held.id, "approved", by="U99", at=NOW + 2)
    finally:
        for s in stores:
            await s.aclose()


async def test_no_decision_after_expiry(store: SqlApprovalStore) -> None:
    """Once its time is up a request cannot be approved, even before the expiry worker ran."""
    held = _held(expires_in=60)
    await store.add(held)
    assert not await store.decide(held.id, "approved", by="U_BOB", at=NOW + 60)
    assert (await store.get(held.id)).status == "pending"  # type: ignore[union-attr]


async def test_expiry_is_claimed_once_and_loses_to_a_decision(store: SqlApprovalStore) -> None:
    """Due requests are leased to one worker; one decided meanwhile is not marked expired."""
    due, later, decided = _held(expires_in=10), _held(expires_in=3600), _held(expires_in=20)
    for held in (due, later, decided):
        await store.add(held)
    claimed = await store.claim_due("w1", NOW + 30, 60, 10)
    assert [a.id for a in claimed] == [due.id, decided.id]
    assert await store.claim_due("w2", NOW + 31, 60, 10) == []  # leased to w1
    # An approver was faster than the expiry worker... within the time, so it stands.
    await store.release("w1", [decided.id])
    assert not await store.expire(decided.id, "w1", NOW + 32)
    assert await store.expire(due.id, "w1", NOW + 32)
    assert not await store.expire(due.id, "w1", NOW + 33)  # once
    assert (await store.get(due.id)).status == "expired"  # type: ignore[union-attr]
    # A dead worker's lease ends: another takes the work.
    assert [a.id for a in await store.claim_due("w2", NOW + 100, 60, 10)] == [decided.id]


async def test_pending_lists_by_requester_and_for_approvers(store: SqlApprovalStore) -> None:
    """A requester sees their own pending requests; an approver sees every pending one."""
    mine = _held()
    theirs = _held(requester=Actor("T1", "U_CAROL", "C_OPS", "modal"))
    done = _held()
    for held in (mine, theirs, done):
        await store.add(held)
    assert await store.decide(done.id, "denied", by="U_BOB", at=NOW + 1)
    assert [a.id for a in await store.pending_involving("U_ALICE", as_approver=False)] == [mine.id]
    listed = await store.pending_involving("U_BOB", as_approver=True)
    assert [a.id for a in listed] == [mine.id, theirs.id]


async def test_survives_a_restart(db: Db) -> None:
    """A held request is still there, and decidable, for a new process on the same database."""
    first = await open_approval_store(db.url)
    held = _held()
    await first.add(held)
    await first.aclose()
    second = await open_approval_store(db.url)
    try:
        assert await second.decide(held.id, "approved", by="U_BOB", at=NOW + 5)
    finally:
        await second.aclose()
