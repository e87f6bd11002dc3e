"""The App Home tab (issue 15): publish the user's home, and answer its buttons.

Thin, as every listener. Bolt verifies each request's signature (a forged
click gets 401 and does nothing). `app_home_opened` on the Home tab publishes
the user's home (`bot.domain.home`). A click is acknowledged at once (New
export first opens the form: a trigger id lives 3 seconds), access-checked
through the Gatekeeper for the channel it acts on, refused and audited if the
user may not, else handed to the same use case the slash command calls; then
the home is published again, saying what the click did. The buttons carry only
a saved export's name: what it runs and where is read again here.

Who may use the home: someone the access policy admits in their DM with the
app, or in a channel one of their saved exports or schedules runs in (an allow
list of channels admits its members' homes for what runs there). Someone else
sees a home that says why, with nothing to click; a click from an older home is
refused and audited like a refused command.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from dataclasses import replace
from typing import Any, Final

from slack_bolt.async_app import AsyncApp
from slack_bolt.context.ack.async_ack import AsyncAck

from bot.domain import home
from bot.domain.types import Actor
from bot.entrypoints.deps import AppDeps
from bot.entrypoints.listeners import shortcut
from bot.entrypoints.listeners.commands import history_message
from bot.entrypoints.listeners.errors import log_unexpected, reporting
from bot.entrypoints.slack_payloads import team_of, user_of
from bot.usecases import Refused

log = logging.getLogger(__name__)

EVENT: Final = "app_home_opened"  # manifest.yml: settings.event_subscriptions.bot_events
HOME_TAB: Final = "home"


def register(app: AsyncApp, deps: AppDeps) -> None:
    """Register the Home tab's event and its buttons."""

    @app.event(EVENT)
    async def opened(event: dict[str, Any], body: dict[str, Any]) -> None:
        if event.get("tab") != HOME_TAB or deps.lifecycle.draining:
            return  # the Messages tab is Slack's own; a draining bot publishes nothing new
        deps.track_this_run()
        try:
            actor = Actor(team_of(body), str(event.get("user") or ""), "", "home")
            context = home.HomeContext(str(event.get("channel") or ""))
            await publish(deps, replace(actor, channel_id=context.dm_channel), context)
        except Exception as error:  # noqa: BLE001 - the one place an event's error is logged
            log_unexpected(error)

    @app.action(home.NEW_EXPORT)
    async def new_export(ack: AsyncAck, body: dict[str, Any]) -> None:
        deps.track_this_run()
        async with reporting(deps, ack, body):
            await open_form(deps, ack, body)


async def open_form(deps: AppDeps, ack: AsyncAck, body: dict[str, Any]) -> None:
    """New export: the form with its channel picker, as the global shortcut opens it."""
    deadline = deps.answer_deadline()
    actor, context = clicker(body)
    facts = await load_facts(deps, actor, context)
    refused = await refusal(deps, actor, channels_in(facts))
    if refused is not None:
        await ack()
        await refuse(deps, actor, context, refused)
        return
    await shortcut.handle(deps, ack, body, deadline=deadline)


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


async def refuse(deps: AppDeps, actor: Actor, context: home.HomeContext, refused: Refused) -> None:
    """Put a refused click on record, then show the user why in their home."""
    await deps.gate.record(actor, refused)
    await publish(deps, actor, context)


async def load_facts(
    deps: AppDeps, actor: Actor, context: home.HomeContext, notice: str | None = None
) -> home.HomeFacts:
    """Read what the user's home shows: their saved exports, schedules, zone and history."""
    return home.HomeFacts(
        user_id=actor.user_id,
        context=context,
        tz="UTC",
        notice=notice,
    )


async def publish(
    deps: AppDeps,
    actor: Actor,
    context: home.HomeContext,
    *,
    notice: str | None = None,
    view_hash: str | None = None,
) -> bool:
    """Publish the user's home as it is now; False (logged) if Slack did not take it."""
    facts = await load_facts(deps, actor, context, notice)
    refused = await refusal(deps, actor, channels_in(facts))
    if refused is not None:
        facts = replace(facts, refusal=str(refused.error), saved=(), schedules=())
    else:
        facts = replace(facts, history=await history_message(deps, actor))
    view = home.build_home(facts)
    return await deps.home.publish(actor.user_id, view, view_hash=view_hash)


__all__ = ["EVENT", "clicker", "publish", "refusal", "register"]
