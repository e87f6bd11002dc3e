"""Schedules' time part: reading `every …`/`cron=`, DST, gaps, catch-up, zone order."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bot.domain.errors import InvalidCommand
from bot.domain.schedules import (
    Schedule,
    catch_up,
    interval_problem,
    latest_due,
    min_interval,
    next_due,
    parse_schedule,
    resolve_tz,
)
from bot.domain.schedules.spec import DAYS

BERLIN = ZoneInfo("Europe/Berlin")
NEW_YORK = ZoneInfo("America/New_York")
SHANGHAI = ZoneInfo("Asia/Shanghai")


def utc(*args: int) -> datetime:
    return datetime(*args, tzinfo=UTC)  # type: ignore[misc]


def every(text: str) -> Schedule:
    return parse_schedule(text.split())


# --- reading the schedule ------------------------------------------------------------

VALID = [
    ("every day 08:30", "30 8 * * *", "every day at 08:30"),
    ("EVERY Day at 8:30", "30 8 * * *", "every day at 08:30"),
    ("every weekday 09:00", "0 9 * * 1-5", "every weekday at 09:00"),
    ("every monday 09:00", "0 9 * * 1", "every Monday at 09:00"),
    ("every Mon 09:00", "0 9 * * 1", "every Monday at 09:00"),
    ("every sunday 23:59", "59 23 * * 0", "every Sunday at 23:59"),
    ("every monday,thursday 18:00", "0 18 * * 1,4", "every Monday and Thursday at 18:00"),
    ("every thu, mon 18:00", "0 18 * * 1,4", "every Monday and Thursday at 18:00"),
    (
        "every fri and mon and WED 07:05",
        "5 7 * * 1,3,5",
        "every Monday, Wednesday and Friday at 07:05",
    ),
    ("every hour", "0 * * * *", "every hour"),
    ("every hour at :15", "15 * * * *", "every hour at :15"),
    ("every 15 minutes", "*/15 * * * *", "every 15 minutes"),
    ("every 2 hours", "0 */2 * * *", "every 2 hours"),
    ("every day 09:00 tz=Asia/Shanghai", "0 9 * * *", "every day at 09:00 (Asia/Shanghai)"),
    ("every day 09:00 tz=asia/shanghai", "0 9 * * *", "every day at 09:00 (Asia/Shanghai)"),
]


@pytest.mark.parametrize(("text", "cron", "description"), VALID)
def test_readable_forms_become_cron_with_a_description(
    text: str, cron: str, description: str
) -> None:
    """Each readable form amounts to the cron expression and description a user would expect."""
    schedule = every(text)
    assert (schedule.cron, schedule.description) == (cron, description)


def test_cron_form_keeps_the_expression_and_explains_it() -> None:
    """`cron="0 9 * * 1"` (one token once shell-split) is kept, normalised and explained."""
    schedule = parse_schedule(["cron=0  9 * * 1", "tz=Europe/Berlin"])
    assert schedule.cron == "0 9 * * 1"
    assert schedule.tz == "Europe/Berlin"
    assert schedule.description == 'cron "0 9 * * 1" (at 09:00 on Monday) (Europe/Berlin)'


def test_no_tz_means_not_given_until_the_caller_pins_one() -> None:
    """Without `tz=` the schedule's zone is None, and `in_zone` pins the resolved one."""
    schedule = every("every monday 09:00")
    assert schedule.tz is None
    assert schedule.description == "every Monday at 09:00"
    assert schedule.in_zone("Asia/Shanghai").description == "every Monday at 09:00 (Asia/Shanghai)"


_FORMS = (
    "`every day HH:MM`, `every weekday HH:MM`, `every monday HH:MM`, "
    "`every monday,thursday HH:MM`, `every hour`, `every hour at :MM`, "
    '`every N minutes`, `every N hours`, or `cron="M H DOM MON DOW"`, '
    "then optionally `tz=Area/City`"
)
_TIME = "accepted: HH:MM on a 24-hour clock, 00:00 to 23:59"
_DAYS = (
    "accepted: `day`, `weekday`, or day names in full or 3 letters "
    "(monday or mon … sunday or sun), separated by commas"
)
_CRON = (
    "accepted: five fields in quotes, minute hour day-of-month month day-of-week, "
    'e.g. cron="0 9 * * 1"'
)
_TZ = "accepted: an IANA time zone name such as `Europe/Berlin`, `Asia/Shanghai` or `UTC`"

INVALID = [
    ([], f"`schedule`: got nothing; accepted: {_FORMS}"),
    (["daily"], f"`schedule`: got 'daily'; accepted: {_FORMS}"),
    (["every", "mondy", "09:00"], f"`day`: got 'mondy'; {_DAYS} (did you mean `monday`?)"),
    (["every", "monday", "25:00"], f"`time`: got '25:00'; {_TIME} (hours go 00-23)"),
    (["every", "day", "09:60"], f"`time`: got '09:60'; {_TIME} (minutes go 00-59)"),
    (["every", "day", "9am"], f"`time`: got '9am'; {_TIME}"),
    (
        ["every", "day"],
        f"`time`: got nothing; {_TIME} (say when, e.g. `every day 09:00`)",
    ),
    (
        ["every", "monday,weekday", "09:00"],
        f"`day`: got 'weekday'; {_DAYS} (`day` and `weekday` stand alone, not in a list of days)",
    ),
    (
        ["every", "7", "minutes"],
        "`schedule`: got 'every 7 minutes'; accepted: `every N minutes` with "
        "N one of 1, 2, 3, 4, 5, 6, 10, 12, 15, 20, 30 (else use `cron=`)",
    ),
    (
        ["every", "5", "hours"],
        "`schedule`: got 'every 5 hours'; accepted: `every N hours` with "
        "N one of 1, 2, 3, 4, 6, 8, 12 (else use `cron=`)",
    ),
    (
        ["every", "hour", "at", ":75"],
        "`schedule`: got 'every hour at :75'; accepted: "
        "`every hour` or `every hour at :MM` with MM from 00 to 59",
    ),
    (
        ["cron=0", "9", "*", "*", "1"],
        f"`cron`: got '0 9 * * 1'; {_CRON} (the fields must be in quotes)",
    ),
    (["cron=0 9 * *"], f"`cron`: got '0 9 * *'; {_CRON} (got 4 fields)"),
    (["cron=@daily"], f"`cron`: got '@daily'; {_CRON} (got 1 field)"),
    (["cron=61 * * * *"], f"`cron`: got '61 * * * *'; {_CRON} (cronsim says: Bad minute)"),
    (
        ["cron=0 0 30 2 *"],
        f"`cron`: got '0 0 30 2 *'; {_CRON} (cronsim says: Bad day-of-month)",
    ),
    (
        ["every", "day", "08:30", "tz=Shanghai"],
        f"`tz`: got 'Shanghai'; {_TZ} (did you mean `Asia/Shanghai`?)",
    ),
    (
        ["every", "day", "08:30", "at=9"],
        "`schedule`: got 'at=9'; accepted: `tz=` and `cron=` as the only key=value pairs here",
    ),
]


@pytest.mark.parametrize(("tokens", "message"), INVALID)
def test_bad_schedules_name_what_is_wrong_and_what_is_accepted(
    tokens: list[str], message: str
) -> None:
    """A bad schedule is refused with the exact problem text a Slack user reads."""
    with pytest.raises(InvalidCommand) as caught:
        parse_schedule(tokens)
    assert str(caught.value) == message


def test_every_problem_is_listed_at_once() -> None:
    """A wrong day, a wrong time and a wrong zone come back together, one Problem each."""
    with pytest.raises(InvalidCommand) as caught:
        parse_schedule(["every", "mondy", "25:00", "tz=Europe/Berln"])
    assert [p.key for p in caught.value.problems] == ["tz", "day", "time"]
    assert caught.value.problems[0].hint is not None
    assert "`Europe/Berlin`" in caught.value.problems[0].hint


# --- next due time across DST --------------------------------------------------------

DST_CASES = [
    # Berlin springs forward on 29 March 2026: 02:30 does not exist, cronsim runs it at 03:00.
    ("every day 02:30", BERLIN, utc(2026, 3, 28, 12), utc(2026, 3, 29, 1, 0)),
    ("every day 02:30", BERLIN, utc(2026, 3, 29, 1, 0), utc(2026, 3, 30, 0, 30)),
    # Berlin falls back on 25 October 2026: 02:30 happens twice, the run happens once.
    ("every day 02:30", BERLIN, utc(2026, 10, 24, 12), utc(2026, 10, 25, 0, 30)),
    ("every day 02:30", BERLIN, utc(2026, 10, 25, 0, 30), utc(2026, 10, 26, 1, 30)),
    ("every day 09:00", BERLIN, utc(2026, 3, 28, 9), utc(2026, 3, 29, 7)),
    ("every day 09:00", BERLIN, utc(2026, 10, 24, 9), utc(2026, 10, 25, 8)),
    # `every hour` ticks in real time: no hour lost or doubled in UTC.
    ("every hour", BERLIN, utc(2026, 3, 29, 0, 0), utc(2026, 3, 29, 1, 0)),
    ("every hour", BERLIN, utc(2026, 10, 25, 0, 0), utc(2026, 10, 25, 1, 0)),
    # New York: spring forward 8 March 2026 (02:00 → 03:00), fall back 1 November (02:00 → 01:00).
    ("every day 02:30", NEW_YORK, utc(2026, 3, 7, 12), utc(2026, 3, 8, 7, 0)),
    ("every day 01:30", NEW_YORK, utc(2026, 10, 31, 12), utc(2026, 11, 1, 5, 30)),
    ("every day 01:30", NEW_YORK, utc(2026, 11, 1, 5, 30), utc(2026, 11, 2, 6, 30)),
    # Shanghai has no DST: 09:00 is 01:00 UTC on either side of Berlin's changes.
    ("every monday 09:00", SHANGHAI, utc(2026, 3, 28), utc(2026, 3, 30, 1)),
    ("every monday 09:00", SHANGHAI, utc(2026, 10, 24), utc(2026, 10, 26, 1)),
]


@pytest.mark.parametrize(("text", "tz", "after", "due"), DST_CASES)
def test_next_due_across_dst(text: str, tz: ZoneInfo, after: datetime, due: datetime) -> None:
    """The next run lands on the instant a person in that zone expects, DST or not."""
    assert next_due(every(text), after, tz) == due


def test_a_repeated_hour_runs_once_even_from_inside_it() -> None:
    """Asked from the second pass through 02:xx on 25 October, the 02:45 run is already past."""
    schedule = every("every day 02:45")
    inside_second_pass = utc(2026, 10, 25, 1, 40)  # 02:40 CET, after 02:45 CEST happened
    assert next_due(schedule, inside_second_pass, BERLIN) == utc(2026, 10, 26, 1, 45)
    assert latest_due(schedule, inside_second_pass, BERLIN) == utc(2026, 10, 25, 0, 45)


def test_due_times_are_whole_seconds_in_utc() -> None:
    """A due time is a stable key: UTC, no microseconds, whatever zone `after` came in."""
    after = datetime(2026, 5, 4, 8, 59, 59, 999_999, tzinfo=SHANGHAI)
    due = next_due(every("every day 09:00"), after, SHANGHAI)
    assert due == utc(2026, 5, 4, 1)
    assert (due.tzinfo, due.microsecond) == (UTC, 0)


def test_naive_times_are_refused() -> None:
    """A naive datetime is a programming error, refused rather than guessed."""
    with pytest.raises(ValueError, match="aware"):
        next_due(every("every hour"), datetime(2026, 1, 1), BERLIN)


# --- minimum interval ----------------------------------------------------------------

INTERVALS = [
    ("every hour", timedelta(hours=1)),
    ("every hour at :15", timedelta(hours=1)),
    ("every 15 minutes", timedelta(minutes=15)),
    ("every day 09:00", timedelta(days=1)),
    ("every day 02:30", timedelta(days=1)),
    ("every monday,thursday 18:00", timedelta(days=3)),
    ("every 2 hours", timedelta(hours=2)),
]


@pytest.mark.parametrize(("text", "gap"), INTERVALS)
def test_min_interval_is_the_nominal_gap(text: str, gap: timedelta) -> None:
    """The smallest gap between runs is the schedule's own, in wall-clock time without DST."""
    assert min_interval(every(text)) == gap


def test_min_interval_of_a_monthly_cron() -> None:
    """A monthly cron's smallest gap is February's 28 days."""
    assert min_interval(parse_schedule(["cron=0 9 1 * *"])) == timedelta(days=28)


def test_min_interval_of_a_leap_day_cron() -> None:
    """A cron that runs only on 29 February still has a gap: four years, not an error."""
    schedule = parse_schedule(["cron=0 0 29 2 *"])
    assert min_interval(schedule) == utc(2032, 2, 29) - utc(2028, 2, 29)


def test_every_hour_is_allowed_at_the_default_minimum() -> None:
    """`every hour` is exactly 60 minutes apart: SCHEDULE_MIN_INTERVAL_MINUTES=60 allows it."""
    assert interval_problem(every("every hour"), 60) is None


def test_too_frequent_schedule_is_refused_with_the_setting_named() -> None:
    """A schedule more often than the setting allows gets a message naming the setting."""
    problem = interval_problem(every("every 15 minutes"), 60)
    assert str(problem) == (
        "`schedule`: got 'every 15 minutes'; accepted: runs at least 60 minutes apart "
        "(every 15 minutes is more often than SCHEDULE_MIN_INTERVAL_MINUTES=60 allows: "
        "its runs can be 15 minutes apart)"
    )


def test_a_daily_schedule_meets_a_one_day_minimum_on_the_spring_forward_day() -> None:
    """`every day 09:00` in Berlin is 23 real hours apart on 29 March, yet a day apart:
    SCHEDULE_MIN_INTERVAL_MINUTES=1440 allows it."""
    before = next_due(every("every day 09:00"), utc(2026, 3, 28, 7), BERLIN)
    after = next_due(every("every day 09:00"), before, BERLIN)
    assert after - before == timedelta(hours=23)  # the real gap DST makes
    assert interval_problem(every("every day 09:00"), 1440) is None
    assert interval_problem(every("every day 09:00"), 1441) is not None


def test_every_two_hours_meets_a_two_hour_minimum_on_the_fall_back_night() -> None:
    """`every 2 hours` in Berlin runs at 02:00 CEST and 02:00 CET on 25 October (1 real
    hour apart), yet is every 2 hours: SCHEDULE_MIN_INTERVAL_MINUTES=120 allows it."""
    first = next_due(every("every 2 hours"), utc(2026, 10, 24, 23, 30), BERLIN)
    second = next_due(every("every 2 hours"), first, BERLIN)
    assert (first, second) == (utc(2026, 10, 25, 0), utc(2026, 10, 25, 1))
    assert interval_problem(every("every 2 hours"), 120) is None
    problem = interval_problem(every("every 2 hours"), 121)
    assert problem is not None
    assert problem.hint is not None
    assert problem.hint.endswith("its runs can be 120 minutes apart")


# --- catch-up after downtime ---------------------------------------------------------

DAILY = every("every day 09:00")


def test_new_schedule_misses_nothing() -> None:
    """A schedule that never came due runs at its next due time, not now."""
    assert catch_up(DAILY, None, utc(2026, 5, 4, 12), SHANGHAI) == (None, utc(2026, 5, 5, 1))


def test_on_time_run_is_due_now() -> None:
    """Just after today's due time, today's run is due and tomorrow's is next."""
    result = catch_up(DAILY, utc(2026, 5, 3, 1), utc(2026, 5, 4, 1, 0, 5), SHANGHAI)
    assert result == (utc(2026, 5, 4, 1), utc(2026, 5, 5, 1))


def test_downtime_runs_the_latest_missed_once() -> None:
    """Ten days down: one run, the latest missed due time, never ten."""
    result = catch_up(DAILY, utc(2026, 5, 1, 1), utc(2026, 5, 11, 14, 30, 7, 123), SHANGHAI)
    assert result.due_now == utc(2026, 5, 11, 1)
    assert result.next_due == utc(2026, 5, 12, 1)
    # Having run it, the next check finds nothing more to catch up.
    assert catch_up(DAILY, result.due_now, utc(2026, 5, 11, 14, 31), SHANGHAI).due_now is None


def test_nothing_due_between_runs() -> None:
    """Between two due times nothing runs."""
    assert catch_up(DAILY, utc(2026, 5, 4, 1), utc(2026, 5, 4, 20), SHANGHAI).due_now is None


def test_clock_stepping_back_never_repeats_a_due_time() -> None:
    """If `now` falls behind the last due time, the next due time is still after it."""
    result = catch_up(DAILY, utc(2026, 5, 4, 1), utc(2026, 5, 3, 0), SHANGHAI)
    assert result == (None, utc(2026, 5, 5, 1))


def test_catch_up_inside_a_repeated_hour() -> None:
    """Down over 02:45 CEST on 25 October, back at 02:40 CET: that 02:45 run is the missed one."""
    schedule = every("every day 02:45")
    result = catch_up(schedule, utc(2026, 10, 24, 0, 45), utc(2026, 10, 25, 1, 40), BERLIN)
    assert result == (utc(2026, 10, 25, 0, 45), utc(2026, 10, 26, 1, 45))


# --- time zone resolution ------------------------------------------------------------

ZONES = [
    (("Asia/Shanghai", "Europe/Berlin", "UTC"), ("Asia/Shanghai", "tz=")),
    ((None, "Europe/Berlin", "UTC"), ("Europe/Berlin", "owner")),
    ((None, "europe/berlin", "UTC"), ("Europe/Berlin", "owner")),
    ((None, "", "UTC"), ("UTC", "default")),
    ((None, "Mars/Olympus_Mons", "UTC"), ("UTC", "default")),
    ((None, None, "America/New_York"), ("America/New_York", "default")),
]


@pytest.mark.parametrize(("given", "expected"), ZONES)
def test_zone_order_tz_then_owner_then_default(
    given: tuple[str | None, str | None, str], expected: tuple[str, str]
) -> None:
    """`tz=` wins, else the owner's Slack zone if it is a real one, else SCHEDULE_DEFAULT_TZ."""
    assert tuple(resolve_tz(*given)) == expected


# --- properties ----------------------------------------------------------------------

PROPERTY_ZONES = [
    "Europe/Berlin",
    "America/New_York",
    "Asia/Shanghai",
    "UTC",
    "Australia/Lord_Howe",  # DST of 30 minutes
    "Asia/Kolkata",  # offset of +05:30
]
day_sets = st.one_of(
    st.sampled_from(["day", "weekday"]),
    st.lists(st.sampled_from(DAYS), min_size=1, max_size=7, unique=True).map(",".join),
)
instants = st.datetimes(
    min_value=datetime(2026, 1, 1),  # naive bounds, made aware by timezones=
    max_value=datetime(2027, 12, 31),
    timezones=st.just(UTC),
)
zones = st.sampled_from(PROPERTY_ZONES).map(ZoneInfo)


def _exists(day: date, hour: int, minute: int, tz: ZoneInfo) -> bool:
    wall = datetime(day.year, day.month, day.day, hour, minute, tzinfo=tz)
    return wall.astimezone(UTC).astimezone(tz).replace(tzinfo=None) == wall.replace(tzinfo=None)


def _weekday_matches(days: str, day: date) -> bool:
    if days == "day":
        return True
    if days == "weekday":
        return day.weekday() < 5
    return DAYS[day.weekday()] in days.split(",")


@settings(max_examples=300, deadline=None)
@given(days=day_sets, hour=st.integers(0, 23), minute=st.integers(0, 59), tz=zones, after=instants)
def test_readable_next_due_is_a_due_time_at_the_requested_wall_clock(
    days: str, hour: int, minute: int, tz: ZoneInfo, after: datetime
) -> None:
    """next_due is strictly later, comes back when asked from just before it, skips no run,
    and shows the requested HH:MM on the requested day whenever that time exists."""
    schedule = parse_schedule(["every", days, f"{hour:02d}:{minute:02d}"])
    due = next_due(schedule, after, tz)
    assert due > after
    assert (due.tzinfo, due.microsecond, due.second) == (UTC, 0, 0)
    assert next_due(schedule, due - timedelta(seconds=1), tz) == due
    latest = latest_due(schedule, due - timedelta(seconds=1), tz)
    assert latest is None or latest <= after
    local = due.astimezone(tz)
    assert _weekday_matches(days, local.date())
    if _exists(local.date(), hour, minute, tz):
        assert (local.hour, local.minute) == (hour, minute)
    else:
        assert (local.hour, local.minute) > (hour, minute)


interval_forms = st.one_of(
    st.just("every hour"),
    st.integers(0, 59).map(lambda m: f"every hour at :{m:02d}"),
    st.sampled_from([1, 2, 3, 4, 6, 8, 12]).map(lambda n: f"every {n} hours"),
    st.sampled_from([5, 10, 15, 20, 30]).map(lambda n: f"every {n} minutes"),
    st.sampled_from(["0 9 * * 1", "30 2 * * *", "0 */3 * * 1-5", "15 8 1,15 * *"]).map(
        lambda c: f"cron={c}"
    ),
)


@settings(max_examples=200, deadline=None)
@given(form=interval_forms, tz=zones, after=instants, down=st.integers(0, 60 * 24 * 40))
def test_catch_up_runs_at_most_the_latest_missed_due_time(
    form: str, tz: ZoneInfo, after: datetime, down: int
) -> None:
    """After any downtime, catch-up runs one due time (the latest missed) and then the next."""
    schedule = parse_schedule([form] if form.startswith("cron=") else form.split())
    last = next_due(schedule, after, tz)
    assert next_due(schedule, last - timedelta(seconds=1), tz) == last
    now = last + timedelta(minutes=down, seconds=30)
    result = catch_up(schedule, last, now, tz)
    assert result.next_due > now
    assert next_due(schedule, now, tz) == result.next_due
    if result.due_now is None:
        assert next_due(schedule, last, tz) > now
    else:
        assert last < result.due_now <= now
        assert next_due(schedule, result.due_now, tz) == result.next_due


typed_days = st.one_of(
    day_sets, st.sampled_from(["mondy", "weekdays", "thu,and", "hour", "15"]), st.text(max_size=8)
)
typed_times = st.one_of(
    st.tuples(st.integers(0, 30), st.integers(0, 70)).map(lambda hm: f"{hm[0]:02d}:{hm[1]:02d}"),
    st.sampled_from(["9am", ":15", "at", "minutes", "2"]),
    st.text(max_size=8),
)
readable = st.tuples(st.sampled_from(["every", "Every", "evry"]), typed_days, typed_times).map(list)
cron_field = st.sampled_from(
    ["*", "0", "9", "*/15", "1-5", "L", "MON", "61", "5L", "MON#2", "1,15", "?", "LW", "JAN-MAR"]
)
cron_form = st.lists(cron_field, min_size=4, max_size=6).map(lambda f: ["cron=" + " ".join(f)])
zone_tokens = st.lists(
    st.one_of(st.sampled_from([*PROPERTY_ZONES, "shanghai", "Europe/Berln"]), st.text(max_size=12)),
    max_size=2,
).map(lambda zs: [f"tz={z}" for z in zs])
tokens = st.tuples(st.one_of(readable, cron_form, st.lists(st.text(max_size=12))), zone_tokens).map(
    lambda parts: parts[0] + parts[1]
)


@settings(max_examples=500, deadline=None)
@given(tokens=tokens)
def test_any_tokens_give_a_schedule_or_listed_problems(tokens: list[str]) -> None:
    """Whatever is typed, the answer is a schedule that comes due or problems, never a traceback."""
    schedule: Schedule | None = None
    try:
        schedule = parse_schedule(tokens)
    except InvalidCommand as refused:
        problems = refused.problems
    if schedule is None:
        assert problems
        assert all(p.accepted for p in problems)
    else:
        assert next_due(schedule, utc(2026, 6, 1), BERLIN) > utc(2026, 6, 1)
