"""Saved exports end to end (issue 15): the real runtime between fake Slack and fake HSS.

`save` → `saved` → `run` → the file in the channel; a run with an override; another
user's NAME; stored fields that no longer parse; `forget`. What is checked is what
people see (the ack, the channel, the file), what HSS received, and the audit chain.
"""

from __future__ import annotations

import asyncio
import json
import sqlite3
from collections.abc import AsyncIterator
from contextlib import closing
from pathlib import Path

import pytest
from e2e_harness import Bot, running_bot
from slack_harness import ALICE, wait_for

from bot.domain.types import AuditEntry
from emulators.fake_hss import FakeHss
from emulators.fake_slack import Delivery

BOB = "U0BOB0001"


@pytest.fixture
async def bot(tmp_path: Path, fake_hss: FakeHss) -> AsyncIterator[Bot]:
    """The bot as `serve` wires it; everyone in #exports may export."""
    async with running_bot(tmp_path, fake_hss) as running:
        yield running


def said(delivery: Delivery) -> str:
    """Return everything the ack showed the user (text and blocks)."""
    assert delivery.status == 200, delivery.text
    return json.dumps(delivery.json, ensure_ascii=False)


def creates(bot: Bot) -> list[dict[str, object]]:
    """Return the bodies HSS received for create calls, in order."""
    return [call.body for call in bot.hss.calls_for("create")]


async def latest(bot: Bot) -> AuditEntry:
    """Return the newest audit entry."""
    return (await bot.entries())[-1]


async def test_save_list_run_and_the_file_arrives(bot: Bot) -> None:
    """A saved export runs as a typed export: the task, the file, an entry naming it."""
    answer = said(await bot.slash("save weekly-risky status=running risky=yes"))
    assert "Saved `weekly-risky`: status=running risky=yes" in answer
    saved = await latest(bot)
    assert (saved.outcome, saved.saved_export) == ("saved", "weekly-risky")
    assert creates(bot) == []  # saving sends nothing to HSS

    listing = said(await bot.slash("saved"))
    assert f"`weekly-risky` by <@{ALICE}>: status=running risky=yes" in listing
    assert "in_channel" not in listing  # only to the caller

    said(await bot.slash("run weekly-risky"))
    await wait_for(lambda: len(bot.slack.files) == 1, 20)
    [body] = creates(bot)
    assert (body["status"], body["risky"]) == ("Running", True)
    await bot.settle()
    run = await latest(bot)
    assert (run.outcome, run.saved_export, run.source) == ("submitted", "weekly-risky", "slash")
    assert run.task_id is not None
    assert any(run.task_id in post.all_text for post in bot.channel_posts())
    assert (await bot.verify()).ok


async def test_extra_keys_override_the_saved_ones(bot: Bot) -> None:
    """`run NAME status=waiting` keeps the saved `risky=yes` and replaces the status."""
    said(await bot.slash("save weekly-risky status=running risky=yes"))
    said(await bot.slash("run weekly-risky status=waiting"))
    await wait_for(lambda: len(creates(bot)) == 1, 20)
    [body] = creates(bot)
    assert (body["status"], body["risky"]) == ("Waiting", True)
    listing = said(await bot.slash("saved"))
    assert "status=running risky=yes" in listing  # the override was for that run only


async def test_someone_elses_name_is_refused_and_says_whose(bot: Bot) -> None:
    """Bob can neither replace nor forget Alice's saved export; each refusal is on record."""
    said(await bot.slash("save weekly-risky status=running"))
    answer = said(await bot.slash("save weekly-risky cluster_name=prod", user_id=BOB))
    assert f"belongs to <@{ALICE}>" in answer
    refused = await latest(bot)
    assert (refused.user_id, refused.outcome, refused.saved_export) == (
        BOB,
        "denied",
        "weekly-risky",
    )
    answer = said(await bot.slash("forget weekly-risky", user_id=BOB))
    assert f"belongs to <@{ALICE}>: only they can forget it" in answer
    assert "status=running" in said(await bot.slash("saved", user_id=BOB))
    # Alice replaces her own.
    assert "Replaced `weekly-risky`: cluster_name=prod" in said(
        await bot.slash("save weekly-risky cluster_name=prod")
    )


async def test_stored_fields_that_no_longer_parse_fail_naming_the_key(
    bot: Bot, tmp_path: Path
) -> None:
    """A field today's grammar rejects: a clear message naming `status`, audited, no HSS call."""
    said(await bot.slash("save weekly-risky status=running risky=yes"))

    def corrupt() -> None:
        with closing(sqlite3.connect(tmp_path / "audit.db")) as db, db:
            db.execute(
                "UPDATE saved_exports SET fields = ? WHERE name = 'weekly-risky'",
                (json.dumps({"status": "sleeping", "risky": "yes"}),),
            )

    # In a thread: a blocking write on the bot's own event loop could wait for a write lock
    # that the bot (mid-transaction, waiting for that loop) cannot let go: "database is locked".
    await asyncio.to_thread(corrupt)
    answer = said(await bot.slash("run weekly-risky"))
    assert "`status`: got 'sleeping'" in answer
    assert "stored in the saved export `weekly-risky`" in answer
    assert "went wrong" not in answer
    entry = await latest(bot)
    assert (entry.outcome, entry.saved_export) == ("invalid", "weekly-risky")
    assert "`status`" in (entry.error or "")
    assert creates(bot) == []


async def test_forget_then_an_unknown_name_lists_what_exists(bot: Bot) -> None:
    """`forget` deletes it (audited `forgotten`); an unknown NAME says which names exist."""
    said(await bot.slash("save weekly-risky status=running"))
    said(await bot.slash("save daily-all"))
    assert "Forgot `daily-all`" in said(await bot.slash("forget daily-all"))
    forgotten = await latest(bot)
    assert (forgotten.outcome, forgotten.saved_export) == ("forgotten", "daily-all")
    answer = said(await bot.slash("run weekly-risk"))
    assert "did you mean `weekly-risky`?" in answer
    assert "daily-all" not in answer
    unknown = await latest(bot)
    assert (unknown.outcome, unknown.saved_export) == ("invalid", "weekly-risk")
    assert creates(bot) == []
    assert (await bot.verify()).ok
