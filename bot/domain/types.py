"""The data every layer shares: who asked, what HSS answered, what the audit log holds.

Plain, frozen values with no behaviour beyond their fields, so the domain, the
use cases and the adapters can all speak of them without importing each other.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Literal

Source = Literal["slash", "modal", "cli"]
# `unknown`: the create may have reached HSS (read timeout, 502/504, an unreadable answer);
# whether a task exists must be checked in the console before anyone tries again.
Outcome = Literal["pending", "submitted", "invalid", "denied", "failed", "unknown"]
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


@dataclass(frozen=True)
class AuditEntry:
    """One command as the audit log holds it (its latest outcome folded in)."""

    id: int
    at: datetime
    team_id: str
    user_id: str
    channel_id: str
    source: Source
    request: dict[str, Any] | None
    outcome: Outcome
    task_id: str | None = None
    hss_request_id: str | None = None
    error: str | None = None
    delivery: dict[str, Any] | None = None
    extra: dict[str, Any] = field(default_factory=dict)
