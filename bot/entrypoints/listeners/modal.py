"""The export form's submission: validate before the ack, so errors land on the fields.

A valid form closes at once and the export runs after the ack, through the
same use case as the slash command. A form opened by the global shortcut has
a channel picker: the export goes to the channel chosen there.
"""

from __future__ import annotations

from typing import Any

from slack_bolt.async_app import AsyncApp
from slack_bolt.context.ack.async_ack import AsyncAck

from bot.domain import modal
from bot.domain.blocks import Message
from bot.domain.errors import InvalidCommand
from bot.domain.grammar import build_request
from bot.domain.model import ExportRequest
from bot.domain.types import ReplyTo
from bot.entrypoints.deps import AppDeps
from bot.entrypoints.listeners.approvals import route_export
from bot.entrypoints.listeners.running import answer_then_continue
from bot.entrypoints.slack_payloads import actor_from
from bot.lifecycle import restarting_reply
from bot.usecases import Refused
from bot.usecases.refusal import record_then_answer


def register(app: AsyncApp, deps: AppDeps) -> None:
    """Register the form's view_submission listener."""

    @app.view(modal.CALLBACK_ID)
    async def form_submitted(ack: AsyncAck, body: dict[str, Any], view: dict[str, Any]) -> None:
        if deps.lifecycle.draining:
            notice = modal.notice_view("Restarting", restarting_reply()["text"])
            await ack(response_action="update", view=notice)
            deps.count("draining")
            return
        await answer_then_continue(deps, ack, body, lambda ack: handle(deps, ack, body, view))


async def handle(deps: AppDeps, ack: AsyncAck, body: dict[str, Any], view: dict[str, Any]) -> None:
    """Check access again (bounded: see `AccessControl`), validate, ack, then export.

    A refusal is on record before the ack (see `bot.usecases.refusal.record_then_answer`).
    """
    deadline = deps.answer_deadline()
    context = modal.FormContext.load(view.get("private_metadata") or "")
    if context is None:
        await ack(response_action="update", view=modal.notice_view("Form expired", modal.STALE))
        return
    state = view.get("state")
    values = state.get("values") if isinstance(state, dict) else None
    # A form opened by the global shortcut asks where to post; Slack requires the answer.
    channel = context.channel_id or modal.chosen_channel(values)
    if channel is None:
        await ack(response_action="errors", errors={modal.CHANNEL_BLOCK: modal.PICK_CHANNEL})
        return
    actor = actor_from(body, "modal", channel_id=channel)
    request: ExportRequest | InvalidCommand
    try:
        request = build_request(modal.fields_from_state(values), deps.defaults)
    except InvalidCommand as exc:
        request = exc
    invalid = request if isinstance(request, InvalidCommand) else None
    verdict = await deps.gate.admit(
        actor, request=None if isinstance(request, InvalidCommand) else request, invalid=invalid
    )
    if isinstance(verdict, Refused):
        refused = verdict
        await record_then_answer(
            deps.gate, actor, refused, lambda: answer_refusal(ack, refused), deadline=deadline
        )
        return
    assert isinstance(verdict, ExportRequest)  # not invalid, or the gate refused it
    request = verdict
    # A double submit of the same view carries the same id and hash: one export.
    key = f"view:{view['id']}:{view['hash']}"
    reply = ReplyTo(channel, context.response_url)

    async def answer(message: Message | None) -> None:
        await ack()  # the form closes; a held export's notice goes to the requester
        if message is not None:
            await deps.notifier.tell_user(reply, actor, message, {"what": "approval"})

    # The form's Submit is the confirmation; an approval is still needed where the rule says.
    await route_export(deps, actor, request, reply, dedupe_key=key, answer=answer)


async def answer_refusal(ack: AsyncAck, refused: Refused) -> None:
    """Show a form's refusal: its problems on their fields, or why it may not run."""
    if isinstance(refused.error, InvalidCommand):
        await ack(response_action="errors", errors=modal.errors_by_block(refused.error.problems))
        return
    title = "Try again shortly" if refused.undecided else "Not allowed"
    await ack(response_action="update", view=modal.notice_view(title, str(refused.error)))
