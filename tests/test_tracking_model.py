"""The followed task's rules, without a database: states, polling, giving up, what is recorded."""

from __future__ import annotations

import asyncio
import dataclasses
from typing import Any

import pytest

from bot.domain.errors import HssAuthError, HssError, HssUnavailable
from bot.tracking.job import Job
from bot.tracking.lease import Leases
from bot.tracking.model import (
    ACTIVE_STATES,
    FINAL_STATES,
    NEXT_STATES,
    GiveUp,
    IllegalMove,
    PollAgain,
    TrackedTask,
    TrackerConfig,
    after_unfinished,
    audit_delivery,
    backoff,
    check_move,
    hss_reason,
    may_retry,
    safe_file_name,
    step_error,
    step_outputs,
    transient,
)

CONFIG = TrackerConfig(poll_initial=5.0, poll_max=60.0, give_up_after=7200.0, max_attempts=5)
TASK = TrackedTask(
    task_id="t1",
    entry_id=7,
    channel_id="C0EXPORTS",
    thread_ts="1.1",
    user_id="U0ALICE",
    enterprise_project_id=None,
    request=None,
    hss_request_id="req-create",
    state="tracking",
    created_at=1000.0,
    next_poll_at=1005.0,
    poll_interval=5.0,
    deadline=1000.0 + 7200.0,
    updated_at=1000.0,
)


def task(**changes: Any) -> TrackedTask:
    """Return the sample task with some fields changed."""
    return dataclasses.replace(TASK, **changes)


# --- which state follows which --------------------------------------------------------------


@pytest.mark.parametrize(
    ("old", "new"),
    [
        pytest.param("tracking", "delivering", id="hss-finished"),
        pytest.param("tracking", "failed", id="hss-failed"),
        pytest.param("tracking", "gave_up", id="deadline"),
        pytest.param("delivering", "sharing", id="uploaded"),
        pytest.param("delivering", "too_large", id="over-limit"),
        pytest.param("delivering", "failed", id="slack-refused"),
        pytest.param("sharing", "done", id="shared"),
        pytest.param("sharing", "failed", id="share-refused"),
        pytest.param("delivering", "delivering", id="save-within-a-step"),
        pytest.param("done", "done", id="reporting-a-finished-task"),
    ],
)
def test_moves_of_the_state_diagram_are_allowed(old: str, new: str) -> None:
    """Every arrow of the tracker's state diagram (and staying put) passes the check."""
    check_move("t1", old, new)


@pytest.mark.parametrize(
    ("old", "new"),
    [
        pytest.param("tracking", "done", id="done-without-a-file"),
        pytest.param("tracking", "sharing", id="sharing-without-an-upload"),
        pytest.param("tracking", "too_large", id="too-large-before-download"),
        pytest.param("delivering", "tracking", id="back-to-polling"),
        pytest.param("delivering", "done", id="done-without-a-share"),
        pytest.param("sharing", "delivering", id="upload-again-after-share"),
        pytest.param("sharing", "too_large", id="too-large-after-upload"),
        pytest.param("done", "tracking", id="finished-task-restarts"),
        pytest.param("failed", "done", id="failed-becomes-done"),
        pytest.param("gave_up", "delivering", id="gave-up-delivers"),
        pytest.param("too_large", "sharing", id="too-large-shares"),
    ],
)
def test_moves_outside_the_diagram_are_refused(old: str, new: str) -> None:
    """A state change the diagram lacks (say, a finished task restarting) raises, naming both."""
    with pytest.raises(IllegalMove, match=f"t1: {old} cannot become {new}"):
        check_move("t1", old, new)


def test_final_states_lead_nowhere_and_every_active_state_can_end() -> None:
    """No final state has a successor, and from every active state some final state is reachable."""
    assert set(NEXT_STATES) == ACTIVE_STATES | FINAL_STATES
    assert all(not NEXT_STATES[state] for state in FINAL_STATES)
    for state in ACTIVE_STATES:
        assert NEXT_STATES[state] & FINAL_STATES, state


@pytest.mark.parametrize(
    ("state", "audit_done", "message_done", "settled"),
    [
        ("done", True, True, True),
        ("failed", True, True, True),
        ("gave_up", True, True, True),
        ("too_large", True, True, True),
        ("done", True, False, False),
        ("done", False, True, False),
        ("done", False, False, False),
        ("sharing", True, True, False),
        ("tracking", True, True, False),
    ],
)
def test_a_task_is_settled_once_final_audited_and_reported(
    state: str, audit_done: bool, message_done: bool, settled: bool
) -> None:
    """Only a finished task whose audit record and message are both written is left alone."""
    given = task(state=state, audit_done=audit_done, message_done=message_done)
    assert given.settled is settled


@pytest.mark.parametrize(
    ("step_execution_id", "step_done", "settled"),
    [(None, False, True), ("Fx0001", False, False), ("Fx0001", True, True)],
)
def test_a_task_a_workflow_started_settles_only_once_its_step_is_finished(
    step_execution_id: str | None, step_done: bool, settled: bool
) -> None:
    """A reported task with a Workflow step still to complete is not left alone yet."""
    given = task(
        state="done",
        audit_done=True,
        message_done=True,
        step_execution_id=step_execution_id,
        step_done=step_done,
    )
    assert given.settled is settled


def test_step_outputs_and_error_say_what_the_workflow_shows() -> None:
    """A delivered task's outputs name the task, file and link; a failed one says why."""
    done = task(state="done", file_name="export.xlsx")
    failed = task(state="failed", error="HSS says no (error code HSS.1)")

    assert step_outputs(done, "https://link") == {
        "task_id": done.task_id,
        "file_name": "export.xlsx",
        "permalink": "https://link",
    }
    assert step_error(failed) == (
        f"the HSS export task {failed.task_id} delivered no file "
        "(failed: HSS says no (error code HSS.1))"
    )


class MemoryStore:
    """Tracked tasks in a dict, saved only by the lease's owner (the `TaskStore` port's save)."""

    def __init__(self, *tasks: TrackedTask) -> None:
        self.tasks = {t.task_id: t for t in tasks}

    async def save(self, task: TrackedTask, owner: str) -> bool:
        """Write the task if `owner` holds its lease."""
        if self.tasks[task.task_id].lease_owner != owner:
            return False
        self.tasks[task.task_id] = task
        return True


def job_on(store: MemoryStore) -> Job:
    """Return a step context whose saves go to `store` as worker "w1" (no HSS or Slack used)."""
    leases = Leases(
        store,  # type: ignore[arg-type]  # saving is all these tests ask of the store
        "w1",
        lease_seconds=60.0,
        clock=lambda: 2000.0,
        sleep=asyncio.sleep,
    )
    return Job(None, None, None, CONFIG, leases, lambda: 2000.0)  # type: ignore[arg-type]


async def test_a_step_saves_a_move_of_the_diagram() -> None:
    """A poll that finds the file moves the stored task to `delivering`."""
    store = MemoryStore(task(lease_owner="w1"))
    await job_on(store).save(store.tasks["t1"], state="delivering", file_id="f1")
    assert (store.tasks["t1"].state, store.tasks["t1"].file_id) == ("delivering", "f1")


async def test_a_step_cannot_save_a_move_outside_the_diagram() -> None:
    """A buggy step that would mark a polled task done is stopped before the store changes."""
    store = MemoryStore(task(lease_owner="w1"))
    with pytest.raises(IllegalMove):
        await job_on(store).save(store.tasks["t1"], state="done")
    assert store.tasks["t1"].state == "tracking"


# --- when to look again -----------------------------------------------------------------


@pytest.mark.parametrize(
    ("attempts", "wait"),
    [(1, 5.0), (2, 10.0), (3, 20.0), (4, 40.0), (5, 60.0), (9, 60.0)],
)
def test_retries_back_off_doubling_up_to_the_maximum(attempts: int, wait: float) -> None:
    """A failing step waits the first poll interval, then twice as long each time, capped."""
    assert backoff(attempts, CONFIG) == wait


@pytest.mark.parametrize(
    ("interval", "next_interval"),
    [(5.0, 10.0), (10.0, 20.0), (20.0, 40.0), (40.0, 60.0), (60.0, 60.0)],
)
def test_poll_interval_doubles_up_to_the_maximum(interval: float, next_interval: float) -> None:
    """While HSS is still working, each poll waits twice as long as the last, up to poll_max."""
    now = 2000.0
    decision = after_unfinished(task(poll_interval=interval), now, CONFIG, None)
    assert decision == PollAgain(at=now + next_interval, interval=next_interval)


def test_no_poll_is_planned_past_the_deadline() -> None:
    """Close to the deadline the next poll is at the deadline itself, so it is not overslept."""
    now = TASK.deadline - 3.0
    decision = after_unfinished(task(poll_interval=60.0), now, CONFIG, None)
    assert decision == PollAgain(at=TASK.deadline, interval=60.0)


@pytest.mark.parametrize(
    ("now", "error", "reason"),
    [
        pytest.param(
            TASK.deadline,
            None,
            "the export task was still not finished after 2 h",
            id="at-the-deadline",
        ),
        pytest.param(
            TASK.deadline + 500.0,
            "HSS is unavailable (HTTP 503)",
            "the export task was still not finished after 2 h "
            "(last error: HSS is unavailable (HTTP 503))",
            id="past-it-with-hss-down",
        ),
    ],
)
def test_a_task_past_its_deadline_gives_up_and_says_so(
    now: float, error: str | None, reason: str
) -> None:
    """At or past the deadline the task gives up, saying how long it waited and the last error."""
    assert after_unfinished(TASK, now, CONFIG, error) == GiveUp(reason)


@pytest.mark.parametrize(
    ("state", "attempts", "now", "retried"),
    [
        pytest.param("tracking", 1, 1000.0, True, id="first-failure"),
        pytest.param("tracking", 4, 1000.0, True, id="last-allowed-attempt"),
        pytest.param("tracking", 5, 1000.0, False, id="attempts-spent"),
        pytest.param("delivering", 1, TASK.deadline - 1.0, False, id="retry-would-pass-deadline"),
        pytest.param("sharing", 2, TASK.deadline - 10.0, True, id="retry-lands-on-deadline"),
        pytest.param("done", 1, TASK.deadline + 3600.0, True, id="reporting-past-deadline"),
        pytest.param("failed", 5, 1000.0, False, id="reporting-attempts-spent"),
    ],
)
def test_an_unexpected_error_is_retried_within_attempts_and_deadline(
    state: str, attempts: int, now: float, retried: bool
) -> None:
    """A broken step retries up to max_attempts; an active task never past its deadline."""
    assert may_retry(task(state=state), attempts, now, CONFIG) is retried


@pytest.mark.parametrize(
    ("error", "passing"),
    [
        pytest.param(HssUnavailable("HSS is unavailable"), True, id="unreachable"),
        pytest.param(HssAuthError("token refused", status=401), True, id="token-refused"),
        pytest.param(HssError("server error", status=502), True, id="5xx"),
        pytest.param(HssError("no such task", status=404, code="HSS.1004"), False, id="4xx"),
        pytest.param(HssError("no status"), False, id="no-status"),
    ],
)
def test_only_errors_that_may_pass_keep_a_task_polling(error: HssError, passing: bool) -> None:
    """HSS down, a refused token or a 5xx are polled again; a 4xx ends the task."""
    assert transient(error) is passing


@pytest.mark.parametrize(
    ("error", "reason"),
    [
        (
            HssError("no such task", code="HSS.1004", request_id="r-1"),
            "no such task (error code HSS.1004)",
        ),
        (HssError("no such task", request_id="r-1"), "no such task"),
    ],
)
def test_hss_reasons_name_the_error_code_not_the_request_id(error: HssError, reason: str) -> None:
    """The user reads HSS's message and code; the request id is shown on its own line."""
    assert hss_reason(error) == reason


# --- what the audit log is told ---------------------------------------------------------


@pytest.mark.parametrize(
    ("changes", "delivery", "error"),
    [
        pytest.param(
            {"state": "done", "file_name": "x.xlsx", "file_size": 12, "sha256": "ab"},
            {"file_name": "x.xlsx", "size": 12, "sha256": "ab"},
            None,
            id="delivered",
        ),
        pytest.param(
            {"state": "done", "file_name": "x.xlsx", "file_size": 12, "sha256": "ab",
             "error": "delivery not confirmed: Slack could not say"},
            {"file_name": "x.xlsx", "size": 12, "sha256": "ab"},
            "delivery not confirmed: Slack could not say",
            id="delivered-unconfirmed",
        ),
        pytest.param(
            {"state": "failed", "error": "HSS reports that the export task failed",
             "error_request_id": "req-9"},
            None,
            "failed: HSS reports that the export task failed (HSS request id req-9)",
            id="failed-at-hss",
        ),
        pytest.param(
            {"state": "too_large", "error": "larger than the upload limit (100 MB)"},
            None,
            "too_large: larger than the upload limit (100 MB)",
            id="too-large",
        ),
        pytest.param({"state": "gave_up"}, None, "gave_up: no detail", id="no-detail"),
    ],
)  # fmt: skip
def test_the_audit_record_says_what_became_of_the_file(
    changes: dict[str, Any], delivery: dict[str, Any] | None, error: str | None
) -> None:
    """A delivered file is recorded by name, size and hash; anything else by state and reason."""
    assert audit_delivery(task(**changes)) == (delivery, error)


@pytest.mark.parametrize(
    ("given", "used"),
    [
        ("container-export.xlsx", "container-export.xlsx"),
        ("../../etc/passwd", "passwd"),
        ("C:\\\\temp\\\\x.csv", "x.csv"),
        ("..", "hss-export-t1"),
        ("", "hss-export-t1"),
        (None, "hss-export-t1"),
    ],
)
def test_file_names_from_hss_never_carry_a_directory(given: str | None, used: str) -> None:
    """HSS's file_name is used without any path part, so it cannot escape a directory."""
    assert safe_file_name(given, "t1") == used


def test_file_names_lose_control_characters() -> None:
    """A file name with a newline or escape sequence reaches Slack and disk without them."""
    assert safe_file_name("re\nport\x1b[31m.xlsx ", "t1") == "report[31m.xlsx"
