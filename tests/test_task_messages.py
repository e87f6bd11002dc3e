"""What the bot says about a followed task, rendered purely: state by state, text escaped."""

from __future__ import annotations

import dataclasses
import subprocess
import sys
from typing import Any

import pytest

from bot.domain.blocks import Message
from bot.domain.errors import BotError
from bot.domain.task_messages import (
    follow_up_here,
    not_tracked,
    progress_message,
    thread_notice,
)
from bot.tracking.model import TrackedTask

TASK = TrackedTask(
    task_id="t1",
    entry_id=1,
    channel_id="C0EXPORTS",
    thread_ts="1.1",
    user_id="U0ALICE",
    enterprise_project_id="eps-1",
    request={"query": {}, "body": {"status": "running"}},
    hss_request_id="req-create",
    state="tracking",
    created_at=0,
    next_poll_at=0,
    poll_interval=1,
    deadline=1,
    updated_at=0,
)
COMMAND = "hss-export-bot download t1 --enterprise-project-id eps-1"


def rendered(message: Message) -> str:
    """Return the notification text and every text in the blocks."""
    return message.text + "\n" + str(message.blocks)


@pytest.mark.parametrize(
    ("changes", "says", "notice"),
    [
        pytest.param({}, ["Export running", "t1", "<@U0ALICE>"], None, id="running"),
        pytest.param(
            {"state": "done", "file_name": "x.xlsx", "file_size": 3 * 2**20, "sha256": "ab" * 32},
            ["Export ready", "x.xlsx", "3.0 MiB", "is in the thread", "ab" * 32],
            None,
            id="done",
        ),
        pytest.param(
            {"state": "done", "file_name": "x.xlsx", "error": "delivery not confirmed"},
            ["could not confirm", COMMAND],
            None,
            id="done-unconfirmed",
        ),
        pytest.param(
            {"state": "too_large", "file_name": "x.xlsx", "error": "larger than the limit"},
            ["not uploaded", "larger than the limit", COMMAND],
            None,
            id="too-large",
        ),
        pytest.param(
            {"state": "failed", "error": "HSS said no", "error_request_id": "req-9"},
            ["Export failed", "HSS said no", "req-9"],
            ["Export failed", "HSS said no", "req-9"],
            id="failed",
        ),
        pytest.param(
            {"state": "failed", "error": "Slack refused", "file_id": "f1"},
            ["HSS has the file", COMMAND],
            ["HSS has the file", COMMAND],
            id="failed-with-a-file",
        ),
        pytest.param(
            {"state": "gave_up", "error": "still running after 2 h"},
            ["Stopped following", "still running after 2 h", COMMAND],
            ["If HSS finishes it later", COMMAND],
            id="gave-up",
        ),
    ],
)
def test_each_state_reads_as_the_user_needs_it(
    changes: dict[str, Any], says: list[str], notice: list[str] | None
) -> None:
    """The task message names the state and what to do; only failures get a thread notice."""
    task = dataclasses.replace(TASK, **changes)

    message = rendered(progress_message(task))
    reply = thread_notice(task)

    for text in says:
        assert text in message
    if notice is None:
        assert reply is None
    else:
        assert reply is not None
        for text in notice:
            assert text in rendered(reply)


def test_text_from_hss_cannot_ping_the_channel() -> None:
    """An HSS error carrying Slack control sequences is escaped in the message and the reply."""
    task = dataclasses.replace(
        TASK, state="failed", error="boom <!channel> & <@U0BOSS>", error_request_id="<!here>"
    )
    notice = thread_notice(task)
    assert notice is not None
    for message in (progress_message(task), notice):
        text = rendered(message)
        assert "<!" not in text
        assert "<@U0BOSS>" not in text
        assert "&lt;!channel&gt;" in text


def test_a_task_that_cannot_be_followed_says_how_to_fetch_its_file() -> None:
    """Without a task store the user gets the operator's download command."""
    text = rendered(not_tracked(TASK, BotError("the task store is down")))

    assert "cannot follow task t1" in text
    assert "the task store is down" in text
    assert COMMAND in text


def test_a_dm_copy_of_the_announcement_says_the_file_comes_there() -> None:
    """The DM copy keeps the announcement and names the channel the bot could not post in."""
    announcement = Message(text="HSS export task t1", blocks=[{"type": "divider"}])

    copy = follow_up_here(announcement, "C0PRIVATE")

    assert copy.text.startswith("HSS export task t1")
    assert copy.blocks[0] == {"type": "divider"}
    assert "<#C0PRIVATE>" in rendered(copy)
    assert "will come here" in rendered(copy)


def test_rendering_imports_no_slack_or_http_library() -> None:
    """The module stays pure: importing it loads no Slack library, nor httpx or aiohttp."""
    probe = (
        "import sys, bot.domain.task_messages; "
        "print(sorted(m for m in ('slack_bolt', 'slack_sdk', 'httpx', 'aiohttp') "
        "if m in sys.modules))"
    )
    loaded = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, check=True
    ).stdout.strip()

    assert loaded == "[]"
