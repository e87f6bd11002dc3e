"""Run schedules when they come due: due work of the one lease worker (`DueWork`).

Each claimed schedule runs at most one due time per claim, in this order, each
step on record before the next:
1. The due time: the latest one not after now (`catch_up`). After downtime the
   missed ones but the latest are dropped (one late run, said in the channel,
   never a burst); the next due time comes after now.
2. `start_run`: the (schedule, due time) row. A second replica, or this one
   after the clock stepped back, finds it and does nothing. A row left
   unfinished by a crash is taken over, and the export's dedupe key
   `schedule:{id}:{due}` makes the audit log refuse a second export.
3. The saved export is built again from today's grammar, then passes the same
   gate as a typed command, as the owner in the schedule's channel (global and
   profile lists), and the two-person rule (a schedule cannot wait for an
   approver). A refused run (access: `denied`; a saved export forgotten or
   whose stored fields no longer parse: `invalid`, naming the key; one that
   needs an approver) is audited, its owner told by DM; after
   `REFUSALS_BEFORE_PAUSE` refused runs in a row, of any kind, the schedule
   pauses itself, audited, and says so. A run refused only because Slack could
   not say in time whether the owner is in an allowed group (`undecided`) does
   not count: it is tried at the next due time.
4. The export runs through `ExportService.export` like a typed one, source
   `schedule`: audited with the saved export's and the schedule's names and
   the schedule's id (what its summaries compare and chart by), announced in
   the channel, followed by the tracker to its file and summary.
5. `finish_run`: the outcome, where the task was announced (the run's thread),
   the next due time, the lease given back.
"""

from __future__ import annotations

import logging
import time
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any, Final, Protocol
from zoneinfo import ZoneInfo

from bot.domain import schedule_messages as say
from bot.domain.blocks import Message
from bot.domain.errors import AuditUnavailable, InvalidCommand, Problem
from bot.domain.grammar import RequestDefaults
from bot.domain.grammar.presets import NAME_KEY
from bot.domain.model import ExportRequest
from bot.domain.saved import REFUSALS_BEFORE_PAUSE, RunOutcome, ScheduledExport, ScheduleRun
from bot.domain.schedules import Schedule, catch_up
from bot.domain.types import Actor, Announcement, Duplicate, Failed, ReplyTo, Submitted
from bot.ports import AuditLog, SavedExportStore, ScheduleStore
from bot.usecases.export import ExportService
from bot.usecases.refusal import Gatekeeper, Refused
from bot.usecases.schedules import Clock, saved_request

log = logging.getLogger(__name__)

# A run this long past its due time says it is late (the worker's naps are far shorter).
LATE_AFTER_SECONDS: Final = 600.0


class ChannelPoster(Protocol):
    """Posts a message in a channel, or to a user id's DM (`SlackNotifier`)."""

    async def post_in_channel(
        self, channel_id: str, message: Message, extra: dict[str, Any]
    ) -> Announcement | None:
        """Post; return where it landed, or None (logged) if Slack refused."""
        ...


def dedupe_key(schedule_id: str, due_at: float) -> str:
    """Return the audit dedupe key of one due time: one export per (schedule, due time)."""
    return f"schedule:{schedule_id}:{int(due_at)}"


class ScheduleRuns:
    """The due times of schedules, as due work (`bot.tracking.worker.DueWork`).

    `attach(exports)` gives it the export service once that is built: the
    service follows its tasks with the tracker whose lease loop runs this work.
    """

    kind: Final = "schedule_run"

    def __init__(  # noqa: PLR0913  the use case's collaborators, wired once in bootstrap
        self,
        store: ScheduleStore,
        saved: SavedExportStore,
        audit: AuditLog,
        gate: Gatekeeper,
        poster: ChannelPoster,
        *,
        defaults: RequestDefaults,
        clock: Clock = time.time,
        exports: ExportService | None = None,
    ) -> None:
        self._store = store
        self._saved = saved
        self._audit = audit
        self._gate = gate
        self._poster = poster
        self._defaults = defaults
        self._clock = clock
        self._exports = exports

    def attach(self, exports: ExportService) -> None:
        """Run exports through `exports` (built after the tracker that runs this work)."""
        self._exports = exports

    async def claim_due(
        self, owner: str, now: float, lease_seconds: float, limit: int
    ) -> list[ScheduledExport]:
        """Lease unpaused schedules whose next due time has come."""
        if self._exports is None:
            return []
        return await self._store.claim_due(owner, now, lease_seconds, limit)

    def key(self, item: ScheduledExport) -> str:
        """The unique key of this work: the schedule id."""
        return item.id

    async def release(self, owner: str, keys: list[str]) -> None:
        """Give the leases back (a worker stopping)."""
        await self._store.release(owner, keys)

    async def run_once(self, owner: str, *, limit: int = 20, lease_seconds: float = 60) -> int:
        """Claim what is due now and run it; return how many schedules (tests, the demo)."""
        claimed = await self.claim_due(owner, self._clock(), lease_seconds, limit)
        for item in claimed:
            await self.handle(item, owner)
        return len(claimed)

    async def handle(self, item: ScheduledExport, owner: str) -> None:
        """Run the claimed schedule's due time once (see the module's steps)."""
        now = self._clock()
        spec = Schedule(item.cron, item.tz, item.summary)
        tz = ZoneInfo(item.tz)
        floor = _at(item.next_due_at) - timedelta(seconds=1)
        due_now, upcoming = catch_up(spec, floor, _at(now), tz)
        if due_now is None:  # claimed early (a clock that stepped back): nothing to run yet
            await self._store.move_on(item.id, owner, upcoming.timestamp())
            return
        due = due_now.timestamp()
        late = now - due >= LATE_AFTER_SECONDS
        run = ScheduleRun(item.id, due, now, late=late, channel_id=item.channel_id)
        if not await self._store.start_run(run, owner):
            log.info("schedule run already taken", extra={"schedule": item.name, "due_at": due})
            await self._store.move_on(item.id, owner, upcoming.timestamp())
            return
        if late:
            await self._poster.post_in_channel(
                item.channel_id, say.run_late(item, due, now), {"what": "schedule"}
            )
        run, refusals, paused = await self._run(item, run)
        await self._store.finish_run(
            run,
            owner,
            claimed_due_at=item.next_due_at,
            next_due_at=upcoming.timestamp(),
            refusals=refusals,
            paused=paused,
        )
        log.info(
            "schedule ran",
            extra={"schedule": item.name, "outcome": run.outcome, "late": late},
        )

    async def _run(self, item: ScheduledExport, run: ScheduleRun) -> tuple[ScheduleRun, int, bool]:
        """Build, gate and export; return the finished run, the refusals in a row, paused."""
        actor = Actor(item.team_id, item.owner_id, item.channel_id, "schedule")
        saved = await self._saved.get(item.team_id, item.name)
        try:
            if saved is None:
                raise InvalidCommand([_forgotten(item.name)])
            request = saved_request(saved, self._defaults, schedule=item.name, schedule_id=item.id)
        except InvalidCommand as exc:
            # Access first, as for a typed command; then the stored fields' problems.
            verdict = await self._gate.admit(actor, invalid=exc)
        else:
            verdict = await self._gate.admit(actor, request=request)
        if isinstance(verdict, ExportRequest):  # the two-person rule may hold it since
            verdict = self._gate.held_back(verdict, say.cannot_wait(item.name)) or verdict
        if isinstance(verdict, Refused):
            named = replace(verdict, saved_export=item.name, schedule=item.name)
            return await self._refused(item, run, actor, named)
        assert verdict is not None  # a request in, a request out when admitted
        assert self._exports is not None  # claim_due claims nothing before `attach`
        result = await self._exports.export(
            actor, verdict, ReplyTo(item.channel_id), dedupe_key=dedupe_key(item.id, run.due_at)
        )
        if isinstance(result, Duplicate):
            # Only a run taken over after a crash meets its own key again: the first
            # attempt's entry stands (it may or may not have reached HSS), so say so.
            notice = say.run_interrupted(item, run.due_at, result.entry_id)
            await self._poster.post_in_channel(item.channel_id, notice, {"what": "schedule"})
        return _finished(run, result), 0, False

    async def _refused(
        self, item: ScheduledExport, run: ScheduleRun, actor: Actor, refused: Refused
    ) -> tuple[ScheduleRun, int, bool]:
        entry_id = await self._gate.record(actor, refused)
        why = str(refused.error)
        if refused.undecided:  # Slack did not answer in time: no verdict on the owner's access
            await self._poster.post_in_channel(
                item.owner_id, say.run_undecided(item, why), {"what": "schedule"}
            )
            return (
                replace(run, outcome="refused", entry_id=entry_id, error=why),
                item.refusals,
                False,
            )
        refusals = item.refusals + 1
        paused = refusals >= REFUSALS_BEFORE_PAUSE
        if paused:
            detail = f"paused itself after {refusals} refused runs in a row"
            try:
                await self._audit.record_change(
                    actor, "paused", saved_export=item.name, schedule=item.name, detail=detail
                )
            except AuditUnavailable:
                log.error("schedule pause not recorded", extra={"schedule": item.name})
        message = say.run_refused(item, why, refusals, paused=paused)
        # chat.postMessage to a user id lands in their DM with the app.
        await self._poster.post_in_channel(item.owner_id, message, {"what": "schedule"})
        outcome: RunOutcome = "invalid" if refused.outcome == "invalid" else "refused"
        return replace(run, outcome=outcome, entry_id=entry_id, error=why), refusals, paused


def _forgotten(name: str) -> Problem:
    """The problem of a schedule whose saved export was forgotten since."""
    return Problem(
        NAME_KEY,
        name,
        "a saved export of this workspace",
        f"`{name}` was forgotten: save it again, or `unschedule {name}`",
    )


def _finished(run: ScheduleRun, result: Submitted | Failed | Duplicate) -> ScheduleRun:
    match result:
        case Submitted(entry_id=entry_id, task=task, announced=announced):
            done = replace(run, outcome="submitted", entry_id=entry_id, task_id=task.task_id)
            if announced is None:  # Slack took no announcement: no thread to link
                return done
            # Where the task was announced: its thread holds the file, summary and chart.
            return replace(done, channel_id=announced.channel_id, thread_ts=announced.ts)
        case Failed(entry_id=entry_id, error=error):
            return replace(run, outcome="failed", entry_id=entry_id, error=str(error))
        case Duplicate(entry_id=entry_id):
            return replace(run, outcome="duplicate", entry_id=entry_id)


def _at(timestamp: float) -> datetime:
    return datetime.fromtimestamp(timestamp, UTC)
