"""Manage schedules of saved exports: schedule, list, pause, resume, unschedule.

The slash command and the App Home's buttons call the same methods, with an
`Actor` and a NAME: no Slack payload reaches this module. A schedule is made
in the channel where it is typed, for a saved export that exists, whose fields
parse today and pass access now (the same gate as a typed export, profile
lists included), need no approver (a schedule cannot wait for one), within
SCHEDULES_PER_USER and SCHEDULE_MIN_INTERVAL_MINUTES.
Its zone is `tz=`, else the owner's Slack zone, else SCHEDULE_DEFAULT_TZ,
resolved once and stored. Only the saved export's owner schedules it; only the
schedule's owner pauses, resumes or unschedules it. Access is checked here, for
the slash command and the App Home alike: resuming needs access in the
schedule's channel (it exports again); pausing and deleting one's own schedule
need none (stopping is never dangerous, and an owner who lost access to the
channel must still be able to stop it). Anyone else is checked where they are.
Every change is audited (`record_change`), every refusal too (with the NAME),
and a change that changes nothing (a double click) is answered, not audited twice.
"""

from __future__ import annotations

import logging
import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from typing import Final, Literal
from zoneinfo import ZoneInfo

from bot.domain import blocks, saved_messages
from bot.domain import schedule_messages as say
from bot.domain.blocks import Message
from bot.domain.errors import AuditUnavailable, DuplicateCommand, InvalidCommand, Problem
from bot.domain.grammar import NAME_KEY, RequestDefaults
from bot.domain.grammar.commands import export_from_fields
from bot.domain.model import ExportRequest
from bot.domain.saved import SavedExport, ScheduledExport
from bot.domain.schedules import Schedule, interval_problem, next_due, resolve_tz
from bot.domain.types import Actor, Change
from bot.ports import AuditLog, SavedExportStore, ScheduleStore, UserZones
from bot.usecases.refusal import Gatekeeper, Refused, refusal_message

log = logging.getLogger(__name__)

Clock = Callable[[], float]
NOT_YOURS: Final = "Only its owner, <@{owner}>, may change schedule `{name}`."
NOT_YOUR_SAVED: Final = (
    "The saved export `{name}` belongs to <@{owner}>: only they can schedule it. "
    "Save your own copy under another name (`save NAME key=value …`) and schedule that."
)


@dataclass(frozen=True)
class ScheduleLimits:
    """SCHEDULE_MIN_INTERVAL_MINUTES, SCHEDULES_PER_USER and SCHEDULE_DEFAULT_TZ."""

    min_interval_minutes: int = 60
    per_user: int = 10
    default_tz: str = "UTC"


@dataclass(frozen=True)
class ScheduleAnswer:
    """What to tell the user; `ok` False for a refusal; the schedule as it now is, if any."""

    ok: bool
    message: Message
    schedule: ScheduledExport | None = None


def new_schedule_id() -> str:
    """Return an unguessable schedule id (it appears in dedupe keys and Home buttons)."""
    return secrets.token_urlsafe(18)


def saved_request(
    saved: SavedExport,
    defaults: RequestDefaults,
    *,
    schedule: str | None = None,
    schedule_id: str | None = None,
) -> ExportRequest:
    """Build the request a saved export stands for, from today's grammar; `InvalidCommand` if not.

    The grammar of `run NAME` (`export_from_fields`), so a saved export schedules
    exactly as it runs; each problem names the stored key and says to save it
    again (`saved_messages.stale`). The request carries the saved export's name
    (and the schedule's name and id), which the audit entry records inside the chain.
    """
    try:
        export = export_from_fields(saved.fields, defaults)
    except InvalidCommand as exc:
        raise saved_messages.stale(saved.name, exc, {}) from None
    update = {"saved_export": saved.name, "schedule": schedule, "schedule_id": schedule_id}
    return export.request.model_copy(update=update)


class ScheduleService:
    """Make, list, pause, resume and delete schedules; audit each change and refusal."""

    def __init__(  # noqa: PLR0913  the use case's collaborators, wired once in bootstrap
        self,
        store: ScheduleStore,
        saved: SavedExportStore,
        audit: AuditLog,
        gate: Gatekeeper,
        zones: UserZones,
        *,
        defaults: RequestDefaults,
        limits: ScheduleLimits,
        clock: Clock = time.time,
        new_id: Callable[[], str] = new_schedule_id,
    ) -> None:
        self._store = store
        self._saved = saved
        self._audit = audit
        self._gate = gate
        self._zones = zones
        self._defaults = defaults
        self._limits = limits
        self._clock = clock
        self._new_id = new_id

    async def schedule(self, actor: Actor, name: str, spec: Schedule) -> ScheduleAnswer:  # noqa: PLR0911  one return per refusal
        """Schedule saved export `name` in the actor's channel; refuse, audited, saying why."""
        saved = await self._saved.get(actor.team_id, name)
        if saved is None:
            problem = Problem(NAME_KEY, name, "the name of a saved export", "see `saved`")
            return await self._invalid(actor, name, problem)
        if saved.owner_id != actor.user_id:
            why = NOT_YOUR_SAVED.format(name=name, owner=saved.owner_id)
            await self._refusal(actor, "denied", why, name)
            return ScheduleAnswer(False, say.plain(f":no_entry: {why}"))
        try:
            request = saved_request(saved, self._defaults, schedule=name)
        except InvalidCommand as exc:
            return await self._invalid(actor, name, *exc.problems)
        verdict = await self._gate.admit(actor, request=request)
        if isinstance(verdict, ExportRequest):
            verdict = self._gate.held_back(verdict, say.cannot_wait(name)) or verdict
        if isinstance(verdict, Refused):
            await self._gate.record(actor, verdict)
            return ScheduleAnswer(False, refusal_message(verdict))
        owned = await self._store.count_owned(actor.team_id, actor.user_id)
        if owned >= self._limits.per_user:
            problem = Problem(
                "schedule",
                name,
                f"at most {self._limits.per_user} schedules per user (SCHEDULES_PER_USER)",
                f"you have {owned}: `unschedule NAME` one first",
            )
            return await self._invalid(actor, name, problem)
        owner_tz = await self._zones.zone_of(actor.user_id) if spec.tz is None else None
        zone = resolve_tz(spec.tz, owner_tz, self._limits.default_tz)
        tz = ZoneInfo(zone.name)
        too_often = interval_problem(spec, self._limits.min_interval_minutes)
        if too_often is not None:
            return await self._invalid(actor, name, too_often)
        now = self._clock()
        schedule = ScheduledExport(
            id=self._new_id(),
            team_id=actor.team_id,
            name=name,
            owner_id=actor.user_id,
            channel_id=actor.channel_id,
            cron=spec.cron,
            tz=zone.name,
            summary=spec.summary,
            next_due_at=next_due(spec, _at(now), tz).timestamp(),
            created_at=now,
        )
        if not await self._store.add(schedule):
            problem = Problem(
                NAME_KEY,
                name,
                "a saved export that is not scheduled yet",
                f"`{name}` is scheduled already: `unschedule {name}` first",
            )
            return await self._invalid(actor, name, problem)
        await self._record(actor, "scheduled", name, f'cron "{spec.cron}" in {zone.name}')
        return ScheduleAnswer(True, say.scheduled(schedule, zone.source), schedule)

    async def list_in_team(self, actor: Actor) -> list[ScheduledExport]:
        """Return the workspace's schedules (`schedules`), by name."""
        return await self._store.in_team(actor.team_id)

    async def list_for(self, actor: Actor) -> list[ScheduledExport]:
        """Return the actor's own schedules (their App Home), by name."""
        return await self._store.in_team(actor.team_id, actor.user_id)

    async def pause(self, actor: Actor, name: str, dedupe_key: str | None = None) -> ScheduleAnswer:
        """Pause the actor's schedule `name`; pausing a paused one changes nothing."""
        found = await self._owned(actor, name, dedupe_key, stopping=True)
        if isinstance(found, ScheduleAnswer):
            return found
        if not await self._store.set_paused(found.id, True):
            return ScheduleAnswer(True, say.changed(name, "is paused already"), found)
        await self._record(actor, "paused", name, dedupe_key=dedupe_key)
        now = await self._store.by_id(found.id)
        return ScheduleAnswer(True, say.changed(name, "paused: it runs again on `resume`"), now)

    async def resume(
        self, actor: Actor, name: str, dedupe_key: str | None = None
    ) -> ScheduleAnswer:
        """Resume the actor's schedule `name` from its next due time (missed runs are not run)."""
        found = await self._owned(actor, name, dedupe_key)
        if isinstance(found, ScheduleAnswer):
            return found
        spec = Schedule(found.cron, found.tz, found.summary)
        upcoming = next_due(spec, _at(self._clock()), ZoneInfo(found.tz)).timestamp()
        if not await self._store.set_paused(found.id, False, next_due_at=upcoming):
            return ScheduleAnswer(True, say.changed(name, "is running already"), found)
        await self._record(actor, "resumed", name, dedupe_key=dedupe_key)
        now = await self._store.by_id(found.id)
        return ScheduleAnswer(True, say.changed(name, "resumed", now), now)

    async def delete(
        self, actor: Actor, name: str, dedupe_key: str | None = None
    ) -> ScheduleAnswer:
        """Delete the actor's schedule `name` (the saved export stays)."""
        found = await self._owned(actor, name, dedupe_key, stopping=True)
        if isinstance(found, ScheduleAnswer):
            return found
        if not await self._store.delete(found.id):
            return ScheduleAnswer(True, say.changed(name, "is gone already"))
        await self._record(actor, "unscheduled", name, dedupe_key=dedupe_key)
        return ScheduleAnswer(True, say.changed(name, "deleted; the saved export stays"))

    # --- internals ----------------------------------------------------------------------

    async def _owned(
        self, actor: Actor, name: str, dedupe_key: str | None, *, stopping: bool = False
    ) -> ScheduledExport | ScheduleAnswer:
        """Return the schedule if the actor owns it and may change it; else the refusal, audited.

        The owner stopping their own schedule needs no access; the owner resuming it
        needs access in its channel; anyone else, access where they are (who may not
        export learns nothing about the schedules). A schedule gone with `dedupe_key` on
        record already (a double click on Delete) is answered, with no refusal on record.
        """
        found = await self._store.get(actor.team_id, name)
        mine = found is not None and found.owner_id == actor.user_id
        if not (mine and stopping):
            here = replace(actor, channel_id=found.channel_id) if found and mine else actor
            refused = await self._gate.check(here)
            if refused is not None:
                await self._gate.record(here, replace(refused, saved_export=name, schedule=name))
                return ScheduleAnswer(False, refusal_message(refused))
        if found is None:
            if dedupe_key and await self._audit.entry_with_key(dedupe_key):
                return ScheduleAnswer(True, say.changed(name, "is gone already"))
            problem = Problem(NAME_KEY, name, "the name of a schedule", "see `schedules`")
            return await self._invalid(actor, name, problem)
        if found.owner_id != actor.user_id:
            why = NOT_YOURS.format(owner=found.owner_id, name=name)
            await self._refusal(actor, "denied", why, name)
            return ScheduleAnswer(False, say.plain(f":no_entry: {why}"))
        return found

    async def _invalid(self, actor: Actor, name: str, *problems: Problem) -> ScheduleAnswer:
        error = InvalidCommand(list(problems))
        await self._refusal(actor, "invalid", str(error), name)
        return ScheduleAnswer(False, blocks.problems(error))

    async def _refusal(
        self, actor: Actor, outcome: Literal["invalid", "denied"], why: str, name: str
    ) -> None:
        try:
            await self._audit.record_refusal(
                actor, outcome, why, None, saved_export=name, schedule=name
            )
        except AuditUnavailable:
            log.error("schedule refusal not recorded", extra={"outcome": outcome})

    async def _record(
        self,
        actor: Actor,
        change: Change,
        name: str,
        detail: str | None = None,
        *,
        dedupe_key: str | None = None,
    ) -> None:
        try:
            await self._audit.record_change(
                actor,
                change,
                saved_export=name,
                schedule=name,
                detail=detail,
                dedupe_key=dedupe_key,
            )
        except AuditUnavailable:
            log.error("schedule change not recorded", extra={"change": change})
        except DuplicateCommand:  # the store made the change once; the key was used before
            log.warning("schedule change under a used key", extra={"change": change})


def _at(timestamp: float) -> datetime:
    return datetime.fromtimestamp(timestamp, UTC)
