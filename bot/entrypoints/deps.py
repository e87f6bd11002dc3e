"""What the Slack listeners share: the use case, the ports, the access policy, Slack delivery."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Final

from slack_sdk.web.async_client import AsyncWebClient

from bot.access import AccessControl
from bot.adapters.slack_notifier import SlackNotifier
from bot.domain.grammar import RequestDefaults
from bot.domain.model import ExportRequest
from bot.lifecycle import Lifecycle
from bot.ports import AuditLog, Hss
from bot.service import ExportService
from bot.settings import Settings

COMMAND: Final = "/hss-export"

Describe = Callable[[ExportRequest], dict[str, Any]]
Count = Callable[[str], None]


def ignore_count(_outcome: str) -> None:
    """Count nothing (the default when no metrics are wired)."""


@dataclass(frozen=True)
class AppDeps:
    """Everything a listener may use; built once by `create_app`.

    `prompt_client` makes the Web API calls that come before an ack (views.open):
    no retries, a short timeout. `count(outcome)` is told of commands the
    listeners answer themselves without the use case (`draining`).
    """

    settings: Settings
    service: ExportService
    hss: Hss
    audit: AuditLog
    access: AccessControl
    notifier: SlackNotifier
    describe: Describe
    defaults: RequestDefaults
    lifecycle: Lifecycle
    prompt_client: AsyncWebClient
    count: Count = ignore_count
    command: str = COMMAND

    def track_this_run(self) -> None:
        """Register the running listener so a graceful shutdown waits for its post-ack work."""
        task = asyncio.current_task()
        if task is not None:
            self.lifecycle.track(task)
