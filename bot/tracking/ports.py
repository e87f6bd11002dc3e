"""What the tracker needs from the outside world, as protocols (and the plain data they pass).

`bot.adapters.task_store` and `bot.adapters.slack_files` implement these; they
import this module and `bot.tracking.model`, never the worker.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Literal, Protocol

from bot.domain.blocks import Message
from bot.domain.saved import ScheduledExport
from bot.tracking.model import TrackedTask

ShareState = Literal["shared", "unshared", "unknown"]


class TaskStore(Protocol):
    """Durable tracked tasks, claimed with a lease so one worker at a time steps each."""

    async def add(self, task: TrackedTask) -> bool:
        """Insert a task; return False if it was already tracked."""
        ...

    async def claim_due(
        self, owner: str, now: float, lease_seconds: float, limit: int
    ) -> list[TrackedTask]:
        """Lease up to `limit` unsettled tasks that are due and not leased by a live worker."""
        ...

    async def save(self, task: TrackedTask, owner: str) -> bool:
        """Write the task if `owner` still holds it; return False if the lease was taken."""
        ...

    async def renew(self, task_id: str, owner: str, until: float) -> bool:
        """Extend `owner`'s lease; return False if the lease was taken."""
        ...

    async def release(self, owner: str, task_ids: list[str]) -> None:
        """Give up `owner`'s leases on these tasks so any worker may claim them at once."""
        ...


@dataclass(frozen=True)
class UploadSlot:
    """Where to send a file's bytes (`files.getUploadURLExternal`)."""

    file_id: str
    upload_url: str


@dataclass(frozen=True)
class Thread:
    """A message to thread under: its conversation (`C…`, `G…`, `D…`) and its ts."""

    channel_id: str
    ts: str


class FileDelivery(Protocol):
    """Slack's external upload flow and message updates; raises `DeliveryError`."""

    async def start_upload(self, file_name: str, size: int) -> UploadSlot:
        """Ask for an upload URL for a file of `size` bytes."""
        ...

    async def send_file(self, slot: UploadSlot, path: Path, size: int) -> None:
        """Stream the file's bytes to the upload URL."""
        ...

    async def complete_upload(
        self, file_id: str, *, title: str, channel_id: str, thread_ts: str | None
    ) -> None:
        """Share the uploaded file into the channel (in the thread if `thread_ts`)."""
        ...

    async def share_state(self, file_id: str, channel_id: str) -> ShareState:
        """Tell whether Slack shows the uploaded file shared in the channel, or cannot say."""
        ...

    async def update_message(self, channel_id: str, ts: str, message: Message) -> None:
        """Replace a message's text and blocks."""
        ...

    async def post_message(
        self, channel_id: str, message: Message, *, thread_ts: str | None = None
    ) -> str | None:
        """Post a message (a thread reply if `thread_ts`); return its ts."""
        ...

    async def open_thread(self, channel_id: str, message: Message) -> Thread:
        """Post a message to thread under; return where it landed (a user id: their DM's id)."""
        ...


class StepCompletion(Protocol):
    """Finish Workflow Builder steps (`functions.completeSuccess` / `completeError`).

    Raises `DeliveryError` like `FileDelivery`; a step Slack no longer runs
    (completed before, timed out) is `DeliveryRefused`.
    """

    async def permalink(self, channel_id: str, ts: str) -> str:
        """Return a link to a message (`chat.getPermalink`)."""
        ...

    async def complete(self, execution_id: str, outputs: dict[str, str]) -> None:
        """Mark the step done with its outputs."""
        ...

    async def fail(self, execution_id: str, error: str) -> None:
        """Mark the step failed, saying why."""
        ...


@dataclass(frozen=True)
class StoredDigest:
    """One delivered export's digest (`bot.reading.Digest` JSON) and who ran it, when."""

    filter_key: str  # `bot.tracking.summaries.filter_key` of the task's request
    task_id: str
    entry_id: int
    user_id: str
    created_at: float  # Unix seconds
    digest: str


class DigestStore(Protocol):
    """The digests of delivered exports, for "what changed since the last one"."""

    async def add(self, digest: StoredDigest) -> None:
        """Keep a digest; a second one for the same task changes nothing."""
        ...

    async def previous(self, filter_key: str, task_id: str, before: float) -> StoredDigest | None:
        """Return the newest digest with this key of another task created by `before`, or None."""
        ...

    async def recent(self, filter_key: str, limit: int) -> list[StoredDigest]:
        """Return the newest `limit` digests with this key, oldest first (a schedule's chart)."""
        ...


class ScheduleLookup(Protocol):
    """Schedules by id (`bot.adapters.schedule_store`): a run's chart is drawn in its zone."""

    async def by_id(self, schedule_id: str) -> ScheduledExport | None:
        """Return the schedule, or None if it is gone."""
        ...
