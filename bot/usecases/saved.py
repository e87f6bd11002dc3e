"""Saved exports (issue 15): save, list, run and forget a workspace's presets, audited.

`SavedExports` is what the slash command (`save`, `run`, `saved`, `forget`) and
the App Home's buttons (Run now, Forget) call, with plain values: no Slack
payload reaches it. A saved export keeps the fields as typed; `save` checks
them at once with the export's own grammar and gate, and `run` builds them
again (overrides on top) and takes exactly the path of a typed export: the
gate with the profile's allow lists, then `route` (held for an approver,
asked to confirm, or run), deduplicated by the caller's key, each entry
naming the saved export. Every refusal is on record before it is answered
(said in Slack's ack, through a `Reply`, by its deadline, as a typed command's).

A change reaches the store first and the audit log second; if the log cannot
take it, the change is undone, so nothing is saved or forgotten off the record.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, replace
from typing import Protocol

from bot.domain import blocks, saved_messages
from bot.domain.blocks import Message
from bot.domain.errors import (
    AccessDenied,
    AuditUnavailable,
    DuplicateCommand,
    InvalidCommand,
    SavedExportStoreUnavailable,
    ScheduleStoreUnavailable,
)
from bot.domain.grammar import NAME_KEY, Clock, RequestDefaults, export_from_fields
from bot.domain.grammar.fields import PROFILE_KEY
from bot.domain.grammar.request import utc_now
from bot.domain.model import ExportRequest
from bot.domain.saved import SavedExport, ScheduledExport, name_problem
from bot.domain.types import Actor, ReplyTo
from bot.ports import AuditLog, SavedExportStore, ScheduleStore
from bot.usecases.refusal import Gatekeeper, Refused, Reply

log = logging.getLogger(__name__)

Answer = Callable[[Message | None], Awaitable[None]]
Tell = Callable[[ReplyTo, Actor, Message], Awaitable[None]]


class Route(Protocol):
    """Where an admitted export goes: held for an approver, asked to confirm, or run.

    The Slack app's `route_export`: `answer(message | None)` is called first (None:
    the export runs, say "requested"); `confirm_text` None means already confirmed.
    """

    async def __call__(  # noqa: PLR0913  keyword-only: how to dedupe, answer and confirm
        self,
        actor: Actor,
        request: ExportRequest,
        reply: ReplyTo,
        *,
        dedupe_key: str,
        answer: Answer,
        confirm_text: str | None = None,
    ) -> None: ...


@dataclass(frozen=True)
class Changed:
    """What came of `save` or `forget`: done (or done by the same click before), the audit entry."""

    ok: bool
    message: Message
    entry_id: int | None = None


@dataclass(frozen=True)
class Ready:
    """A saved export that may run: its request (bound to its profile), and `confirm=yes`."""

    request: ExportRequest
    confirmed: bool = False


class SavedExports:
    """Save, list, run and forget the saved exports of a workspace."""

    def __init__(  # noqa: PLR0913  keyword-only settings after the collaborators
        self,
        store: SavedExportStore,
        gate: Gatekeeper,
        audit: AuditLog,
        route: Route,
        tell: Tell,
        *,
        defaults: RequestDefaults | None = None,
        clock: Clock = utc_now,
        command: str = "/hss-export",
        schedules: ScheduleStore | None = None,
    ) -> None:
        self._store = store
        self._schedules = schedules
        self._gate = gate
        self._audit = audit
        self._route = route
        self._tell = tell
        self._defaults = defaults or RequestDefaults()
        self._clock = clock
        self._command = command

    # --- save, list, forget -------------------------------------------------------------

    async def save(
        self,
        actor: Actor,
        name: str,
        fields: Mapping[str, str],
        *,
        dedupe_key: str | None = None,
        reply: Reply | None = None,
    ) -> Changed:
        """Check the fields now (grammar, access, profile), then keep them as NAME, audited.

        Over another user's NAME it is refused, saying whose it is; over the
        caller's own it replaces the fields. With several profiles and no
        `profile=`, the profile the gate chose here is kept as `profile=`, so the
        saved export goes to the same HSS account wherever it runs (a DM, a schedule).
        """
        verdict = await self._admit(actor, name, fields)
        if isinstance(verdict, Refused):
            return Changed(False, await self._gate.refuse(actor, verdict, reply))
        fields = self._pinned(fields, verdict.request)
        try:
            previous = await self._store.get(actor.team_id, name)
            if previous is not None and previous.owner_id != actor.user_id:
                return await self._not_yours(actor, previous, "replace", verdict.request, reply)
            saved = SavedExport(
                actor.team_id, name, actor.user_id, dict(fields), self._clock().timestamp()
            )
            if not await self._store.save(saved):  # saved by someone else meanwhile
                taken = await self._store.get(actor.team_id, name)
                owner = saved if taken is None else taken
                return await self._not_yours(actor, owner, "replace", verdict.request, reply)
        except SavedExportStoreUnavailable as exc:
            return Changed(False, blocks.unavailable(f"save `{name}`", exc))
        try:
            entry_id = await self._audit.record_change(
                actor,
                "saved",
                saved_export=name,
                request=verdict.request.as_audit_record(),
                detail=saved_messages.fields_text(fields),
                dedupe_key=dedupe_key,
            )
        except (AuditUnavailable, DuplicateCommand) as exc:
            await self._undo(saved, previous)
            return self._unrecorded(f"save `{name}`", exc)
        message = saved_messages.saved_done(
            saved, replaced=previous is not None, command=self._command
        )
        return Changed(True, message, entry_id)

    async def in_team(self, actor: Actor) -> list[SavedExport]:
        """Return the workspace's saved exports, by name (the caller's and everyone's)."""
        return await self._store.in_team(actor.team_id)

    async def owned(self, actor: Actor) -> list[SavedExport]:
        """Return the caller's own saved exports, by name (the App Home lists these)."""
        return await self._store.in_team(actor.team_id, actor.user_id)

    async def listing(self, actor: Actor) -> Message:
        """Render `saved`: the workspace's saved exports, or why they cannot be read."""
        try:
            items = await self.in_team(actor)
        except SavedExportStoreUnavailable as exc:
            return blocks.unavailable("read the saved exports", exc)
        return saved_messages.saved_list(items, command=self._command)

    async def forget(  # noqa: PLR0911  one return per outcome
        self, actor: Actor, name: str, *, dedupe_key: str | None = None, reply: Reply | None = None
    ) -> Changed:
        """Delete the caller's saved export NAME, audited `forgotten`; only its owner may.

        NAME gone and `dedupe_key` on record already (a double click): already done,
        and no refusal on record.
        """
        try:
            saved = await self._store.get(actor.team_id, name)
            if saved is None and dedupe_key and await self._audit.entry_with_key(dedupe_key):
                return Changed(True, saved_messages.already_done(f"forget `{name}`"))
            verdict = await self._gate.admit(
                actor, invalid=None if saved else await self._unknown(actor, name)
            )
            if isinstance(verdict, Refused):
                refused = replace(verdict, saved_export=saved_messages.recordable(name))
                return Changed(False, await self._gate.refuse(actor, refused, reply))
            assert saved is not None  # an unknown name was refused just above
            if saved.owner_id != actor.user_id:
                return await self._not_yours(actor, saved, "forget", None, reply)
            if not await self._store.forget(actor.team_id, name):
                return Changed(True, saved_messages.forgotten(name))  # a double click
        except SavedExportStoreUnavailable as exc:
            return Changed(False, blocks.unavailable(f"forget `{name}`", exc))
        try:
            entry_id = await self._audit.record_change(
                actor,
                "forgotten",
                saved_export=name,
                detail=saved_messages.fields_text(saved.fields),
                dedupe_key=dedupe_key,
            )
        except (AuditUnavailable, DuplicateCommand) as exc:
            await self._undo(None, saved)
            return self._unrecorded(f"forget `{name}`", exc)
        unscheduled = await self._unschedule(actor, name)
        return Changed(True, saved_messages.forgotten(name, unscheduled=unscheduled), entry_id)

    # --- run ----------------------------------------------------------------------------

    async def run(  # noqa: PLR0913  keyword-only: how to answer and confirm
        self,
        actor: Actor,
        name: str,
        overrides: Mapping[str, str],
        reply: ReplyTo,
        dedupe_key: str,
        *,
        answer: Answer | None = None,
        deadline: float | None = None,
        confirmed: bool = False,
        confirm_text: str | None = None,
    ) -> Ready | Refused | None:
        """Run saved export NAME (`overrides` replacing its fields) as a typed export runs.

        `answer(message | None)` is told first (the slash command's ack; a refusal by
        `deadline`); without it, the caller through `tell`. `confirm_text`: the command a
        Confirm button re-runs when a broad export asks first (None: no asking).
        Return what was routed, the refusal (already on record and answered), or
        None when the saved exports could not be read (answered too).
        """
        answer = answer or self._telling(reply, actor)
        try:
            prepared = await self.prepare(actor, name, overrides)
        except SavedExportStoreUnavailable as exc:
            log.error("saved export not read", extra={"error_type": type(exc).__name__})
            await answer(blocks.unavailable(f"run `{name}`", exc))
            return None
        if isinstance(prepared, Refused):
            await self._gate.refuse(actor, prepared, Reply(answer, deadline))
            return prepared
        asks = None if confirmed or prepared.confirmed else confirm_text
        await self._route(
            actor,
            prepared.request,
            reply,
            dedupe_key=dedupe_key,
            answer=answer,
            confirm_text=asks,
        )
        return prepared

    async def prepare(
        self, actor: Actor, name: str, overrides: Mapping[str, str] | None = None
    ) -> Ready | Refused:
        """Build NAME's request now and pass it through the gate; nothing is recorded yet.

        Run in the channel NAME's schedule runs in with no key added (Run now of
        a scheduled saved export, `run NAME` typed there), it is one of that
        schedule's runs: the request names the schedule and its id, so "what
        changed" compares it with the schedule's last run and it counts in the
        schedule's chart. A refusal (access, an unknown NAME, stored fields that
        no longer parse) names NAME (and that schedule); `record_refusal` puts it
        on record. Raise `SavedExportStoreUnavailable` when the saved exports
        cannot be read.
        """
        saved = await self._store.get(actor.team_id, name)
        verdict: Ready | Refused | ExportRequest | None
        if saved is None:
            verdict = await self._gate.admit(actor, invalid=await self._unknown(actor, name))
        else:
            overrides = dict(overrides or {})
            verdict = await self._admit(actor, name, {**saved.fields, **overrides}, overrides)
        schedule = None if overrides or saved is None else await self._schedule_here(actor, name)
        named = None if schedule is None else schedule.name
        if isinstance(verdict, Refused):
            return replace(verdict, saved_export=saved_messages.recordable(name), schedule=named)
        assert isinstance(verdict, Ready)
        runs = {"schedule": named, "schedule_id": None if schedule is None else schedule.id}
        return Ready(verdict.request.model_copy(update=runs), verdict.confirmed)

    async def record_refusal(self, actor: Actor, refused: Refused) -> int | None:
        """Put a refusal of `prepare` on record (for callers that answer it their own way)."""
        return await self._gate.record(actor, refused)

    # --- internals ----------------------------------------------------------------------

    async def _admit(
        self,
        actor: Actor,
        name: str,
        fields: Mapping[str, str],
        overrides: Mapping[str, str] | None = None,
    ) -> Ready | Refused:
        """Build the fields with the export's grammar, then the gate (access, the profile)."""
        problem = name_problem(NAME_KEY, name)
        try:
            if problem is not None:
                raise InvalidCommand([problem])
            export = export_from_fields(fields, self._defaults, clock=self._clock)
        except InvalidCommand as exc:
            invalid = exc if overrides is None else saved_messages.stale(name, exc, overrides)
            verdict = await self._gate.admit(actor, invalid=invalid)
            assert isinstance(verdict, Refused)  # the gate refuses an invalid command
            return replace(verdict, saved_export=saved_messages.recordable(name))
        request = export.request.model_copy(update={"saved_export": name})
        admitted = await self._gate.admit(actor, request=request)
        if isinstance(admitted, Refused):
            return replace(admitted, saved_export=name)
        assert admitted is not None  # a request in, a request (or a refusal) out
        return Ready(admitted, export.confirmed)

    def _pinned(self, fields: Mapping[str, str], request: ExportRequest) -> Mapping[str, str]:
        """Return the fields with the request's profile as `profile=`, when it needs pinning."""
        if PROFILE_KEY in fields or request.profile is None or not self._gate.several_profiles:
            return fields
        return {**fields, PROFILE_KEY: request.profile}

    async def _unknown(self, actor: Actor, name: str) -> InvalidCommand:
        names = [s.name for s in await self._store.in_team(actor.team_id)]
        return InvalidCommand([saved_messages.unknown_name(name, names)])

    async def _not_yours(
        self,
        actor: Actor,
        saved: SavedExport,
        action: str,
        request: ExportRequest | None,
        reply: Reply | None,
    ) -> Changed:
        reason = saved_messages.not_yours(saved.name, saved.owner_id, action)
        refused = Refused("denied", AccessDenied(reason), request, saved_export=saved.name)
        why = saved_messages.not_yours_message(saved.name, saved.owner_id, action)
        return Changed(False, await self._gate.refuse(actor, refused, reply, why))

    async def _schedule_here(self, actor: Actor, name: str) -> ScheduledExport | None:
        """Return NAME's schedule if it runs in the actor's channel; None (logged) if unread."""
        try:
            found = await self._schedules.get(actor.team_id, name) if self._schedules else None
        except ScheduleStoreUnavailable:
            log.warning("schedule not read: the run is compared by its filters")
            return None
        return found if found is not None and found.channel_id == actor.channel_id else None

    async def _unschedule(self, actor: Actor, name: str) -> bool:
        """Delete the forgotten NAME's schedule, audited `unscheduled`; True if there was one.

        A schedule of a saved export that is gone would post nothing but refusals.
        """
        if self._schedules is None:
            return False
        try:
            schedule = await self._schedules.get(actor.team_id, name)
            if schedule is None or not await self._schedules.delete(schedule.id):
                return False
        except ScheduleStoreUnavailable:
            log.error("the forgotten saved export's schedule was not deleted")
            return False
        try:
            await self._audit.record_change(
                actor,
                "unscheduled",
                saved_export=name,
                schedule=name,
                detail="its saved export was forgotten",
            )
        except AuditUnavailable:
            log.error("schedule change not recorded", extra={"change": "unscheduled"})
        return True

    async def _undo(self, written: SavedExport | None, previous: SavedExport | None) -> None:
        """Put the store back as it was before an unrecorded change (best effort, logged)."""
        try:
            if previous is not None:
                await self._store.save(previous)
            elif written is not None:
                await self._store.forget(written.team_id, written.name)
        except SavedExportStoreUnavailable:
            log.error("saved export change not undone after the audit log refused it")

    def _unrecorded(self, action: str, exc: AuditUnavailable | DuplicateCommand) -> Changed:
        if isinstance(exc, DuplicateCommand):  # the same click again: the first one did it
            return Changed(True, saved_messages.already_done(action))
        return Changed(False, blocks.unavailable(action, exc))

    def _telling(self, reply: ReplyTo, actor: Actor) -> Answer:
        async def answer(message: Message | None) -> None:
            await self._tell(reply, actor, message or blocks.requested())

        return answer
