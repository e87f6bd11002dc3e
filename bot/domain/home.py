"""The App Home tab as a Slack view: plain values in, a `home` view out (issue 15).

Pure. The home shows one user what is theirs: a New export button (the form,
with its channel picker: the home tab has no channel), their saved exports
(Run now, Forget), their schedules (next run in the user's time zone, the last
result with a link to its thread, Pause or Resume, Delete) and their latest
audit entries (the `history` message, as `/hss-export history` shows it, its
times in the home's zone). Buttons
carry only an action id and a saved export's name: never a secret, a reply
URL or filters; the listener reads the rest from the stores again. Run now
posts where the saved export's schedule runs, else in the user's DM with the
app (`run_channel`), and the home says which. The view stays within Slack's
limits whatever it is given: at most 100 blocks (long lists show their first
entries and say how many more, with the command that lists them all), section
texts clipped, every typed value escaped.
A user who may not export sees only why.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Final

from bot.domain.blocks import Message, escape
from bot.domain.saved import SavedExport, ScheduledExport, ScheduleRun
from bot.domain.schedule_messages import local_time, run_result, thread_link
from bot.domain.schedules import ResolvedZone
from bot.domain.text import clip

Block = dict[str, Any]

CALLBACK_ID: Final = "hss_export_home"
NEW_EXPORT: Final = "home_new_export"
RUN_SAVED: Final = "home_run_saved"
FORGET_SAVED: Final = "home_forget_saved"
PAUSE_SCHEDULE: Final = "home_pause_schedule"
RESUME_SCHEDULE: Final = "home_resume_schedule"
DELETE_SCHEDULE: Final = "home_delete_schedule"
# Each button's action id and the label it shows.
LABELS: Final = {
    NEW_EXPORT: "New export",
    RUN_SAVED: "Run now",
    FORGET_SAVED: "Forget",
    PAUSE_SCHEDULE: "Pause",
    RESUME_SCHEDULE: "Resume",
    DELETE_SCHEDULE: "Delete",
}
ACTIONS: Final = tuple(LABELS)

BLOCKS_MAX: Final = 100  # Slack's limit on a home view
BLOCKS_MESSAGE_MAX: Final = 50  # and on a message
SECTION_MAX: Final = 3000
# Two blocks per saved export or schedule; with the fixed blocks (at most
# FIXED_BLOCKS_MAX, the history included) both full lists stay within 100 blocks.
SAVED_SHOWN: Final = 20
SCHEDULES_SHOWN: Final = 20
HISTORY_BLOCKS: Final = 5
FIXED_BLOCKS_MAX: Final = 12 + HISTORY_BLOCKS
FIELDS_CLIP: Final = 1500  # the saved filters shown on one line
ERROR_CLIP: Final = 300
METADATA_MAX: Final = 3000
UNSAID_ZONE: Final = ResolvedZone("UTC", "owner")  # HomeFacts' zone when none is given


@dataclass(frozen=True)
class HomeContext:
    """What the home keeps in its private_metadata: the user's DM with the app (`D…`).

    A click in the home names no channel; a saved export with no channel of its
    own runs in that DM. Slack signs the payload that carries it back.
    """

    dm_channel: str

    def dump(self) -> str:
        """Serialize for private_metadata."""
        return json.dumps({"d": self.dm_channel}, separators=(",", ":"))

    @classmethod
    def load(cls, metadata: object) -> HomeContext | None:
        """Read private_metadata back; None if it is not ours."""
        try:
            data = json.loads(metadata) if isinstance(metadata, str) else None
        except ValueError:
            return None
        if not isinstance(data, dict) or not isinstance(data.get("d"), str):
            return None
        return cls(data["d"])


@dataclass(frozen=True)
class HomeFacts:
    """Everything one user's home shows, as plain values.

    `workspace_url`: the workspace's address (auth.test's `url`), which links to threads.
    `zone`: the zone times are shown in, and where it came from: the user's Slack
    zone (source "owner"), else, when Slack could not say, SCHEDULE_DEFAULT_TZ
    (source "default").
    `refusal`: why this user may not export (then the home shows only that).
    `history`: the `history` message (or the message saying it cannot be read).
    `notice`: what the user's last click did, shown at the top.
    """

    user_id: str
    context: HomeContext
    workspace_url: str
    zone: ResolvedZone = UNSAID_ZONE
    refusal: str | None = None
    saved: Sequence[SavedExport] = ()
    schedules: Sequence[ScheduledExport] = ()
    history: Message | None = None
    notice: str | None = None


def run_channel(
    saved: SavedExport, schedules: Sequence[ScheduledExport], context: HomeContext
) -> str:
    """Return where Run now posts a saved export: where its schedule runs, else the DM.

    A saved export keeps no channel of its own (it is the workspace's, run where
    `run NAME` is typed); the home is the user's DM with the app, so an export
    run from there lands there, unless the saved export is scheduled in a
    channel: then Run now posts where its scheduled runs do, next to them.
    """
    for schedule in schedules:
        if schedule.name == saved.name and schedule.team_id == saved.team_id:
            return schedule.channel_id
    return context.dm_channel


def run_started(name: str, channel_id: str, context: HomeContext) -> str:
    """Say that Run now started NAME, and where its task id and file will be."""
    return (
        f"Running `{escape(name)}`: the task id and the file go to {_channel(channel_id, context)}."
    )


def click_failed(action_id: str, name: str, message: Message) -> Message:
    """Tell a user in their DM with the app what became of a click their home cannot show.

    `message` says what failed and what to do (a refusal, an error with its reference);
    this frames it: which button, on which saved export or schedule.
    """
    what = f"*{escape(LABELS.get(action_id, 'a button'))}*"
    if name:
        what += f" on `{escape(clip(name, 80))}`"
    lead = f"Your click on {what} in the App Home did not go through:"
    after = "Open the Home tab again to see your saved exports and schedules as they are now."
    body = (message.blocks or [_section(message.text)])[: BLOCKS_MESSAGE_MAX - 2]
    return Message(f"{lead} {message.text}", [_section(lead), *body, _context(after)])


def build_home(facts: HomeFacts) -> dict[str, Any]:
    """Build the user's home view."""
    blocks: list[Block] = [_header("HSS exports")]
    if facts.notice:
        blocks.append(_section(clip(facts.notice, SECTION_MAX)))
    if facts.refusal is not None:
        blocks.append(_section(f":no_entry: {escape(clip(facts.refusal, SECTION_MAX - 20))}"))
        return _view(facts, blocks)
    blocks.append(_actions("home_new", [_button(NEW_EXPORT, "new", "primary")]))
    blocks.append(
        _context(
            "Opens the export form: pick the channel the task id and the file go to. "
            "Or type `/hss-export` in a channel; `/hss-export help` lists every filter."
        )
    )
    blocks += [{"type": "divider"}, _header("Saved exports")]
    blocks += _saved_blocks(facts)
    blocks += [{"type": "divider"}, _header("Schedules")]
    blocks += _schedule_blocks(facts)
    if facts.history is not None:
        blocks += [{"type": "divider"}, *facts.history.blocks[:HISTORY_BLOCKS]]
    blocks.append(_context(_zone_line(facts)))
    return _view(facts, blocks[:BLOCKS_MAX])


def build_failed(reference: str, context: HomeContext) -> dict[str, Any]:
    """Build the home shown when the user's own could not be built: why, and the reference."""
    text = (
        ":boom: Your home could not be built: something went wrong on our side. Open the "
        "Home tab again in a moment; if this stays, give an operator this reference: "
        f"{escape(reference)}. `/hss-export help` still works in any channel."
    )
    facts = HomeFacts(user_id="", context=context, workspace_url="")
    return _view(facts, [_header("HSS exports"), _section(text)])


def _zone_line(facts: HomeFacts) -> str:
    if facts.zone.source == "owner":
        return f"Times are shown in {escape(facts.zone.name)}, your Slack time zone."
    return (
        f"Times are shown in {escape(facts.zone.name)}, the bot's default zone: "
        "Slack did not say what your time zone is."
    )


def _view(facts: HomeFacts, blocks: list[Block]) -> dict[str, Any]:
    return {
        "type": "home",
        "callback_id": CALLBACK_ID,
        "private_metadata": facts.context.dump()[:METADATA_MAX],
        "blocks": blocks,
    }


def _saved_blocks(facts: HomeFacts) -> list[Block]:
    if not facts.saved:
        return [_context("None yet: `/hss-export save NAME key=value …` saves one.")]
    blocks: list[Block] = []
    for saved in facts.saved[:SAVED_SHOWN]:
        channel = run_channel(saved, facts.schedules, facts.context)
        fields = " ".join(f"{k}={v}" for k, v in saved.fields.items()) or "no filters"
        text = (
            f"*{escape(saved.name)}* · `{escape(clip(fields, FIELDS_CLIP))}`\n"
            f"Run now posts in {_channel(channel, facts.context)}."
        )
        blocks.append(_section(text, block_id=f"saved:{saved.name}"))
        run = _confirm(
            f"Run {saved.name} now?",
            f"An HSS export of `{escape(clip(fields, 200))}` posts in "
            f"{_channel(channel, facts.context)}.",
            "Run",
            style="primary",
        )
        forget = _confirm(
            f"Forget {saved.name}?",
            f"The saved export {escape(saved.name)} is deleted"
            + (" and its schedule stops." if _scheduled(saved, facts.schedules) else "."),
            "Forget",
        )
        blocks.append(
            _actions(
                f"saved_actions:{saved.name}",
                [
                    _button(RUN_SAVED, saved.name, "primary", confirm=run),
                    _button(FORGET_SAVED, saved.name, "danger", confirm=forget),
                ],
            )
        )
    blocks += _more(len(facts.saved) - SAVED_SHOWN, "/hss-export saved")
    return blocks


def _schedule_blocks(facts: HomeFacts) -> list[Block]:
    if not facts.schedules:
        return [
            _context(
                "None yet: `/hss-export schedule NAME every monday 09:00` in a channel runs "
                "the saved export NAME there."
            )
        ]
    blocks: list[Block] = []
    tz = facts.zone.name
    for schedule in facts.schedules[:SCHEDULES_SHOWN]:
        zone = "" if schedule.tz == tz else f" ({escape(schedule.tz)})"
        when = (
            "*Paused*" if schedule.paused else f"Next run: {local_time(schedule.next_due_at, tz)}"
        )
        lines = [
            f"*{escape(schedule.name)}* · {escape(schedule.summary)}{zone} · in "
            f"{_channel(schedule.channel_id, facts.context)}",
            when,
            last_result(schedule.last_run, tz, facts.workspace_url),
        ]
        blocks.append(_section("\n".join(lines), block_id=f"schedule:{schedule.name}"))
        toggle = (
            _button(RESUME_SCHEDULE, schedule.name, "primary")
            if schedule.paused
            else _button(PAUSE_SCHEDULE, schedule.name)
        )
        delete = _confirm(
            f"Delete the schedule {schedule.name}?",
            "It stops running; the saved export stays and its runs stay on record.",
            "Delete",
        )
        blocks.append(
            _actions(
                f"schedule_actions:{schedule.name}",
                [toggle, _button(DELETE_SCHEDULE, schedule.name, "danger", delete)],
            )
        )
    blocks += _more(len(facts.schedules) - SCHEDULES_SHOWN, "/hss-export schedules")
    return blocks


def last_result(run: ScheduleRun | None, tz: str, workspace_url: str) -> str:
    """Say what the schedule's last run did, with a link to its thread when there is one."""
    if run is None or run.outcome is None:
        return "Last run: none yet."
    late = " (late)" if run.late else ""
    text = f"Last run {local_time(run.due_at, tz)}{late}: {clip(run_result(run), ERROR_CLIP)}"
    if run.channel_id and run.thread_ts:
        text += f" · <{thread_link(workspace_url, run.channel_id, run.thread_ts)}|its thread>"
    return text


def _scheduled(saved: SavedExport, schedules: Sequence[ScheduledExport]) -> bool:
    return any(s.name == saved.name and s.team_id == saved.team_id for s in schedules)


def _channel(channel_id: str, context: HomeContext) -> str:
    return "your DM with the app" if channel_id == context.dm_channel else f"<#{channel_id}>"


def _more(hidden: int, command: str) -> list[Block]:
    if hidden <= 0:
        return []
    return [_context(f"and {hidden} more — `{command}` lists them all")]


def _header(text: str) -> Block:
    return {"type": "header", "text": {"type": "plain_text", "text": text}}


def _section(text: str, *, block_id: str | None = None) -> Block:
    block: Block = {"type": "section", "text": {"type": "mrkdwn", "text": clip(text, SECTION_MAX)}}
    if block_id is not None:
        block["block_id"] = block_id[:255]
    return block


def _context(text: str) -> Block:
    return {"type": "context", "elements": [{"type": "mrkdwn", "text": text}]}


def _actions(block_id: str, elements: list[Block]) -> Block:
    return {"type": "actions", "block_id": block_id[:255], "elements": elements}


def _button(
    action_id: str, value: str, style: str | None = None, confirm: Block | None = None
) -> Block:
    button: Block = {
        "type": "button",
        "action_id": action_id,
        "text": {"type": "plain_text", "text": LABELS[action_id]},
        "value": value[:2000],
    }
    if style is not None:
        button["style"] = style
    if confirm is not None:
        button["confirm"] = confirm
    return button


def _confirm(title: str, text: str, yes: str, *, style: str = "danger") -> Block:
    return {
        "title": {"type": "plain_text", "text": clip(title, 100)},
        "text": {"type": "mrkdwn", "text": clip(text, 300)},
        "confirm": {"type": "plain_text", "text": yes},
        "deny": {"type": "plain_text", "text": "Cancel"},
        "style": style,
    }
