"""The App Home view, pure: what a user sees of their exports, within Slack's limits.

Every view built here is checked with the fake Slack's home-view rules
(`emulators.fake_slack_home.home_problems`, slack_sdk's models underneath), so a
view Slack would refuse to publish fails here first.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

import pytest

from bot.domain import history_messages, home
from bot.domain.saved import SavedExport, ScheduledExport, ScheduleRun
from bot.domain.schedules import ResolvedZone
from emulators.fake_slack_home import home_problems

CONTEXT = home.HomeContext("D0ALICE")
MONDAY_9_BERLIN = datetime(2026, 3, 30, 7, 0, tzinfo=UTC).timestamp()  # after the DST change
LAST_MONDAY_9_BERLIN = datetime(2026, 3, 23, 8, 0, tzinfo=UTC).timestamp()  # before it


def saved(name: str = "weekly", **fields: str) -> SavedExport:
    """A saved export of Alice's."""
    return SavedExport(
        "T0FAKE", name, "U0ALICE", fields or {"status": "running", "risky": "yes"}, 0.0
    )


def schedule(name: str = "weekly", **changes: Any) -> ScheduledExport:
    """A schedule of Alice's saved export, Mondays 09:00 in Berlin."""
    values: dict[str, Any] = {
        "id": f"s-{name}",
        "team_id": "T0FAKE",
        "name": name,
        "owner_id": "U0ALICE",
        "channel_id": "C0EXPORTS",
        "cron": "0 9 * * 1",
        "tz": "Europe/Berlin",
        "summary": "every monday 09:00",
        "next_due_at": MONDAY_9_BERLIN,
        "created_at": 0.0,
    }
    values.update(changes)
    return ScheduledExport(**values)


def facts(**changes: Any) -> home.HomeFacts:
    """Alice's home facts, in Berlin time."""
    values: dict[str, Any] = {
        "user_id": "U0ALICE",
        "context": CONTEXT,
        "workspace_url": "https://acme.slack.com/",
        "zone": ResolvedZone("Europe/Berlin", "owner"),
    }
    values.update(changes)
    return home.HomeFacts(**values)


def text_of(view: dict[str, Any]) -> str:
    """Every text of the view, for assertions."""
    return json.dumps(view["blocks"], ensure_ascii=False)


def buttons(view: dict[str, Any]) -> list[dict[str, Any]]:
    """Every button of the view."""
    return [
        e
        for b in view["blocks"]
        if b["type"] == "actions"
        for e in b["elements"]
        if e["type"] == "button"
    ]


def test_empty_home_offers_new_export_and_says_how_to_save() -> None:
    """A user with nothing saved sees New export and the commands that save and schedule."""
    view = home.build_home(facts(history=history_messages.history([])))

    assert home_problems(view) == []
    assert view["type"] == "home"
    assert [b["action_id"] for b in buttons(view)] == [home.NEW_EXPORT]
    assert "/hss-export save NAME" in text_of(view)
    assert "/hss-export schedule NAME" in text_of(view)
    assert "Nothing of yours is in the audit log yet" in text_of(view)


def test_saved_exports_show_fields_the_run_channel_and_two_buttons() -> None:
    """Each saved export: its name and fields, where Run now posts, Run now and Forget."""
    view = home.build_home(facts(saved=[saved()], schedules=[schedule()]))
    run = next(b for b in buttons(view) if b["action_id"] == home.RUN_SAVED)
    forget = next(b for b in buttons(view) if b["action_id"] == home.FORGET_SAVED)

    assert home_problems(view) == []
    assert "*weekly* · `status=running risky=yes`" in text_of(view)
    assert "Run now posts in <#C0EXPORTS>" in text_of(view)
    assert run["value"] == forget["value"] == "weekly"
    assert forget["confirm"]["confirm"]["text"] == "Forget"
    assert "its schedule stops" in forget["confirm"]["text"]["text"]


def test_saved_export_without_a_channel_runs_in_the_dm() -> None:
    """A saved export with no channel and no schedule says Run now posts in the DM."""
    view = home.build_home(facts(saved=[saved()]))

    assert "Run now posts in your DM with the app" in text_of(view)
    assert home.run_channel(saved(), [], CONTEXT) == "D0ALICE"


def test_schedule_shows_next_run_in_the_users_zone_and_the_last_thread() -> None:
    """Next run in the user's zone (DST applied), the last run's outcome, task and thread link."""
    last = ScheduleRun(
        "s-weekly",
        LAST_MONDAY_9_BERLIN,
        LAST_MONDAY_9_BERLIN,
        outcome="submitted",
        task_id="task-1",
        channel_id="C0EXPORTS",
        thread_ts="1711962000.000100",
    )
    berlin = home.build_home(facts(schedules=[schedule(last_run=last)]))
    shanghai = home.build_home(
        facts(zone=ResolvedZone("Asia/Shanghai", "owner"), schedules=[schedule(last_run=last)])
    )

    assert home_problems(berlin) == []
    assert "Next run: Mon 2026-03-30 09:00 CEST" in text_of(berlin)
    assert "Next run: Mon 2026-03-30 15:00 CST" in text_of(shanghai)
    assert "(Europe/Berlin)" in text_of(shanghai)  # the schedule's own zone, when not the user's
    assert "Last run Mon 2026-03-23 09:00 CET: submitted (task `task-1`)" in text_of(berlin)
    link = "https://acme.slack.com/archives/C0EXPORTS/p1711962000000100|its thread"
    assert link in text_of(berlin)  # on the workspace's address (auth.test's url)
    assert [b["action_id"] for b in buttons(berlin)][1:] == [
        home.PAUSE_SCHEDULE,
        home.DELETE_SCHEDULE,
    ]


def test_paused_schedule_offers_resume() -> None:
    """A paused schedule says so and offers Resume instead of Pause."""
    view = home.build_home(facts(schedules=[schedule(paused=True)]))

    assert "*Paused*" in text_of(view)
    assert [b["action_id"] for b in buttons(view)][1:] == [
        home.RESUME_SCHEDULE,
        home.DELETE_SCHEDULE,
    ]
    delete = buttons(view)[-1]
    assert delete["confirm"]["confirm"]["text"] == "Delete"


def test_refused_user_sees_why_and_no_button() -> None:
    """Someone who may not export sees the reason, and nothing to click."""
    view = home.build_home(facts(refusal="You may not run HSS exports from here.", saved=[saved()]))

    assert home_problems(view) == []
    assert buttons(view) == []
    assert "You may not run HSS exports from here." in text_of(view)
    assert "weekly" not in text_of(view)


def test_many_saved_exports_and_schedules_still_publish() -> None:
    """Over the shown counts, the home stays within 100 blocks and says how many more."""
    many_saved = [saved(f"s{i:03d}", status="x" * 500, pod_name="p" * 512) for i in range(150)]
    many_schedules = [
        schedule(f"s{i:03d}", last_run=ScheduleRun(f"s{i}", 0.0, 0.0, "failed", error="e" * 900))
        for i in range(60)
    ]
    history = history_messages.history([])
    view = home.build_home(facts(saved=many_saved, schedules=many_schedules, history=history))

    assert home_problems(view) == []
    assert len(view["blocks"]) <= home.BLOCKS_MAX
    assert f"and {150 - home.SAVED_SHOWN} more — `/hss-export saved`" in text_of(view)
    assert f"and {60 - home.SCHEDULES_SHOWN} more — `/hss-export schedules`" in text_of(view)
    assert "your Slack time zone" in text_of(view)  # the last block was not cut off


def test_buttons_carry_only_names() -> None:
    """No button carries filters or a URL: only the action and the saved export's name."""
    view = home.build_home(facts(saved=[saved(status="<!channel>")], schedules=[schedule()]))

    assert {b["value"] for b in buttons(view)} == {"new", "weekly"}
    assert "<!channel>" not in text_of(view)
    assert "&lt;!channel&gt;" in text_of(view)


@pytest.mark.parametrize("metadata", ["", "not json", "[]", '{"d": 3}', None])
def test_context_that_is_not_ours_reads_as_none(metadata: object) -> None:
    """private_metadata the home did not write is not trusted."""
    assert home.HomeContext.load(metadata) is None


def test_context_round_trips() -> None:
    """The DM id kept in the view comes back from a click."""
    view = home.build_home(facts())

    assert home.HomeContext.load(view["private_metadata"]) == CONTEXT


def test_the_footer_says_when_the_zone_is_the_default_not_the_users() -> None:
    """Slack could not say the user's zone: the home does not claim UTC is their zone."""
    mine = text_of(home.build_home(facts(zone=ResolvedZone("Europe/Berlin", "owner"))))
    unknown = text_of(home.build_home(facts(zone=ResolvedZone("UTC", "default"))))

    assert "Times are shown in Europe/Berlin, your Slack time zone." in mine
    assert "your Slack time zone." not in unknown
    assert "Times are shown in UTC, the bot's default zone" in unknown
    assert "Slack did not say what your time zone is" in unknown


def test_the_failed_home_is_a_valid_home_with_the_reference_and_nothing_to_click() -> None:
    """The home shown when the user's own could not be built passes Slack's rules."""
    view = home.build_failed("ab12cd34", CONTEXT)

    assert home_problems(view) == []
    assert view["type"] == "home"
    assert buttons(view) == []
    assert "this reference: ab12cd34." in text_of(view)
    assert home.HomeContext.load(view["private_metadata"]) == CONTEXT
