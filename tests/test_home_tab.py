"""The App Home tab end to end: signed events and clicks into the bot as `serve` wires it.

Each test opens the home (`app_home_opened`, as Slack sends it), reads the
home the bot published through the fake Slack's `views.publish` (checked
with Slack's home-view rules), clicks its buttons with signed `block_actions`
payloads, and asserts what the user sees, what HSS received and what the audit
log holds.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from e2e_harness import ALICE, EXPORTS, running_bot, wait_for

from bot.domain import home, modal
from emulators.fake_hss import FakeHss

BOB = "U0BOB"  # allowed nowhere


def home_text(view: dict[str, Any]) -> str:
    """Every text in a published home."""
    return str(view["blocks"])


async def test_opening_the_home_tab_publishes_the_users_home(
    tmp_path: Path, fake_hss: FakeHss
) -> None:
    """Alice opens the Home tab: her home is published, with New export and her history."""
    async with running_bot(tmp_path, fake_hss, ALLOWED_USER_IDS=ALICE) as bot:
        await bot.slash("status=running")
        await wait_for(lambda: len(fake_hss.calls_for("create")) == 1)
        delivered = await bot.send(bot.slack.home.opened(ALICE))
        await wait_for(lambda: bot.slack.home.has(ALICE))
        published = bot.slack.home.of(ALICE)

    assert delivered.status == 200
    assert not delivered.timed_out
    assert published.view["type"] == "home"
    assert published.button(home.NEW_EXPORT)
    assert "Your last 1 command" in home_text(published.view)
    assert home.HomeContext.load(published.view["private_metadata"]) == home.HomeContext(
        bot.slack.dm_with(ALICE)
    )


async def test_messages_tab_publishes_nothing(tmp_path: Path, fake_hss: FakeHss) -> None:
    """Opening the Messages tab is not the Home tab: nothing is published."""
    async with running_bot(tmp_path, fake_hss, ALLOWED_USER_IDS=ALICE) as bot:
        delivered = await bot.send(bot.slack.home.opened(ALICE, tab="messages"))
        await bot.settle()

    assert delivered.status == 200
    assert bot.slack.calls_to("views.publish") == []


async def test_forged_event_is_refused_and_publishes_nothing(
    tmp_path: Path, fake_hss: FakeHss
) -> None:
    """An app_home_opened signed with another secret gets 401 and changes nothing."""
    async with running_bot(tmp_path, fake_hss, ALLOWED_USER_IDS=ALICE) as bot:
        delivered = await bot.send(bot.slack.home.opened(ALICE, secret="not-the-secret"))
        await bot.settle()

    assert delivered.status == 401
    assert bot.slack.calls_to("views.publish") == []


async def test_someone_not_allowed_sees_why_and_nothing_to_click(
    tmp_path: Path, fake_hss: FakeHss
) -> None:
    """Bob may not export: his home says so and has no button."""
    async with running_bot(tmp_path, fake_hss, ALLOWED_USER_IDS=ALICE) as bot:
        await bot.send(bot.slack.home.opened(BOB))
        await wait_for(lambda: bot.slack.home.has(BOB))
        published = bot.slack.home.of(BOB)

    assert published.buttons() == []
    assert "You may not run HSS exports" in home_text(published.view)


async def test_new_export_opens_the_form_with_a_channel_picker_and_exports_there(
    tmp_path: Path, fake_hss: FakeHss
) -> None:
    """New export opens the same form as the shortcut; its submission exports, audited."""
    async with running_bot(tmp_path, fake_hss, ALLOWED_USER_IDS=ALICE) as bot:
        await bot.send(bot.slack.home.opened(ALICE))
        await wait_for(lambda: bot.slack.home.has(ALICE))
        clicked = await bot.send(bot.slack.home.click(home.NEW_EXPORT))
        opened = bot.slack.view()
        await bot.send(
            bot.slack.view_submission(values={modal.CHANNEL_BLOCK: EXPORTS, "status": "Running"})
        )
        await wait_for(lambda: len(fake_hss.calls_for("create")) == 1)
        await bot.settle()
        entries = await bot.entries()

    assert clicked.status == 200
    assert not clicked.timed_out
    assert opened.view["callback_id"] == modal.CALLBACK_ID
    assert any(b.get("block_id") == modal.CHANNEL_BLOCK for b in opened.view["blocks"])
    (entry,) = entries
    assert (entry.source, entry.user_id, entry.channel_id) == ("modal", ALICE, EXPORTS)


async def test_new_export_from_an_old_home_is_refused_and_audited(
    tmp_path: Path, fake_hss: FakeHss
) -> None:
    """A click from a home published while Bob was allowed: refused, on record, home updated."""
    async with running_bot(tmp_path, fake_hss, ALLOWED_USER_IDS=f"{ALICE},{BOB}") as bot:
        await bot.send(bot.slack.home.opened(BOB))
        await wait_for(lambda: bot.slack.home.has(BOB))
        click = bot.slack.home.click(home.NEW_EXPORT, user_id=BOB)
    # The settings are read when the app is built: build a bot that no longer allows Bob.
    async with running_bot(tmp_path, fake_hss, slack=bot.slack, ALLOWED_USER_IDS=ALICE) as later:
        clicked = await later.send(click)
        await later.settle()
        entries = await later.entries()

    assert clicked.status == 200
    assert bot.slack.views == []  # no form opened
    assert [(e.outcome, e.user_id, e.source) for e in entries] == [("denied", BOB, "home")]
    assert "You may not run HSS exports" in home_text(bot.slack.home.of(BOB).view)
