"""The global shortcut "New HSS export": open the export form from anywhere in Slack.

A global shortcut carries no channel, so the form it opens has a channel
picker (`bot.domain.modal`, preselecting the conversation the user was
viewing when Slack knows it). Nothing is decided here: who may export is
checked, and a refusal audited, when the form is submitted, where the channel
(which an allow list may name) is known. The form is opened first, by the
listener's deadline (trigger ids expire within 3 seconds), then the shortcut
is acknowledged; if Slack will not open it, the user is told in their DM.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any, Final

from slack_bolt.async_app import AsyncApp
from slack_bolt.context.ack.async_ack import AsyncAck

from bot.adapters.slack_notifier import SLACK_FAILURES, error_of
from bot.domain import blocks, modal
from bot.domain.types import Actor, ReplyTo
from bot.entrypoints.deps import AppDeps
from bot.entrypoints.listeners.running import answer_then_continue
from bot.entrypoints.slack_payloads import team_of, user_of

log = logging.getLogger(__name__)

CALLBACK_ID: Final = "hss_export_new"  # manifest.yml: features.shortcuts, "New HSS export"


def register(app: AsyncApp, deps: AppDeps) -> None:
    """Register the global shortcut's listener."""

    @app.shortcut(CALLBACK_ID)
    async def new_export(ack: AsyncAck, body: dict[str, Any]) -> None:
        if deps.lifecycle.draining:
            await ack()
            deps.count("draining")
            return
        await answer_then_continue(deps, ack, body, lambda ack: handle(deps, ack, body))


async def handle(
    deps: AppDeps, ack: AsyncAck, body: dict[str, Any], *, deadline: float | None = None
) -> None:
    """Open the form with its channel picker, then acknowledge the shortcut (or the click).

    `deadline`: the event-loop time the ack is due by, when the caller started the
    clock (the Home tab's New export checks access first); else from now.
    """
    deadline = deadline if deadline is not None else deps.answer_deadline()
    view = modal.build_view(
        modal.FormContext(channel_id=""), header_lang=deps.settings.HSS_EXPORT_HEADER_LANG
    )
    try:
        async with asyncio.timeout_at(deadline):
            await deps.prompt_client.views_open(trigger_id=body["trigger_id"], view=view)
    except SLACK_FAILURES as exc:  # TimeoutError included: the deadline passed
        log.warning("views.open failed", extra={"error": error_of(exc)})
        await ack()
        user = user_of(body)
        if user:
            # No channel and no reply URL: the user's DM with the app is the one place left.
            actor = Actor(team_of(body), user, user, "modal")
            message = blocks.form_unavailable(deps.command)
            await deps.notifier.tell_user(ReplyTo(user), actor, message, {})
        return
    await ack()
