"""A small world for the schedule tests: real stores on one database, fakes at the edges.

The schedule store and the audit log are the real ones (SQLite or PostgreSQL);
the saved exports are in memory (their store is another test's subject), HSS
counts the exports it is asked for, the poster keeps what was said and where,
the user groups can lose a member (access revoked), and the clock is moved by
hand. `bot()` builds one bot process: its own connections, its own owner.
"""

from __future__ import annotations

import itertools
from collections.abc import AsyncIterator
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from bot.access import AccessControl, AccessPolicy, ApprovalPolicy
from bot.adapters.audit_store import SqlAuditLog, open_audit_log
from bot.adapters.schedule_store import SqlScheduleStore, open_schedule_store
from bot.domain.blocks import Message
from bot.domain.errors import DirectoryUnavailable
from bot.domain.grammar import RequestDefaults
from bot.domain.model import ExportRequest
from bot.domain.saved import SavedExport
from bot.domain.types import (
    Actor,
    Announcement,
    CreatedTask,
    Failed,
    ReplyTo,
    Submitted,
    TaskStatus,
)
from bot.usecases import ExportService, Gatekeeper
from bot.usecases.schedule_runs import ScheduleRuns
from bot.usecases.schedules import ScheduleLimits, ScheduleService

GROUP = "S0SEC"
ALICE = Actor("T1", "U0ALICE", "C0REPORTS", "slash")
BOB = Actor("T1", "U0BOB", "C0REPORTS", "slash")


def at(text: str) -> float:
    """Return the Unix time of an ISO date-time in UTC (`2026-03-30T07:00`)."""
    return datetime.fromisoformat(text).replace(tzinfo=UTC).timestamp()


class Clock:
    """A clock the test moves."""

    def __init__(self, now: float) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


class SavedExports:
    """Saved exports in memory (`SavedExportStore`)."""

    def __init__(self) -> None:
        self.saved: dict[tuple[str, str], SavedExport] = {}

    def put(self, name: str, fields: dict[str, str], owner: str = ALICE.user_id) -> None:
        self.saved["T1", name] = SavedExport("T1", name, owner, fields, 0.0)

    async def save(self, saved: SavedExport) -> bool:
        self.saved[saved.team_id, saved.name] = saved
        return True

    async def get(self, team_id: str, name: str) -> SavedExport | None:
        return self.saved.get((team_id, name))

    async def in_team(self, team_id: str, owner_id: str | None = None) -> list[SavedExport]:
        return [s for (t, _), s in sorted(self.saved.items()) if t == team_id]

    async def forget(self, team_id: str, name: str) -> bool:
        return self.saved.pop((team_id, name), None) is not None


class Groups:
    """User groups whose members the test changes."""

    def __init__(self, members: set[str]) -> None:
        self.members_of = {GROUP: members}
        self.down = False  # Slack's usergroups.users.list failing (an outage)

    async def members(self, usergroup_id: str) -> frozenset[str]:
        if self.down:
            raise DirectoryUnavailable("Slack unavailable", passing=True)
        return frozenset(self.members_of.get(usergroup_id, set()))


@dataclass
class Hss:
    """Counts the export tasks it creates (shared by every bot process of a test)."""

    created: list[ExportRequest] = field(default_factory=list)
    ids: Any = field(default_factory=lambda: itertools.count(1))

    async def create_export_task(self, request: ExportRequest) -> CreatedTask:
        self.created.append(request)
        return CreatedTask(f"task-{next(self.ids)}", "req")

    async def get_export_task(
        self, task_id: str, enterprise_project_id: str | None = None
    ) -> TaskStatus:
        raise AssertionError("not polled here")

    def download(
        self, file_id: str, enterprise_project_id: str | None = None
    ) -> AbstractAsyncContextManager[AsyncIterator[bytes]]:
        raise AssertionError("not downloaded here")

    async def aclose(self) -> None:
        return None


@dataclass
class Slack:
    """What the bot said: (channel or user id, text), in order."""

    said: list[tuple[str, str]] = field(default_factory=list)

    async def post_in_channel(
        self, channel_id: str, message: Message, extra: dict[str, Any]
    ) -> Announcement | None:
        self.said.append((channel_id, message.text))
        return Announcement(channel_id, f"{len(self.said)}.0")

    async def export_submitted(
        self, reply: ReplyTo, actor: Actor, request: ExportRequest, result: Submitted
    ) -> Announcement | None:
        return await self.post_in_channel(
            reply.channel_id, Message(f"task {result.task.task_id}"), {}
        )

    async def export_failed(self, reply: ReplyTo, actor: Actor, result: Failed) -> None:
        await self.post_in_channel(reply.channel_id, Message(f"failed {result.error}"), {})

    def to(self, where: str) -> list[str]:
        return [text for channel, text in self.said if channel == where]


class Zones:
    """users.info's zones: user id -> IANA name."""

    def __init__(self, zones: dict[str, str] | None = None) -> None:
        self.zones = zones or {}

    async def zone_of(self, user_id: str) -> str | None:
        return self.zones.get(user_id)


@dataclass
class World:
    """What the bot processes of one test share: the database, HSS, Slack, the clock."""

    url: str
    clock: Clock
    saved: SavedExports = field(default_factory=SavedExports)
    groups: Groups = field(default_factory=lambda: Groups({ALICE.user_id, BOB.user_id}))
    hss: Hss = field(default_factory=Hss)
    slack: Slack = field(default_factory=Slack)
    zones: Zones = field(default_factory=Zones)
    limits: ScheduleLimits = field(default_factory=ScheduleLimits)
    approvals: ApprovalPolicy = field(default_factory=ApprovalPolicy)
    _closers: list[Any] = field(default_factory=list)

    async def bot(self) -> Bot:
        """Start one bot process's objects on the shared database."""
        store = await open_schedule_store(self.url)
        audit = await open_audit_log(self.url)
        self._closers += [store.aclose, audit.aclose]
        gate = Gatekeeper(
            AccessControl(
                AccessPolicy(usergroups=frozenset({GROUP})), self.groups, approvals=self.approvals
            ),
            audit,
        )
        exports = ExportService(self.hss, audit, self.slack)
        defaults = RequestDefaults(enterprise_project_id="0")
        service = ScheduleService(
            store, self.saved, audit, gate, self.zones, defaults=defaults, limits=self.limits,
            clock=self.clock,
        )  # fmt: skip
        runs = ScheduleRuns(
            store, self.saved, audit, gate, self.slack, defaults=defaults, clock=self.clock,
            exports=exports,
        )  # fmt: skip
        return Bot(store, audit, service, runs)

    async def aclose(self) -> None:
        for close in reversed(self._closers):
            await close()


@dataclass
class Bot:
    """One bot process: its stores (own connections), the use case and the due work."""

    store: SqlScheduleStore
    audit: SqlAuditLog
    service: ScheduleService
    runs: ScheduleRuns
