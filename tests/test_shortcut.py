"""The global shortcut "New HSS export" end to end: it opens the form with a channel picker.

A global shortcut is run from anywhere and carries no channel, so the form it
opens asks where to post; its submission exports there, checked and audited
like any form. Signed payloads go into the bot as `serve` wires it.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml
from e2e_harness import ALICE, EXPORTS, running_bot, wait_for

from bot.domain import modal
from bot.entrypoints.listeners import shortcut
from emulators.fake_hss import FakeHss
from emulators.fake_slack import MANIFEST


def picker(view: dict[str, Any]) -> dict[str, Any]:
    """Return the form's channel input block (fails the test if there is none)."""
    (block,) = [b for b in view["blocks"] if b.get("block_id") == modal.CHANNEL_BLOCK]
    return block


async def test_shortcut_opens_the_form_with_a_channel_picker_and_exports_there(
    tmp_path: Path, fake_hss: FakeHss
) -> None:
    """The shortcut opens the form with a channel picker; submitting exports to that channel."""
    async with running_bot(tmp_path, fake_hss) as bot:
        ack = await bot.send(bot.slack.global_shortcut(shortcut.CALLBACK_ID))
        opened = bot.slack.view()
        submitted = await bot.send(
            bot.slack.view_submission(values={modal.CHANNEL_BLOCK: EXPORTS, "status": "Running"})
        )
        await wait_for(lambda: len(bot.slack.files) == 1, seconds=15)
        entries = await bot.entries()

    assert ack.status == 200
    assert not ack.timed_out
    element = picker(opened.view)["element"]
    assert element["type"] == "conversations_select"
    assert element["default_to_current_conversation"] is True
    assert submitted.status == 200
    (create,) = fake_hss.calls_for("create")
    assert create.body["status"] == "Running"
    (announced, *_) = bot.channel_posts(EXPORTS)
    assert bot.slack.files[0].channel_id == EXPORTS
    assert bot.slack.files[0].thread_ts == announced.ts
    (entry,) = entries
    assert (entry.source, entry.user_id, entry.channel_id) == ("modal", ALICE, EXPORTS)


async def test_shortcut_from_an_org_wide_install_reads_the_team_from_the_user(
    tmp_path: Path, fake_hss: FakeHss
) -> None:
    """With team: null (org-wide install) the form still opens and the entry names the workspace."""
    async with running_bot(tmp_path, fake_hss) as bot:
        await bot.send(bot.slack.global_shortcut(shortcut.CALLBACK_ID, enterprise_id="E0ORG"))
        await bot.send(bot.slack.view_submission(values={modal.CHANNEL_BLOCK: EXPORTS}))
        await wait_for(lambda: len(fake_hss.calls_for("create")) == 1)
        await bot.settle()
        entries = await bot.entries()

    assert [e.team_id for e in entries] == [bot.slack.team_id]


async def test_picked_channel_is_access_checked(tmp_path: Path, fake_hss: FakeHss) -> None:
    """A channel picked in the form that the allow list does not name is refused and audited."""
    async with running_bot(tmp_path, fake_hss) as bot:
        await bot.send(bot.slack.global_shortcut(shortcut.CALLBACK_ID))
        refused = await bot.send(bot.slack.view_submission(values={modal.CHANNEL_BLOCK: "C0OTHER"}))
        entries = await bot.entries()

    assert refused.json["response_action"] == "update"
    assert "You may not run HSS exports" in str(refused.json["view"])
    assert fake_hss.calls_for("create") == []
    assert [(e.outcome, e.channel_id) for e in entries] == [("denied", "C0OTHER")]


async def test_slash_opened_form_has_no_channel_picker(tmp_path: Path, fake_hss: FakeHss) -> None:
    """The form opened by `/hss-export` asks no channel: it posts where it was opened."""
    async with running_bot(tmp_path, fake_hss) as bot:
        await bot.slash("")
        view = bot.slack.view().view

    assert modal.CHANNEL_BLOCK not in {b.get("block_id") for b in view["blocks"]}


def test_manifest_declares_the_global_shortcut() -> None:
    """manifest.yml declares the global shortcut the app listens for, named "New HSS export"."""
    shortcuts = yaml.safe_load(MANIFEST.read_text(encoding="utf-8"))["features"]["shortcuts"]

    assert {k: shortcuts[0][k] for k in ("name", "type", "callback_id")} == {
        "name": "New HSS export",
        "type": "global",
        "callback_id": shortcut.CALLBACK_ID,
    }
