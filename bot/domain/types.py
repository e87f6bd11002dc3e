"""The data every layer shares: who asked, what HSS answered, what the audit log holds.

Plain, frozen values with no behaviour beyond their fields, so the domain, the
use cases and the adapters can all speak of them without importing each other:
the identity of a command, what HSS and the audit log hold, and what came of an
export (`Submitted`, `Failed`, `Duplicate`) with where its answers go.
"""

from __future__ import annotations

import copy
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from types import MappingProxyType
from typing import Any, Final, Literal, get_args

from bot.domain.errors import BotError

# `workflow`: a Workflow Builder step (`hss_container_export`) run for the user the workflow names.
# `approval`: the export an approver let run (the requester stays the actor; issue 14).
# `schedule`: a run of a schedule (the owner is the actor; issue 15).
# `home`: a button on the App Home (Run now of a saved export).
Source = Literal["slash", "modal", "cli", "workflow", "approval", "schedule", "home"]
# `unknown`: the create may have reached HSS (read timeout, 502/504, an unreadable answer);
# whether a task exists must be checked in the console before anyone tries again.
# The two-person rule's: `awaiting_approval` (held, nothing sent to HSS), then `approved`
# (its export is a new entry, source `approval`), `denied_by_approver` or `expired`.
Outcome = Literal[
    "pending",
    "submitted",
    "invalid",
    "denied",
    "failed",
    "unknown",
    "awaiting_approval",
    "approved",
    "denied_by_approver",
    "expired",
    "saved",
    "forgotten",
    "scheduled",
    "paused",
    "resumed",
    "unscheduled",
]
# A change that is not an export (issue 15): a saved export or a schedule made, changed or
# removed. Audited like a command, in the chain, with the names it concerns.
Change = Literal["saved", "forgotten", "scheduled", "paused", "resumed", "unscheduled"]
CHANGES: Final[tuple[Change, ...]] = get_args(Change)
TaskState = Literal["running", "success", "failure"]


@dataclass(frozen=True)
class Actor:
    """Who asked, and where: the identity an audit entry is written for."""

    team_id: str
    user_id: str
    channel_id: str
    source: Source


@dataclass(frozen=True)
class CreatedTask:
    """HSS accepted a create call."""

    task_id: str
    request_id: str | None


@dataclass(frozen=True)
class TaskStatus:
    """What `GET /v5/{project_id}/export-task/{task_id}` says of a task."""

    task_id: str
    task_name: str | None
    task_status: TaskState
    file_id: str | None
    file_name: str | None
    request_id: str | None = None


@dataclass(frozen=True, eq=False)
class StoredRequest(Mapping[str, Any]):
    """A request as the audit log holds it: the query and body sent to HSS, read-only.

    Built by `from_record` from whatever a stored entry holds, so records written
    by older versions read too (a missing or null part reads as empty). As a
    `Mapping` it is that record, key for key: it equals the
    `ExportRequest.as_audit_record()` it was written from, and what summarises a
    record (`blocks.summarize`) reads a stored one and a fresh one alike.
    """

    record: Mapping[str, Any]

    @classmethod
    def from_record(cls, record: object) -> StoredRequest | None:
        """Read a stored `{"query": …, "body": …}` record; None if it holds no request."""
        if not isinstance(record, Mapping):
            return None
        return cls(MappingProxyType(dict(record)))

    @property
    def query(self) -> Mapping[str, Any]:
        """Return the query parameters sent (`export_size`, `enterprise_project_id`)."""
        return _part(self.record, "query")

    @property
    def body(self) -> Mapping[str, Any]:
        """Return the JSON body sent (the filters and `export_headers`)."""
        return _part(self.record, "body")

    @property
    def enterprise_project_id(self) -> str | None:
        """Return the enterprise project the request named, or None (HSS's default)."""
        value = self.query.get("enterprise_project_id")
        return str(value) if value else None

    @property
    def profile(self) -> str | None:
        """Return the HSS profile the request went to; None for records older than profiles."""
        value = self.record.get("profile")
        return value if isinstance(value, str) and value else None

    def as_record(self) -> dict[str, Any]:
        """Return a copy of the record exactly as stored (for exports of the log)."""
        return copy.deepcopy(dict(self.record))

    def __getitem__(self, key: str) -> Any:
        return self.record[key]

    def __iter__(self) -> Iterator[str]:
        return iter(self.record)

    def __len__(self) -> int:
        return len(self.record)


def _part(record: Mapping[str, Any], name: str) -> Mapping[str, Any]:
    value = record.get(name)
    return value if isinstance(value, Mapping) else MappingProxyType({})


@dataclass(frozen=True)
class AuditEntry:
    """One command as the audit log holds it (its latest outcome folded in)."""

    id: int
    at: datetime
    team_id: str
    user_id: str
    channel_id: str
    source: Source
    request: StoredRequest | None
    outcome: Outcome
    task_id: str | None = None
    hss_request_id: str | None = None
    error: str | None = None
    delivery: dict[str, Any] | None = None
    extra: dict[str, Any] = field(default_factory=dict)
    # Who decided an approval (on the held entry), or who approved this export (source approval).
    approver: str | None = None
    # Where the export came from (issue 15): the saved export it ran, the schedule that ran it.
    saved_export: str | None = None
    schedule: str | None = None
    # What a change (`saved`, `paused`, …) did, in a few words: the fields saved, the cron.
    detail: str | None = None


# --- What came of an export, and where its answers go ----------------------------------


@dataclass(frozen=True)
class ReplyTo:
    """Where the answer to a command goes: the channel, and Slack's fallback URL if any."""

    channel_id: str
    response_url: str | None = None


@dataclass(frozen=True)
class Announcement:
    """Where a task's follow-up goes: where its announcement landed, the message to thread under.

    `channel_id` is a channel or DM id (`C…`, `G…`, `D…`), or a user id when
    the follow-up must go to that user's DM with the app and no message is
    there yet. `ts` is the announcement to thread under; None if there is none.
    """

    channel_id: str
    ts: str | None = None


@dataclass(frozen=True)
class Submitted:
    """HSS took the export; `audit_complete` is False if the outcome could not be recorded.

    `announced`: where the task was announced (its thread takes the file and
    summary), once `ExportService.export` has told the channel; None before,
    or when Slack took no message.
    """

    entry_id: int
    task: CreatedTask
    audit_complete: bool = True
    announced: Announcement | None = None


@dataclass(frozen=True)
class Failed:
    """HSS (or the audit log) refused or failed the export; the error is safe to show."""

    entry_id: int | None
    error: BotError


@dataclass(frozen=True)
class Duplicate:
    """The command was seen before (a retry or double submit); nothing was sent again."""

    entry_id: int


ExportResult = Submitted | Failed | Duplicate
