"""The App Home tab end to end: signed events and clicks into the bot as `serve` wires it.

Each test opens the home (`app_home_opened`, as Slack sends it), reads the
home the bot published through the fake Slack's `views.publish` (checked
with Slack's home-view rules), clicks its buttons with signed `block_actions`
payloads, and asserts what the user sees, what HSS received and what the audit
log holds.
"""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from e2e_harness import ALICE, EXPORTS, Bot, running_bot, wait_for

from bot.domain import approval_blocks, home, modal
from bot.domain.types import AuditEntry
from bot.usecases import SavedExports
from emulators.fake_hss import FakeHss
from emulators.fake_slack import Delivery
from emulators.fake_slack_home import PublishedHome

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
    assert "Your last 1 entry in the audit log" in home_text(published.view)
    assert home.HomeContext.load(published.view["private_metadata"]) == home.HomeContext(
        bot.slack.dm_with(ALICE)
    )


async def test_home_history_times_are_in_the_zone_its_footer_names(
    tmp_path: Path, fake_hss: FakeHss
) -> None:
    """Alice's Slack zone is Shanghai: her history's times are too, as the footer says."""
    async with running_bot(tmp_path, fake_hss, ALLOWED_USER_IDS=ALICE) as bot:
        bot.slack.user_zones[ALICE] = "Asia/Shanghai"
        await bot.slash("status=running")
        await wait_for(lambda: len(fake_hss.calls_for("create")) == 1)
        await bot.settle()  # its outcome is on record
        published = await open_home(bot)
        (entry,) = await bot.entries()

    shanghai = entry.at.astimezone(ZoneInfo("Asia/Shanghai")).strftime("%Y-%m-%d %H:%M CST")
    text = home_text(published.view)
    assert f"{shanghai} · slash · *submitted*" in text
    assert "Times are shown in Asia/Shanghai, your Slack time zone." in text
    assert " UTC" not in text


async def test_home_shows_a_held_request_waiting_then_approved_by_its_approver(
    tmp_path: Path, fake_hss: FakeHss
) -> None:
    """Alice's own Approve is a refused click and her request waits; after Bob's, it names him."""
    rule = {"APPROVAL_REQUIRED_FOR": "all_granted_eps", "APPROVER_USER_IDS": f"{BOB},{ALICE}"}
    async with running_bot(tmp_path, fake_hss, ALLOWED_USER_IDS=ALICE, **rule) as bot:
        await bot.slash("enterprise_project_id=all_granted_eps status=running")
        await bot.settle()
        message = bot.slack.last_message_with(approval_blocks.APPROVE_ACTION)
        await bot.send(
            bot.slack.button_click(message, approval_blocks.APPROVE_ACTION, user_id=ALICE)
        )
        await bot.settle()
        waiting = home_text((await open_home(bot)).view)
        await bot.send(bot.slack.button_click(message, approval_blocks.APPROVE_ACTION, user_id=BOB))
        await wait_for(lambda: len(fake_hss.calls_for("create")) == 1)
        await bot.settle()
        approved = home_text((await open_home(bot)).view)

    assert "slash · *waiting for approval* · " in waiting
    assert "*approved*" not in waiting
    assert "approval · *click refused* · " in waiting
    assert "You cannot approve your own export request." in waiting
    assert f"slash · *approved* by <@{BOB}> · " in approved
    assert f"approval · *submitted* · approved by <@{BOB}> · " in approved


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


# --- the buttons, wired to the saved exports' and the schedules' use cases --------------


async def saved_and_scheduled(bot: Bot, user_id: str = ALICE) -> None:
    """Save `weekly` and schedule it in #exports, save `adhoc` unscheduled; open the home."""
    await bot.slash("save weekly status=running", user_id=user_id)
    await bot.slash("save adhoc risky=yes", user_id=user_id)
    await bot.slash("schedule weekly every monday 09:00 tz=Europe/Berlin", user_id=user_id)
    await bot.settle()
    await open_home(bot, user_id)


async def open_home(bot: Bot, user_id: str = ALICE) -> PublishedHome:
    """Open the Home tab and wait for the home to be published again."""
    before = len(bot.slack.home.published)
    await bot.send(bot.slack.home.opened(user_id))
    await wait_for(lambda: len(bot.slack.home.published) > before)
    return bot.slack.home.of(user_id)


async def click(bot: Bot, action_id: str, value: str, user_id: str = ALICE) -> Delivery:
    """Click a button of the user's home and wait until the bot has done its work."""
    delivered = await bot.send(bot.slack.home.click(action_id, value=value, user_id=user_id))
    await bot.settle()
    return delivered


def audit_of(entries: list[AuditEntry]) -> list[tuple[str, str, str | None, str]]:
    """Each entry as (outcome, source, saved export, channel)."""
    return [(e.outcome, e.source, e.saved_export, e.channel_id) for e in entries]


async def test_home_lists_saved_exports_and_schedules_with_their_buttons(
    tmp_path: Path, fake_hss: FakeHss
) -> None:
    """The home lists both saved exports, the schedule's next run and where Run now posts."""
    async with running_bot(tmp_path, fake_hss, ALLOWED_USER_IDS=ALICE) as bot:
        bot.slack.user_zones[ALICE] = "Asia/Shanghai"
        await saved_and_scheduled(bot)
        published = bot.slack.home.of(ALICE)

    text = home_text(published.view)
    assert "*adhoc* · `risky=yes`" in text
    assert "*weekly* · `status=running`" in text
    assert "Run now posts in <#C0EXPORTS>" in text  # weekly: where its schedule runs
    assert "Run now posts in your DM with the app" in text  # adhoc: not scheduled
    assert "Next run: Mon" in text
    assert "16:00 CST" in text  # 09:00 in Berlin, shown in Alice's zone
    assert published.button(home.RUN_SAVED, "weekly")["confirm"]
    assert published.button(home.PAUSE_SCHEDULE, "weekly")


async def test_run_now_exports_once_in_the_schedule_channel_and_says_so(
    tmp_path: Path, fake_hss: FakeHss
) -> None:
    """Run now runs `weekly` as `run weekly` does, in #exports, audited from the home."""
    async with running_bot(tmp_path, fake_hss, ALLOWED_USER_IDS=ALICE) as bot:
        await saved_and_scheduled(bot)
        clicked = await click(bot, home.RUN_SAVED, "weekly")
        await wait_for(lambda: len(bot.slack.files) == 1, seconds=15)
        entries = await bot.entries()
        published = bot.slack.home.of(ALICE)

    assert clicked.status == 200
    assert not clicked.timed_out
    (create,) = fake_hss.calls_for("create")
    assert create.body["status"] == "Running"
    assert bot.slack.files[0].channel_id == EXPORTS
    assert audit_of(entries)[-1] == ("submitted", "home", "weekly", EXPORTS)
    assert "Running `weekly`: the task id and the file go to <#C0EXPORTS>" in home_text(
        published.view
    )


async def test_double_click_and_replayed_click_export_once(
    tmp_path: Path, fake_hss: FakeHss
) -> None:
    """Two quick clicks on one home, and Slack's replay of the same payload: one export."""
    async with running_bot(tmp_path, fake_hss, ALLOWED_USER_IDS=ALICE) as bot:
        await saved_and_scheduled(bot)
        first = bot.slack.home.click(home.RUN_SAVED, value="weekly")
        second = bot.slack.home.click(home.RUN_SAVED, value="weekly")  # same home, new trigger
        await asyncio.gather(bot.send(first), bot.send(second))
        await bot.send(first)  # Slack retries a request with the very same body
        await bot.settle()
        await wait_for(lambda: len(bot.slack.files) == 1, seconds=15)
        again = await open_home(bot)  # a later click on the new home runs again
        await click(bot, home.RUN_SAVED, "weekly")
        await wait_for(lambda: len(fake_hss.calls_for("create")) == 2)
        await bot.settle()

    assert again.hash != bot.slack.home.published[0].hash
    assert len(fake_hss.calls_for("create")) == 2


async def test_unscheduled_saved_export_runs_in_the_dm_only_if_allowed_there(
    tmp_path: Path, fake_hss: FakeHss
) -> None:
    """With only #exports allowed, `adhoc` (which runs in the DM) is refused and audited."""
    async with running_bot(tmp_path, fake_hss) as bot:  # #exports allowed, no user
        await saved_and_scheduled(bot)
        await click(bot, home.RUN_SAVED, "adhoc")
        entries = await bot.entries()
        published = bot.slack.home.of(ALICE)

    assert fake_hss.calls_for("create") == []
    assert audit_of(entries)[-1] == ("denied", "home", "adhoc", bot.slack.dm_with(ALICE))
    assert "You may not run HSS exports" in home_text(published.view)  # the notice
    assert published.button(home.RUN_SAVED, "weekly")  # weekly runs in #exports: still offered


async def test_forget_deletes_the_saved_export_audited(tmp_path: Path, fake_hss: FakeHss) -> None:
    """Forget deletes `adhoc` as `forget adhoc` does; the home no longer lists it."""
    async with running_bot(tmp_path, fake_hss, ALLOWED_USER_IDS=ALICE) as bot:
        await saved_and_scheduled(bot)
        await click(bot, home.FORGET_SAVED, "adhoc")
        entries = await bot.entries()
        published = bot.slack.home.of(ALICE)
        listing = await bot.slash("saved")

    assert audit_of(entries)[-1] == ("forgotten", "home", "adhoc", bot.slack.dm_with(ALICE))
    assert "*adhoc*" not in home_text(published.view)
    assert "Forgot `adhoc`: it is no longer saved." in home_text(published.view)
    assert "`adhoc`" not in listing.text


async def test_pause_resume_and_delete_a_schedule_from_the_home(
    tmp_path: Path, fake_hss: FakeHss
) -> None:
    """Pause, Resume and Delete change the schedule as the slash words do, each audited once."""
    async with running_bot(tmp_path, fake_hss, ALLOWED_USER_IDS=ALICE) as bot:
        await saved_and_scheduled(bot)
        await click(bot, home.PAUSE_SCHEDULE, "weekly")
        paused = bot.slack.home.of(ALICE)
        await click(bot, home.RESUME_SCHEDULE, "weekly")
        resumed = bot.slack.home.of(ALICE)
        await click(bot, home.DELETE_SCHEDULE, "weekly")
        deleted = bot.slack.home.of(ALICE)
        entries = await bot.entries()

    assert "*Paused*" in home_text(paused.view)
    assert paused.button(home.RESUME_SCHEDULE, "weekly")
    assert "Next run:" in home_text(resumed.view)
    assert resumed.button(home.PAUSE_SCHEDULE, "weekly")
    assert "*weekly* · every Monday" not in home_text(deleted.view)
    assert "*weekly* · `status=running`" in home_text(deleted.view)  # the saved export stays
    changes = [(o, s, n, c) for o, s, n, c in audit_of(entries) if s == "home"]
    assert changes == [
        ("paused", "home", "weekly", EXPORTS),
        ("resumed", "home", "weekly", EXPORTS),
        ("unscheduled", "home", "weekly", EXPORTS),
    ]


async def test_double_click_on_pause_pauses_once(tmp_path: Path, fake_hss: FakeHss) -> None:
    """Two clicks on Pause: one change on record, the second answered "paused already"."""
    async with running_bot(tmp_path, fake_hss, ALLOWED_USER_IDS=ALICE) as bot:
        await saved_and_scheduled(bot)
        first = bot.slack.home.click(home.PAUSE_SCHEDULE, value="weekly")
        second = bot.slack.home.click(home.PAUSE_SCHEDULE, value="weekly")
        await asyncio.gather(bot.send(first), bot.send(second))
        await bot.settle()
        entries = await bot.entries()

    assert [e.outcome for e in entries if e.source == "home"] == ["paused"]


async def test_double_click_on_forget_or_delete_acts_once_and_refuses_nothing(
    tmp_path: Path, fake_hss: FakeHss
) -> None:
    """The second click of Forget, and of Delete, on one home: answered "already done" (its
    home is gone: the first click's stays), and no `invalid` refusal on record."""
    async with running_bot(tmp_path, fake_hss, ALLOWED_USER_IDS=ALICE) as bot:
        await saved_and_scheduled(bot)
        forget = bot.slack.home.click(home.FORGET_SAVED, value="adhoc")
        await bot.send(forget)
        await bot.send(forget)  # the same click again, once the first is answered
        await bot.settle()
        forgot_twice = bot.slack.home.of(ALICE)
        delete = bot.slack.home.click(home.DELETE_SCHEDULE, value="weekly")
        await asyncio.gather(bot.send(delete), bot.send(delete))  # both at once
        await bot.settle()
        deleted_twice = bot.slack.home.of(ALICE)
        entries = await bot.entries()

    assert [e.outcome for e in entries if e.source == "home"] == ["forgotten", "unscheduled"]
    assert bot.slack.messages_in(ALICE) == []  # a repeated click is no failure to tell
    assert "Forgot `adhoc`: it is no longer saved." in home_text(forgot_twice.view)
    assert "Schedule `weekly` deleted; the saved export stays." in home_text(deleted_twice.view)


async def test_a_second_button_clicked_while_the_first_works_shows_its_answer(
    tmp_path: Path, fake_hss: FakeHss
) -> None:
    """Run now on `adhoc` (HSS slow) and Pause on `weekly`, both from one home: the home ends
    showing Pause's answer and `weekly` paused, not the home Run now published before it."""
    async with running_bot(tmp_path, fake_hss, ALLOWED_USER_IDS=ALICE) as bot:
        await saved_and_scheduled(bot)
        fake_hss.delay(1.0, op="create")
        run = bot.slack.home.click(home.RUN_SAVED, value="adhoc")
        pause = bot.slack.home.click(home.PAUSE_SCHEDULE, value="weekly")
        await bot.send(run)
        await bot.send(pause)  # while Run now waits for HSS
        await bot.settle()
        shown = bot.slack.home.of(ALICE)
        entries = await bot.entries()

    assert [e.outcome for e in entries if e.source == "home"] == ["submitted", "paused"]
    assert "Schedule `weekly` paused" in home_text(shown.view)
    assert "*Paused*" in home_text(shown.view)


async def test_clicks_from_an_old_home_are_refused_and_audited(
    tmp_path: Path, fake_hss: FakeHss
) -> None:
    """Bob's home from when he was allowed: Run now is refused, on record, no export; Pause
    still stops his own schedule (stopping needs no access)."""
    allowed = {"ALLOWED_CHANNEL_IDS": ""}  # users only: the channel admits nobody
    async with running_bot(tmp_path, fake_hss, ALLOWED_USER_IDS=f"{ALICE},{BOB}", **allowed) as bot:
        await saved_and_scheduled(bot, BOB)
        run = bot.slack.home.click(home.RUN_SAVED, value="weekly", user_id=BOB)
        pause = bot.slack.home.click(home.PAUSE_SCHEDULE, value="weekly", user_id=BOB)
    async with running_bot(
        tmp_path, fake_hss, slack=bot.slack, ALLOWED_USER_IDS=ALICE, **allowed
    ) as later:
        # One click after the other: two clicks in flight at once are audited in either order.
        await later.send(run)
        await later.settle()
        await later.send(pause)
        await later.settle()
        entries = await later.entries()
        published = later.slack.home.of(BOB)

    assert fake_hss.calls_for("create") == []
    assert audit_of(entries)[-2:] == [
        ("denied", "home", "weekly", EXPORTS),
        ("paused", "home", "weekly", EXPORTS),
    ]
    assert published.buttons() == []
    assert "You may not run HSS exports" in home_text(published.view)


async def test_an_owner_who_lost_the_channel_may_stop_but_not_resume_a_schedule(
    tmp_path: Path, fake_hss: FakeHss
) -> None:
    """#exports no longer admits Alice: Resume is refused with the reason at the top of her
    home; Pause and Delete (home) and `pause`/`unschedule` (slash) stop it, audited."""
    async with running_bot(tmp_path, fake_hss) as bot:  # #exports allowed, no user
        await saved_and_scheduled(bot)
        await bot.slash("save daily status=running")
        await bot.slash("schedule daily every day 09:00 tz=Europe/Berlin")
        await bot.settle()
        await click(bot, home.PAUSE_SCHEDULE, "weekly")  # paused while allowed: resumable
        dm = bot.slack.dm_with(ALICE)
    # Her DM still admits her home; #exports, where her schedules run, no longer admits her.
    async with running_bot(tmp_path, fake_hss, slack=bot.slack, ALLOWED_CHANNEL_IDS=dm) as later:
        await click(later, home.RESUME_SCHEDULE, "weekly")
        refused = later.slack.home.of(ALICE)
        await open_home(later)
        await click(later, home.DELETE_SCHEDULE, "weekly")
        deleted = later.slack.home.of(ALICE)
        await later.slash("pause daily")  # typed in #exports, which refuses her
        await later.settle()  # answered after the ack: one at a time, or in either order
        await later.slash("unschedule daily")
        await later.settle()
        entries = await later.entries()
        replies = [str(r.body.get("text")) for r in later.private_replies()]

    text = home_text(refused.view)
    assert text.index("You may not run HSS exports") < text.index("*weekly* · every Monday")
    assert refused.button(home.RESUME_SCHEDULE, "weekly")  # still paused, still listed
    assert "*weekly* · every Monday" not in home_text(deleted.view)
    assert replies[-2:] == [
        "Schedule `daily` paused: it runs again on `resume`.",
        "Schedule `daily` deleted; the saved export stays.",
    ]
    changes = [(e.outcome, e.source, e.schedule, e.channel_id) for e in entries][-4:]
    assert changes == [
        ("denied", "home", "weekly", EXPORTS),
        ("unscheduled", "home", "weekly", EXPORTS),
        ("paused", "slash", "daily", EXPORTS),
        ("unscheduled", "slash", "daily", EXPORTS),
    ]


async def test_forged_click_is_refused_and_changes_nothing(
    tmp_path: Path, fake_hss: FakeHss
) -> None:
    """A click signed with another secret gets 401: nothing runs, nothing is recorded."""
    async with running_bot(tmp_path, fake_hss, ALLOWED_USER_IDS=ALICE) as bot:
        await saved_and_scheduled(bot)
        before = await bot.entries()
        forged = bot.slack.home.click(home.RUN_SAVED, value="weekly", secret="not-the-secret")
        delivered = await bot.send(forged)
        await bot.settle()
        after = await bot.entries()

    assert delivered.status == 401
    assert fake_hss.calls_for("create") == []
    assert after == before


# --- what the clicker is told when the home cannot show it -------------------------------


def dm_text(bot: Bot, user_id: str = ALICE) -> str:
    """Everything the bot posted in the user's DM with the app."""
    return "\n".join(m.all_text for m in bot.slack.messages_in(user_id))


async def test_a_refused_click_whose_home_slack_will_not_take_is_told_in_the_dm(
    tmp_path: Path, fake_hss: FakeHss
) -> None:
    """Run now on `adhoc` is refused (its DM is not allowed) and Slack refuses the new home:
    the refusal reaches Alice's DM with the app, naming the button; on record all the same."""
    async with running_bot(tmp_path, fake_hss) as bot:  # #exports allowed, no user
        await saved_and_scheduled(bot)
        bot.slack.fail("views.publish", "internal_error")
        await click(bot, home.RUN_SAVED, "adhoc")
        entries = await bot.entries()
        told = dm_text(bot)

    assert fake_hss.calls_for("create") == []
    assert audit_of(entries)[-1] == ("denied", "home", "adhoc", bot.slack.dm_with(ALICE))
    assert "Your click on *Run now* on `adhoc` in the App Home did not go through" in told
    assert "You may not run HSS exports" in told
    assert "Open the Home tab again" in told


async def test_a_refused_click_shown_in_the_home_sends_no_dm(
    tmp_path: Path, fake_hss: FakeHss
) -> None:
    """The home took the refusal (the notice at its top): nothing in the DM besides."""
    async with running_bot(tmp_path, fake_hss) as bot:
        await saved_and_scheduled(bot)
        await click(bot, home.RUN_SAVED, "adhoc")
        published = bot.slack.home.of(ALICE)

    assert "You may not run HSS exports" in home_text(published.view)
    assert bot.slack.messages_in(ALICE) == []


async def test_a_bug_on_a_click_is_told_in_the_dm_with_a_reference(
    tmp_path: Path,
    fake_hss: FakeHss,
    caplog: pytest.LogCaptureFixture,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Run now hits a bug after the ack: Alice's DM gets an honest line and the reference
    from the log, never the error's text; the click itself was acknowledged in time."""

    async def broken(*_args: Any, **_kwargs: Any) -> None:
        raise RuntimeError("boom xoxb-not-for-users")

    async with running_bot(tmp_path, fake_hss, ALLOWED_USER_IDS=ALICE) as bot:
        await saved_and_scheduled(bot)
        monkeypatch.setattr(SavedExports, "run", broken)
        delivered = await click(bot, home.RUN_SAVED, "weekly")
        await wait_for(lambda: bool(bot.slack.messages_in(ALICE)))
        told = dm_text(bot)

    [logged] = [r for r in caplog.records if r.getMessage().startswith("unexpected error")]
    assert delivered.status == 200
    assert not delivered.timed_out
    assert "Your click on *Run now* on `weekly`" in told
    assert "went wrong on our side" in told
    assert str(logged.__dict__["reference"]) in told
    for hidden in ("boom xoxb", "not-for-users", "RuntimeError", "Traceback"):
        assert hidden not in told
    assert fake_hss.calls_for("create") == []


async def test_a_bug_building_the_home_publishes_one_that_says_so_with_a_reference(
    tmp_path: Path,
    fake_hss: FakeHss,
    caplog: pytest.LogCaptureFixture,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Alice's home cannot be built (a bug reading her saved exports): the home she sees says
    so, with the reference from the log, never the error's text."""

    async def broken(*_args: Any, **_kwargs: Any) -> None:
        raise RuntimeError("boom xoxb-not-for-users")

    async with running_bot(tmp_path, fake_hss, ALLOWED_USER_IDS=ALICE) as bot:
        monkeypatch.setattr(SavedExports, "owned", broken)
        delivered = await bot.send(bot.slack.home.opened(ALICE))
        await wait_for(lambda: bot.slack.home.has(ALICE))
        published = bot.slack.home.of(ALICE)

    [logged] = [r for r in caplog.records if r.getMessage().startswith("unexpected error")]
    text = home_text(published.view)
    assert delivered.status == 200
    assert "Your home could not be built: something went wrong on our side" in text
    assert f"give an operator this reference: {logged.__dict__['reference']}." in text
    assert published.view["type"] == "home"
    assert not [b for b in published.view["blocks"] if b["type"] == "actions"]
    for hidden in ("boom xoxb", "not-for-users", "RuntimeError", "Traceback"):
        assert hidden not in text
