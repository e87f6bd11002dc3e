"""Follow submitted export tasks until their file is in the Slack thread (issue 5).

`TaskTracker.follow()` only writes the task to the task store and returns;
`TaskTracker.run()` is the worker: it claims due tasks with a lease, takes one
step for each, and gives the task back. Any replica can take the next step, so
a restart (or a dead replica) loses nothing: its leases expire and another
worker resumes from the last state the database holds.

The task follows the announcement (`bot.service.Announcement`): its file and
notices go to the thread of the task_id message. When there is no such message
(the channel refused the bot and only the `response_url` or nothing took the
task_id), the follow-up goes to the user's DM with the app: before the file is
shared, the tracker posts the task message there and threads under it.

A task moves through these states, each saved before the next step starts:

    tracking ──HSS success──> delivering ──> sharing ──> done
       │                          │  └──> too_large
       ├──HSS failure──> failed   └──────> failed (Slack refused, retries spent)
       └──deadline────> gave_up

then `audit_done` and `message_done` record the two reporting steps, after
which the task is `settled` and never claimed again.

Exactly once. Nothing is visible in Slack until `files.completeUploadExternal`
shares the uploaded file, and that call is made only after the task was moved
to `sharing` (with the Slack file id) by an update guarded by our lease: a
worker that lost its lease cannot reach it. Download, `getUploadURLExternal`
and the byte upload may be repeated freely (an unshared upload is invisible
and Slack discards it). The window left is between Slack sharing the file and
the database saying `done`: the call and the save run as one shielded step
that a shutdown lets finish, so only a hard crash (SIGKILL, power loss) in
those milliseconds, or a share call whose answer is lost, leaves a task in
`sharing`. The share keeps renewing its lease while it runs, and the call is
cut off at half a lease (its answer then counts as lost), so no other worker
can take the task while Slack may still be sharing the file. The next worker
never uploads again: it asks Slack (`files.info`) where the file is. Shared:
done. Positively unshared a lease period after the attempt (Slack fills in
shares within seconds): it shares that same file.
Slack cannot say (no `files:read` scope, Slack down): the task ends `done` with
a note and the download command in the message. At most once, never twice.

A step that fails in a way nobody foresaw (a bug, a full disk) is retried with
backoff at most `max_attempts` times and not past the task's deadline; then the
task ends `failed` (or `done`, unconfirmed, if the file may be shared) and the
user is told. `stop()` returns within the grace period: in-flight steps get
until one deadline, then are cancelled; a share already started runs on.

Time is Unix seconds from an injectable clock; leases compare clocks of
different replicas, so they assume clocks within a few seconds (NTP).
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import logging
import os
import socket
import tempfile
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Coroutine
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Final, Literal, Protocol, TypeVar

from bot.domain.blocks import Message
from bot.domain.errors import (
    AuditUnavailable,
    BotError,
    DeliveryError,
    DeliveryRefused,
    DeliveryUnavailable,
    HssAuthError,
    HssError,
    HssUnavailable,
    LeaseLost,
    SpoolFailed,
    TaskStoreUnavailable,
)
from bot.domain.model import ExportRequest
from bot.domain.task_messages import (
    download_command,
    duration_text,
    not_tracked,
    progress_message,
    size_text,
    thread_notice,
)
from bot.domain.types import Actor, Announcement, Submitted
from bot.ports import AuditLog, Hss
from bot.settings import Settings

log = logging.getLogger(__name__)

T = TypeVar("T")
Clock = Callable[[], float]
Sleep = Callable[[float], Awaitable[None]]

ShareState = Literal["shared", "unshared", "unknown"]
TrackState = Literal["tracking", "delivering", "sharing", "done", "failed", "gave_up", "too_large"]
ACTIVE_STATES: Final[frozenset[str]] = frozenset({"tracking", "delivering", "sharing"})
FINAL_STATES: Final[frozenset[str]] = frozenset({"done", "failed", "gave_up", "too_large"})

SPOOL_FLUSH_BYTES: Final = 1024 * 1024  # write the download to disk a mebibyte at a time
UNCONFIRMED: Final = "delivery not confirmed: Slack could not say whether the file was shared"
RELEASE_SECONDS: Final = 0.5  # at least this long to hand leases back when stopping
STOP_MARGIN_SECONDS: Final = 1.0  # how long past the grace period `stop()` may take at most


# --- the task as the store keeps it -----------------------------------------------------


@dataclass(frozen=True)
class TrackedTask:
    """One export task being followed, and everything needed to resume it anywhere."""

    task_id: str
    entry_id: int
    channel_id: str
    thread_ts: str | None
    user_id: str
    enterprise_project_id: str | None
    request: dict[str, Any] | None
    hss_request_id: str | None
    state: TrackState
    created_at: float
    next_poll_at: float
    poll_interval: float
    deadline: float
    updated_at: float
    polls: int = 0
    attempts: int = 0
    file_id: str | None = None
    file_name: str | None = None
    file_size: int | None = None
    sha256: str | None = None
    slack_file_id: str | None = None
    error: str | None = None
    error_request_id: str | None = None
    audit_done: bool = False
    message_done: bool = False
    lease_owner: str | None = None
    lease_until: float | None = None

    @property
    def settled(self) -> bool:
        """Tell whether nothing is left to do: a final state, audited and reported."""
        return self.state in FINAL_STATES and self.audit_done and self.message_done

    @property
    def download_command(self) -> str:
        """Return the operator command that fetches this task's file."""
        return download_command(self.task_id, self.enterprise_project_id)


# --- what the tracker needs from the outside world ----------------------------------------


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

    async def open_thread(self, channel_id: str, message: Message) -> Announcement:
        """Post a message to thread under; return where it landed (a user id: their DM's id)."""
        ...


# --- configuration --------------------------------------------------------------------------


@dataclass(frozen=True)
class TrackerConfig:
    """How often to poll, when to give up, how big a file Slack gets, how long leases last."""

    poll_initial: float = 5.0
    poll_max: float = 60.0
    give_up_after: float = 7200.0
    upload_max_bytes: int = 100 * 1024 * 1024
    lease_seconds: float = 60.0
    idle_seconds: float = 1.0
    max_concurrent: int = 4
    max_attempts: int = 5
    grace_seconds: float = 20.0
    spool_dir: Path | None = None

    @classmethod
    def from_settings(cls, settings: Settings, **overrides: Any) -> TrackerConfig:
        """Read the tracking settings (TASK_POLL_*, TASK_GIVE_UP_SECONDS, UPLOAD_MAX_BYTES)."""
        values: dict[str, Any] = {
            "poll_initial": settings.TASK_POLL_INITIAL_SECONDS,
            "poll_max": max(settings.TASK_POLL_MAX_SECONDS, settings.TASK_POLL_INITIAL_SECONDS),
            "give_up_after": settings.TASK_GIVE_UP_SECONDS,
            "upload_max_bytes": settings.UPLOAD_MAX_BYTES,
            "grace_seconds": settings.SHUTDOWN_GRACE_SECONDS,
        }
        values.update(overrides)
        return cls(**values)


# --- the worker -------------------------------------------------------------------------------


@dataclass
class _Fetched:
    path: Path
    size: int
    sha256: str


@dataclass
class _Workers:
    handlers: dict[str, asyncio.Task[None]] = field(default_factory=dict)
    # Steps that must not be cut in half, and the task each one is for.
    critical: dict[asyncio.Task[Any], str] = field(default_factory=dict)
    # The last state each running step saved: what the database holds while we have the lease.
    saved: dict[str, TrackedTask] = field(default_factory=dict)
    # Lease ends pushed out by heartbeats, so a later save does not pull them back in.
    renewed: dict[str, float] = field(default_factory=dict)
    # Heartbeats running per task, and the tasks whose lease we handed back under them.
    beating: dict[str, int] = field(default_factory=dict)
    let_go: set[str] = field(default_factory=set)


class TaskTracker:
    """Follow export tasks to delivery: implements `bot.service.TaskFollower`."""

    def __init__(
        self,
        store: TaskStore,
        hss: Hss,
        delivery: FileDelivery,
        audit: AuditLog,
        config: TrackerConfig | None = None,
        *,
        owner: str | None = None,
        clock: Clock = time.time,
        sleep: Sleep = asyncio.sleep,
    ) -> None:
        self._store = store
        self._hss = hss
        self._delivery = delivery
        self._audit = audit
        self._config = config or TrackerConfig()
        self.owner = owner or f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"
        self._clock = clock
        self._sleep = sleep
        self._workers = _Workers()
        self._wake = asyncio.Event()
        self._stopping = asyncio.Event()
        self._stopped = asyncio.Event()
        self._stop_at: float | None = None  # the one deadline of a shutdown (loop time)
        self._running = False

    def __repr__(self) -> str:
        return f"TaskTracker(owner={self.owner!r})"

    @property
    def in_flight(self) -> int:
        """Return how many tasks this worker is stepping right now."""
        return len(self._workers.handlers)

    # --- TaskFollower ---------------------------------------------------------------------

    async def follow(
        self,
        result: Submitted,
        actor: Actor,
        request: ExportRequest,
        announcement: Announcement | None,
    ) -> None:
        """Record the task for the workers and return at once; the first poll comes later.

        The file and notices go where `announcement` says. Announced nowhere
        (every route failed), they go to the user's DM with the app, which a
        user id addresses.
        """
        now = self._clock()
        where = announcement or Announcement(actor.user_id)
        task = TrackedTask(
            task_id=result.task.task_id,
            entry_id=result.entry_id,
            channel_id=where.channel_id,
            thread_ts=where.ts,
            user_id=actor.user_id,
            enterprise_project_id=request.query.enterprise_project_id,
            request=request.as_audit_record(),
            hss_request_id=result.task.request_id,
            state="tracking",
            created_at=now,
            next_poll_at=now + self._config.poll_initial,
            poll_interval=self._config.poll_initial,
            deadline=now + self._config.give_up_after,
            updated_at=now,
        )
        try:
            added = await self._store.add(task)
        except TaskStoreUnavailable as exc:
            log.error("task not tracked", extra={"task_id": task.task_id, "error": str(exc)})
            await self._say(task, not_tracked(task, exc))
            return
        if not added:
            log.info("task already tracked", extra={"task_id": task.task_id})
        self._wake.set()

    # --- the worker loop ------------------------------------------------------------------

    async def run(self) -> None:
        """Claim due tasks and step them until `stop()`; on cancellation, leave them to resume.

        Stopped or cancelled (the process is shutting down), it gives in-flight
        steps until one deadline (the grace period), cancels what is left, lets
        a started share-and-save step run on, and releases the other leases so
        the next worker need not wait for them to expire.
        """
        self._running = True
        self._stopped.clear()
        if not self._stopping.is_set():
            self._stop_at = None  # a deadline left by an earlier cancelled run is not this one's
        try:
            while not self._stopping.is_set():
                self._wake.clear()
                claimed = await self._claim()
                for task in claimed:
                    self._start(task)
                if not claimed or len(self._workers.handlers) >= self._config.max_concurrent:
                    await self._nap(self._config.idle_seconds)
            await self._drain(self._deadline())
        finally:
            try:
                await self._abandon(self._deadline())
            finally:  # even if cancelled again meanwhile
                self._running = False
                self._stopped.set()

    async def stop(self) -> None:
        """Stop claiming and return within the grace period (and a second's margin) at most.

        In-flight steps may finish until the deadline; then they are cancelled
        and their leases released. If `run()` is stuck past the margin (a hung
        database call), this returns anyway: the caller may cancel `run()`.
        """
        deadline = self._deadline()
        self._stopping.set()
        self._wake.set()
        if not self._running:
            return
        try:
            async with asyncio.timeout_at(deadline + STOP_MARGIN_SECONDS):
                await self._stopped.wait()
        except TimeoutError:
            log.warning("task tracker did not stop within the grace period")

    def _deadline(self) -> float:
        """Return the shutdown deadline (event loop time), fixing it on first use."""
        if self._stop_at is None:
            self._stop_at = asyncio.get_running_loop().time() + self._config.grace_seconds
        return self._stop_at

    async def run_once(self) -> int:
        """Claim what is due now, take its step, and return how many tasks were stepped."""
        claimed = await self._claim()
        for task in claimed:
            self._start(task)
        await asyncio.gather(*self._workers.handlers.values(), return_exceptions=True)
        return len(claimed)

    async def _claim(self) -> list[TrackedTask]:
        free = self._config.max_concurrent - len(self._workers.handlers)
        if free <= 0:
            return []
        try:
            return await self._store.claim_due(
                self.owner, self._clock(), self._config.lease_seconds, free
            )
        except TaskStoreUnavailable as exc:
            log.warning("task store unavailable", extra={"error": str(exc)})
            return []

    def _start(self, task: TrackedTask) -> None:
        handler = asyncio.create_task(self._step(task), name=f"track-{task.task_id}")
        self._workers.handlers[task.task_id] = handler

        def done(_: asyncio.Task[None]) -> None:
            self._workers.handlers.pop(task.task_id, None)
            self._wake.set()

        handler.add_done_callback(done)

    async def _nap(self, seconds: float) -> None:
        """Wait `seconds`, or less if a task is followed or a step ends."""
        waker = asyncio.ensure_future(self._wake.wait())
        sleeper = asyncio.ensure_future(self._sleep(seconds))
        try:
            await asyncio.wait({waker, sleeper}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            waker.cancel()
            sleeper.cancel()

    async def _drain(self, deadline: float) -> None:
        handlers = list(self._workers.handlers.values())
        if handlers:
            await asyncio.wait(handlers, timeout=_left(deadline))

    async def _abandon(self, deadline: float) -> None:
        """Cancel unfinished steps, give critical ones until `deadline`, release the leases."""
        handlers = dict(self._workers.handlers)
        for handler in handlers.values():
            handler.cancel()
        if handlers:
            # A cancelled step ends at its next await; bounded all the same.
            await asyncio.wait(handlers.values(), timeout=max(_left(deadline), RELEASE_SECONDS))
        if self._workers.critical:
            await asyncio.wait(self._workers.critical, timeout=_left(deadline))
        # Still-running critical steps keep their leases: they may yet save.
        busy = set(self._workers.critical.values())
        free = [task_id for task_id in handlers if task_id not in busy]
        if free:
            with contextlib.suppress(TaskStoreUnavailable, TimeoutError):
                async with asyncio.timeout(max(_left(deadline), RELEASE_SECONDS)):
                    await self._store.release(self.owner, free)

    async def _critical(self, task_id: str, coro: Coroutine[Any, Any, T]) -> T:
        """Run a step that must not be cut in half: cancelling the caller lets it finish."""
        task = asyncio.ensure_future(coro)
        self._workers.critical[task] = task_id
        task.add_done_callback(_forget_critical(self._workers.critical))
        return await asyncio.shield(task)

    # --- one step of one task ---------------------------------------------------------------

    async def _step(self, task: TrackedTask) -> None:
        try:
            try:
                match task.state:
                    case "tracking":
                        await self._poll(task)
                    case "delivering":
                        await self._deliver(task)
                    case "sharing":
                        await self._resolve_sharing(task)
                    case _:
                        await self._report(task)
            except (LeaseLost, TaskStoreUnavailable):
                raise
            except Exception as exc:
                # A bug must not stop the other tasks: log it, try this one again later from
                # the state last saved (never the claimed one: the file may be shared by now).
                log.exception("unexpected error following a task", extra={"task_id": task.task_id})
                await self._after_bug(self._workers.saved.get(task.task_id, task), exc)
        except LeaseLost:
            log.warning("lease lost; another worker has the task", extra={"task_id": task.task_id})
        except TaskStoreUnavailable as exc:
            log.warning(
                "task store unavailable", extra={"task_id": task.task_id, "error": str(exc)}
            )
        except Exception:
            # Even giving up failed: the lease runs out and a worker tries again then.
            log.exception("could not settle a failing task", extra={"task_id": task.task_id})
        finally:
            self._workers.saved.pop(task.task_id, None)
            if not self._workers.beating.get(task.task_id):
                self._workers.renewed.pop(task.task_id, None)

    async def _after_bug(self, task: TrackedTask, exc: Exception) -> None:
        """Retry a step that failed unexpectedly; past `max_attempts` or the deadline, end it.

        Ending it never takes the failing step again. An active task ends
        `failed` (`done`, unconfirmed, if the file may already be shared) and is
        reported as usual, once. A finished task was failing in its first
        reporting step not yet done (the audit record, else the message): that
        step is marked done, logged, and the rest is tried once.
        """
        attempts = task.attempts + 1
        now = self._clock()
        # A finished task is only reporting (audit record, message): its deadline, meant for
        # HSS, is no reason to give that up; the attempts alone bound it.
        in_time = task.state not in ACTIVE_STATES or now + self._backoff(attempts) <= task.deadline
        if attempts < self._config.max_attempts and in_time:
            await self._retry_later(task)
            return
        reason = (
            f"the bot hit an unexpected error ({type(exc).__name__}) {attempts} "
            f"time{'s' if attempts != 1 else ''} and stopped; its log has the details"
        )
        log.error(
            "giving up on a task",
            extra={"task_id": task.task_id, "state": task.state, "attempts": attempts},
        )
        if task.state == "sharing":
            task = await self._save(task, state="done", error=f"delivery not confirmed: {reason}")
        elif task.state in ACTIVE_STATES:
            if task.file_id is None:
                reason += f"; once HSS has finished it, fetch the file with {task.download_command}"
            task = await self._save(task, state="failed", error=reason, error_request_id=None)
        elif not task.audit_done:
            log.error("delivery not audited; an operator must record it", extra=_ids(task))
            task = await self._save(task, audit_done=True)
        else:
            log.error("task message not updated", extra=_ids(task))
            task = await self._save(task, message_done=True)
        await self._report(task, last_try=True)

    async def _poll(self, task: TrackedTask) -> None:
        try:
            status = await self._hss.get_export_task(task.task_id, task.enterprise_project_id)
        except HssError as exc:
            if _transient(exc):
                await self._poll_later(task, str(exc), exc.request_id)
            else:
                await self._finish(task, "failed", _hss_reason(exc), exc.request_id)
            return
        task = replace(task, polls=task.polls + 1)
        if status.task_status == "running":
            await self._poll_later(task, None, None)
        elif status.task_status == "failure":
            reason = "HSS reports that the export task failed"
            await self._finish(task, "failed", reason, status.request_id)
        elif not status.file_id:
            reason = "HSS reports success but names no file"
            await self._finish(task, "failed", reason, status.request_id)
        else:
            name = safe_file_name(status.file_name, task.task_id)
            task = await self._save(
                task,
                state="delivering",
                file_id=status.file_id,
                file_name=name,
                attempts=0,
                error=None,
                error_request_id=None,
            )
            await self._deliver(task)

    async def _poll_later(
        self, task: TrackedTask, error: str | None, request_id: str | None
    ) -> None:
        now = self._clock()
        if now >= task.deadline:
            waited = duration_text(task.deadline - task.created_at)
            reason = f"the export task was still not finished after {waited}"
            if error:
                reason += f" (last error: {error})"
            await self._finish(task, "gave_up", reason, request_id)
            return
        interval = min(task.poll_interval * 2, self._config.poll_max)
        await self._save(
            task,
            next_poll_at=min(now + interval, task.deadline),
            poll_interval=interval,
            error=error,
            error_request_id=request_id,
            lease_owner=None,
            lease_until=None,
        )

    async def _deliver(self, task: TrackedTask) -> None:
        """Download, upload unshared, then share: everything before the share may be redone."""
        file_id, file_name = task.file_id, task.file_name or task.task_id
        if file_id is None:
            await self._finish(task, "failed", "no file to deliver (HSS named none)", None)
            return
        try:
            if task.thread_ts is None:
                task = await self._open_thread(task)
            async with self._lease_kept(task.task_id):
                fetched = await self._fetch(file_id, task.enterprise_project_id)
                if fetched is None:
                    slot = None
                else:
                    try:
                        slot = await self._delivery.start_upload(file_name, fetched.size)
                        await self._delivery.send_file(slot, fetched.path, fetched.size)
                    finally:
                        await asyncio.to_thread(_remove, fetched.path)
        except (HssUnavailable, HssAuthError, DeliveryUnavailable, SpoolFailed) as exc:
            await self._delivery_failed(task, exc, retry=True)
            return
        except (HssError, DeliveryRefused) as exc:
            await self._delivery_failed(task, exc, retry=False)
            return
        if fetched is None or slot is None:
            limit = size_text(self._config.upload_max_bytes)
            reason = f"larger than the upload limit ({limit})"
            await self._finish(task, "too_large", reason, None)
            return
        sharing = replace(
            task,
            state="sharing",
            file_size=fetched.size,
            sha256=fetched.sha256,
            slack_file_id=slot.file_id,
        )
        await self._critical(task.task_id, self._share(sharing))

    async def _open_thread(self, task: TrackedTask) -> TrackedTask:
        """Post the task message where the task has none (the user's DM), to share the file under.

        A crash between the post and the save posts it again on the next try:
        a second message, never a second file.
        """
        where = await self._delivery.open_thread(task.channel_id, progress_message(task))
        log.info("thread opened for the file", extra={"task_id": task.task_id})
        return await self._save(task, channel_id=where.channel_id, thread_ts=where.ts)

    async def _share(self, task: TrackedTask) -> None:
        """Save `sharing` under the lease, share the file, finish: one shielded step.

        The lease is renewed throughout, and the share call is cut off after
        half a lease: its answer then counts as lost, and the task is not due
        again for another lease period, by when Slack has settled the call.
        """
        # Not due again (for `_resolve_sharing`) until Slack has had a lease period to settle.
        settled = self._clock() + self._config.lease_seconds
        task = await self._save(task, lease_until=settled, next_poll_at=settled)
        async with self._lease_kept(task.task_id):
            try:
                async with asyncio.timeout(self._config.lease_seconds / 2):
                    await self._delivery.complete_upload(
                        task.slack_file_id or "",
                        title=task.file_name or task.task_id,
                        channel_id=task.channel_id,
                        thread_ts=task.thread_ts,
                    )
            except DeliveryRefused as exc:
                # Slack said no, so nothing was shared: "failed" is the truth.
                await self._finish(task, "failed", f"Slack refused the file: {exc}", None)
                return
            except (DeliveryUnavailable, TimeoutError) as exc:
                # Shared or not, we cannot tell yet: `_resolve_sharing` asks Slack once it knows.
                detail = str(exc) or "no answer within half a lease"
                log.warning(
                    "share outcome unknown", extra={"task_id": task.task_id, "error": detail}
                )
                await self._save(
                    task,
                    next_poll_at=self._clock() + self._config.lease_seconds,
                    lease_owner=None,
                    lease_until=None,
                )
                return
            await self._finish(task, "done", None, None)

    async def _resolve_sharing(self, task: TrackedTask) -> None:
        """Settle a share whose outcome is unknown (a crash, a timeout) without sharing twice.

        Slack fills in a file's shares shortly after `completeUploadExternal`, so
        "unshared" is believed only once a lease period has passed since the
        attempt; then the same file is shared. If Slack cannot say, the task ends
        `done` with a note and the download command: at most once, never twice.
        """
        try:
            state = await self._delivery.share_state(task.slack_file_id or "", task.channel_id)
        except DeliveryError as exc:
            log.warning("cannot check share", extra={"task_id": task.task_id, "error": str(exc)})
            state = "unknown"
        if state == "shared":
            await self._finish(task, "done", None, None)
        elif state == "unknown":
            await self._finish(task, "done", UNCONFIRMED, None)
        else:
            # Due means a lease period has passed since the attempt (see `_share`).
            await self._critical(task.task_id, self._share(task))

    async def _delivery_failed(self, task: TrackedTask, exc: BotError, *, retry: bool) -> None:
        attempts = task.attempts + 1
        request_id = exc.request_id if isinstance(exc, HssError) else None
        detail = _hss_reason(exc) if isinstance(exc, HssError) else str(exc)
        reason = f"could not deliver the file: {detail}"
        if retry and attempts < self._config.max_attempts:
            log.warning("delivery failed; retrying", extra={"task_id": task.task_id})
            await self._save(
                task,
                attempts=attempts,
                next_poll_at=self._clock() + self._backoff(attempts),
                error=reason,
                error_request_id=request_id,
                lease_owner=None,
                lease_until=None,
            )
            return
        await self._finish(task, "failed", reason, request_id)

    async def _fetch(self, file_id: str, enterprise_project_id: str | None) -> _Fetched | None:
        """Stream the file to a temporary file, hashing it; None if it exceeds the limit.

        Memory stays flat: at most `SPOOL_FLUSH_BYTES` are buffered, and hashing
        and writing run in a worker thread, off the event loop. A disk that
        refuses (full, unwritable) raises `SpoolFailed`, which is retried.
        """
        limit = self._config.upload_max_bytes
        spool = await _on_disk(_Spool, self._config.spool_dir)
        kept = False
        try:
            pending = bytearray()
            async with self._hss.download(file_id, enterprise_project_id) as chunks:
                async for chunk in chunks:
                    if spool.size + len(pending) + len(chunk) > limit:
                        return None
                    pending += chunk
                    if len(pending) >= SPOOL_FLUSH_BYTES:
                        await _on_disk(spool.write, bytes(pending))
                        pending.clear()
            await _on_disk(spool.write, bytes(pending))
            await _on_disk(spool.close)
            kept = True
            return _Fetched(spool.path, spool.size, spool.digest.hexdigest())
        finally:
            if not kept:
                await asyncio.to_thread(spool.discard)

    async def _finish(
        self, task: TrackedTask, state: TrackState, error: str | None, request_id: str | None
    ) -> None:
        task = await self._save(
            task, state=state, error=error, error_request_id=request_id, attempts=0
        )
        log.info("task finished", extra={"task_id": task.task_id, "state": state})
        await self._report(task)

    async def _report(self, task: TrackedTask, *, last_try: bool = False) -> None:
        """Write the audit record, then the message: each once, each saved when done.

        On the `last_try` (giving up after unexpected errors) a step that fails
        again is logged and marked done, so the task settles.
        """
        if not task.audit_done:
            try:
                task = await self._critical(task.task_id, self._audit_once(task))
            except AuditUnavailable as exc:
                if not last_try:
                    log.warning(
                        "delivery not audited yet",
                        extra={"task_id": task.task_id, "error": str(exc)},
                    )
                    await self._retry_later(task)
                    return
                log.error("delivery not audited", extra={"task_id": task.task_id})
                task = await self._save(task, audit_done=True)
            except (LeaseLost, TaskStoreUnavailable):
                raise
            except Exception:
                if not last_try:
                    raise
                log.exception("delivery not audited", extra={"task_id": task.task_id})
                task = await self._save(task, audit_done=True)
        if not task.message_done:
            try:
                await self._tell(task)
            except DeliveryUnavailable as exc:
                if not last_try and task.attempts + 1 < self._config.max_attempts:
                    log.warning(
                        "message not updated yet",
                        extra={"task_id": task.task_id, "error": str(exc)},
                    )
                    await self._retry_later(task)
                    return
                log.error("message not updated", extra={"task_id": task.task_id, "error": str(exc)})
            except DeliveryRefused as exc:
                log.error("message refused", extra={"task_id": task.task_id, "error": str(exc)})
            except (LeaseLost, TaskStoreUnavailable):
                raise
            except Exception:
                if not last_try:
                    raise
                log.exception("message not updated", extra={"task_id": task.task_id})
        await self._save(task, message_done=True, attempts=0, lease_owner=None, lease_until=None)

    async def _audit_once(self, task: TrackedTask) -> TrackedTask:
        delivery, error = audit_delivery(task)
        await self._audit.record_delivery(task.entry_id, delivery=delivery, error=error)
        return await self._save(task, audit_done=True)

    async def _tell(self, task: TrackedTask) -> None:
        if task.thread_ts is None:
            await self._delivery.post_message(task.channel_id, progress_message(task))
            return
        await self._delivery.update_message(task.channel_id, task.thread_ts, progress_message(task))
        notice = thread_notice(task)
        if notice is not None:
            await self._delivery.post_message(task.channel_id, notice, thread_ts=task.thread_ts)

    async def _say(self, task: TrackedTask, message: Message) -> None:
        try:
            await self._delivery.post_message(task.channel_id, message, thread_ts=task.thread_ts)
        except DeliveryError as exc:
            log.error("notice not posted", extra={"task_id": task.task_id, "error": str(exc)})

    async def _retry_later(self, task: TrackedTask) -> None:
        attempts = task.attempts + 1
        await self._save(
            task,
            attempts=attempts,
            next_poll_at=self._clock() + self._backoff(attempts),
            lease_owner=None,
            lease_until=None,
        )

    def _backoff(self, attempts: int) -> float:
        return float(min(self._config.poll_initial * 2 ** (attempts - 1), self._config.poll_max))

    async def _save(self, task: TrackedTask, **changes: Any) -> TrackedTask:
        """Save changes under our lease; raise `LeaseLost` if another worker took the task."""
        task_id = task.task_id
        if "lease_until" not in changes and task_id in self._workers.renewed:
            # Keep the lease a heartbeat extended; the task in hand may predate it.
            changes["lease_until"] = max(task.lease_until or 0.0, self._workers.renewed[task_id])
        updated = replace(task, updated_at=self._clock(), **changes)
        if not await self._store.save(updated, self.owner):
            raise LeaseLost(task_id)
        if updated.lease_owner is None:
            self._workers.renewed.pop(task_id, None)
            if self._workers.beating.get(task_id):
                self._workers.let_go.add(task_id)  # its heartbeats stop, quietly
        self._workers.saved[task_id] = updated
        return updated

    @contextlib.asynccontextmanager
    async def _lease_kept(self, task_id: str) -> AsyncIterator[None]:
        """Renew the lease while a long step runs; cancel the step if the lease is lost.

        A lease we handed back ourselves (`_save` with no owner) ends the
        heartbeat without cancelling anything.
        """
        current = asyncio.current_task()
        assert current is not None
        lost = False
        workers = self._workers

        async def beat() -> None:
            nonlocal lost
            while True:
                await self._sleep(self._config.lease_seconds / 3)
                if task_id in workers.let_go:
                    return
                until = self._clock() + self._config.lease_seconds
                try:
                    renewed = await self._store.renew(task_id, self.owner, until)
                except TaskStoreUnavailable as exc:
                    log.warning("lease not renewed", extra={"task_id": task_id, "error": str(exc)})
                    continue
                if task_id in workers.let_go:
                    return
                if renewed:
                    workers.renewed[task_id] = until
                    continue
                lost = True
                current.cancel()
                return

        workers.beating[task_id] = workers.beating.get(task_id, 0) + 1
        heart = asyncio.create_task(beat())
        try:
            yield
        except asyncio.CancelledError:
            if lost and current.uncancel() == 0:
                raise LeaseLost(task_id) from None
            raise
        finally:
            heart.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await heart
            workers.beating[task_id] -= 1
            if not workers.beating[task_id]:
                del workers.beating[task_id]
                workers.let_go.discard(task_id)


class _Spool:
    """A temporary file that hashes what is written to it (used from a worker thread)."""

    def __init__(self, spool_dir: Path | None) -> None:
        fd, name = tempfile.mkstemp(prefix="hss-export-", suffix=".part", dir=spool_dir)
        self.path = Path(name)
        self._file = os.fdopen(fd, "wb")
        self.digest = hashlib.sha256()
        self.size = 0

    def write(self, data: bytes) -> None:
        self.digest.update(data)
        self._file.write(data)
        self.size += len(data)

    def close(self) -> None:
        self._file.close()

    def discard(self) -> None:
        with contextlib.suppress(OSError):  # a failed flush on close: the file goes anyway
            self._file.close()
        _remove(self.path)


def _remove(path: Path) -> None:
    """Delete a spooled file; a failure is logged, never raised (the step's outcome stands)."""
    try:
        path.unlink(missing_ok=True)
    except OSError as exc:
        log.warning("spool file not removed", extra={"path": str(path), "error": exc.strerror})


async def _on_disk(fn: Callable[..., T], *args: Any) -> T:
    """Run a disk operation in a worker thread; an `OSError` becomes a `SpoolFailed`."""
    try:
        return await asyncio.to_thread(fn, *args)
    except OSError as exc:
        reason = exc.strerror or type(exc).__name__
        raise SpoolFailed(f"the download could not be written to disk ({reason})") from exc


def _ids(task: TrackedTask) -> dict[str, Any]:
    """Return the ids an operator needs to find a task in the audit log and HSS."""
    return {"task_id": task.task_id, "audit_entry": task.entry_id}


def _left(deadline: float) -> float:
    """Return the seconds from now (event loop time) until `deadline`, never negative."""
    return max(0.0, deadline - asyncio.get_running_loop().time())


def _forget_critical(registry: dict[asyncio.Task[Any], str]) -> Callable[[asyncio.Task[Any]], None]:
    def done(task: asyncio.Task[Any]) -> None:
        registry.pop(task, None)
        if task.cancelled() or (exc := task.exception()) is None:
            return
        # Its caller may be gone (cancelled at shutdown): the error must still be seen.
        # Its caller, if still there, sees and handles it too; this only logs.
        if isinstance(exc, BotError | LeaseLost):
            log.warning("critical step ended: %s", exc)
        else:
            log.error("critical step failed", exc_info=exc)

    return done


# --- pure helpers: what the audit log is told -------------------------------------------------


def _transient(exc: HssError) -> bool:
    """Tell whether polling again later may succeed."""
    return isinstance(exc, HssUnavailable | HssAuthError) or (exc.status or 0) >= 500


def safe_file_name(name: str | None, task_id: str) -> str:
    """Return HSS's file name without any directory part, or a name made from the task id."""
    base = (name or "").replace("\\", "/").rsplit("/", 1)[-1]
    base = "".join(ch for ch in base if ch.isprintable()).strip()
    if base in ("", ".", ".."):
        return f"hss-export-{task_id}"
    return base


def _hss_reason(exc: HssError) -> str:
    """Return HSS's message and error code (the request id is shown on its own)."""
    return f"{exc.message} (error code {exc.code})" if exc.code else exc.message


def audit_delivery(task: TrackedTask) -> tuple[dict[str, Any] | None, str | None]:
    """Return what the audit log records for a finished task: the delivery, the error."""
    delivery = None
    if task.state == "done":
        delivery = {"file_name": task.file_name, "size": task.file_size, "sha256": task.sha256}
    error = task.error
    if task.state != "done":
        error = f"{task.state}: {task.error or 'no detail'}"
        if task.error_request_id:
            error += f" (HSS request id {task.error_request_id})"
    return delivery, error
