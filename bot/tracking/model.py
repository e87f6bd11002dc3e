"""The followed export task and the rules of its life, as plain data and pure functions.

A task moves through these states, each saved before the next step starts:

    tracking ──HSS success──> delivering ──> sharing ──> done
       │                          │  └──> too_large
       ├──HSS failure──> failed   └──────> failed (Slack refused, retries spent)
       └──deadline────> gave_up

(`delivering` and `sharing` may also end `failed` after unexpected errors, and
`sharing` `done` unconfirmed.) Then `summary_done`, `audit_done` and
`message_done` record the three reporting steps (the summary first, so the
audit's delivery record can say what it found), and `step_done` the Workflow
step's completion for a task a workflow started, after which the task is
`settled` and never claimed again.

Nothing here does I/O or reads settings: the worker and its steps ask these
functions what comes next, and `tests/test_tracking_model.py` pins them as
tables. Time is Unix seconds, as the tracker's injectable clock gives them.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final, Literal

from bot.domain.errors import HssAuthError, HssError, HssUnavailable
from bot.domain.task_messages import download_command, duration_text

TrackState = Literal["tracking", "delivering", "sharing", "done", "failed", "gave_up", "too_large"]
ACTIVE_STATES: Final[frozenset[str]] = frozenset({"tracking", "delivering", "sharing"})
FINAL_STATES: Final[frozenset[str]] = frozenset({"done", "failed", "gave_up", "too_large"})

# Which state may follow which (staying in a state is always allowed: a save within a step).
NEXT_STATES: Final[Mapping[str, frozenset[str]]] = {
    "tracking": frozenset({"delivering", "failed", "gave_up"}),
    "delivering": frozenset({"sharing", "too_large", "failed"}),
    "sharing": frozenset({"done", "failed"}),
    "done": frozenset(),
    "failed": frozenset(),
    "gave_up": frozenset(),
    "too_large": frozenset(),
}

UNCONFIRMED: Final = "delivery not confirmed: Slack could not say whether the file was shared"


class IllegalMove(Exception):
    """A step tried a state change the state machine does not have: a bug, never saved."""

    def __init__(self, task_id: str, old: str, new: str) -> None:
        super().__init__(f"task {task_id}: {old} cannot become {new}")


@dataclass(frozen=True)
class TrackerConfig:
    """How often to poll, when to give up, how big a file Slack gets, how long leases last.

    Built from `Settings` in `bot.bootstrap` (`tracker_config`); the defaults
    serve tests that build a tracker by hand.
    """

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
    # A Workflow Builder step to finish once reported: its `function_execution_id` (no token).
    step_execution_id: str | None = None
    step_done: bool = False
    # The summary in the thread (issue 13): done, and what the audit record notes of it.
    summary_done: bool = False
    summary_rows: int | None = None  # rows summarized, when there is a summary
    summary_note: str | None = None  # why there is none, when there is none
    lease_owner: str | None = None
    lease_until: float | None = None
    # The HSS profile the task was created under (issue 12); None: a row older than profiles.
    profile: str | None = None

    @property
    def settled(self) -> bool:
        """Tell whether nothing is left to do: a final state, audited and reported."""
        step_left = self.step_execution_id is not None and not self.step_done
        return (
            self.state in FINAL_STATES and self.audit_done and self.message_done and not step_left
        )

    @property
    def download_command(self) -> str:
        """Return the operator command that fetches this task's file."""
        return download_command(self.task_id, self.enterprise_project_id)


def check_move(task_id: str, old: str, new: str) -> None:
    """Raise `IllegalMove` unless `new` may follow `old` (or is `old`)."""
    if new != old and new not in NEXT_STATES.get(old, frozenset()):
        raise IllegalMove(task_id, old, new)


# --- when to look again ---------------------------------------------------------------------


def backoff(attempts: int, config: TrackerConfig) -> float:
    """Return the wait before retry number `attempts`: the first poll interval, doubling, capped."""
    return float(min(config.poll_initial * 2 ** (attempts - 1), config.poll_max))


@dataclass(frozen=True)
class PollAgain:
    """HSS is still working: look again at `at`, then wait `interval` before the next look."""

    at: float
    interval: float


@dataclass(frozen=True)
class GiveUp:
    """The deadline passed with the task unfinished: end it `gave_up`, saying why."""

    reason: str


def after_unfinished(
    task: TrackedTask, now: float, config: TrackerConfig, error: str | None
) -> PollAgain | GiveUp:
    """Decide what follows a poll that found the task unfinished (or HSS briefly away).

    The interval doubles up to `poll_max`, and no poll is planned past the
    deadline; at or past it the task gives up, naming how long it waited and
    the last error, if any.
    """
    if now >= task.deadline:
        waited = duration_text(task.deadline - task.created_at)
        reason = f"the export task was still not finished after {waited}"
        if error:
            reason += f" (last error: {error})"
        return GiveUp(reason)
    interval = min(task.poll_interval * 2, config.poll_max)
    return PollAgain(at=min(now + interval, task.deadline), interval=interval)


def may_retry(task: TrackedTask, attempts: int, now: float, config: TrackerConfig) -> bool:
    """Tell whether a step that failed unexpectedly `attempts` times is tried again.

    Bounded by `max_attempts`; an active task also by its deadline. A finished
    task is only reporting (audit record, message): its deadline, meant for
    HSS, is no reason to give that up, so the attempts alone bound it.
    """
    if attempts >= config.max_attempts:
        return False
    return task.state not in ACTIVE_STATES or now + backoff(attempts, config) <= task.deadline


def transient(exc: HssError) -> bool:
    """Tell whether polling again later may succeed."""
    return isinstance(exc, HssUnavailable | HssAuthError) or (exc.status or 0) >= 500


# --- what the user and the audit log are told -----------------------------------------------


def hss_reason(exc: HssError) -> str:
    """Return HSS's message and error code (the request id is shown on its own)."""
    return f"{exc.message} (error code {exc.code})" if exc.code else exc.message


def safe_file_name(name: str | None, task_id: str) -> str:
    """Return HSS's file name without any directory part, or a name made from the task id."""
    base = (name or "").replace("\\", "/").rsplit("/", 1)[-1]
    base = "".join(ch for ch in base if ch.isprintable()).strip()
    if base in ("", ".", ".."):
        return f"hss-export-{task_id}"
    return base


def audit_delivery(task: TrackedTask) -> tuple[dict[str, Any] | None, str | None]:
    """Return what the audit log records for a finished task: the delivery, the error."""
    delivery: dict[str, Any] | None = None
    if task.state == "done":
        delivery = {"file_name": task.file_name, "size": task.file_size, "sha256": task.sha256}
        if task.summary_rows is not None:
            delivery["summary"] = {"rows": task.summary_rows}
        elif task.summary_note is not None:
            delivery["summary"] = {"none": task.summary_note}
    error = task.error
    if task.state != "done":
        error = f"{task.state}: {task.error or 'no detail'}"
        if task.error_request_id:
            error += f" (HSS request id {task.error_request_id})"
    return delivery, error


def step_outputs(task: TrackedTask, permalink: str) -> dict[str, str]:
    """Return a delivered task's Workflow step outputs (the manifest's `output_parameters`)."""
    return {
        "task_id": task.task_id,
        "file_name": task.file_name or safe_file_name(None, task.task_id),
        "permalink": permalink,
    }


def step_error(task: TrackedTask) -> str:
    """Return why a task that ended without its file fails its Workflow step, for the user."""
    _delivery, error = audit_delivery(task)
    return f"the HSS export task {task.task_id} delivered no file ({error})"
