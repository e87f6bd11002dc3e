"""Wire everything once: settings in, a running bot out.

The one place that builds clients, opens stores and connects the use case to
its adapters. Nothing here runs at import time; `build_runtime` is awaited by
the `serve`, `socket` and `demo` commands (and by end-to-end tests, which pass
loopback fakes through `SLACK_API_URL` / `HSS_ENDPOINT`, never monkeypatches).
The module is longer than 400 lines because the wiring of every part is easier to check
in one place (the runtime, its background work and its shutdown beside what they close).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import socket
import time
from collections.abc import Awaitable, Callable, Coroutine
from dataclasses import dataclass, field
from typing import Any, Final

from aiohttp import web
from slack_bolt.async_app import AsyncApp
from slack_bolt.request.async_request import AsyncBoltRequest
from slack_bolt.response import BoltResponse
from slack_sdk.errors import SlackApiError, SlackClientError
from slack_sdk.web.async_client import AsyncWebClient

from bot.adapters.approval_store import open_approval_store
from bot.adapters.audit_store import Appended, OnAppend, SqlAuditLog, open_audit_log
from bot.adapters.digest_store import SqlDigestStore, open_digest_store
from bot.adapters.hss_profiles import (
    HssProfiles,
    InstrumentedHss,
    build_profile_client,
    fallback_name,
)
from bot.adapters.saved_store import open_saved_store
from bot.adapters.schedule_store import open_schedule_store
from bot.adapters.slack_approvals import SlackApprovalMessenger
from bot.adapters.slack_files import UPLOAD_TIMEOUT, SlackFiles
from bot.adapters.slack_http import SlackConnections
from bot.adapters.slack_notifier import (
    SLACK_TIMEOUT_SECONDS,
    AuditChannelMirror,
    SlackNotifier,
    build_web_client,
)
from bot.adapters.slack_steps import SlackSteps
from bot.adapters.slack_workspace import SlackWorkspace
from bot.adapters.task_store import SqlTaskStore, open_task_store
from bot.domain.errors import AuditUnavailable, TaskStoreUnavailable
from bot.entrypoints.slack_app import build_gate, create_app, request_defaults
from bot.entrypoints.web import HttpServer, start_http
from bot.health import ReadinessCheck, add_ops_routes
from bot.lifecycle import Lifecycle
from bot.metrics import Metrics, create_metrics
from bot.observability import correlation
from bot.ports import SavedExportStore, ScheduleStore
from bot.reading import ReadLimits, SummaryWorker
from bot.settings import Settings
from bot.tracking.model import TrackerConfig
from bot.tracking.summaries import Summaries
from bot.tracking.tracker import TaskTracker
from bot.tracking.worker import RELEASE_SECONDS, STOP_MARGIN_SECONDS
from bot.usecases import ApprovalExpiry, ExportService, Gatekeeper
from bot.usecases.schedule_runs import ScheduleRuns

log = logging.getLogger(__name__)

RETENTION_INTERVAL_SECONDS: Final = 24 * 3600
SLACK_RECHECK_SECONDS: Final = 60.0  # how long a passed (or failed) auth.test counts for /readyz
SLACK_CHECK_TIMEOUT_SECONDS: Final = 3.0
# auth.test errors that mean the bot token itself is not usable (not a passing Slack trouble).
TOKEN_REFUSED: Final = frozenset(
    {"invalid_auth", "not_authed", "token_revoked", "token_expired", "account_inactive"}
)


@dataclass
class Runtime:
    """Everything one bot process runs on, built by `build_runtime`."""

    settings: Settings
    app: AsyncApp
    service: ExportService
    tracker: TaskTracker
    audit: SqlAuditLog
    tasks: SqlTaskStore
    hss: HssProfiles
    web_client: AsyncWebClient
    lifecycle: Lifecycle
    metrics: Metrics
    files: SlackFiles
    workspace: SlackWorkspace
    digests: SqlDigestStore | None = None  # None: SUMMARIES_ENABLED is false
    slack_checked_at: float | None = None
    slack_ready: bool = False
    _tracker_task: asyncio.Task[None] | None = None
    _closers: list[Callable[[], Awaitable[None]]] = field(default_factory=list)

    def readiness_checks(self) -> list[ReadinessCheck]:
        """Return the /readyz checks: Slack auth.test passed (re-checked), database reachable."""

        async def slack() -> bool:
            checked = self.slack_checked_at
            if checked is None or time.monotonic() - checked > SLACK_RECHECK_SECONDS:
                await self.check_slack()
            return self.slack_ready

        return [
            ReadinessCheck("slack", slack, timeout=SLACK_CHECK_TIMEOUT_SECONDS + 0.5),
            ReadinessCheck("database", self.audit.ping),
        ]

    async def check_slack(self) -> None:
        """Call `auth.test` so /readyz reflects whether the bot token works now.

        Only Slack's word that the token is bad makes the replica unready; a slow or
        failing Slack keeps the last answer, so a Slack hiccup does not take every
        replica out of the load balancer at once. Its answer's `url` is the
        workspace's address, on which links to messages are built (`workspace`).
        """
        try:
            async with asyncio.timeout(SLACK_CHECK_TIMEOUT_SECONDS):
                answer = await self.web_client.auth_test()
        except SlackApiError as exc:
            data = getattr(exc.response, "data", None)  # a dict, or text from a proxy
            error = data.get("error") if isinstance(data, dict) else None
            if error in TOKEN_REFUSED:
                log.error("Slack refused the bot token", extra={"error": error})
                self.slack_ready = False
            else:
                log.warning("Slack auth.test failed", extra={"error": error})
        except (SlackClientError, OSError, TimeoutError) as exc:
            log.warning("Slack auth.test failed", extra={"error_type": type(exc).__name__})
        else:
            self.slack_ready = True
            self.workspace.learn(answer.data if isinstance(answer.data, dict) else {})
        self.slack_checked_at = time.monotonic()

    def start_background(self, *, run_once: bool = True) -> None:
        """Start the task tracker and, with AUDIT_RETENTION_DAYS and `run_once`, the pruning."""
        # Not a Lifecycle task: at shutdown the tracker is stopped its own way (see below).
        self._tracker_task = asyncio.create_task(self.tracker.run(), name="task-tracker")
        self._tracker_task.add_done_callback(_report_tracker_end)
        self.metrics.tasks_in_flight.set_function(lambda: float(self.tracker.in_flight))
        if run_once and self.settings.AUDIT_RETENTION_DAYS is not None:
            days = self.settings.AUDIT_RETENTION_DAYS
            self.lifecycle.spawn(self._prune_daily(days), name="audit-retention", resumable=True)

    async def _prune_daily(self, days: int) -> None:
        # Every replica may prune: a second prune of the same day finds nothing to remove.
        while True:
            try:
                removed = await self.audit.prune(days)
                settled = await self.tasks.prune_settled(time.time() - days * 86400)
                if self.digests is not None:  # the digests are kept as long as the audit
                    await self.digests.prune(time.time() - days * 86400)
            except (AuditUnavailable, TaskStoreUnavailable) as exc:
                log.warning("audit pruning failed", extra={"error": str(exc)})
            else:
                log.info(
                    "audit pruned",
                    extra={"records": removed, "settled_tasks": settled, "older_than_days": days},
                )
            await asyncio.sleep(RETENTION_INTERVAL_SECONDS)

    async def drain_and_close(self) -> None:
        """Finish in-flight work within one SHUTDOWN_GRACE_SECONDS deadline, then close.

        In-flight commands (their HSS call, audit writes and reply) and the task
        tracker (which stops claiming and lets a started share-and-save finish)
        wind down at the same time; whatever is left at the deadline is cancelled.
        Followed tasks stay in the database for the next process.
        """
        grace = self.settings.SHUTDOWN_GRACE_SECONDS
        try:
            # Lifecycle.drain logs what it finished and what it cancelled.
            await asyncio.gather(
                self.lifecycle.drain(grace), self._stop_tracker(grace), return_exceptions=True
            )
        finally:
            await self.aclose()

    async def _stop_tracker(self, grace: float) -> None:
        task = self._tracker_task
        if task is None:
            return
        try:
            # `stop()` bounds itself: the grace, a margin, and the leases handed back.
            async with asyncio.timeout(grace + STOP_MARGIN_SECONDS + RELEASE_SECONDS + 0.5):
                await self.tracker.stop()
        except TimeoutError:
            log.warning("task tracker did not stop in time: cancelled, its tasks resume later")
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError, Exception):
            await task  # an error it died of was logged by `_report_tracker_end`

    async def aclose(self) -> None:
        """Release clients and stores, newest first."""
        for close in reversed(self._closers):
            with contextlib.suppress(Exception):
                await close()
        self._closers.clear()


def tracker_config(settings: Settings, **overrides: Any) -> TrackerConfig:
    """Read the tracking settings (TASK_POLL_*, TASK_GIVE_UP_SECONDS, UPLOAD_MAX_BYTES)."""
    values: dict[str, Any] = {
        "poll_initial": settings.TASK_POLL_INITIAL_SECONDS,
        "poll_max": max(settings.TASK_POLL_MAX_SECONDS, settings.TASK_POLL_INITIAL_SECONDS),
        "give_up_after": settings.TASK_GIVE_UP_SECONDS,
        "upload_max_bytes": settings.UPLOAD_MAX_BYTES,
        "grace_seconds": settings.SHUTDOWN_GRACE_SECONDS,
    }
    values.update(overrides)
    return TrackerConfig(**values)


def build_hss_profiles(settings: Settings, metrics: Metrics) -> HssProfiles:
    """Build one instrumented HSS client per profile, once (each with its own signer)."""
    profiles = settings.profiles
    clients = {
        p.name: InstrumentedHss(build_profile_client(p, settings), metrics, p.name)
        for p in profiles
    }
    return HssProfiles(clients, fallback_name(profiles))


async def build_runtime(
    settings: Settings, *, socket_mode: bool = False, clock: Callable[[], float] = time.time
) -> Runtime:
    """Open the stores, build the clients and the Slack app, all from settings.

    `clock` (Unix seconds) is the one clock of the due work and what it is due by:
    the tracker's lease loop, approvals' expiry and schedules' due times. Tests
    and the demo pass one they move ahead, to reach next Monday in a second.
    """
    lists = (
        settings.ALLOWED_USER_IDS,
        settings.ALLOWED_CHANNEL_IDS,
        settings.ALLOWED_USERGROUP_IDS,
    )
    if not any(lists):
        log.warning(
            "ALLOWED_USER_IDS, ALLOWED_CHANNEL_IDS and ALLOWED_USERGROUP_IDS are all empty: "
            "the bot refuses everyone (set one of them; * allows anyone)"
        )
    metrics = create_metrics()
    lifecycle = Lifecycle()
    closers: list[Callable[[], Awaitable[None]]] = []
    try:
        # The first to open, the last to close: every Slack call of the process, the
        # drain's included, goes over these keep-alive connections (bot.adapters.slack_http).
        slack_http = SlackConnections()
        closers.append(slack_http.aclose)
        web_client = build_web_client(settings, session=slack_http.session(SLACK_TIMEOUT_SECONDS))
        on_append = _audit_listeners(settings, web_client, metrics, lifecycle)
        audit = await open_audit_log(settings.AUDIT_DB_URL, on_append=on_append)
        closers.append(audit.aclose)
        tasks = await open_task_store(settings.AUDIT_DB_URL)
        closers.append(tasks.aclose)
        approvals = await open_approval_store(settings.AUDIT_DB_URL)
        closers.append(approvals.aclose)
        saved = await open_saved_store(settings.AUDIT_DB_URL)
        closers.append(saved.aclose)
        hss = build_hss_profiles(settings, metrics)
        closers.append(hss.aclose)
        files = SlackFiles(web_client, session=slack_http.session(UPLOAD_TIMEOUT, trust_env=True))
        closers.append(files.aclose)
        workspace = SlackWorkspace(str(settings.SLACK_API_URL))
        notifier = SlackNotifier(web_client)
        # An approval's expiry is due work of the same lease loop as the tracked tasks.
        messenger = SlackApprovalMessenger(web_client, notifier)
        expiry = ApprovalExpiry(approvals, audit, messenger, clock=clock)
        count = _counter(metrics)
        # The one gate: the listeners, the approvals and the schedule runs share it
        # (one access policy, one user-group cache), so a run is admitted as typed.
        gate = build_gate(settings, web_client, audit, count=count)
        schedules, runs = await _schedules(settings, audit, saved, gate, notifier, closers, clock)
        summaries, digests = await _summaries(settings, closers, schedules)
        tracker = TaskTracker(
            tasks,
            hss,
            files,
            audit,
            tracker_config(settings),
            steps=SlackSteps(web_client),
            also=(expiry, runs),
            summaries=summaries,
            clock=clock,
        )
        service = ExportService(hss, audit, notifier, tracker, count=count)
        runs.attach(service)
        app = create_app(
            settings,
            service=service,
            hss=hss,
            audit=audit,
            web_client=web_client,
            notifier=notifier,
            lifecycle=lifecycle,
            socket_mode=socket_mode,
            count=count,
            approval_store=approvals,
            schedule_store=schedules,
            saved_store=saved,
            gate=gate,
            clock=clock,
            workspace=workspace,
        )
        observe_dispatch(app, metrics)
    except BaseException:
        for close in reversed(closers):
            with contextlib.suppress(Exception):
                await close()
        raise
    return Runtime(
        settings=settings,
        app=app,
        service=service,
        tracker=tracker,
        audit=audit,
        tasks=tasks,
        hss=hss,
        web_client=web_client,
        lifecycle=lifecycle,
        metrics=metrics,
        files=files,
        workspace=workspace,
        digests=digests,
        _closers=closers,
    )


async def _summaries(
    settings: Settings, closers: list[Callable[[], Awaitable[None]]], schedules: ScheduleStore
) -> tuple[Summaries | None, SqlDigestStore | None]:
    """Build the summary step's reader and digest store (SUMMARIES_ENABLED, SUMMARY_*).

    `schedules`: where a schedule's chart finds the zone its times are shown in.
    """
    if not settings.SUMMARIES_ENABLED:
        return None, None
    digests = await open_digest_store(settings.AUDIT_DB_URL)
    closers.append(digests.aclose)
    limits = ReadLimits(max_file_bytes=settings.SUMMARY_MAX_BYTES)
    reader = SummaryWorker(timeout=settings.SUMMARY_TIMEOUT_SECONDS, limits=limits)
    closers.append(reader.aclose)
    summaries = Summaries(reader, digests, settings.SUMMARY_MAX_BYTES, schedules=schedules)
    closers.append(summaries.aclose)  # first to close: a read cut short is redone after restart
    return summaries, digests


async def _schedules(  # noqa: PLR0913, PLR0917  what the schedule runs are built on
    settings: Settings,
    audit: SqlAuditLog,
    saved: SavedExportStore,
    gate: Gatekeeper,
    notifier: SlackNotifier,
    closers: list[Callable[[], Awaitable[None]]],
    clock: Callable[[], float],
) -> tuple[ScheduleStore, ScheduleRuns]:
    """Open the schedule store and build the runs (due work of the tracker's lease loop).

    A run is admitted by the app's own gate, as a typed command is.
    """
    store = await open_schedule_store(settings.AUDIT_DB_URL)
    closers.append(store.aclose)
    defaults = request_defaults(settings)
    runs = ScheduleRuns(store, saved, audit, gate, notifier, defaults=defaults, clock=clock)
    return store, runs


async def start_http_runtime(
    runtime: Runtime, host: str, port: int, *, sock: socket.socket | None = None,
    configure: Callable[[web.Application], None] | None = None,
) -> HttpServer:  # fmt: skip
    """Serve Slack and the ops routes over HTTP (on `sock` if given); return once listening."""

    def configure_ops(application: web.Application) -> None:
        add_ops_routes(application, runtime.readiness_checks(), runtime.metrics, runtime.lifecycle)
        if configure is not None:
            configure(application)

    return await start_http(runtime.app, host, port, configure=configure_ops, sock=sock)


def observe_dispatch(app: AsyncApp, metrics: Metrics) -> None:
    """Give every Slack request a request id and time its ack, in HTTP and Socket Mode alike.

    Both transports hand each request to `app.async_dispatch`, which returns
    Slack's answer as soon as the listener acks; the listener's own task is
    created inside, so it (and its HSS calls and audit writes) inherits the id.
    """
    dispatch = app.async_dispatch

    async def observed(request: AsyncBoltRequest) -> BoltResponse:
        start = time.perf_counter()
        with correlation():
            try:
                return await dispatch(request)
            finally:
                metrics.ack_seconds.observe(time.perf_counter() - start)

    app.async_dispatch = observed  # type: ignore[method-assign,assignment]


def _report_tracker_end(task: asyncio.Task[None]) -> None:
    if not task.cancelled() and (exc := task.exception()) is not None:
        # Followed tasks stay in the database: a restart (or another replica) resumes them.
        log.error("task tracker stopped on an error; no task is followed", exc_info=exc)


def _counter(metrics: Metrics) -> Callable[[str], None]:
    def count(outcome: str) -> None:
        metrics.commands.labels(outcome).inc()

    return count


def _audit_listeners(
    settings: Settings, web_client: AsyncWebClient, metrics: Metrics, lifecycle: Lifecycle
) -> OnAppend:
    mirror = (
        AuditChannelMirror(
            web_client,
            settings.AUDIT_CHANNEL_ID,
            spawn=lambda coro: lifecycle.spawn(coro, name="audit-mirror"),
        )
        if settings.AUDIT_CHANNEL_ID
        else None
    )

    async def on_append(record: Appended) -> None:
        # What was written says how the delivery went; only the mirror reads the entry.
        if record.kind == "delivery":
            failed = record.payload.get("error") is not None
            metrics.deliveries.labels("failed" if failed else "ok").inc()
        if mirror is not None:
            await mirror(record)

    return on_append


async def run_until_stopped(
    runtime: Runtime,
    serving: Callable[[], Coroutine[Any, Any, None]],
    *,
    stop_serving_first: bool = False,
) -> None:
    """Run `serving` until SIGTERM/SIGINT, then drain and close (the graceful shutdown).

    HTTP mode keeps serving while it drains, so Slack's requests still get an answer
    ("restarting, try again") and probes see 503. Socket Mode closes its connection
    first (`stop_serving_first`), so Slack sends new commands to the other replicas.
    """
    runtime.lifecycle.install_signal_handlers()
    server_task = asyncio.create_task(serving())
    try:
        stop_task = asyncio.create_task(runtime.lifecycle.wait_for_stop())
        done, _ = await asyncio.wait({server_task, stop_task}, return_when=asyncio.FIRST_COMPLETED)
        if server_task in done:
            stop_task.cancel()
            server_task.result()  # a server that died on its own: raise its error
        if stop_serving_first:
            await _cancel(server_task)
        await runtime.drain_and_close()
    finally:
        await _cancel(server_task)
        runtime.lifecycle.remove_signal_handlers()


async def _cancel(task: asyncio.Task[None]) -> None:
    task.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await task
