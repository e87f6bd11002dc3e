"""What the bot says about schedules: the list, a change made, a run that could not run.

Pure: values in, a `Message` out. Times are shown in the schedule's own zone
(the zone it runs in), with the zone's abbreviation, so "09:00 CET" and
"09:00 CEST" both read as the nine o'clock run they are.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime
from zoneinfo import ZoneInfo

from bot.domain.blocks import (
    BLOCKS_MAX,
    SECTION_MAX,
    TEXT_MAX,
    Message,
    _section,
    escape,
    looking_up,
)
from bot.domain.grammar.schedule_commands import (
    ScheduleAdd,
    ScheduleCommand,
    ScheduleList,
    SchedulePause,
    ScheduleResume,
    Unschedule,
)
from bot.domain.saved import REFUSALS_BEFORE_PAUSE, ScheduledExport, ScheduleRun
from bot.domain.text import clip


def acknowledged(command: ScheduleCommand) -> Message:
    """Acknowledge a schedule command with what it does while the answer is on its way."""
    match command:
        case ScheduleList():
            return looking_up("the schedules")
        case ScheduleAdd(name=name):
            return looking_up(name, doing="Scheduling")
        case SchedulePause(name=name):
            return looking_up(name, doing="Pausing")
        case ScheduleResume(name=name):
            return looking_up(name, doing="Resuming")
        case Unschedule(name=name):
            return looking_up(name, doing="Unscheduling")


def plain(text: str) -> Message:
    """Build a message of mrkdwn sections, one per group of lines within Slack's limits."""
    pieces: list[str] = []
    for line in text.split("\n"):
        if pieces and len(pieces[-1]) + 1 + len(line) <= SECTION_MAX:
            pieces[-1] += "\n" + line
        else:
            pieces.append(clip(line, SECTION_MAX))
    blocks = [_section(p) for p in pieces if p]
    return Message(clip(text, TEXT_MAX), blocks[:BLOCKS_MAX])


def local_time(at: float, tz: str) -> str:
    """Show a Unix time in `tz`, e.g. "Mon 2026-03-30 09:00 CEST"."""
    moment = datetime.fromtimestamp(at, UTC).astimezone(ZoneInfo(tz))
    return moment.strftime("%a %Y-%m-%d %H:%M %Z")


def late_by(seconds: float) -> str:
    """Say how late a run is, in whole hours past an hour, else minutes."""
    minutes = max(1, round(seconds / 60))
    if minutes < 90:
        return f"{minutes} minute{'' if minutes == 1 else 's'}"
    hours = round(minutes / 60)
    return f"{hours} hours"


def schedule_line(schedule: ScheduledExport, workspace_url: str) -> str:
    """One schedule in a list: name, when, where, whose, next run (or paused), last result."""
    when = f"{escape(schedule.summary)} ({schedule.tz})"
    state = (
        "*paused*"
        if schedule.paused
        else f"next run {local_time(schedule.next_due_at, schedule.tz)}"
    )
    line = (
        f"• `{schedule.name}`: {when} in <#{schedule.channel_id}>, "
        f"by <@{schedule.owner_id}>; {state}"
    )
    last = schedule.last_run
    if last is not None and last.outcome is not None:
        line += f"; last run {local_time(last.due_at, schedule.tz)}: {run_result(last)}"
        if last.channel_id and last.thread_ts:
            link = thread_link(workspace_url, last.channel_id, last.thread_ts)
            line += f" (<{link}|its thread>)"
    return line


def thread_link(workspace_url: str, channel_id: str, ts: str) -> str:
    """Return the link to a message: `{workspace}archives/{channel}/p{ts without the dot}`.

    Slack's permalink form, on the workspace's own address (auth.test's `url`,
    `https://acme.slack.com/`).
    """
    return f"{workspace_url.rstrip('/')}/archives/{channel_id}/p{ts.replace('.', '')}"


def run_result(run: ScheduleRun) -> str:
    """Say in a few words what came of a run."""
    if run.outcome == "submitted":
        return f"submitted (task `{run.task_id}`)" if run.task_id else "submitted"
    if run.outcome == "duplicate":
        return "already run"
    return f"{run.outcome}" + (f" ({escape(run.error)})" if run.error else "")


def schedule_list(schedules: Sequence[ScheduledExport], workspace_url: str) -> Message:
    """List the workspace's schedules with their next run, in each schedule's zone.

    `workspace_url`: the workspace's address, which links to the last runs' threads.
    """
    if not schedules:
        text = (
            "No schedules yet. Save an export (`save NAME key=value …`), then "
            "`schedule NAME every monday 09:00` in the channel it should post in."
        )
        return plain(text)
    lines = "\n".join(schedule_line(s, workspace_url) for s in schedules)
    return plain(f"*Schedules*\n{lines}")


def scheduled(schedule: ScheduledExport, zone_from: str) -> Message:
    """Confirm a new schedule: when it runs, in which zone and why that zone, its first run."""
    why = {
        "tz=": "as given",
        "owner": "your Slack time zone",
        "default": "the bot's default zone (SCHEDULE_DEFAULT_TZ): add `tz=` to choose",
    }[zone_from]
    return plain(
        f"Scheduled `{schedule.name}`: {escape(schedule.summary)} in {schedule.tz} ({why}), "
        f"posting here. First run {local_time(schedule.next_due_at, schedule.tz)}."
    )


def changed(name: str, what: str, schedule: ScheduledExport | None = None) -> Message:
    """Confirm a pause, resume or unschedule."""
    text = f"Schedule `{name}` {what}."
    if schedule is not None and not schedule.paused:
        text += f" Next run {local_time(schedule.next_due_at, schedule.tz)}."
    return plain(text)


def run_refused(schedule: ScheduledExport, reason: str, refusals: int, *, paused: bool) -> Message:
    """Tell the owner (by DM) that a run was refused, and whether the schedule paused itself."""
    text = (
        f"Your scheduled export `{schedule.name}` did not run in <#{schedule.channel_id}>: "
        f"{escape(reason)}"
    )
    if paused:
        text += (
            f"\nIt was refused {refusals} times in a row, so the schedule paused itself. "
            f"Once access is back, `resume {schedule.name}`."
        )
    else:
        left = REFUSALS_BEFORE_PAUSE - refusals
        text += f"\nAfter {left} more refused run{'' if left == 1 else 's'} it pauses itself."
    return plain(text)


def run_undecided(schedule: ScheduledExport, reason: str) -> Message:
    """Tell the owner (by DM) a run was refused only because Slack could not answer in time."""
    return plain(
        f"Your scheduled export `{schedule.name}` did not run in <#{schedule.channel_id}>: "
        f"{escape(reason)}\nThis does not count toward pausing it: it is tried again at its "
        "next due time."
    )


def cannot_wait(name: str) -> str:
    """Say why a schedule cannot run a saved export the two-person rule holds, and what to do."""
    return (
        "a schedule cannot wait for one: run it with "
        f"`run {name}` (an approver decides each time), or save `{name}` again with filters "
        "that need no approval"
    )


def run_interrupted(schedule: ScheduledExport, due_at: float, entry_id: int | None) -> Message:
    """Say in the channel a run was cut short (the bot stopped mid-run) and is not repeated."""
    entry = f"audit entry {entry_id}" if entry_id is not None else "the audit log"
    return plain(
        f"Scheduled export `{schedule.name}`: the run due {local_time(due_at, schedule.tz)} "
        "was interrupted (the bot stopped during it) and is not run again, so nothing is "
        f"exported twice. Whether it reached HSS is in {entry}; the next run is as scheduled."
    )


def run_late(schedule: ScheduledExport, due_at: float, now: float) -> Message:
    """Say in the channel that this run comes late (the bot was down at the due time)."""
    return plain(
        f"Scheduled export `{schedule.name}` ({escape(schedule.summary)}): this run is "
        f"{late_by(now - due_at)} late; it was due {local_time(due_at, schedule.tz)}. "
        "Missed runs are not repeated."
    )
