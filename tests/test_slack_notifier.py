"""Slack delivery against the fake Web API: the channel first, then every fallback, never silent."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime

import pytest

from bot.adapters.slack_notifier import AuditChannelMirror, SlackNotifier, build_web_client
from bot.domain.errors import AuditUnavailable, HssError
from bot.domain.grammar import build_request
from bot.domain.types import (
    Actor,
    Announcement,
    AuditEntry,
    CreatedTask,
    Failed,
    ReplyTo,
    Submitted,
)
from bot.lifecycle import Lifecycle
from bot.settings import Settings
from emulators.fake_slack import FakeSlack

ALICE = Actor("T1", "U0ALICE", "C0EXPORTS", "modal")
REQUEST = build_request({"status": "running"})
SUBMITTED = Submitted(7, CreatedTask("task-9", "req-1"))


@pytest.fixture
async def slack() -> AsyncIterator[FakeSlack]:
    """A fake Slack Web API on loopback."""
    async with FakeSlack() as fake:
        yield fake


@pytest.fixture
def notifier(slack: FakeSlack) -> SlackNotifier:
    """The notifier, with the client the app builds from settings."""
    settings = Settings(
        _env_file=None, SLACK_BOT_TOKEN=slack.bot_token, SLACK_API_URL=slack.api_url
    )
    return SlackNotifier(build_web_client(settings))


async def test_submitted_goes_to_the_channel_and_returns_its_ts(
    slack: FakeSlack, notifier: SlackNotifier
) -> None:
    """The announcement is posted in the channel; the follow-up goes to its thread."""
    announced = await notifier.export_submitted(ReplyTo("C0EXPORTS"), ALICE, REQUEST, SUBMITTED)

    (message,) = slack.messages
    assert announced == Announcement("C0EXPORTS", message.ts)
    assert "task-9" in message.text
    assert "<@U0ALICE>" in message.text


async def test_without_response_url_a_refused_channel_post_goes_to_the_users_dm(
    slack: FakeSlack, notifier: SlackNotifier
) -> None:
    """A form's announcement the channel refuses lands in the DM, and the follow-up goes there."""
    slack.channel_errors["C0EXPORTS"] = "not_in_channel"

    announced = await notifier.export_submitted(ReplyTo("C0EXPORTS"), ALICE, REQUEST, SUBMITTED)

    (message,) = slack.messages
    assert message.channel == slack.dm_with("U0ALICE")
    assert announced == Announcement(slack.dm_with("U0ALICE"), message.ts)
    assert "task-9" in message.text


async def test_after_the_response_url_the_task_message_goes_to_the_dm_for_the_file(
    slack: FakeSlack, notifier: SlackNotifier
) -> None:
    """The channel sees the task_id by response_url; the DM gets it too, for the file to follow."""
    slack.channel_errors["C0PRIVATE"] = "not_in_channel"
    reply = ReplyTo("C0PRIVATE", slack.issue_response_url("C0PRIVATE", "U0ALICE"))

    announced = await notifier.export_submitted(reply, ALICE, REQUEST, SUBMITTED)

    (response,) = slack.responses
    assert response.response_type == "in_channel"
    assert "task-9" in response.all_text
    (in_dm,) = slack.messages
    assert announced == Announcement(slack.dm_with("U0ALICE"), in_dm.ts)
    assert "task-9" in in_dm.all_text
    assert "the file and any news of this export will come here" in in_dm.all_text
    assert "<#C0PRIVATE>" in in_dm.all_text


async def test_after_the_response_url_a_refused_dm_leaves_the_user_id_to_follow_up_in(
    slack: FakeSlack, notifier: SlackNotifier
) -> None:
    """If the DM post fails too, the follow-up still goes to the user, by user id, threadless."""
    slack.channel_errors["C0PRIVATE"] = "not_in_channel"
    slack.fail("chat.postMessage", "internal_error", channel="U0ALICE")
    reply = ReplyTo("C0PRIVATE", slack.issue_response_url("C0PRIVATE", "U0ALICE"))

    announced = await notifier.export_submitted(reply, ALICE, REQUEST, SUBMITTED)

    assert [r.response_type for r in slack.responses] == ["in_channel"]
    assert slack.messages == []
    assert announced == Announcement("U0ALICE", None)


async def test_failure_is_told_privately_in_the_channel_without_response_url(
    slack: FakeSlack, notifier: SlackNotifier
) -> None:
    """A form's failure is shown as an ephemeral message to the requester."""
    error = HssError("refused", status=400, code="HSS.1", request_id="r-2")

    await notifier.export_failed(ReplyTo("C0EXPORTS"), ALICE, Failed(7, error))

    (ephemeral,) = slack.ephemerals
    assert ephemeral.ephemeral_user == "U0ALICE"
    assert "HSS.1" in ephemeral.all_text
    assert "r-2" in ephemeral.all_text
    assert slack.messages == []


async def test_failure_falls_back_to_dm_when_ephemeral_is_refused(
    slack: FakeSlack, notifier: SlackNotifier
) -> None:
    """If the bot cannot even post ephemerally there, the failure goes to the DM."""
    slack.channel_errors["C0EXPORTS"] = "channel_not_found"
    error = HssError("refused", code="HSS.1")

    await notifier.export_failed(ReplyTo("C0EXPORTS"), ALICE, Failed(7, error))

    assert [m.channel for m in slack.messages] == [slack.dm_with("U0ALICE")]


async def test_nothing_deliverable_is_logged_with_the_task_id(
    slack: FakeSlack, notifier: SlackNotifier, caplog: pytest.LogCaptureFixture
) -> None:
    """When every route fails, the task_id is in the error log (and the audit entry)."""
    slack.fail("chat.postMessage", "account_inactive", times=2)

    announced = await notifier.export_submitted(ReplyTo("C0EXPORTS"), ALICE, REQUEST, SUBMITTED)

    assert announced is None
    (record,) = [r for r in caplog.records if r.levelname == "ERROR"]
    assert record.__dict__["task_id"] == "task-9"


async def test_audit_mirror_posts_one_line_per_entry(slack: FakeSlack) -> None:
    """Each audit entry is mirrored as one line in AUDIT_CHANNEL_ID."""
    settings = Settings(
        _env_file=None, SLACK_BOT_TOKEN=slack.bot_token, SLACK_API_URL=slack.api_url
    )
    mirror = AuditChannelMirror(build_web_client(settings), "C0AUDIT")
    entry = AuditEntry(
        5,
        datetime(2024, 5, 1, tzinfo=UTC),
        "T1",
        "U0ALICE",
        "C0EXPORTS",
        "slash",
        REQUEST.as_audit_record(),
        "submitted",
        task_id="task-9",
    )

    await mirror.post(entry)

    (line,) = slack.messages_in("C0AUDIT")
    assert line.text is not None
    assert "<" not in line.text.replace("<@U0ALICE>", "").replace("<#C0EXPORTS>", "")
    assert line.text.startswith("audit #5 · <@U0ALICE> in <#C0EXPORTS> · slash · *submitted*")
    assert "task-9" in line.text


class _Record:
    """An appended record whose entry the mirror reads (`Appended.entry`)."""

    def __init__(self, entry: AuditEntry | None, error: Exception | None = None) -> None:
        self.entry_id = 6
        self._entry = entry
        self._error = error

    async def entry(self) -> AuditEntry | None:
        if self._error is not None:
            raise self._error
        return self._entry


async def test_audit_mirror_can_post_in_the_background(slack: FakeSlack) -> None:
    """With `spawn`, the mirror returns at once and the line is posted by the spawned task."""
    settings = Settings(
        _env_file=None, SLACK_BOT_TOKEN=slack.bot_token, SLACK_API_URL=slack.api_url
    )
    lifecycle = Lifecycle()
    mirror = AuditChannelMirror(build_web_client(settings), "C0AUDIT", spawn=lifecycle.spawn)
    entry = AuditEntry(
        6, datetime(2024, 5, 1, tzinfo=UTC), "T1", "U0ALICE", "C0EXPORTS", "slash", None, "denied"
    )

    await mirror(_Record(entry))  # as the audit log hands it over
    assert slack.messages_in("C0AUDIT") == []
    await lifecycle.drain(5.0)

    (line,) = slack.messages_in("C0AUDIT")
    assert "*denied*" in (line.text or "")


async def test_audit_mirror_that_cannot_read_the_entry_logs_and_posts_nothing(
    slack: FakeSlack, caplog: pytest.LogCaptureFixture
) -> None:
    """A database gone by the time the background read runs: one warning, no line, no raise."""
    settings = Settings(
        _env_file=None, SLACK_BOT_TOKEN=slack.bot_token, SLACK_API_URL=slack.api_url
    )
    mirror = AuditChannelMirror(build_web_client(settings), "C0AUDIT")
    gone = _Record(None, AuditUnavailable("audit store unavailable: no such table"))

    await mirror(gone)

    assert slack.messages_in("C0AUDIT") == []
    (record,) = [r for r in caplog.records if r.levelname == "WARNING"]
    assert record.getMessage() == "audit mirror could not read the entry"
    assert record.__dict__["audit_entry"] == 6
