"""Faults end to end: the real bot (as `serve` wires it) between a faulty HSS, Slack and database.

Each test injects one fault into `FakeHss`, `FakeSlack` or the audit database,
types a valid `/hss-export` through a signed request, and asserts the two
things that matter afterwards: what the user saw in Slack (the ack, the channel
message, the private reply) and what the audit log holds (outcome, task id,
HSS request id, error, an intact chain). Unit-level behaviour (each retry rule,
token caching, each Slack fallback) is pinned in test_hss_client.py,
test_iam_token.py and test_slack_notifier.py; Slack delivery fallbacks through
the app are also in test_slack_app.py (channel not found, DM fallback, a single
429, Slack 500). Here they are seen together, through `build_runtime`.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import signal
import socket
import sqlite3
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import asyncpg
import pytest
from db_fixtures import postgres_db
from e2e_harness import ALICE, EXPORTS, VALID, Bot, bot_cli, running_bot, served_bot, wait_for
from sqlalchemy.engine import make_url

from bot.adapters import sql
from emulators.fake_hss import FakeHss
from emulators.fake_slack import FakeSlack

REQUESTED = "Export requested"
# What the private reply leads with, by audit outcome.
HEADLINES = {
    "failed": "HSS export was not started",
    "unknown": "HSS may have started the export, but its answer was lost",
}


@pytest.fixture
async def bot(tmp_path: Path, fake_hss: FakeHss) -> AsyncIterator[Bot]:
    """Run the bot against a fake HSS and a fake Slack, at most two attempts per HSS call."""
    async with running_bot(tmp_path, fake_hss, HSS_MAX_ATTEMPTS=2) as running:
        yield running


async def export_once(bot: Bot) -> None:
    """Type a valid export, check Slack got the ack in time, wait for the post-ack work."""
    delivery = await bot.slash(VALID)
    assert delivery.status == 200
    assert not delivery.timed_out
    assert REQUESTED in delivery.json["text"]
    await bot.settle()


async def assert_told_privately(bot: Bot, outcome: str, *fragments: str) -> str:
    """Assert Alice alone was told the outcome, with every fragment; return the text."""
    await wait_for(lambda: len(bot.private_replies()) == 1)
    (reply,) = bot.private_replies()
    assert reply.user_id == ALICE
    assert HEADLINES[outcome] in reply.all_text
    for fragment in fragments:
        assert fragment in reply.all_text
    assert bot.channel_posts() == []
    return reply.all_text


# --- HSS answers with an error ----------------------------------------------------------


@dataclass(frozen=True)
class HssFault:
    """One way HSS can answer a create, and what the bot must make of it."""

    status: int
    outcome: str  # the audit outcome
    creates: int  # how many create calls HSS sees (2: retried once)
    told: tuple[str, ...]  # what the user's private reply must say
    headers: dict[str, str] | None = None


HSS_FAULTS = {
    # 500: HSS failed the call; nothing suggests trying again.
    "500": HssFault(500, "failed", 1, ("HSS failed the call", "HSS.500")),
    # 502/504: a gateway; HSS may have taken the create, so it is not resent blindly.
    "502": HssFault(502, "unknown", 1, ("may have reached HSS", "HSS.502")),
    "504": HssFault(504, "unknown", 1, ("may have reached HSS", "HSS.504")),
    # 503: HSS says it did not take it: retried, then given up (HSS_MAX_ATTEMPTS=2).
    "503": HssFault(503, "failed", 2, ("HSS is unavailable", "gave up after 2 attempts")),
    # 429 asking for longer than the client waits: not waited out, said so at once.
    "429-long": HssFault(
        429, "failed", 1, ("throttling", "wait 3600 s"), headers={"Retry-After": "3600"}
    ),
    # 401 on AK/SK: the service account is refused; nothing to retry.
    "401": HssFault(401, "failed", 1, ("refused the service account", "HSS.401")),
}


@pytest.mark.parametrize("fault", HSS_FAULTS.values(), ids=HSS_FAULTS.keys())
async def test_hss_error_is_told_privately_and_audited(bot: Bot, fault: HssFault) -> None:
    """Each HSS error reaches only the requester, with code and request id; the audit agrees."""
    bot.hss.fail_next(fault.status, headers=fault.headers, times=5, op="create")

    await export_once(bot)

    creates = bot.hss.calls_for("create")
    assert [c.status for c in creates] == [fault.status] * fault.creates
    text = await assert_told_privately(bot, fault.outcome, *fault.told, creates[-1].request_id)
    (entry,) = await bot.entries()
    assert (entry.outcome, entry.task_id) == (fault.outcome, None)
    assert entry.hss_request_id == creates[-1].request_id
    assert entry.error is not None
    assert all(fragment in entry.error for fragment in fault.told)
    assert f"audit entry #{entry.id}" in text
    assert (await bot.verify()).ok


@pytest.mark.parametrize(
    ("status", "headers", "waited"),
    [(429, {"Retry-After": "1"}, 1.0), (503, None, 0.0)],
    ids=["429-retry-after", "503-once"],
)
async def test_throttled_or_unavailable_once_then_the_export_goes_through(
    bot: Bot, status: int, headers: dict[str, str] | None, waited: float
) -> None:
    """One 429 (its Retry-After waited out) or 503: the create is resent, the task_id posted."""
    bot.hss.fail_next(status, headers=headers, op="create")
    typed_at = time.time()

    await export_once(bot)

    first, second = bot.hss.calls_for("create")
    assert (first.status, second.status) == (status, 200)
    await wait_for(lambda: len(bot.channel_posts()) == 1)
    assert "task-0001" in bot.channel_posts()[0].all_text
    posted_at = bot.slack.calls_to("chat.postMessage")[0].at
    assert posted_at - typed_at >= waited  # a lower bound: a slow machine cannot break it
    assert bot.private_replies() == []
    (entry,) = await bot.entries()
    assert (entry.outcome, entry.task_id) == ("submitted", "task-0001")
    assert entry.hss_request_id == second.request_id
    assert (await bot.verify()).ok


# --- HSS cannot be reached, or its answer is lost ------------------------------------------


async def test_connection_refused_is_retried_then_told(tmp_path: Path, fake_hss: FakeHss) -> None:
    """Nothing listening at HSS_ENDPOINT: retried, then the user is told; the audit says failed."""
    with socket.socket() as closed:
        closed.bind(("127.0.0.1", 0))
        dead = f"http://127.0.0.1:{closed.getsockname()[1]}"
    async with running_bot(tmp_path, fake_hss, HSS_ENDPOINT=dead, HSS_MAX_ATTEMPTS=2) as bot:
        await export_once(bot)

        await assert_told_privately(
            bot, "failed", "could not connect to HSS", "gave up after 2 attempts"
        )
        (entry,) = await bot.entries()
        assert (entry.outcome, entry.task_id, entry.hss_request_id) == ("failed", None, None)
        assert entry.error is not None
        assert "ConnectError" in entry.error
        assert (await bot.verify()).ok


@pytest.mark.parametrize("lost", ["read-timeout", "connection-dropped"])
async def test_create_whose_answer_is_lost_is_not_sent_twice(
    tmp_path: Path, fake_hss: FakeHss, lost: str
) -> None:
    """A create HSS may have taken (no answer in time, or the connection dropped) is sent once."""
    if lost == "read-timeout":
        fake_hss.hang_next(op="create", seconds=30)
    else:
        fake_hss.drop_next(op="create")
    async with running_bot(tmp_path, fake_hss, HSS_READ_TIMEOUT=0.5, HSS_MAX_ATTEMPTS=4) as bot:
        await export_once(bot)

        await assert_told_privately(bot, "unknown", "may have reached HSS", "console")
        assert len(bot.hss.calls_for("create")) == 1
        (entry,) = await bot.entries()
        assert (entry.outcome, entry.task_id) == ("unknown", None)
        assert entry.error is not None
        assert "may have reached HSS" in entry.error
        assert (await bot.verify()).ok


@pytest.mark.parametrize(
    ("body", "why"),
    [("<html>gateway</html>", "not a JSON object"), ({"status": "ok"}, "no task_id")],
    ids=["not-json", "no-task-id"],
)
async def test_unreadable_create_answer_is_an_unknown_outcome(
    bot: Bot, body: str | dict[str, Any], why: str
) -> None:
    """HSS says 200 with a body the bot cannot read: the user is told to check; never resent."""
    bot.hss.fail_next(200, body=body, op="create")

    await export_once(bot)

    create = bot.hss.calls_for("create")
    assert len(create) == 1
    await assert_told_privately(bot, "unknown", why, create[0].request_id)
    (entry,) = await bot.entries()
    assert (entry.outcome, entry.task_id) == ("unknown", None)
    assert entry.hss_request_id == create[0].request_id
    assert (await bot.verify()).ok


async def test_expired_iam_token_is_renewed_and_the_create_resent(
    tmp_path: Path, fake_hss: FakeHss
) -> None:
    """Under an IAM token, a 401 gets one new token and one resend; both commands succeed."""
    iam = {
        "CLOUD_SDK_AK": None,
        "CLOUD_SDK_SK": None,
        "HSS_IAM_ENDPOINT": fake_hss.url,
        "HSS_IAM_DOMAIN": fake_hss.iam_domain,
        "HSS_IAM_USER": fake_hss.iam_user,
        "HSS_IAM_PASSWORD": fake_hss.iam_password,
        # The tracker shares the token: a poll after the revocation would renew it first
        # (seen under load: [200, 200]), so it stays asleep while the creates are checked.
        "TASK_POLL_INITIAL_SECONDS": 3600.0,
        "TASK_POLL_MAX_SECONDS": 3600.0,
    }
    async with running_bot(tmp_path, fake_hss, **iam) as bot:
        await export_once(bot)
        bot.hss.revoke_tokens()
        await export_once(bot)

        statuses = [c.status for c in bot.hss.calls_for("create")]
        assert statuses == [200, 401, 200]
        assert len(bot.hss.granted_tokens) == 2
        await wait_for(lambda: len(bot.channel_posts()) == 2)
        assert bot.private_replies() == []
        entries = await bot.entries()
        assert [(e.outcome, e.task_id) for e in entries] == [
            ("submitted", "task-0001"),
            ("submitted", "task-0002"),
        ]
        assert entries[1].hss_request_id == bot.hss.calls_for("create")[-1].request_id
        assert (await bot.verify()).ok


# --- Slack trouble while posting the task_id -----------------------------------------------


def rate_limited_beyond_retries(slack: FakeSlack) -> None:
    """chat.postMessage answers 429 more often than slack_sdk retries."""
    slack.fail("chat.postMessage", status=429, retry_after=0, times=10, channel=EXPORTS)


def not_in_channel(slack: FakeSlack) -> None:
    """The bot was never invited to the channel."""
    slack.channel_errors[EXPORTS] = "not_in_channel"


def slack_down(slack: FakeSlack) -> None:
    """The Web API answers 503 to every post and response_urls answer 500."""
    for method in ("chat.postMessage", "chat.postEphemeral"):
        slack.fail(method, status=503, times=100)
    slack.response_urls_broken = True


@pytest.mark.parametrize(
    ("break_slack", "visible_to_channel"),
    [(rate_limited_beyond_retries, True), (not_in_channel, True), (slack_down, False)],
    ids=["ratelimited", "not_in_channel", "slack-down"],
)
async def test_slack_trouble_never_loses_the_task_id(
    bot: Bot, break_slack: Any, visible_to_channel: bool
) -> None:
    """The channel post fails: the task_id goes by the response_url; if Slack is down, the audit."""
    break_slack(bot.slack)

    await export_once(bot)

    assert len(bot.hss.calls_for("create")) == 1
    (entry,) = await bot.entries()
    assert (entry.outcome, entry.task_id) == ("submitted", "task-0001")
    assert (await bot.verify()).ok
    in_channel = [r for r in bot.slack.responses if r.response_type == "in_channel"]
    assert bot.channel_posts() == []
    if visible_to_channel:
        (reply,) = in_channel
        assert "task-0001" in reply.all_text
        assert f"<@{ALICE}>" in reply.all_text
    else:
        assert in_channel == []
        assert bot.slack.messages == []


# --- the audit database is locked or gone during a command --------------------------------


@contextlib.asynccontextmanager
async def sqlite_write_lock(path: Path) -> AsyncIterator[None]:
    """Hold SQLite's write lock from another connection, as another process would.

    Taken in a thread: the bot's own writers run on this event loop, and blocking it
    while one of them is mid-transaction would deadlock the two.
    """
    conn = sqlite3.connect(path, isolation_level=None, timeout=30, check_same_thread=False)
    try:
        await asyncio.to_thread(conn.execute, "BEGIN EXCLUSIVE")
        yield
        await asyncio.to_thread(conn.execute, "ROLLBACK")
    finally:
        conn.close()


async def test_locked_sqlite_refuses_the_command_and_sends_nothing(
    tmp_path: Path, fake_hss: FakeHss, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The audit log stays locked past its busy timeout: the user is told, HSS sees nothing."""
    # The store waits 15 s for a lock; a quarter second keeps this test fast (read at connect).
    monkeypatch.setattr(sql, "BUSY_TIMEOUT_SECONDS", 0.25)
    async with running_bot(tmp_path, fake_hss) as bot:
        async with sqlite_write_lock(tmp_path / "audit.db"):
            await export_once(bot)

        await assert_told_privately(bot, "failed", "audit log unavailable", "database is locked")
        assert bot.hss.calls == []
        assert await bot.entries() == []
        assert (await bot.verify()).ok

        await export_once(bot)  # the lock is gone: the next command runs normally
        assert [(e.outcome, e.task_id) for e in await bot.entries()] == [("submitted", "task-0001")]


async def test_briefly_locked_sqlite_only_delays_the_export(
    tmp_path: Path, fake_hss: FakeHss
) -> None:
    """A lock shorter than the busy timeout (another replica writing) just delays the export."""
    async with running_bot(tmp_path, fake_hss) as bot:
        async with sqlite_write_lock(tmp_path / "audit.db"):
            delivery = await bot.slash(VALID)
            assert (delivery.status, delivery.timed_out) == (200, False)
            await asyncio.sleep(0.5)
            assert bot.hss.calls == []  # nothing goes to HSS before it is on record
        await bot.settle()

        await wait_for(lambda: len(bot.channel_posts()) == 1)
        assert [(e.outcome, e.task_id) for e in await bot.entries()] == [("submitted", "task-0001")]


class TcpProxy:
    """Forward a loopback port to PostgreSQL; `cut()` kills every connection and stops listening."""

    def __init__(self, target_host: str, target_port: int) -> None:
        self.target = (target_host, target_port)
        self.port = 0
        self._server: asyncio.Server | None = None
        self._writers: set[asyncio.StreamWriter] = set()

    async def start(self) -> None:
        """Listen on a free loopback port (the same one again after `cut`)."""
        self._server = await asyncio.start_server(self._pipe, "127.0.0.1", self.port)
        self.port = self._server.sockets[0].getsockname()[1]

    async def cut(self) -> None:
        """Drop every connection and refuse new ones."""
        assert self._server is not None
        self._server.close()
        for writer in list(self._writers):
            writer.transport.abort()
        await self._server.wait_closed()

    async def _pipe(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        up_reader, up_writer = await asyncio.open_connection(*self.target)
        self._writers |= {writer, up_writer}

        async def copy(src: asyncio.StreamReader, dst: asyncio.StreamWriter) -> None:
            with contextlib.suppress(ConnectionError, OSError):
                while data := await src.read(65536):
                    dst.write(data)
                    await dst.drain()
            dst.transport.abort()

        await asyncio.gather(copy(reader, up_writer), copy(up_reader, writer))
        self._writers -= {writer, up_writer}


@pytest.mark.postgres
async def test_unreachable_postgresql_refuses_the_command_and_sends_nothing(
    tmp_path: Path, fake_hss: FakeHss
) -> None:
    """PostgreSQL goes away mid-run: the user is told, HSS sees nothing; back, commands resume."""
    db = postgres_db()
    url = make_url(db.url)
    proxy = TcpProxy(url.host or "127.0.0.1", url.port or 5432)
    await proxy.start()
    proxied = db.url.replace(f"{url.host}:{url.port or 5432}", f"127.0.0.1:{proxy.port}", 1)
    try:
        async with running_bot(tmp_path, fake_hss, audit_db_url=proxied) as bot:
            await proxy.cut()
            await export_once(bot)

            await assert_told_privately(bot, "failed", "audit log unavailable")
            assert bot.hss.calls == []

            await proxy.start()
            await export_once(bot)
            assert [(e.outcome, e.task_id) for e in await bot.entries()] == [
                ("submitted", "task-0001")
            ]
            assert (await bot.verify()).ok
    finally:
        db.drop()


@pytest.mark.postgres
async def test_locked_postgresql_refuses_the_command_and_sends_nothing(
    tmp_path: Path, fake_hss: FakeHss
) -> None:
    """The chain head stays locked past lock_timeout (set in the URL): told, nothing sent."""
    db = postgres_db()
    locked_url = db.url + "%20-clock_timeout%3D300"
    try:
        async with running_bot(tmp_path, fake_hss, audit_db_url=locked_url) as bot:
            holder = await asyncpg.connect(
                make_url(db.url).set(query={}).render_as_string(hide_password=False),
                server_settings={"search_path": db.schema or "public"},
            )
            try:
                async with holder.transaction():
                    await holder.execute("LOCK TABLE audit_chain_head IN ACCESS EXCLUSIVE MODE")
                    await export_once(bot)
            finally:
                await holder.close()

            await assert_told_privately(bot, "failed", "audit log unavailable", "lock timeout")
            assert bot.hss.calls == []
            assert await bot.entries() == []
            assert (await bot.verify()).ok
    finally:
        db.drop()


# --- the bot is killed between its pending entry and HSS's answer ---------------------------


async def test_bot_killed_while_hss_holds_the_create_leaves_a_pending_entry(
    tmp_path: Path, fake_hss: FakeHss
) -> None:
    """SIGKILL mid-create: `audit list` shows it pending, the chain verifies, a restart goes on."""
    fake_hss.hang_next(op="create", seconds=60)
    db_url = f"sqlite:///{tmp_path / 'audit.db'}"
    async with FakeSlack() as slack:
        async with served_bot(tmp_path, fake_hss, slack, db_url) as bot:
            request = slack.slash_command(VALID, user_id=ALICE, channel_id=EXPORTS)
            ack = await slack.deliver(bot.events_url, request)
            assert (ack.status, ack.timed_out) == (200, False)
            assert REQUESTED in ack.json["text"]
            await wait_for(lambda: len(fake_hss.calls_for("create")) == 1)  # HSS holds it
            assert await bot.stop(signal.SIGKILL) == -signal.SIGKILL
        assert slack.messages == []
        assert slack.responses == []

        code, out = await bot_cli("audit", "list", "--json", "--db", db_url, cwd=tmp_path)
        assert code == 0
        [listed] = [json.loads(line) for line in out.splitlines()]
        assert (listed["outcome"], listed["user_id"], listed["task_id"]) == ("pending", ALICE, None)
        assert listed["request"]["body"]["status"] == "Running"
        assert (await bot_cli("audit", "verify", "--db", db_url, cwd=tmp_path))[0] == 0

        async with served_bot(tmp_path, fake_hss, slack, db_url) as bot:
            request = slack.slash_command(VALID, user_id=ALICE, channel_id=EXPORTS)
            assert (await slack.deliver(bot.events_url, request)).status == 200
            await wait_for(lambda: len(slack.messages_in(EXPORTS)) >= 1)
        code, out = await bot_cli("audit", "list", "--json", "--db", db_url, cwd=tmp_path)
        assert [json.loads(line)["outcome"] for line in out.splitlines()] == [
            "pending",
            "submitted",
        ]
        assert (await bot_cli("audit", "verify", "--db", db_url, cwd=tmp_path))[0] == 0
