"""The App Home tab (issue 15): publish the user's home, and answer its buttons.

Thin, as every listener. Bolt verifies each request's signature (a forged
click gets 401 and does nothing). `app_home_opened` on the Home tab publishes
the user's home (`bot.domain.home`); if it cannot be built (a bug), a home
that says so, with the reference the log has. A click is acknowledged at once (New
export first opens the form: a trigger id lives 3 seconds), access-checked
through the Gatekeeper for the channel it acts on, refused and audited if the
user may not, else handed to the same use case the slash command calls; then
the home is published again, saying what the click did. A click that failed
or was refused, whose home Slack would not take (or a newer home stands), is
told in the clicker's DM with the app instead, as is an unexpected error
(`errors.tell_clicker`): a home has no reply URL and no channel. The buttons
carry only a saved export's name: what it runs and where is read again here.

Who may use the home: someone the access policy admits in their DM with the
app, or in a channel one of their saved exports or schedules runs in (an allow
list of channels admits its members' homes for what runs there). Someone else
sees a home that says why, with nothing to click; a click from an older home is
refused and audited like a refused command.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable
from contextvars import ContextVar
from dataclasses import dataclass, replace
from typing import Any, Final

from slack_bolt.async_app import AsyncApp
from slack_bolt.context.ack.async_ack import AsyncAck

from bot.domain import blocks, home
from bot.domain.blocks import Message
from bot.domain.schedules import resolve_tz
from bot.domain.types import Actor, ReplyTo
from bot.entrypoints.deps import AppDeps
from bot.entrypoints.listeners import shortcut
from bot.entrypoints.listeners.commands import SAVED_OFF, history_message
from bot.entrypoints.listeners.errors import log_unexpected, tell_clicker
from bot.entrypoints.listeners.running import (
    ack_then_continue,
    answer_then_continue,
    continue_after_receipt,
)
from bot.entrypoints.listeners.schedules import SCHEDULES_OFF
from bot.entrypoints.slack_payloads import clicked, team_of, user_of
from bot.usecases import Refused
from bot.usecases.schedules import ScheduleAnswer, ScheduleService

log = logging.getLogger(__name__)

EVENT: Final = "app_home_opened"  # manifest.yml: settings.event_subscriptions.bot_events
HOME_TAB: Final = "home"


def register(app: AsyncApp, deps: AppDeps) -> None:
    """Register the Home tab's event and its buttons."""

    @app.event(EVENT)
    async def opened(event: dict[str, Any], body: dict[str, Any]) -> None:
        if event.get("tab") != HOME_TAB or deps.lifecycle.draining:
            return  # the Messages tab is Slack's own; a draining bot publishes nothing new
        continue_after_receipt(deps, opened_home(deps, event, body))

    @app.action(home.NEW_EXPORT)
    async def new_export(ack: AsyncAck, body: dict[str, Any]) -> None:
        await answer_then_continue(deps, ack, body, lambda ack: open_form(deps, ack, body))

    turns = Turns()
    for action_id, change in SCHEDULE_CHANGES.items():
        work = functools.partial(change_schedule, change=change, what=action_id)
        app.action(action_id)(_button(deps, turns, work))
    app.action(home.RUN_SAVED)(_button(deps, turns, run_saved))
    app.action(home.FORGET_SAVED)(_button(deps, turns, forget_saved))


async def opened_home(deps: AppDeps, event: dict[str, Any], body: dict[str, Any]) -> None:
    """Publish the home of the user who opened the Home tab; if it cannot be built, say so."""
    user = str(event.get("user") or "")
    context = home.HomeContext(str(event.get("channel") or ""))
    try:
        await publish(deps, Actor(team_of(body), user, context.dm_channel, "home"), context)
    except Exception as error:  # noqa: BLE001 - the one place an event's error is logged
        reference = log_unexpected(error)
        if user:  # the home says so, with the reference, rather than staying blank or stale
            await deps.home.publish(user, home.build_failed(reference, context))


ScheduleChange = Callable[[ScheduleService, Actor, str, str | None], Awaitable[ScheduleAnswer]]
# Each schedule button and the ScheduleService method `pause`/`resume`/`unschedule` call.
SCHEDULE_CHANGES: Final[dict[str, ScheduleChange]] = {
    home.PAUSE_SCHEDULE: ScheduleService.pause,
    home.RESUME_SCHEDULE: ScheduleService.resume,
    home.DELETE_SCHEDULE: ScheduleService.delete,
}


Work = Callable[[AppDeps, dict[str, Any]], Awaitable[None]]


@dataclass
class Turn:
    """One click's turn on its home: the hash to publish over, and what it published."""

    clicked_on: str | None  # the hash of the home the click came from
    click: tuple[str, str]  # the button and its value
    over: str | None  # the hash to publish over
    published: str | None = None  # the hash Slack gave the home this turn published


# The turn of the click whose work runs in this task (`Turns.of`), for `show`.
_TURN: ContextVar[Turn | None] = ContextVar("home_turn", default=None)


class Turns:
    """Clicks on one published home take turns, in the order Slack delivered them.

    Each click publishes the home again over the hash of the home it came from, and
    Slack takes only the first publish over a hash. Two clicks on one home (a double
    click) at once would race for it, and the repeat ("gone already") could win over
    the click that acted. In turn, the first publishes, and the repeat's home, over a
    stale hash, is not taken (nor need it be: the first click's answer stands). A
    different click from that same home (Pause on B while Run now on A worked)
    publishes over the home the turn before it published, so its answer is shown too.
    Per process: clicks that reach two worker processes may still race.
    """

    def __init__(self) -> None:
        self._held: dict[str, tuple[asyncio.Lock, int]] = {}
        self._last: dict[str, Turn] = {}  # per home (one per user): the turn that was last

    @contextlib.asynccontextmanager
    async def of(self, home_id: str, body: dict[str, Any]) -> AsyncIterator[Turn]:
        """Wait for the earlier clicks on `home_id` to be done, then hold its turn."""
        lock, users = self._held.get(home_id, (asyncio.Lock(), 0))
        self._held[home_id] = (lock, users + 1)
        try:
            async with lock:
                clicked_on = view_hash(body)
                turn = Turn(clicked_on, clicked(body), over=clicked_on)
                last = self._last.get(home_id)
                if last and last.clicked_on == clicked_on and last.click != turn.click:
                    turn.over = last.published or clicked_on
                token = _TURN.set(turn)
                try:
                    yield turn
                finally:
                    _TURN.reset(token)
                    self._last[home_id] = turn
        finally:
            lock, users = self._held[home_id]
            if users == 1:
                del self._held[home_id]  # its last turn stays: a click may come from its home
            else:
                self._held[home_id] = (lock, users - 1)


def _button(
    deps: AppDeps, turns: Turns, work: Work
) -> Callable[[AsyncAck, dict[str, Any]], Awaitable[None]]:
    """A button's listener: ack at once, then the work in its home's turn (tracked, reported)."""

    async def clicked(ack: AsyncAck, body: dict[str, Any]) -> None:
        async def in_turn() -> None:
            async with turns.of(str((body.get("view") or {}).get("id")), body):
                await work(deps, body)

        await ack_then_continue(deps, ack, body, in_turn)

    return clicked


def dedupe_key(body: dict[str, Any], what: str) -> str:
    """Key a click by the published home it came from: one home, one run of each button.

    Two clicks on one published home (a double click, Slack's retry, a replayed
    payload) carry the same view id and hash; the home is published again after
    each click, so a later, deliberate click carries a new hash.
    """
    view = body.get("view") or {}
    return f"home:{view.get('id')}:{view.get('hash')}:{what}:{clicked_value(body)}"


async def run_saved(deps: AppDeps, body: dict[str, Any]) -> None:
    """Run now: the saved export runs as `/hss-export run NAME` does, in its run channel.

    The use case checks access (for that channel) and the saved fields, and puts
    a refusal on record; the button's confirm dialog is the broad export's
    confirmation. What came of it is shown at the top of the home.
    """
    if deps.saved is None:
        await show(deps, body, blocks.refusal(SAVED_OFF), failed=True)
        return
    here, name, context = await in_run_channel(deps, body)
    channel = here.channel_id
    told: list[Message] = []

    async def answer(message: Message | None) -> None:
        told.append(message or Message(home.run_started(name, channel, context)))

    ran = await deps.saved.run(
        here, name, {}, ReplyTo(channel), dedupe_key(body, "run"), answer=answer, confirmed=True
    )
    notice = Message(" ".join(m.text for m in told), told[0].blocks if told else [])
    failed = ran is None or isinstance(ran, Refused)
    await show(deps, body, notice, failed=failed)


async def forget_saved(deps: AppDeps, body: dict[str, Any]) -> None:
    """Forget: the saved export is deleted as `/hss-export forget NAME` does (owner only)."""
    if deps.saved is None:
        await show(deps, body, blocks.refusal(SAVED_OFF), failed=True)
        return
    here, name, _ = await in_run_channel(deps, body)
    changed = await deps.saved.forget(here, name, dedupe_key=dedupe_key(body, "forget"))
    await show(deps, body, changed.message, failed=not changed.ok)


async def in_run_channel(
    deps: AppDeps, body: dict[str, Any]
) -> tuple[Actor, str, home.HomeContext]:
    """Return the clicker in the run channel of the saved export they clicked, its name, the home.

    Access is checked there, as for a command typed in that channel: where the saved
    export's schedule runs, else (no schedule, or not theirs) the user's DM with the app.
    """
    actor, context = clicker(body)
    name = clicked_value(body)
    facts = await load_facts(deps, actor, context)
    mine = next((s for s in facts.saved if s.name == name), None)
    channel = home.run_channel(mine, facts.schedules, context) if mine else context.dm_channel
    return replace(actor, channel_id=channel), name, context


async def change_schedule(
    deps: AppDeps, body: dict[str, Any], *, change: ScheduleChange, what: str
) -> None:
    """Pause, resume or delete a schedule from the home, as the slash command does; re-publish.

    The click acts from the schedule's channel (audited there, as if typed there); the
    use case checks access (`ScheduleService`) and puts a refusal on record; what came
    of the click, refusal included, is shown at the top of the home.
    """
    actor, _ = clicker(body)
    name = clicked_value(body)
    service = deps.schedules
    if service is None:
        await show(deps, body, blocks.refusal(SCHEDULES_OFF), failed=True)
        return
    mine = {s.name: s for s in await service.list_for(actor)}
    here = actor if name not in mine else replace(actor, channel_id=mine[name].channel_id)
    answer = await change(service, here, name, dedupe_key(body, what))
    await show(deps, body, answer.message, failed=not answer.ok)


async def open_form(deps: AppDeps, ack: AsyncAck, body: dict[str, Any]) -> None:
    """New export: the form with its channel picker, as the global shortcut opens it."""
    deadline = deps.answer_deadline()
    actor, context = clicker(body)
    facts = await load_facts(deps, actor, context)
    refused = await refusal(deps, actor, channels_in(facts))
    if refused is not None:
        await ack()
        await deps.gate.record(actor, refused)
        # The refusal is the home itself (`publish`), or, if Slack will not take it, the DM.
        if await publish(deps, actor, context) is None:
            await tell_clicker(deps, body, blocks.refusal(str(refused.error)))
        return
    await shortcut.handle(deps, ack, body, deadline=deadline)


def clicked_value(body: dict[str, Any]) -> str:
    """Return the clicked button's value (a saved export's name), as Slack sent it."""
    return clicked(body)[1]


def view_hash(body: dict[str, Any]) -> str | None:
    """Return the hash of the home the click came from (to re-publish only over that one)."""
    found = (body.get("view") or {}).get("hash")
    return found if isinstance(found, str) and found else None


def clicker(body: dict[str, Any]) -> tuple[Actor, home.HomeContext]:
    """Return who clicked in their home (in their DM with the app) and the home's context.

    The context comes back in the view's private_metadata (signed with the
    payload); a home we did not publish falls back to the user id, which Slack
    reads as the user's DM with the app.
    """
    user = user_of(body)
    view = body.get("view") or {}
    context = home.HomeContext.load(view.get("private_metadata")) or home.HomeContext(user)
    return Actor(team_of(body), user, context.dm_channel, "home"), context


def channels_in(facts: home.HomeFacts) -> list[str]:
    """Return the channels the user's saved exports and schedules run in."""
    runs = [home.run_channel(s, facts.schedules, facts.context) for s in facts.saved]
    return list(dict.fromkeys([*runs, *(s.channel_id for s in facts.schedules)]))


async def refusal(deps: AppDeps, actor: Actor, channels: Iterable[str] = ()) -> Refused | None:
    """Return why the user may not use their home, or None: admitted in the DM or a channel."""
    refused = await deps.gate.check(actor)
    for channel in channels:
        if refused is None:
            break
        if await deps.gate.check(replace(actor, channel_id=channel)) is None:
            return None
    return refused


async def load_facts(
    deps: AppDeps, actor: Actor, context: home.HomeContext, notice: str | None = None
) -> home.HomeFacts:
    """Read what the user's home shows: their saved exports, schedules and time zone."""
    saved = await deps.saved.owned(actor) if deps.saved is not None else []
    schedules = await deps.schedules.list_for(actor) if deps.schedules is not None else []
    owner_tz = await deps.zones.zone_of(actor.user_id) if deps.zones is not None else None
    return home.HomeFacts(
        user_id=actor.user_id,
        context=context,
        workspace_url=deps.workspace.url,
        zone=resolve_tz(None, owner_tz, deps.settings.SCHEDULE_DEFAULT_TZ),
        saved=saved,
        schedules=schedules,
        notice=notice,
    )


async def show(deps: AppDeps, body: dict[str, Any], notice: Message, *, failed: bool) -> None:
    """Publish the clicker's home again, with what the click did (`notice`) at its top.

    A click that `failed` (refused, or its work could not be done) whose home Slack
    did not take (or a newer home stands: the click's `view_hash`) is told in the DM.
    """
    actor, context = clicker(body)
    turn = _TURN.get()
    over = turn.over if turn is not None else view_hash(body)
    shown = await publish(deps, actor, context, notice=notice.text, view_hash=over)
    if turn is not None:
        turn.published = shown
    if failed and shown is None:
        await tell_clicker(deps, body, notice)


async def publish(
    deps: AppDeps,
    actor: Actor,
    context: home.HomeContext,
    *,
    notice: str | None = None,
    view_hash: str | None = None,
) -> str | None:
    """Publish the user's home as it is now; its new hash, None (logged) if Slack did not
    take it."""
    facts = await load_facts(deps, actor, context, notice)
    refused = await refusal(deps, actor, channels_in(facts))
    if refused is not None:
        facts = replace(facts, refusal=str(refused.error), saved=(), schedules=())
    else:
        facts = replace(facts, history=await history_message(deps, actor, facts.zone.name))
    view = home.build_home(facts)
    return await deps.home.publish(actor.user_id, view, view_hash=view_hash)


__all__ = ["EVENT", "clicker", "publish", "refusal", "register"]
