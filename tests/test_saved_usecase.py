"""The saved exports' use case (issue 15) on the real SQLite store and audit log.

The route a run takes is a fake that records what it was handed (the Slack
app's `route_export` is covered end to end in test_e2e_saved.py); the gate is
the real one, with two HSS profiles, so `profile=` goes through its allow lists.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from test_profiles_wiring import Groups, _profiles

from bot.access import AccessControl, AccessPolicy, ProfileAccess
from bot.adapters.audit_store import SqlAuditLog, open_audit_log
from bot.adapters.saved_store import SqlSavedExportStore, open_saved_store
from bot.adapters.schedule_store import SqlScheduleStore, open_schedule_store
from bot.domain.blocks import Message
from bot.domain.errors import AuditUnavailable
from bot.domain.model import ExportRequest
from bot.domain.saved import SavedExport, ScheduledExport
from bot.domain.types import Actor, AuditEntry, ReplyTo
from bot.usecases import Gatekeeper, Ready, Refused, SavedExports

ALICE = Actor("T1", "U0ALICE01", "C0ALPHA001", "slash")
BOB = Actor("T1", "U0BOB0001", "C0ALPHA001", "slash")
BETA_USER = Actor("T1", "U0BETA0001", "C0ALPHA001", "slash")
STRANGER = Actor("T1", "U0NOBODY01", "C0ALPHA001", "slash")
REPLY = ReplyTo("C0ALPHA001")


class Clock:
    """A clock the test moves by hand."""

    def __init__(self) -> None:
        self.now = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)

    def __call__(self) -> datetime:
        return self.now


@dataclass
class Routed:
    """What `route` was handed, and what each caller was told."""

    calls: list[tuple[Actor, ExportRequest, str, str | None]] = field(default_factory=list)
    told: list[Message] = field(default_factory=list)

    async def __call__(
        self,
        actor: Actor,
        request: ExportRequest,
        reply: ReplyTo,
        *,
        dedupe_key: str,
        answer: Any,
        confirm_text: str | None = None,
    ) -> None:
        self.calls.append((actor, request, dedupe_key, confirm_text))
        await answer(None)

    async def tell(self, _reply: ReplyTo, _actor: Actor, message: Message) -> None:
        self.told.append(message)


@dataclass
class World:
    """The use case over real stores, and what it handed on."""

    saved: SavedExports
    store: SqlSavedExportStore
    audit: SqlAuditLog
    routed: Routed
    clock: Clock
    schedules: SqlScheduleStore

    async def entries(self) -> list[AuditEntry]:
        return await self.audit.list_entries()

    async def run(self, actor: Actor, name: str, **overrides: str) -> Ready | Refused | None:
        return await self.saved.run(actor, name, overrides, REPLY, f"slash:{len(self.routed.told)}")


def _gate(tmp_path: Path, audit: SqlAuditLog) -> Gatekeeper:
    allowed = AccessControl(
        AccessPolicy(users=frozenset({ALICE.user_id, BOB.user_id, BETA_USER.user_id}))
    )
    return Gatekeeper(allowed, audit, profiles=ProfileAccess(_profiles(tmp_path), Groups({})))


@pytest.fixture
async def world(tmp_path: Path) -> AsyncIterator[World]:
    """Saved exports over a SQLite store and audit log in one file, and a hand-moved clock."""
    url = f"sqlite:///{tmp_path / 'audit.db'}"
    audit = await open_audit_log(url)
    store = await open_saved_store(url)
    schedules = await open_schedule_store(url)
    routed, clock = Routed(), Clock()
    saved = SavedExports(
        store, _gate(tmp_path, audit), audit, routed, routed.tell, clock=clock, schedules=schedules
    )
    try:
        yield World(saved, store, audit, routed, clock, schedules)
    finally:
        await schedules.aclose()
        await store.aclose()
        await audit.aclose()


async def test_a_run_is_the_saved_fields_built_now_and_routed_as_typed(world: World) -> None:
    """The route gets the request bound to its profile, naming the saved export."""
    done = await world.saved.save(ALICE, "weekly", {"status": "running", "risky": "yes"})
    assert done.ok
    await world.saved.run(ALICE, "weekly", {}, REPLY, "slash:trigger-1")
    [(actor, request, key, asks)] = world.routed.calls
    assert (actor, key, asks) == (ALICE, "slash:trigger-1", None)
    assert (request.body.status, request.body.risky) == ("Running", True)
    assert (request.saved_export, request.profile) == ("weekly", "alpha")
    assert request.query.enterprise_project_id == "eps-alpha"  # the profile's default


async def test_overrides_replace_saved_fields_for_one_run(world: World) -> None:
    """`run weekly status=waiting`: the run's status changes, the saved fields do not."""
    await world.saved.save(ALICE, "weekly", {"status": "running", "risky": "yes"})
    await world.run(BOB, "weekly", status="waiting")
    [(_, request, _, _)] = world.routed.calls
    assert (request.body.status, request.body.risky) == ("Waiting", True)
    stored = await world.store.get("T1", "weekly")
    assert stored is not None
    assert dict(stored.fields) == {"status": "running", "risky": "yes", "profile": "alpha"}


async def test_the_profile_chosen_at_save_is_kept_with_the_fields(world: World) -> None:
    """No `profile=`: the profile the gate chose where it was saved is kept, so the saved
    export runs on that HSS account wherever it runs; a given `profile=` stays as typed."""
    chosen = await world.saved.save(ALICE, "weekly", {"status": "running"})
    typed = await world.saved.save(BETA_USER, "on-beta", {"profile": "beta"})
    assert chosen.ok, chosen.message.text
    assert typed.ok, typed.message.text
    stored = {s.name: dict(s.fields) for s in await world.store.in_team("T1")}
    assert stored == {
        "weekly": {"status": "running", "profile": "alpha"},
        "on-beta": {"profile": "beta"},
    }
    assert "profile=alpha" in chosen.message.text


async def test_a_window_that_ends_now_ends_at_the_time_of_the_run(world: World) -> None:
    """The fields are kept as typed: `created_after` alone means up to the run, not the save."""
    await world.saved.save(ALICE, "since-may", {"created_after": "2026-03-01"})
    world.clock.now += timedelta(days=7)
    await world.run(ALICE, "since-may")
    [(_, request, _, _)] = world.routed.calls
    assert request.body.create_time is not None
    end = datetime.fromtimestamp(request.body.create_time.end_time / 1000, UTC)
    assert end == world.clock.now


async def test_save_checks_the_fields_now_and_names_the_key(world: World) -> None:
    """A value the grammar refuses is not saved; the refusal is on record under NAME."""
    done = await world.saved.save(ALICE, "weekly", {"status": "sleeping"})
    assert not done.ok
    assert "`status`: got 'sleeping'" in done.message.text
    assert await world.store.get("T1", "weekly") is None
    [entry] = await world.entries()
    assert (entry.outcome, entry.saved_export) == ("invalid", "weekly")


@pytest.mark.parametrize(
    ("actor", "profile", "outcome"),
    [
        pytest.param(ALICE, "gamma", "invalid", id="unknown-profile"),
        pytest.param(ALICE, "beta", "denied", id="profile-not-allowed"),
        pytest.param(BETA_USER, "beta", "saved", id="profile-allowed"),
    ],
)
async def test_profile_goes_through_the_gate_at_save(
    world: World, actor: Actor, profile: str, outcome: str
) -> None:
    """`profile=` at save time: the profile's own allow lists decide, as for an export."""
    done = await world.saved.save(actor, "on-beta", {"profile": profile})
    [entry] = await world.entries()
    assert (entry.outcome, entry.saved_export, done.ok) == (outcome, "on-beta", outcome == "saved")
    assert (await world.store.get("T1", "on-beta") is not None) == done.ok


async def test_saving_over_anothers_name_is_refused_saying_whose(world: World) -> None:
    """Bob cannot replace Alice's NAME; Alice replaces her own."""
    await world.saved.save(ALICE, "weekly", {"status": "running"})
    refused = await world.saved.save(BOB, "weekly", {"risky": "yes"})
    assert not refused.ok
    assert f"belongs to <@{ALICE.user_id}>" in refused.message.text
    replaced = await world.saved.save(ALICE, "weekly", {"risky": "yes"})
    assert replaced.ok
    assert replaced.message.text.startswith("Replaced `weekly`")
    outcomes = [(e.user_id, e.outcome) for e in await world.entries()]
    assert outcomes == [
        (ALICE.user_id, "saved"),
        (BOB.user_id, "denied"),
        (ALICE.user_id, "saved"),
    ]


async def test_stale_stored_fields_fail_at_run_naming_the_key(world: World) -> None:
    """A stored field that no longer parses: invalid, naming `status`, nothing routed."""
    await world.saved.save(ALICE, "weekly", {"status": "running"})
    # What an older grammar accepted and today's does not (saved before a key was dropped).
    await world.store.save(SavedExport("T1", "weekly", ALICE.user_id, {"bogus": "1"}, 0.0))
    result = await world.run(ALICE, "weekly")
    assert isinstance(result, Refused)
    assert world.routed.calls == []
    [message] = world.routed.told
    assert "`bogus`" in message.text
    assert "stored in the saved export `weekly`" in message.text
    entry = (await world.entries())[-1]
    assert (entry.outcome, entry.saved_export) == ("invalid", "weekly")


async def test_an_unknown_name_says_which_names_exist(world: World) -> None:
    """`run weekyl`: the names saved, the closest one suggested; audited."""
    await world.saved.save(ALICE, "weekly", {})
    await world.saved.save(BOB, "daily", {})
    result = await world.run(ALICE, "weekyl")
    assert isinstance(result, Refused)
    [message] = world.routed.told
    assert "`daily`, `weekly`" in message.text
    assert "did you mean `weekly`?" in message.text
    entry = (await world.entries())[-1]
    assert (entry.outcome, entry.saved_export) == ("invalid", "weekyl")


async def test_someone_no_longer_allowed_is_refused_at_run(world: World) -> None:
    """Access is checked when the export runs, not only when it was saved."""
    await world.saved.save(ALICE, "weekly", {})
    result = await world.run(STRANGER, "weekly")
    assert isinstance(result, Refused)
    assert result.outcome == "denied"
    assert world.routed.calls == []
    entry = (await world.entries())[-1]
    assert (entry.user_id, entry.outcome, entry.saved_export) == (
        STRANGER.user_id,
        "denied",
        "weekly",
    )


async def test_a_run_where_its_schedule_runs_is_one_of_the_schedules_runs(world: World) -> None:
    """`run weekly` (or Run now) in the schedule's channel, no key added: the request names the
    schedule and its id (compared and charted with its runs); elsewhere, or with a key added,
    it is a run of the saved export alone. A refusal there names the schedule too."""
    await world.saved.save(ALICE, "weekly", {"status": "running"})
    schedule = ScheduledExport(
        "s-1", "T1", "weekly", ALICE.user_id, "C0ALPHA001", "0 9 * * *", "UTC", "every day", 0, 0
    )
    assert await world.schedules.add(schedule)
    elsewhere = Actor("T1", ALICE.user_id, "C0ELSEWHERE", "slash")

    here = await world.saved.prepare(ALICE, "weekly")
    other_channel = await world.saved.prepare(elsewhere, "weekly")
    with_a_key = await world.saved.prepare(ALICE, "weekly", {"risky": "yes"})
    refused = await world.saved.prepare(STRANGER, "weekly")

    assert isinstance(here, Ready)
    assert (here.request.saved_export, here.request.schedule, here.request.schedule_id) == (
        "weekly",
        "weekly",
        "s-1",
    )
    for alone in (other_channel, with_a_key):
        assert isinstance(alone, Ready)
        assert (alone.request.saved_export, alone.request.schedule) == ("weekly", None)
        assert alone.request.schedule_id is None
    assert isinstance(refused, Refused)
    await world.saved.record_refusal(STRANGER, refused)
    entry = (await world.entries())[-1]
    assert (entry.outcome, entry.saved_export, entry.schedule) == ("denied", "weekly", "weekly")


async def test_forget_is_the_owners_and_audited(world: World) -> None:
    """Only the owner forgets; the refusal and the forgetting are both on record."""
    await world.saved.save(ALICE, "weekly", {"status": "running"})
    assert not (await world.saved.forget(BOB, "weekly")).ok
    assert await world.store.get("T1", "weekly") is not None
    assert (await world.saved.forget(ALICE, "weekly")).ok
    assert await world.store.get("T1", "weekly") is None
    last = (await world.entries())[-2:]
    assert [(e.user_id, e.outcome, e.detail) for e in last] == [
        (BOB.user_id, "denied", None),
        (ALICE.user_id, "forgotten", "status=running profile=alpha"),
    ]
    assert (await world.audit.verify()).ok


async def test_forgetting_a_scheduled_export_deletes_its_schedule(world: World) -> None:
    """Its schedule would post forever: it goes too, both on record, and the answer says so."""
    await world.saved.save(ALICE, "weekly", {"status": "running"})
    schedule = ScheduledExport(
        "s-1", "T1", "weekly", ALICE.user_id, "C0ALPHA001", "0 9 * * *", "UTC", "every day", 0, 0
    )
    assert await world.schedules.add(schedule)
    done = await world.saved.forget(ALICE, "weekly")
    assert done.ok
    assert "its schedule is deleted" in done.message.text
    assert await world.schedules.get("T1", "weekly") is None
    last = (await world.entries())[-2:]
    assert [(e.outcome, e.saved_export) for e in last] == [
        ("forgotten", "weekly"),
        ("unscheduled", "weekly"),
    ]
    assert last[1].schedule == "weekly"


class _AuditDown:
    """The audit log, refusing every change (what an unreachable database does)."""

    def __init__(self, audit: SqlAuditLog) -> None:
        self._audit = audit

    async def record_change(self, *_args: Any, **_kwargs: Any) -> int:
        raise AuditUnavailable("audit log unavailable (sqlite: disk I/O error)")

    def __getattr__(self, name: str) -> Any:
        return getattr(self._audit, name)


async def test_nothing_changes_off_the_record(world: World, tmp_path: Path) -> None:
    """If the change cannot be audited, the save and the forget are undone."""
    await world.saved.save(ALICE, "weekly", {"status": "running"})
    down = _AuditDown(world.audit)
    saved = SavedExports(
        world.store,
        _gate(tmp_path, world.audit),
        down,  # type: ignore[arg-type]
        world.routed,
        world.routed.tell,
    )
    replaced = await saved.save(ALICE, "weekly", {"risky": "yes"})
    assert not replaced.ok
    assert "audit log unavailable" in replaced.message.text
    new = await saved.save(ALICE, "daily", {})
    assert not new.ok
    assert not (await saved.forget(ALICE, "weekly")).ok
    assert [(s.name, dict(s.fields)) for s in await world.store.in_team("T1")] == [
        ("weekly", {"status": "running", "profile": "alpha"})
    ]
