"""Managing schedules: what `schedule`, `schedules`, `pause`, `resume`, `unschedule` do."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest
from db_fixtures import BACKENDS, Db, database
from schedule_support import ALICE, BOB, Bot, Clock, World, at

from bot.access import ApprovalPolicy
from bot.domain.approval_rules import Always
from bot.domain.grammar import ScheduleAdd, parse_command
from bot.domain.schedule_messages import schedule_list
from bot.domain.schedules import Schedule
from bot.settings import Settings
from bot.usecases.schedules import ScheduleLimits

MONDAY_MORNING = at("2026-03-23T06:00")  # a Monday, 07:00 in Berlin (CET)


def spec(text: str) -> Schedule:
    """Parse `/hss-export schedule weekly <text>`'s schedule."""
    parsed = parse_command(f"schedule weekly {text}")
    assert isinstance(parsed, ScheduleAdd)
    return parsed.schedule


@pytest.fixture(params=BACKENDS)
def db(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Db]:
    """Yield an empty database, once per backend."""
    with database(request.param, tmp_path) as found:
        yield found


@pytest.fixture
async def world(db: Db) -> AsyncIterator[World]:
    """A world on the test database with Alice's saved export `weekly`."""
    made = World(db.url, Clock(MONDAY_MORNING))
    made.saved.put("weekly", {"status": "running", "risky": "yes"})
    yield made
    await made.aclose()


@pytest.fixture
async def bot(world: World) -> Bot:
    """One bot process."""
    return await world.bot()


async def test_a_schedule_runs_in_the_owners_slack_zone_and_is_audited(
    world: World, bot: Bot
) -> None:
    """No `tz=`: the owner's users.info zone; the first run is the next 09:00 there."""
    world.zones.zones[ALICE.user_id] = "Europe/Berlin"
    answer = await bot.service.schedule(ALICE, "weekly", spec("every monday 09:00"))
    assert answer.ok, answer.message.text
    assert answer.schedule is not None
    assert answer.schedule.tz == "Europe/Berlin"
    assert answer.schedule.channel_id == ALICE.channel_id
    assert answer.schedule.next_due_at == at("2026-03-23T08:00")  # 09:00 CET
    assert "your Slack time zone" in answer.message.text
    [entry] = await bot.audit.history(ALICE.user_id)
    assert (entry.outcome, entry.schedule, entry.saved_export) == ("scheduled", "weekly", "weekly")


async def test_tz_wins_and_without_any_zone_the_default_applies(world: World, bot: Bot) -> None:
    """`tz=` beats the Slack zone; with neither, SCHEDULE_DEFAULT_TZ, said in the answer."""
    world.zones.zones[ALICE.user_id] = "Europe/Berlin"
    given = await bot.service.schedule(ALICE, "weekly", spec("every day 09:00 tz=Asia/Shanghai"))
    assert given.schedule is not None
    assert given.schedule.tz == "Asia/Shanghai"
    world.saved.put("other", {"status": "running"}, owner=BOB.user_id)
    fallback = await bot.service.schedule(BOB, "other", spec("every day 09:00"))
    assert fallback.schedule is not None
    assert fallback.schedule.tz == "UTC"
    assert "SCHEDULE_DEFAULT_TZ" in fallback.message.text


async def test_only_a_saved_export_whose_fields_parse_can_be_scheduled(
    world: World, bot: Bot
) -> None:
    """An unknown NAME, or stored fields today's grammar refuses: refused naming the field."""
    unknown = await bot.service.schedule(ALICE, "nothing", spec("every day 09:00"))
    assert not unknown.ok
    assert "`name`" in unknown.message.text
    world.saved.put("stale", {"status": "sleeping"})
    stale = await bot.service.schedule(ALICE, "stale", spec("every day 09:00"))
    assert not stale.ok
    assert "`status`" in stale.message.text
    outcomes = [(e.outcome, e.schedule) for e in await bot.audit.history(ALICE.user_id)]
    assert outcomes == [("invalid", "stale"), ("invalid", "nothing")]


async def test_too_often_and_too_many_are_refused_saying_the_setting(world: World, db: Db) -> None:
    """SCHEDULE_MIN_INTERVAL_MINUTES and SCHEDULES_PER_USER: over them, a clear error."""
    world.limits = ScheduleLimits(min_interval_minutes=60, per_user=1)
    bot = await world.bot()
    often = await bot.service.schedule(ALICE, "weekly", spec("every 30 minutes"))
    assert not often.ok
    assert "SCHEDULE_MIN_INTERVAL_MINUTES=60" in often.message.text
    assert (await bot.service.schedule(ALICE, "weekly", spec("every hour"))).ok
    world.saved.put("second", {"status": "running"})
    many = await bot.service.schedule(ALICE, "second", spec("every day 09:00"))
    assert not many.ok
    assert "SCHEDULES_PER_USER" in many.message.text
    world.limits = ScheduleLimits(per_user=10)
    roomier = await world.bot()
    again = await roomier.service.schedule(ALICE, "weekly", spec("every day 10:00"))
    assert not again.ok
    assert "scheduled already" in again.message.text


async def test_only_the_owner_pauses_resumes_or_deletes(world: World, bot: Bot) -> None:
    """Bob is refused (audited); Alice's double pause changes and audits once."""
    await bot.service.schedule(ALICE, "weekly", spec("every monday 09:00 tz=Europe/Berlin"))
    refused = await bot.service.pause(BOB, "weekly")
    assert not refused.ok
    assert "Only its owner, <@U0ALICE>" in refused.message.text
    [bobs] = await bot.audit.history(BOB.user_id)
    assert (bobs.outcome, bobs.schedule) == ("denied", "weekly")
    assert (await bot.service.pause(ALICE, "weekly")).ok
    twice = await bot.service.pause(ALICE, "weekly")
    assert "paused already" in twice.message.text
    [mine] = await bot.service.list_for(ALICE)
    assert mine.paused
    world.clock.now = at("2026-04-01T12:00")
    resumed = await bot.service.resume(ALICE, "weekly")
    assert resumed.schedule is not None
    assert resumed.schedule.next_due_at == at("2026-04-06T07:00")  # the next Monday, CEST
    assert (await bot.service.delete(ALICE, "weekly")).ok
    assert await bot.service.list_for(ALICE) == []
    changes = [e.outcome for e in await bot.audit.history(ALICE.user_id)]
    assert changes == ["unscheduled", "resumed", "paused", "scheduled"]


async def test_a_saved_export_the_two_person_rule_holds_cannot_be_scheduled(
    world: World,
) -> None:
    """A schedule cannot wait for an approver: refused, saying why and what to do, audited."""
    world.approvals = ApprovalPolicy(conditions=(Always(),))
    bot = await world.bot()
    refused = await bot.service.schedule(ALICE, "weekly", spec("every day 09:00"))
    assert not refused.ok
    assert "needs a second person's approval" in refused.message.text
    assert "`run weekly`" in refused.message.text
    assert await bot.service.list_for(ALICE) == []
    [entry] = await bot.audit.history(ALICE.user_id)
    assert (entry.outcome, entry.schedule) == ("denied", "weekly")


async def test_only_the_saved_exports_owner_may_schedule_it(bot: Bot) -> None:
    """Bob scheduling Alice's saved export: refused naming her, audited, nothing scheduled."""
    refused = await bot.service.schedule(BOB, "weekly", spec("every day 09:00"))
    assert not refused.ok
    assert "belongs to <@U0ALICE>" in refused.message.text
    assert await bot.service.list_in_team(BOB) == []
    [entry] = await bot.audit.history(BOB.user_id)
    assert (entry.outcome, entry.saved_export, entry.schedule) == ("denied", "weekly", "weekly")


async def test_the_list_shows_the_next_run_in_the_schedules_zone(bot: Bot) -> None:
    """`schedules`: each schedule with when, where, whose, and its next run in its zone."""
    await bot.service.schedule(ALICE, "weekly", spec("every monday 09:00 tz=Europe/Berlin"))
    text = schedule_list(await bot.service.list_in_team(ALICE), "https://acme.slack.com/").text
    assert "`weekly`: every Monday at 09:00 (Europe/Berlin) in <#C0REPORTS>" in text
    assert "next run Mon 2026-03-23 09:00 CET" in text


def test_the_settings_have_the_issues_defaults_and_check_the_zone(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """60 minutes, 10 per user, UTC; a zone that is not IANA stops the start, named."""
    settings = Settings(_env_file=None)  # type: ignore[call-arg]
    assert (settings.SCHEDULE_MIN_INTERVAL_MINUTES, settings.SCHEDULES_PER_USER) == (60, 10)
    assert settings.SCHEDULE_DEFAULT_TZ == "UTC"
    assert Settings(_env_file=None, SCHEDULE_DEFAULT_TZ="asia/shanghai").SCHEDULE_DEFAULT_TZ == (  # type: ignore[call-arg]
        "Asia/Shanghai"
    )
    with pytest.raises(ValueError, match="SCHEDULE_DEFAULT_TZ"):
        Settings(_env_file=None, SCHEDULE_DEFAULT_TZ="Mars/Olympus")  # type: ignore[call-arg]
