"""What the use cases need from the outside world, as protocols.

Adapters (`bot/adapters/`) implement these; tests may pass hand-written fakes.
Plain data only: no slack_bolt, no httpx, no SQLAlchemy types cross this line.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import AbstractAsyncContextManager
from typing import Any, Literal, Protocol, runtime_checkable

from bot.domain.approvals import Approval, ApprovalStatus
from bot.domain.blocks import Message
from bot.domain.model import ExportRequest
from bot.domain.saved import SavedExport, ScheduledExport, ScheduleRun
from bot.domain.types import (
    Actor,
    Announcement,
    AuditEntry,
    Change,
    CreatedTask,
    Failed,
    Outcome,
    ReplyTo,
    Submitted,
    TaskStatus,
)

# --- HSS ------------------------------------------------------------------------------


class Hss(Protocol):
    """The three HSS calls the bot makes, under the service account."""

    async def create_export_task(self, request: ExportRequest) -> CreatedTask:
        """Create a container export task; raise `HssError` subclasses on failure."""
        ...

    async def get_export_task(
        self, task_id: str, enterprise_project_id: str | None = None
    ) -> TaskStatus:
        """Return the state of an export task."""
        ...

    def download(
        self, file_id: str, enterprise_project_id: str | None = None
    ) -> AbstractAsyncContextManager[AsyncIterator[bytes]]:
        """Stream a file: `async with hss.download(file_id) as chunks: async for c in chunks`."""
        ...

    async def aclose(self) -> None:
        """Release connections."""
        ...


@runtime_checkable
class HssDirectory(Protocol):
    """The HSS clients by profile: each task is followed under the profile it was created in."""

    def for_profile(self, name: str | None) -> Hss:
        """Return the client of profile `name` (None: the one for records older than profiles)."""
        ...


# --- Audit log ------------------------------------------------------------------------


class AuditLog(Protocol):
    """Append-only, hash-chained record of every command."""

    async def record_pending(
        self,
        actor: Actor,
        request: dict[str, Any],
        dedupe_key: str | None = None,
        *,
        approved_by: str | None = None,
        awaiting_approval: bool = False,
    ) -> int:
        """Append a `pending` entry before HSS is called; return its id.

        Raise `DuplicateCommand` when `dedupe_key` was recorded before, and
        `AuditUnavailable` when the entry cannot be written (then nothing runs).
        `approved_by`: the approver of an export that waited for one.
        `awaiting_approval`: hold the request for an approver (nothing runs yet).
        """
        ...

    async def record_decision(
        self,
        entry_id: int,
        outcome: Literal["approved", "denied_by_approver", "expired"],
        *,
        by: str | None,
        reason: str | None = None,
    ) -> None:
        """Append what became of an `awaiting_approval` entry, and who decided (chained)."""
        ...

    async def record_outcome(
        self,
        entry_id: int,
        outcome: Outcome,
        *,
        task_id: str | None = None,
        hss_request_id: str | None = None,
        error: str | None = None,
    ) -> None:
        """Append the outcome of a pending entry (a completion record, chained)."""
        ...

    async def record_refusal(  # noqa: PLR0913  keyword-only: where a refusal came from
        self,
        actor: Actor,
        outcome: Literal["invalid", "denied"],
        error: str,
        request: dict[str, Any] | None = None,
        *,
        saved_export: str | None = None,
        schedule: str | None = None,
    ) -> int:
        """Append a refused command (bad input or access denied); return its id.

        `saved_export`/`schedule` name where it came from when no request carries them.
        """
        ...

    async def record_change(  # noqa: PLR0913  keyword-only: what changed, and how
        self,
        actor: Actor,
        outcome: Change,
        *,
        saved_export: str | None = None,
        schedule: str | None = None,
        request: dict[str, Any] | None = None,
        detail: str | None = None,
        dedupe_key: str | None = None,
    ) -> int:
        """Append a change that is not an export (saved, forgotten, scheduled, …); return its id.

        Chained like a command, naming the saved export or schedule it changed.
        Raise `DuplicateCommand` when `dedupe_key` was recorded before.
        """
        ...

    async def record_delivery(
        self, entry_id: int, *, delivery: dict[str, Any] | None, error: str | None = None
    ) -> None:
        """Append what became of the file: name, size, sha256, or the failure.

        Once per entry: a second call for an entry that has its delivery record
        appends nothing (the tracker repeats it after a crash or a lost lease).
        """
        ...

    async def history(self, user_id: str, limit: int = 10) -> list[AuditEntry]:
        """Return a user's latest entries, newest first."""
        ...

    async def entry_for_task(self, task_id: str) -> AuditEntry | None:
        """Return the latest entry whose outcome names this HSS task, or None if none does."""
        ...

    async def entry_with_key(self, dedupe_key: str) -> int | None:
        """Return the id of the entry recorded under `dedupe_key` (a click acted on), or None."""
        ...

    async def aclose(self) -> None:
        """Release connections."""
        ...


# --- Telling people, following tasks --------------------------------------------------


class Notifier(Protocol):
    """Tells the people who asked what came of an export (Slack, or a terminal)."""

    async def export_submitted(
        self, reply: ReplyTo, actor: Actor, request: ExportRequest, result: Submitted
    ) -> Announcement | None:
        """Announce the task_id; return where the follow-up goes, or None if shown nowhere."""
        ...

    async def export_failed(self, reply: ReplyTo, actor: Actor, result: Failed) -> None:
        """Explain why no export was started."""
        ...


class TaskFollower(Protocol):
    """Follows a submitted task until its file is delivered (issue 5)."""

    async def follow(
        self,
        result: Submitted,
        actor: Actor,
        request: ExportRequest,
        announcement: Announcement | None,
        *,
        step: str | None = None,
    ) -> None:
        """Start tracking the task, delivering where `announcement` says; return quickly.

        `step` names a Workflow Builder execution to complete (or fail) once the
        task is reported.

        None means the task_id reached no one the bot can write to again: the
        follower picks a place the user will look (Slack: their DM with the app).
        """
        ...


# --- The two-person rule --------------------------------------------------------------


class ApprovalStore(Protocol):
    """Requests held for an approver (`bot.adapters.approval_store`)."""

    async def add(self, approval: Approval) -> None:
        """Insert a held request."""
        ...

    async def get(self, approval_id: str) -> Approval | None:
        """Return one held request, or None."""
        ...

    async def set_message(self, approval_id: str, channel: str, ts: str) -> None:
        """Remember where the approval message was posted."""
        ...

    async def decide(
        self,
        approval_id: str,
        status: ApprovalStatus,
        *,
        by: str,
        at: float,
        reason: str | None = None,
    ) -> bool:
        """Approve or deny a pending, unexpired request; True for the one caller who did."""
        ...

    async def expire(self, approval_id: str, owner: str, at: float) -> bool:
        """Mark a claimed pending request expired; False if it was decided meanwhile."""
        ...

    async def set_task(self, approval_id: str, task_id: str) -> None:
        """Remember the task an approved request started."""
        ...

    async def claim_due(
        self, owner: str, now: float, lease_seconds: float, limit: int
    ) -> list[Approval]:
        """Lease pending requests whose time is up."""
        ...

    async def release(self, owner: str, approval_ids: list[str]) -> None:
        """Give leases back."""
        ...

    async def pending_involving(self, user_id: str, *, as_approver: bool) -> list[Approval]:
        """Return pending requests by the user, or all of them for an approver."""
        ...


class ApprovalMessenger(Protocol):
    """Posts and updates the approval messages, and tells one person something."""

    async def post(self, channel_id: str, message: Message) -> Announcement | None:
        """Post in a channel; return where it landed, or None if Slack refused."""
        ...

    async def update(self, channel_id: str, ts: str, message: Message) -> None:
        """Replace a posted message (its buttons go); never raise for Slack's failures."""
        ...

    async def tell(self, reply: ReplyTo, user_id: str, message: Message) -> None:
        """Show a message to one user only; never raise for Slack's failures."""
        ...


# --- saved exports and schedules (issue 15) -------------------------------------------


class SavedExportStore(Protocol):
    """Saved exports of each workspace (`bot.adapters.saved_store`)."""

    async def save(self, saved: SavedExport) -> bool:
        """Insert, or replace the fields of the owner's own; False if another user owns NAME."""
        ...

    async def get(self, team_id: str, name: str) -> SavedExport | None:
        """Return one saved export, or None."""
        ...

    async def in_team(self, team_id: str, owner_id: str | None = None) -> list[SavedExport]:
        """Return the workspace's saved exports (only `owner_id`'s if given), by name."""
        ...

    async def forget(self, team_id: str, name: str) -> bool:
        """Delete one; True if it existed."""
        ...


class UserZones(Protocol):
    """A user's time zone as their chat profile has it (`bot.adapters.slack_users`)."""

    async def zone_of(self, user_id: str) -> str | None:
        """Return the user's IANA zone name, or None if unknown; never raise."""
        ...


class ScheduleStore(Protocol):
    """Schedules and their runs (`bot.adapters.schedule_store`); due times claimed under a lease.

    A run's key is (schedule id, due time): recording it twice is refused by the
    database, so one due time runs once across replicas and restarts.
    """

    async def add(self, schedule: ScheduledExport) -> bool:
        """Insert; False if the workspace already has a schedule of that saved export."""
        ...

    async def get(self, team_id: str, name: str) -> ScheduledExport | None:
        """Return the schedule of saved export NAME (with its last run), or None."""
        ...

    async def by_id(self, schedule_id: str) -> ScheduledExport | None:
        """Return one schedule by its id (with its last run), or None."""
        ...

    async def in_team(self, team_id: str, owner_id: str | None = None) -> list[ScheduledExport]:
        """Return the workspace's schedules (only `owner_id`'s if given), with last runs."""
        ...

    async def count_owned(self, team_id: str, owner_id: str) -> int:
        """Return how many schedules the owner has (SCHEDULES_PER_USER)."""
        ...

    async def set_paused(
        self, schedule_id: str, paused: bool, *, next_due_at: float | None = None
    ) -> bool:
        """Pause or resume (resuming sets the next due time); True if it changed."""
        ...

    async def delete(self, schedule_id: str) -> bool:
        """Delete a schedule (its runs stay on record in the audit log); True if it existed."""
        ...

    async def claim_due(
        self, owner: str, now: float, lease_seconds: float, limit: int
    ) -> list[ScheduledExport]:
        """Lease unpaused schedules whose next due time has come."""
        ...

    async def start_run(self, run: ScheduleRun, owner: str) -> bool:
        """Record that a due time runs now; False if it already ran (or the lease is lost)."""
        ...

    async def finish_run(  # noqa: PLR0913  the run, its lease, and what it changes
        self,
        run: ScheduleRun,
        owner: str,
        *,
        claimed_due_at: float,
        next_due_at: float,
        refusals: int,
        paused: bool,
    ) -> None:
        """Record a run's outcome, move the schedule to its next due time, release the lease.

        `paused` True pauses it; a pause or resume since the claim (`claimed_due_at`) wins.
        """
        ...

    async def move_on(self, schedule_id: str, owner: str, next_due_at: float) -> None:
        """Set the next due time without a run (none was missed) and release the lease."""
        ...

    async def runs(self, schedule_id: str, limit: int = 10) -> list[ScheduleRun]:
        """Return the schedule's latest runs, newest first."""
        ...

    async def release(self, owner: str, schedule_ids: list[str]) -> None:
        """Give leases back."""
        ...
