"""The schedule command words: what a user types, what the bot reads, and what it refuses."""

from __future__ import annotations

import pytest
from grammar_support import refused

from bot.domain.grammar import (
    COMMAND_WORDS,
    ScheduleAdd,
    ScheduleList,
    SchedulePause,
    ScheduleResume,
    Unschedule,
    help_text,
    parse_command,
)


@pytest.mark.parametrize(
    ("text", "cron", "tz"),
    [
        ("schedule weekly every monday 09:00 tz=Asia/Shanghai", "0 9 * * 1", "Asia/Shanghai"),
        ('schedule weekly cron="0 9 * * 1"', "0 9 * * 1", None),
        ("schedule daily every day 08:30", "30 8 * * *", None),
        ("schedule ops every weekday 09:00 tz=europe/berlin", "0 9 * * 1-5", "Europe/Berlin"),
        ("schedule twice every monday,thursday 18:00", "0 18 * * 1,4", None),
        ("schedule hourly every hour", "0 * * * *", None),
        ("Schedule weekly “cron=0 9 * * 1”", "0 9 * * 1", None),
    ],
)
def test_the_issues_schedule_forms_are_read(text: str, cron: str, tz: str | None) -> None:
    """Each form the issue names becomes a cron expression, the zone only when given."""
    parsed = parse_command(text)
    assert isinstance(parsed, ScheduleAdd)
    assert (parsed.schedule.cron, parsed.schedule.tz) == (cron, tz)


@pytest.mark.parametrize(
    ("text", "command"),
    [
        ("schedules", ScheduleList()),
        ("pause weekly", SchedulePause("weekly")),
        ("resume weekly", ScheduleResume("weekly")),
        ("unschedule weekly", Unschedule("weekly")),
    ],
)
def test_the_management_words_name_one_schedule(text: str, command: object) -> None:
    """`schedules` lists; pause, resume and unschedule take exactly one NAME."""
    assert parse_command(text) == command


@pytest.mark.parametrize(
    ("text", "key", "says"),
    [
        ("schedule every monday 09:00", "name", "the saved export's name right after"),
        ('schedule cron="0 9 * * 1"', "name", "the saved export's name right after"),
        ("schedule Weekly every day 09:00", "name", "lower-case"),
        ("schedule weekly", "schedule", "every day HH:MM"),
        ("schedule weekly every monday 25:00", "time", "HH:MM"),
        ("schedule weekly every funday 09:00", "day", "monday"),
        ("schedule weekly every day 09:00 tz=Mars/Olympus", "tz", "IANA"),
        ("pause", "name", "one schedule's name after `pause`"),
        ("resume a b", "name", "one schedule's name after `resume`"),
        ("unschedule BAD!", "name", "a name of 1–32"),
        ("schedules weekly", "schedules", "nothing after"),
    ],
)
def test_a_bad_schedule_command_names_the_field(text: str, key: str, says: str) -> None:
    """A mistake is refused naming the field and what it accepts, never a traceback."""
    problems = {p.key: p for p in refused(text).problems}
    assert key in problems
    assert says in problems[key].accepted + (problems[key].hint or "")


def test_help_and_the_command_words_know_the_schedule_commands() -> None:
    """`help` shows the schedule forms; the words count as commands (hints for misplacing)."""
    text = help_text()
    assert "schedule NAME every monday 09:00" in text
    assert "unschedule NAME" in text
    assert {"schedule", "schedules", "pause", "resume", "unschedule"} <= set(COMMAND_WORDS)
