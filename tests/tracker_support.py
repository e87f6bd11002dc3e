"""Build the follow-through stack for tests: fake HSS and Slack, the real adapters between.

`tracker_stack()` wires a real `HssClient`, `SqlAuditLog`, `SqlTaskStore`,
`SlackFiles` and `TaskTracker` (plus the `ExportService` that feeds it) to a
`FakeHss` and a `FakeSlack` (whose upload flow streams, records shares in
`files` and answers `files.info`).
"""

from __future__ import annotations

import asyncio
import hashlib
import time
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Any

from bot.adapters.audit_store import SqlAuditLog, open_audit_log
from bot.adapters.hss import HssClient, build_hss_client
from bot.adapters.slack_files import SlackFiles
from bot.adapters.slack_notifier import SlackNotifier, build_web_client
from bot.adapters.task_store import SqlTaskStore, open_task_store
from bot.bootstrap import tracker_config
from bot.domain.model import ExportBody, ExportRequest, default_headers
from bot.domain.types import Actor, ReplyTo, Submitted
from bot.settings import Settings
from bot.tracking.model import TrackedTask
from bot.tracking.tracker import TaskTracker
from bot.usecases import ExportService
from emulators.fake_hss import FakeHss
from emulators.fake_slack import FakeSlack

CHANNEL = "C0EXPORTS"
ALICE = Actor(team_id="T0FAKE", user_id="U0ALICE", channel_id=CHANNEL, source="slash")


def fake_file_sha256(file_id: str, size: int, chunk_size: int = 64 * 1024) -> str:
    """Return the SHA-256 of the file FakeHss serves for `file_id`."""
    digest = hashlib.sha256()
    for chunk in FakeHss.file_chunks(file_id, size, chunk_size):
        digest.update(chunk)
    return digest.hexdigest()


def export_request(enterprise_project_id: str | None = None) -> ExportRequest:
    """Return a valid export request (all columns, English headers)."""
    query = {"enterprise_project_id": enterprise_project_id} if enterprise_project_id else {}
    return ExportRequest.model_validate(
        {"query": query, "body": ExportBody(export_headers=default_headers("en"))}
    )


def tracker_env(hss: FakeHss, slack: FakeSlack, db_url: str, **overrides: Any) -> dict[str, str]:
    """Return the environment of a bot aimed at the fakes, polling every few milliseconds."""
    values: dict[str, Any] = {
        "HSS_ENDPOINT": hss.url,
        "HSS_PROJECT_ID": hss.project_id,
        "CLOUD_SDK_AK": hss.ak,
        "CLOUD_SDK_SK": hss.sk,
        "HSS_MAX_ATTEMPTS": 1,
        "SLACK_BOT_TOKEN": slack.bot_token,
        "SLACK_API_URL": slack.api_url,
        "AUDIT_DB_URL": db_url,
        "TASK_POLL_INITIAL_SECONDS": 0.01,
        "TASK_POLL_MAX_SECONDS": 0.04,
        "TASK_GIVE_UP_SECONDS": 30,
        "SHUTDOWN_GRACE_SECONDS": 1,
    }
    values.update(overrides)
    return {name: str(value) for name, value in values.items()}


def tracker_settings(hss: FakeHss, slack: FakeSlack, db_url: str, **overrides: Any) -> Settings:
    """Return the settings `tracker_env` describes."""
    return Settings(_env_file=None, **tracker_env(hss, slack, db_url, **overrides))


@dataclass
class TrackerStack:
    """One bot instance's follow-through parts, on shared fakes and a shared database."""

    settings: Settings
    hss: HssClient
    audit: SqlAuditLog
    store: SqlTaskStore
    delivery: SlackFiles
    tracker: TaskTracker
    service: ExportService
    runners: list[asyncio.Task[None]] = field(default_factory=list)

    async def export(self, reply: ReplyTo | None = None) -> Submitted:
        """Run one export through the service: HSS task, audit entry, task_id message, follow."""
        result = await self.service.export(ALICE, export_request(), reply or ReplyTo(CHANNEL))
        assert isinstance(result, Submitted), result
        return result

    def start(self) -> asyncio.Task[None]:
        """Start the tracker's worker loop in the background."""
        runner = asyncio.create_task(self.tracker.run())
        self.runners.append(runner)
        return runner

    async def settled(self, task_id: str) -> TrackedTask:
        """Return a tracked task, asserting it exists."""
        task = await self.store.get(task_id)
        assert task is not None
        return task


@asynccontextmanager
async def tracker_stack(
    settings: Settings,
    *,
    clock: Callable[[], float] = time.time,
    wrap_delivery: Callable[[SlackFiles], Any] | None = None,
    wrap_audit: Callable[[SqlAuditLog], Any] | None = None,
    wrap_hss: Callable[[HssClient], Any] | None = None,
    **config: Any,
) -> AsyncIterator[TrackerStack]:
    """Build a bot instance's parts on the settings' fakes and database; close them after."""
    config.setdefault("idle_seconds", 0.01)
    config.setdefault("lease_seconds", 5.0)
    hss = build_hss_client(settings)
    audit = await open_audit_log(settings.AUDIT_DB_URL)
    store = await open_task_store(settings.AUDIT_DB_URL)
    client = build_web_client(settings)
    delivery = SlackFiles(client)
    tracker = TaskTracker(
        store,
        wrap_hss(hss) if wrap_hss else hss,
        wrap_delivery(delivery) if wrap_delivery else delivery,
        wrap_audit(audit) if wrap_audit else audit,
        tracker_config(settings, **config),
        clock=clock,
    )
    service = ExportService(hss, audit, SlackNotifier(client), follower=tracker)
    stack = TrackerStack(settings, hss, audit, store, delivery, tracker, service)
    try:
        yield stack
    finally:
        for runner in stack.runners:
            runner.cancel()
        await asyncio.gather(*stack.runners, return_exceptions=True)
        await delivery.aclose()
        await store.aclose()
        await audit.aclose()
        await hss.aclose()


async def wait_settled(store: SqlTaskStore, task_ids: list[str], seconds: float = 15.0) -> None:
    """Poll the store until every task is settled; fail if they are not within `seconds`."""
    deadline = time.monotonic() + seconds
    while True:
        tasks = [await store.get(task_id) for task_id in task_ids]
        if all(t is not None and t.settled for t in tasks):
            return
        if time.monotonic() > deadline:
            states = {t.task_id: t.state for t in tasks if t is not None}
            raise AssertionError(f"tasks not settled in time: {states}")
        await asyncio.sleep(0.02)


async def wait_for(condition: Callable[[], bool], seconds: float = 10.0) -> None:
    """Poll until `condition()` holds; fail the test if it does not within `seconds`."""
    deadline = time.monotonic() + seconds
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError("condition not met in time")
        await asyncio.sleep(0.01)
