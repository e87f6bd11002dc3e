"""Follow-through (issue 5): from task_id to the file in the Slack thread, exactly once.

Every test runs the real tracker, HSS client, audit log, task store and Slack
adapter against the fake HSS and a fake Slack on loopback, and asserts on what
a user or an auditor would see: files shared, messages, audit entries.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from db_fixtures import BACKENDS, Db, database
from sqlalchemy.ext.asyncio import create_async_engine
from tracker_support import (
    ALICE,
    CHANNEL,
    TrackerStack,
    export_request,
    fake_file_sha256,
    tracker_env,
    tracker_settings,
    tracker_stack,
    wait_for,
    wait_settled,
)

from bot.adapters.slack_files import SlackFiles
from bot.adapters.slack_notifier import SlackNotifier, build_web_client
from bot.adapters.task_store import SqlTaskStore
from bot.domain.types import ReplyTo, Submitted
from bot.settings import Settings
from bot.tracking.model import TrackerConfig
from bot.tracking.tracker import TaskTracker
from bot.usecases import ExportService
from emulators.fake_hss import FakeHss
from emulators.fake_slack import FakeSlack, Posted

WORKER = Path(__file__).with_name("tracker_worker.py")


@pytest.fixture(params=BACKENDS)
def db(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Db]:
    """Give the test an empty database: SQLite, then PostgreSQL when one answers."""
    with database(request.param, tmp_path) as found:
        yield found


@pytest.fixture
def sqlite_db(tmp_path: Path) -> Iterator[Db]:
    """Give the test an empty SQLite database."""
    with database("sqlite", tmp_path) as found:
        yield found


@pytest.fixture
async def slack() -> AsyncIterator[FakeSlack]:
    """Run a fake Slack on a free loopback port."""
    async with FakeSlack() as fake:
        yield fake


class FakeClock:
    """A clock the test moves by hand."""

    def __init__(self, now: float = 1_000_000.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


def task_message(slack: FakeSlack) -> Posted:
    """Return the task_id message (the first top-level message in the channel)."""
    return next(m for m in slack.messages_in(CHANNEL) if m.thread_ts is None)


def thread_replies(slack: FakeSlack, message: Posted) -> list[Posted]:
    """Return the bot's replies in a message's thread."""
    return [m for m in slack.messages if m.thread_ts == message.ts]


def deliveries_recorded(db: Db) -> int:
    """Count the audit log's delivery records, read straight from the database."""
    return int(db.sql("SELECT count(*) FROM audit_records WHERE kind = 'delivery'")[0][0])


async def export_and_settle(bot: TrackerStack) -> str:
    """Export once, run the tracker until the task is settled, and return the task id."""
    result = await bot.export()
    bot.start()
    await wait_settled(bot.store, [result.task.task_id])
    return result.task.task_id


# --- the happy path ---------------------------------------------------------------------


async def test_file_lands_once_in_the_thread_of_the_task_message(
    fake_hss: FakeHss, slack: FakeSlack, db: Db
) -> None:
    """After N running polls, the file is shared once in the thread, named and hashed as served."""
    fake_hss.polls_until_done = 3
    async with tracker_stack(tracker_settings(fake_hss, slack, db.url)) as bot:
        result = await bot.export()
        bot.start()
        await wait_settled(bot.store, [result.task.task_id])
        entry = await bot.audit.entry(result.entry_id)

    served = fake_hss.tasks[result.task.task_id]
    sha256 = fake_file_sha256(served.file_id, served.file_size)
    message = task_message(slack)
    assert [(f.filename, f.channel_id, f.thread_ts, f.size, f.sha256) for f in slack.files] == [
        (served.file_name, CHANNEL, message.ts, served.file_size, sha256)
    ]
    assert len(fake_hss.calls_for("status")) == 4
    assert "Export ready" in message.all_text
    assert served.file_name in message.all_text
    assert result.task.task_id in message.all_text
    assert entry is not None
    assert entry.delivery == {
        "file_name": served.file_name,
        "size": served.file_size,
        "sha256": sha256,
    }
    assert deliveries_recorded(db) == 1


async def test_follow_records_the_task_and_returns_before_any_poll(
    fake_hss: FakeHss, slack: FakeSlack, sqlite_db: Db
) -> None:
    """follow() only writes the task down; nothing is polled until a worker runs."""
    async with tracker_stack(tracker_settings(fake_hss, slack, sqlite_db.url)) as bot:
        result = await bot.export()
        task = await bot.settled(result.task.task_id)

    assert fake_hss.calls_for("status") == []
    assert (task.state, task.entry_id, task.channel_id, task.thread_ts) == (
        "tracking",
        result.entry_id,
        CHANNEL,
        task_message(slack).ts,
    )


# --- failures the user must be told about -----------------------------------------------


def _hss_failure(hss: FakeHss) -> None:
    hss.outcome = "failure"


def _hss_refusal(hss: FakeHss) -> None:
    body = {"error_code": "HSS.0002", "error_msg": "The export task does not exist"}
    hss.fail_next(404, op="status", body=body)


@pytest.mark.parametrize(
    ("script", "says"),
    [
        pytest.param(_hss_failure, ["HSS reports that the export task failed"], id="task-failed"),
        pytest.param(
            _hss_refusal,
            ["The export task does not exist", "HSS.0002"],
            id="status-call-refused",
        ),
    ],
)
async def test_failure_is_told_in_the_thread_with_hss_error_and_request_id(
    fake_hss: FakeHss,
    slack: FakeSlack,
    sqlite_db: Db,
    script: Callable[[FakeHss], None],
    says: list[str],
) -> None:
    """A failed task gets a thread reply with HSS's error and request id; nothing is uploaded."""
    script(fake_hss)
    async with tracker_stack(tracker_settings(fake_hss, slack, sqlite_db.url)) as bot:
        result = await bot.export()
        bot.start()
        await wait_settled(bot.store, [result.task.task_id])
        entry = await bot.audit.entry(result.entry_id)

    request_id = fake_hss.calls_for("status")[-1].request_id
    message = task_message(slack)
    [reply] = thread_replies(slack, message)
    for text in [*says, request_id, "Export failed"]:
        assert text in reply.all_text
    assert "Export failed" in message.all_text
    assert slack.calls_to("files.getUploadURLExternal") == []
    assert entry is not None
    assert entry.delivery is not None
    assert entry.delivery["error"].startswith("failed: ")
    assert request_id in entry.delivery["error"]


async def test_too_large_file_is_not_uploaded_and_the_message_says_how_to_fetch_it(
    fake_hss: FakeHss, slack: FakeSlack, sqlite_db: Db
) -> None:
    """Above UPLOAD_MAX_BYTES nothing goes to Slack; the message gives the download command."""
    settings = tracker_settings(fake_hss, slack, sqlite_db.url, UPLOAD_MAX_BYTES=100_000)
    async with tracker_stack(settings) as bot:
        task_id = await export_and_settle(bot)
        task = await bot.settled(task_id)
        entry = await bot.audit.entry(task.entry_id)

    message = task_message(slack)
    assert task.state == "too_large"
    assert slack.calls_to("files.getUploadURLExternal") == []
    assert f"hss-export-bot download {task_id}" in message.all_text
    assert "not uploaded" in message.all_text
    assert entry is not None
    assert entry.delivery == {"error": f"too_large: {task.error}"}


async def test_slack_refusing_the_share_fails_visibly_without_a_file(
    fake_hss: FakeHss, slack: FakeSlack, sqlite_db: Db
) -> None:
    """If Slack refuses to share the file, the message says so and how to fetch it."""
    slack.fail("files.completeUploadExternal", "not_in_channel")
    async with tracker_stack(tracker_settings(fake_hss, slack, sqlite_db.url)) as bot:
        task_id = await export_and_settle(bot)

    message = task_message(slack)
    assert slack.files == []
    assert "not_in_channel" in message.all_text
    assert f"hss-export-bot download {task_id}" in message.all_text


# --- a channel the bot cannot post in: the user's DM instead ----------------------------


def _response_url_only(slack: FakeSlack) -> ReplyTo:
    """The channel refuses the bot; the command's response_url works."""
    slack.channel_errors[CHANNEL] = "not_in_channel"
    return ReplyTo(CHANNEL, slack.issue_response_url(CHANNEL, ALICE.user_id))


def _response_url_then_no_dm(slack: FakeSlack) -> ReplyTo:
    """As above, and the DM post at announcement time fails once (Slack hiccup)."""
    slack.fail("chat.postMessage", "internal_error", channel=ALICE.user_id)
    return _response_url_only(slack)


def _nothing_works(slack: FakeSlack) -> ReplyTo:
    """A form (no response_url) in a refusing channel, and the DM fails once: nobody saw it."""
    slack.channel_errors[CHANNEL] = "not_in_channel"
    slack.fail("chat.postMessage", "internal_error", channel=ALICE.user_id)
    return ReplyTo(CHANNEL)


@pytest.mark.parametrize(
    "route",
    [
        pytest.param(_response_url_only, id="response-url"),
        pytest.param(_response_url_then_no_dm, id="response-url-dm-opened-later"),
        pytest.param(_nothing_works, id="announced-nowhere"),
    ],
)
async def test_without_the_channel_the_file_lands_in_the_users_dm(
    fake_hss: FakeHss, slack: FakeSlack, sqlite_db: Db, route: Callable[[FakeSlack], ReplyTo]
) -> None:
    """When the bot cannot post in the channel, the file lands once, in a thread of the DM."""
    reply = route(slack)
    async with tracker_stack(tracker_settings(fake_hss, slack, sqlite_db.url)) as bot:
        result = await bot.export(reply)
        bot.start()
        await wait_settled(bot.store, [result.task.task_id])
        task = await bot.settled(result.task.task_id)

    dm = slack.dm_with(ALICE.user_id)
    [message] = [m for m in slack.messages_in(dm) if m.thread_ts is None]
    assert task.state == "done"
    assert [(f.channel_id, f.thread_ts) for f in slack.files] == [(dm, message.ts)]
    assert result.task.task_id in message.all_text
    assert "is in the thread" in message.all_text
    assert slack.messages_in(CHANNEL) == []
    if reply.response_url:
        [response] = slack.responses
        assert response.response_type == "in_channel"
        assert result.task.task_id in response.all_text


async def test_without_the_channel_a_failure_is_told_in_the_dm_thread(
    fake_hss: FakeHss, slack: FakeSlack, sqlite_db: Db
) -> None:
    """A task that fails after a response_url-only announcement is reported in the user's DM."""
    fake_hss.outcome = "failure"
    reply = _response_url_only(slack)
    async with tracker_stack(tracker_settings(fake_hss, slack, sqlite_db.url)) as bot:
        result = await bot.export(reply)
        bot.start()
        await wait_settled(bot.store, [result.task.task_id])

    [message] = [m for m in slack.messages_in(ALICE.user_id) if m.thread_ts is None]
    [notice] = thread_replies(slack, message)
    assert "Export failed" in message.all_text
    assert "HSS reports that the export task failed" in notice.all_text
    assert slack.messages_in(CHANNEL) == []


# --- polling: backoff and giving up ------------------------------------------------------


def polling_settings(hss: FakeHss, slack: FakeSlack, db: Db, *, give_up: float) -> Settings:
    """Polls every 5 s doubling to 60 s, giving up after `give_up` seconds."""
    return tracker_settings(
        hss,
        slack,
        db.url,
        TASK_POLL_INITIAL_SECONDS=5,
        TASK_POLL_MAX_SECONDS=60,
        TASK_GIVE_UP_SECONDS=give_up,
    )


async def step_until_settled(
    bot: Any, clock: FakeClock, task_id: str, waits: list[float] | None = None
) -> Any:
    """Move the fake clock to each due poll and step the tracker until the task settles."""
    while not (task := await bot.settled(task_id)).settled:
        if waits is not None:
            waits.append(task.next_poll_at - clock.now)
        clock.now = max(clock.now, task.next_poll_at)
        await bot.tracker.run_once()
    return task


async def test_polls_back_off_from_the_initial_interval_to_the_maximum(
    fake_hss: FakeHss, slack: FakeSlack, sqlite_db: Db
) -> None:
    """Waits between polls double from TASK_POLL_INITIAL_SECONDS up to TASK_POLL_MAX_SECONDS."""
    fake_hss.polls_until_done = 7
    clock = FakeClock()
    settings = polling_settings(fake_hss, slack, sqlite_db, give_up=7200)
    waits: list[float] = []
    async with tracker_stack(settings, clock=clock) as bot:
        task_id = (await bot.export()).task.task_id
        task = await step_until_settled(bot, clock, task_id, waits)

    assert waits == [5, 10, 20, 40, 60, 60, 60, 60]
    assert task.state == "done"
    assert len(slack.files) == 1


async def test_gives_up_at_the_deadline_and_says_how_to_fetch_the_file_later(
    fake_hss: FakeHss, slack: FakeSlack, sqlite_db: Db
) -> None:
    """A task still running after TASK_GIVE_UP_SECONDS is reported as given up, polled last then."""
    fake_hss.polls_until_done = 1_000_000
    clock = FakeClock()
    settings = polling_settings(fake_hss, slack, sqlite_db, give_up=600)
    async with tracker_stack(settings, clock=clock) as bot:
        task_id = (await bot.export()).task.task_id
        task = await step_until_settled(bot, clock, task_id)

    [reply] = thread_replies(slack, task_message(slack))
    assert task.state == "gave_up"
    assert clock.now == task.deadline == task.created_at + 600
    assert "still not finished after 10 min" in reply.all_text
    assert f"hss-export-bot download {task_id}" in reply.all_text
    assert slack.calls_to("files.getUploadURLExternal") == []


# --- passing trouble, retried -------------------------------------------------------------


@pytest.mark.parametrize(
    "trouble",
    [
        pytest.param(lambda h, s: h.fail_next(503, op="status", times=2), id="hss-status-503"),
        pytest.param(lambda h, s: h.drop_next(op="download"), id="hss-download-dropped"),
        pytest.param(
            lambda h, s: s.fail("files.getUploadURLExternal", "internal_error"),
            id="slack-upload-url-error",
        ),
        pytest.param(
            lambda h, s: s.fail("files.completeUploadExternal", status=503),
            id="slack-share-503",
        ),
        pytest.param(lambda h, s: s.fail("chat.update", "internal_error"), id="slack-update"),
    ],
)
async def test_passing_trouble_is_retried_and_the_file_still_lands_once(
    fake_hss: FakeHss,
    slack: FakeSlack,
    sqlite_db: Db,
    trouble: Callable[[FakeHss, FakeSlack], None],
) -> None:
    """A transient HSS or Slack failure delays the delivery but never doubles or loses it."""
    trouble(fake_hss, slack)
    settings = tracker_settings(fake_hss, slack, sqlite_db.url)
    async with tracker_stack(settings, lease_seconds=0.5) as bot:
        task_id = await export_and_settle(bot)
        task = await bot.settled(task_id)

    assert (task.state, task.error) == ("done", None)
    assert len(slack.files) == 1
    assert "is in the thread" in task_message(slack).all_text
    assert deliveries_recorded(sqlite_db) == 1


async def test_a_task_given_up_still_gets_its_audit_record_after_a_passing_bug(
    fake_hss: FakeHss, slack: FakeSlack, sqlite_db: Db
) -> None:
    """Past its deadline a task only reports; a failing audit write is retried, not dropped."""
    fake_hss.polls_until_done = 1_000_000
    clock = FakeClock()
    settings = polling_settings(fake_hss, slack, sqlite_db, give_up=600)
    buggy: list[AuditWithABug] = []

    def with_a_bug(inner: Any) -> AuditWithABug:
        buggy.append(AuditWithABug(inner))
        return buggy[0]

    async with tracker_stack(settings, clock=clock, wrap_audit=with_a_bug) as bot:
        task_id = (await bot.export()).task.task_id
        task = await step_until_settled(bot, clock, task_id)
        entry = await bot.audit.entry(task.entry_id)

    assert task.state == "gave_up"
    assert buggy[0].failures == 1
    assert entry is not None
    assert entry.delivery is not None  # the give-up is on record, written on the retry


class AuditWithABug:
    """An audit log whose first delivery record hits an unexpected error (a bug, not an outage)."""

    def __init__(self, inner: Any) -> None:
        self._inner = inner
        self.failures = 0

    def __getattr__(self, name: str) -> Any:
        return getattr(self._inner, name)

    async def record_delivery(self, entry_id: int, **kw: Any) -> None:
        """Fail once with a non-BotError, then record for real."""
        if self.failures == 0:
            self.failures += 1
            raise RuntimeError("unexpected")
        await self._inner.record_delivery(entry_id, **kw)


async def test_an_unexpected_error_after_the_share_never_delivers_again(
    fake_hss: FakeHss, slack: FakeSlack, sqlite_db: Db
) -> None:
    """A bug surfacing after the file was shared is retried from the saved state, not redone."""
    settings = tracker_settings(fake_hss, slack, sqlite_db.url)
    buggy: list[AuditWithABug] = []

    def with_a_bug(inner: Any) -> AuditWithABug:
        buggy.append(AuditWithABug(inner))
        return buggy[0]

    async with tracker_stack(settings, wrap_audit=with_a_bug) as bot:
        task_id = await export_and_settle(bot)
        task = await bot.settled(task_id)
        entry = await bot.audit.entry(task.entry_id)

    assert buggy[0].failures == 1
    assert task.state == "done"
    assert len(slack.files) == 1
    assert entry is not None
    assert entry.delivery is not None
    assert entry.delivery["sha256"] == slack.files[0].sha256


class AuditOfAPrunedEntry:
    """An audit log whose delivery records always fail as if retention pruned the entry."""

    def __init__(self, inner: Any) -> None:
        self._inner = inner
        self.tries = 0

    def __getattr__(self, name: str) -> Any:
        return getattr(self._inner, name)

    async def record_delivery(self, entry_id: int, **kw: Any) -> None:
        """Fail every time, as `SqlAuditLog` does for an entry that is gone."""
        self.tries += 1
        raise ValueError(f"no audit entry {entry_id}")


class HssWithABug:
    """An HSS client whose status call always hits an unexpected error."""

    def __init__(self, inner: Any) -> None:
        self._inner = inner

    def __getattr__(self, name: str) -> Any:
        return getattr(self._inner, name)

    async def get_export_task(self, task_id: str, enterprise_project_id: str | None = None) -> Any:
        """Fail with a non-BotError, every time."""
        raise RuntimeError("unexpected")


async def test_an_error_that_keeps_coming_back_after_the_share_is_given_up_on(
    fake_hss: FakeHss, slack: FakeSlack, sqlite_db: Db
) -> None:
    """An audit record that can never be written is tried max_attempts times; the task settles."""
    audits: list[AuditOfAPrunedEntry] = []

    def pruned(inner: Any) -> AuditOfAPrunedEntry:
        audits.append(AuditOfAPrunedEntry(inner))
        return audits[0]

    settings = tracker_settings(fake_hss, slack, sqlite_db.url)
    async with tracker_stack(settings, wrap_audit=pruned, max_attempts=3) as bot:
        task_id = await export_and_settle(bot)
        task = await bot.settled(task_id)

    assert audits[0].tries == 3
    assert (task.state, len(slack.files)) == ("done", 1)
    assert "is in the thread" in task_message(slack).all_text


async def test_an_error_that_keeps_coming_back_while_polling_fails_the_task_visibly(
    fake_hss: FakeHss, slack: FakeSlack, sqlite_db: Db
) -> None:
    """A poll that always hits a bug ends `failed` after max_attempts, and the thread says so."""
    settings = tracker_settings(fake_hss, slack, sqlite_db.url)
    async with tracker_stack(settings, wrap_hss=HssWithABug, max_attempts=3) as bot:
        task_id = await export_and_settle(bot)
        task = await bot.settled(task_id)
        entry = await bot.audit.entry(task.entry_id)

    [reply] = thread_replies(slack, task_message(slack))
    assert task.state == "failed"
    assert "unexpected error (RuntimeError) 3 times" in reply.all_text
    assert f"hss-export-bot download {task_id}" in reply.all_text
    assert entry is not None
    assert entry.delivery is not None
    assert "RuntimeError" in entry.delivery["error"]


@pytest.mark.parametrize(
    ("disk_comes_back", "state", "files"),
    [
        pytest.param(False, "failed", 0, id="disk-never-writable"),
        pytest.param(True, "done", 1, id="disk-writable-again"),
    ],
)
async def test_a_disk_that_refuses_the_download_is_retried_a_bounded_number_of_times(
    fake_hss: FakeHss,
    slack: FakeSlack,
    sqlite_db: Db,
    tmp_path: Path,
    disk_comes_back: bool,
    state: str,
    files: int,
) -> None:
    """A spool write that fails (OSError) is retried; if the disk stays broken, the task fails."""
    spool = tmp_path / "not-yet"  # mkstemp in a missing folder: an OSError like a full disk
    clock = FakeClock()
    settings = tracker_settings(fake_hss, slack, sqlite_db.url)
    async with tracker_stack(settings, clock=clock, spool_dir=spool, max_attempts=3) as bot:
        task_id = (await bot.export()).task.task_id
        for _ in range(10):
            task = await bot.settled(task_id)
            if task.settled:
                break
            if disk_comes_back and task.attempts == 1:
                spool.mkdir()
            clock.now = task.next_poll_at
            await bot.tracker.run_once()

    assert (task.state, len(slack.files)) == (state, files)
    if state == "failed":
        [reply] = thread_replies(slack, task_message(slack))
        assert "could not be written to disk" in reply.all_text
        assert f"hss-export-bot download {task_id}" in reply.all_text


async def test_follow_without_a_task_store_tells_the_thread_how_to_fetch_the_file(
    fake_hss: FakeHss, slack: FakeSlack, sqlite_db: Db, tmp_path: Path
) -> None:
    """If the task cannot be recorded, the thread gets the download command instead of silence."""
    settings = tracker_settings(fake_hss, slack, sqlite_db.url)
    broken = SqlTaskStore(create_async_engine(f"sqlite+aiosqlite:///{tmp_path}/missing/x.db"))
    async with tracker_stack(settings) as bot:
        tracker = TaskTracker(broken, bot.hss, bot.delivery, bot.audit, TrackerConfig())
        notifier = SlackNotifier(build_web_client(settings))
        service = ExportService(bot.hss, bot.audit, notifier, follower=tracker)
        result = await service.export(ALICE, export_request(), ReplyTo(CHANNEL))
    await broken.aclose()

    assert isinstance(result, Submitted)
    [reply] = thread_replies(slack, task_message(slack))
    assert f"hss-export-bot download {result.task.task_id}" in reply.all_text
    assert "cannot follow" in reply.all_text


# --- restarts, crashes and replicas: exactly once -----------------------------------------


@pytest.mark.parametrize("how", ["cancelled", "stopped"])
async def test_worker_ended_mid_download_leaves_the_task_to_the_next_one(
    fake_hss: FakeHss, slack: FakeSlack, sqlite_db: Db, how: str
) -> None:
    """A worker cancelled or stopped mid-download releases the task; a new one delivers it once.

    `delivering` is saved with the delivery's first save, so the task is left as
    polled: the next worker asks HSS again, then downloads again.
    """
    fake_hss.hang_next(op="download", seconds=30)
    settings = tracker_settings(fake_hss, slack, sqlite_db.url)
    async with tracker_stack(settings) as first, tracker_stack(settings) as second:
        task_id = (await first.export()).task.task_id
        runner = first.start()
        await wait_for(lambda: bool(fake_hss.calls_for("download")))
        if how == "cancelled":
            runner.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await runner
        else:
            await first.tracker.stop()
        left = await second.settled(task_id)
        second.start()
        await wait_settled(second.store, [task_id])

    assert (left.state, left.lease_owner) == ("tracking", None)
    assert len(fake_hss.calls_for("download")) == 2
    assert len(slack.files) == 1
    assert slack.files[0].thread_ts == task_message(slack).ts
    assert deliveries_recorded(sqlite_db) == 1


async def test_killed_worker_task_is_resumed_after_its_lease_expires(
    fake_hss: FakeHss, slack: FakeSlack, sqlite_db: Db, tmp_path: Path
) -> None:
    """SIGKILL mid-download keeps the lease until it expires; then another worker delivers once."""
    fake_hss.hang_next(op="download", seconds=60)
    # A killed process cannot remove its half-written download: keep it in tmp_path.
    env = {**os.environ, **tracker_env(fake_hss, slack, sqlite_db.url), "TMPDIR": str(tmp_path)}
    async with tracker_stack(tracker_settings(fake_hss, slack, sqlite_db.url)) as survivor:
        task_id = (await survivor.export()).task.task_id
        worker = await asyncio.create_subprocess_exec(
            *(sys.executable, str(WORKER), "--lease-seconds", "3"),
            cwd=tmp_path,
            env=env,
            stdout=subprocess.DEVNULL,
        )
        try:
            await wait_for(lambda: bool(fake_hss.calls_for("download")), seconds=30)
        finally:
            worker.kill()
            await worker.wait()
        held = await survivor.settled(task_id)
        survivor.start()
        await asyncio.sleep(0.5)
        early, checked_at = len(fake_hss.calls_for("download")), time.time()
        await wait_settled(survivor.store, [task_id], seconds=20)

    assert held.lease_owner == "worker-process"
    assert held.lease_until is not None
    assert checked_at < held.lease_until, "the machine was too slow to check inside the lease"
    assert early == 1  # nobody took the task while the dead worker's lease ran
    assert len(slack.files) == 1
    assert deliveries_recorded(sqlite_db) == 1


class CrashAtShare:
    """Slack delivery whose process dies at the share: just before it, or just after it."""

    def __init__(self, inner: SlackFiles, *, after: bool) -> None:
        self._inner = inner
        self._after = after
        self.reached = asyncio.Event()
        self.never: asyncio.Future[None] = asyncio.get_running_loop().create_future()

    def __getattr__(self, name: str) -> Any:
        return getattr(self._inner, name)

    async def complete_upload(self, file_id: str, **kw: Any) -> None:
        """Share for real (if `after`), then hang until the test lets go."""
        if self._after:
            await self._inner.complete_upload(file_id, **kw)
        self.reached.set()
        await self.never


@pytest.mark.parametrize(
    ("crash_after_share", "slack_can_tell", "files", "outcome"),
    [
        pytest.param(True, True, 1, "confirmed", id="after-share"),
        pytest.param(False, True, 1, "confirmed", id="before-share"),
        pytest.param(True, False, 1, "unconfirmed", id="after-share-no-files-info"),
        pytest.param(False, False, 0, "unconfirmed", id="before-share-no-files-info"),
    ],
)
async def test_crash_at_the_share_never_shares_twice(
    fake_hss: FakeHss,
    slack: FakeSlack,
    sqlite_db: Db,
    crash_after_share: bool,
    slack_can_tell: bool,
    files: int,
    outcome: str,
) -> None:
    """A worker dying at the share leaves at most one file; the next one shares or says why not."""
    slack.files_info = slack_can_tell
    settings = tracker_settings(fake_hss, slack, sqlite_db.url, SHUTDOWN_GRACE_SECONDS=0.2)
    crashing: list[CrashAtShare] = []

    def crash_at_share(inner: SlackFiles) -> CrashAtShare:
        crashing.append(CrashAtShare(inner, after=crash_after_share))
        return crashing[0]

    later = FakeClock(time.time() + 3600)  # the dead worker's lease has long expired
    async with (
        tracker_stack(settings, wrap_delivery=crash_at_share) as dying,
        tracker_stack(settings, clock=later) as next_worker,
    ):
        task_id = (await dying.export()).task.task_id
        runner = dying.start()
        await asyncio.wait_for(crashing[0].reached.wait(), 10)
        runner.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await runner
        left = await next_worker.settled(task_id)
        next_worker.start()
        await wait_settled(next_worker.store, [task_id])
        crashing[0].never.cancel()
        entry = await next_worker.audit.entry(left.entry_id)

    message = task_message(slack)
    assert (left.state, left.lease_owner) == ("sharing", dying.tracker.owner)
    assert len(slack.files) == files
    assert len(slack.calls_to("files.getUploadURLExternal")) == 1  # never uploaded again
    assert entry is not None
    assert entry.delivery is not None
    assert entry.delivery["sha256"] == left.sha256
    if outcome == "confirmed":
        assert slack.files[0].thread_ts == message.ts
        assert "is in the thread" in message.all_text
        assert "error" not in entry.delivery
    else:
        assert f"hss-export-bot download {task_id}" in message.all_text
        assert "not confirmed" in entry.delivery["error"]


class CrashAtMessage:
    """Slack delivery whose process dies at the task message: just before it, or just after."""

    def __init__(self, inner: SlackFiles, *, after: bool) -> None:
        self._inner = inner
        self._after = after
        self.reached = asyncio.Event()
        self.never: asyncio.Future[None] = asyncio.get_running_loop().create_future()

    def __getattr__(self, name: str) -> Any:
        return getattr(self._inner, name)

    async def update_message(self, channel_id: str, ts: str, message: Any) -> None:
        """Update for real (if `after`), then hang until the test lets go."""
        if self._after:
            await self._inner.update_message(channel_id, ts, message)
        self.reached.set()
        await self.never


@pytest.mark.parametrize("after", [False, True], ids=["before-message", "after-message"])
async def test_crash_between_the_audit_record_and_its_save_records_the_delivery_once(
    fake_hss: FakeHss, slack: FakeSlack, sqlite_db: Db, after: bool
) -> None:
    """`audit_done` is saved with the message: a worker dying in between leaves one record.

    The next worker records the delivery again (the audit log keeps the first) and
    updates the task message in place; the file is never shared again.
    """
    settings = tracker_settings(fake_hss, slack, sqlite_db.url, SHUTDOWN_GRACE_SECONDS=0.2)
    crashing: list[CrashAtMessage] = []

    def crash_at_message(inner: SlackFiles) -> CrashAtMessage:
        crashing.append(CrashAtMessage(inner, after=after))
        return crashing[0]

    later = FakeClock(time.time() + 3600)  # the dead worker's lease has long expired
    async with (
        tracker_stack(settings, wrap_delivery=crash_at_message) as dying,
        tracker_stack(settings, clock=later) as next_worker,
    ):
        task_id = (await dying.export()).task.task_id
        runner = dying.start()
        await asyncio.wait_for(crashing[0].reached.wait(), 10)
        runner.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await runner
        left = await next_worker.settled(task_id)
        recorded_before = deliveries_recorded(sqlite_db)
        next_worker.start()
        await wait_settled(next_worker.store, [task_id])
        crashing[0].never.cancel()
        entry = await next_worker.audit.entry(left.entry_id)
        verified = await next_worker.audit.verify()

    assert (left.state, left.audit_done, left.message_done) == ("done", False, False)
    assert recorded_before == 1
    assert deliveries_recorded(sqlite_db) == 1
    assert verified.ok
    assert entry is not None
    assert entry.delivery is not None
    assert entry.delivery["sha256"] == left.sha256
    assert len(slack.files) == 1
    assert len(slack.calls_to("files.completeUploadExternal")) == 1
    assert len(slack.calls_to("chat.update")) == (2 if after else 1)
    assert "is in the thread" in task_message(slack).all_text


async def test_a_share_slower_than_the_lease_is_not_repeated_by_another_worker(
    fake_hss: FakeHss, slack: FakeSlack, sqlite_db: Db
) -> None:
    """completeUploadExternal outlasting the lease, with a second worker running: one file."""
    slack.delay("files.completeUploadExternal", 2.6)  # longer than the 2 s lease
    settings = tracker_settings(fake_hss, slack, sqlite_db.url)
    async with (
        tracker_stack(settings, lease_seconds=2.0) as first,
        tracker_stack(settings, lease_seconds=2.0) as second,
    ):
        task_id = (await first.export()).task.task_id
        first.start()
        await wait_for(lambda: bool(slack.calls_to("files.completeUploadExternal")))
        second.start()
        await wait_settled(first.store, [task_id], seconds=20)
        task = await first.settled(task_id)

    assert len(slack.calls_to("files.completeUploadExternal")) == 1
    assert len(slack.files) == 1
    assert (task.state, task.error) == ("done", None)
    assert "is in the thread" in task_message(slack).all_text


async def test_stop_returns_within_the_grace_period_while_a_share_hangs(
    fake_hss: FakeHss, slack: FakeSlack, sqlite_db: Db
) -> None:
    """stop() takes the grace period, not twice it, when a started share does not end."""
    settings = tracker_settings(fake_hss, slack, sqlite_db.url, SHUTDOWN_GRACE_SECONDS=2)
    hanging: list[CrashAtShare] = []

    def hang_at_share(inner: SlackFiles) -> CrashAtShare:
        hanging.append(CrashAtShare(inner, after=False))
        return hanging[0]

    async with tracker_stack(settings, wrap_delivery=hang_at_share, lease_seconds=60) as bot:
        task_id = (await bot.export()).task.task_id
        bot.start()
        await asyncio.wait_for(hanging[0].reached.wait(), 10)
        started = time.monotonic()
        await bot.tracker.stop()
        took = time.monotonic() - started
        left = await bot.settled(task_id)
        hanging[0].never.cancel()

    assert took < 2 + 1.0, f"stop() took {took:.2f} s for a 2 s grace period"
    assert (left.state, left.lease_owner) == ("sharing", bot.tracker.owner)
    assert slack.files == []


async def test_worker_that_lost_its_lease_abandons_its_step_and_the_file_lands_once(
    fake_hss: FakeHss, slack: FakeSlack, sqlite_db: Db, caplog: pytest.LogCaptureFixture
) -> None:
    """When another worker takes over an expired lease, the old one drops its hung download."""
    fake_hss.hang_next(op="download", seconds=30)
    settings = tracker_settings(fake_hss, slack, sqlite_db.url)
    later = FakeClock(time.time() + 3600)
    async with (
        tracker_stack(settings, lease_seconds=0.6) as slow,
        tracker_stack(settings, clock=later) as taker,
    ):
        task_id = (await slow.export()).task.task_id
        slow_runner = slow.start()
        await wait_for(lambda: bool(fake_hss.calls_for("download")))
        taker.start()
        await wait_settled(taker.store, [task_id])
        # The slow worker's heartbeat (every 0.2 s) finds the lease gone, long before 30 s.
        await wait_for(lambda: "lease lost" in caplog.text, seconds=3)
        still_running = not slow_runner.done()

    assert still_running
    assert len(slack.files) == 1
    assert deliveries_recorded(sqlite_db) == 1


async def test_two_workers_on_one_database_deliver_each_file_once(
    fake_hss: FakeHss, slack: FakeSlack, db: Db
) -> None:
    """Two bot instances on one database split the tasks; each file lands once, in its thread."""
    fake_hss.polls_until_done = 2
    settings = tracker_settings(fake_hss, slack, db.url)
    async with tracker_stack(settings) as one, tracker_stack(settings) as two:
        results = [await (one if i % 2 else two).export() for i in range(6)]
        one.start()
        two.start()
        await wait_settled(one.store, [r.task.task_id for r in results], seconds=30)

    messages = {m.ts: m for m in slack.messages_in(CHANNEL) if m.thread_ts is None}
    shared = sorted((f.filename, messages[f.thread_ts or ""].text) for f in slack.files)
    expected = sorted(fake_hss.tasks[r.task.task_id].file_name for r in results)
    assert [name for name, _ in shared] == expected
    for name, text in shared:
        task_id = name.removeprefix("container-export-").removesuffix(".xlsx")
        assert task_id in (text or "")
    assert deliveries_recorded(db) == 6
