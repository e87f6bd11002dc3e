"""Build the follow-through stack for tests: fake HSS and Slack, the real adapters between.

`FilesSlack` extends the shared `FakeSlack` where the tracker needs more than
it offers: the upload URL is read as a stream (any size, hashed on the fly,
bytes kept only if asked) and `files.info` answers where a file was shared.
`tracker_stack()` wires a real `HssClient`, `SqlAuditLog`, `SqlTaskStore`,
`SlackFiles` and `TaskTracker` (plus the `ExportService` that feeds it).
"""

from __future__ import annotations

import asyncio
import hashlib
import time
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web

from bot.adapters.audit_store import SqlAuditLog, open_audit_log
from bot.adapters.hss import HssClient, build_hss_client
from bot.adapters.slack_files import SlackFiles
from bot.adapters.slack_notifier import SlackNotifier, build_web_client
from bot.adapters.task_store import SqlTaskStore, open_task_store
from bot.domain.model import ExportBody, ExportRequest, default_headers
from bot.ports import Actor
from bot.service import ExportService, ReplyTo, Submitted
from bot.settings import Settings
from bot.tracker import TaskTracker, TrackedTask, TrackerConfig
from emulators.fake_hss import FakeHss
from emulators.fake_slack import FakeSlack, _error, _json_list, _ok

CHANNEL = "C0EXPORTS"
ALICE = Actor(team_id="T0FAKE", user_id="U0ALICE", channel_id=CHANNEL, source="slash")
READ_CHUNK = 256 * 1024


@dataclass(frozen=True)
class SharedFile:
    """A file `files.completeUploadExternal` made visible, as the channel would show it."""

    id: str
    filename: str
    title: str | None
    size: int
    sha256: str
    channel_id: str | None
    thread_ts: str | None
    data: bytes | None = field(default=None, repr=False)


@dataclass
class _Received:
    filename: str
    length: int
    size: int = 0
    sha256: str | None = None
    data: bytes | None = None


class FilesSlack(FakeSlack):
    """FakeSlack with a streaming upload URL and `files.info`; records shares in `shared`."""

    def __init__(self, *, keep_bytes: bool = True, files_info: bool = True, **kw: Any) -> None:
        super().__init__(**kw)
        self.keep_bytes = keep_bytes
        self.files_info = files_info
        self.shared: list[SharedFile] = []
        self._received: dict[str, _Received] = {}

    async def start(self) -> FilesSlack:
        """Listen on a free loopback port, uploads streamed rather than read whole."""
        await super().start()
        return self

    async def _m_files_getUploadURLExternal(self, params: dict[str, Any]) -> web.Response:
        response = await super()._m_files_getUploadURLExternal(params)
        for file_id, upload in self._uploads.items():
            self._received.setdefault(file_id, _Received(upload.filename, upload.length))
        return response

    async def _upload(self, request: web.Request) -> web.Response:
        received = self._received.get(request.match_info["file_id"])
        if received is None:
            return web.Response(status=404, text="not found")
        digest, size, kept = hashlib.sha256(), 0, bytearray()
        async for chunk in request.content.iter_chunked(READ_CHUNK):
            digest.update(chunk)
            size += len(chunk)
            if self.keep_bytes:
                kept += chunk
        received.size, received.sha256 = size, digest.hexdigest()
        received.data = bytes(kept) if self.keep_bytes else None
        return web.Response(text=f"OK - {size}")

    async def _m_files_completeUploadExternal(self, params: dict[str, Any]) -> web.Response:
        items = _json_list(params.get("files"))
        if not items:
            return _error("invalid_arguments")
        channel_id = params.get("channel_id")
        if channel_id and (error := self._channel_error(str(channel_id))) is not None:
            return _error(error)
        done = []
        for item in items:
            received = self._received.get(str(item.get("id")))
            if received is None or received.sha256 is None:
                return _error("file_not_found")
            if received.size != received.length:
                return _error("file_size_mismatch")
            self.shared.append(
                SharedFile(
                    id=str(item["id"]),
                    filename=received.filename,
                    title=item.get("title"),
                    size=received.size,
                    sha256=received.sha256,
                    channel_id=str(channel_id) if channel_id else None,
                    thread_ts=params.get("thread_ts"),
                    data=received.data,
                )
            )
            done.append({"id": item["id"], "title": item.get("title")})
        return _ok(files=done)

    async def _m_files_info(self, params: dict[str, Any]) -> web.Response:
        if not self.files_info:
            return _error("unknown_method", status=404)
        file_id = str(params.get("file") or "")
        if file_id not in self._received:
            return _error("file_not_found")
        channels = sorted({f.channel_id for f in self.shared if f.id == file_id and f.channel_id})
        public = {c: [{"ts": "1.000001"}] for c in channels}
        return _ok(file={"id": file_id, "channels": channels, "shares": {"public": public}})


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

    async def export(self, ts_channel: str = CHANNEL) -> Submitted:
        """Run one export through the service: HSS task, audit entry, task_id message, follow."""
        result = await self.service.export(ALICE, export_request(), ReplyTo(ts_channel))
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
        hss,
        wrap_delivery(delivery) if wrap_delivery else delivery,
        wrap_audit(audit) if wrap_audit else audit,
        TrackerConfig.from_settings(settings, **config),
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
