"""What the Slack listeners share: the use cases, Slack delivery, the lifecycle, the settings."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Final

from slack_sdk.web.async_client import AsyncWebClient

from bot.access import ApprovalPolicy
from bot.adapters.slack_home import SlackHome
from bot.adapters.slack_notifier import SlackNotifier
from bot.adapters.slack_workspace import SlackWorkspace
from bot.domain.grammar import RequestDefaults
from bot.domain.model import ExportRequest
from bot.lifecycle import Lifecycle
from bot.ports import UserZones
from bot.settings import Settings
from bot.usecases import (
    ApprovalService,
    CommandHistory,
    Count,
    ExportService,
    Gatekeeper,
    SavedExports,
    TaskStatusQuery,
    ignore_count,
)
from bot.usecases.schedules import ScheduleService

COMMAND: Final = "/hss-export"
# What runs before an ack (views.open, recording a refusal) must be done by then, from the
# listener's start, so the ack reaches Slack within its 3 seconds whatever Slack or the
# audit log does.
ANSWER_DEADLINE_SECONDS: Final = 2.2

Describe = Callable[[ExportRequest], dict[str, Any]]

__all__ = ["ANSWER_DEADLINE_SECONDS", "COMMAND", "AppDeps", "Count", "Describe", "ignore_count"]


@dataclass(frozen=True)
class AppDeps:
    """Everything a listener may use; built once by `create_app`.

    The use cases: `service` (export), `gate` (access and refusals), `status`
    and `history`. `prompt_client` makes the Web API calls that come before
    an ack (views.open): no retries, a short timeout. `home` publishes App Homes.
    `count(outcome)` is told of commands the listeners answer themselves without a
    use case (`draining`).
    """

    settings: Settings
    service: ExportService
    gate: Gatekeeper
    status: TaskStatusQuery
    history: CommandHistory
    notifier: SlackNotifier
    describe: Describe
    defaults: RequestDefaults
    lifecycle: Lifecycle
    prompt_client: AsyncWebClient
    home: SlackHome
    # The workspace's address (auth.test's `url`): links to messages are built on it.
    workspace: SlackWorkspace
    count: Count = ignore_count
    command: str = COMMAND
    # The two-person rule: the policy always; the service when the approval store is open.
    approval_policy: ApprovalPolicy = field(default_factory=ApprovalPolicy)
    approvals: ApprovalService | None = None
    # Schedules of saved exports (issue 15): None when their stores are not open.
    schedules: ScheduleService | None = None
    # Users' Slack time zones (users.info): the App Home shows times in the user's.
    zones: UserZones | None = None
    # Saved exports (issue 15): None when no store is open (`save`, `run`, … say so).
    saved: SavedExports | None = None

    def answer_deadline(self) -> float:
        """Return the event-loop time by which a listener starting now must have acked."""
        return asyncio.get_running_loop().time() + ANSWER_DEADLINE_SECONDS
