"""What every step of an export task works with: the outside world, the lease, the clock.

The steps (`poll`, `deliver`, `share`, `report`) are functions of a `Job` and
a task, so each reads alone and a new kind of due work would get its own
context rather than a bigger class.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from bot.ports import AuditLog, Hss, HssDirectory
from bot.tracking.lease import Leases
from bot.tracking.model import TrackedTask, TrackerConfig, backoff, check_move
from bot.tracking.ports import FileDelivery, StepCompletion

if TYPE_CHECKING:  # the summary step imports this module
    from bot.tracking.summaries import Summaries


@dataclass(frozen=True)
class Job:
    """The collaborators of an export task's steps."""

    hss: Hss
    delivery: FileDelivery
    audit: AuditLog
    config: TrackerConfig
    leases: Leases
    clock: Callable[[], float]
    steps: StepCompletion | None = None  # Workflow Builder steps; None where none are run
    summaries: Summaries | None = None  # None: no summary in the thread (issue 13)

    def hss_of(self, task: TrackedTask) -> Hss:
        """Return the HSS client of the task's profile (the fallback for older rows)."""
        if isinstance(self.hss, HssDirectory):
            return self.hss.for_profile(task.profile)
        return self.hss

    async def save(self, task: TrackedTask, **changes: Any) -> TrackedTask:
        """Save changes under the lease, refusing a state change the state machine lacks."""
        check_move(task.task_id, task.state, changes.get("state", task.state))
        return await self.leases.save(task, **changes)

    def stage(self, task: TrackedTask, **changes: Any) -> TrackedTask:
        """Make a change the next save writes (`Leases.stage`), checked like a save."""
        check_move(task.task_id, task.state, changes.get("state", task.state))
        return self.leases.stage(task, **changes)

    async def retry_later(self, task: TrackedTask, **changes: Any) -> None:
        """Count a failed attempt and hand the task back, due again after the backoff.

        `changes` are saved with it (a delivery's error and request id).
        """
        attempts = task.attempts + 1
        await self.save(
            task,
            attempts=attempts,
            next_poll_at=self.clock() + backoff(attempts, self.config),
            lease_owner=None,
            lease_until=None,
            **changes,
        )
