"""The two-person rule's Slack entry points: thin, as every listener (verify, ack, hand over).

Bolt verifies each request's signature (a forged click gets 401 and does
nothing). The Approve and Deny buttons carry only the approval id; the use
case (`ApprovalService`) reads the request from the database, checks who may
decide, and decides once. The confirmation's Export button carries the
requester's own command, which is parsed and access-checked again, and its
dedupe key, so a double click runs one export. `route_export` is where the
slash command and the form hand a valid export: held for an approver, asked
to confirm, or run.
"""

from __future__ import annotations

import json
import logging
import time
from typing import Any

from slack_bolt.async_app import AsyncApp
from slack_bolt.context.ack.async_ack import AsyncAck

from bot.adapters.slack_notifier import SLACK_FAILURES, error_of
from bot.domain import approval_blocks as ui
from bot.domain import blocks
from bot.domain.blocks import Message
from bot.domain.errors import ApprovalStoreUnavailable, InvalidCommand
from bot.domain.grammar import Export, Run, parse_command
from bot.domain.model import ExportRequest
from bot.domain.types import Actor, ReplyTo
from bot.entrypoints.deps import AppDeps
from bot.entrypoints.listeners.running import ack_then_continue
from bot.entrypoints.slack_payloads import actor_from
from bot.usecases import ApprovalService, Refused

log = logging.getLogger(__name__)

APPROVALS_OFF = (
    "This export needs an approver, but approvals are not available on this bot right now, "
    "so nothing was run. Ask an admin."
)
TOO_LONG_TO_CONFIRM = (
    "This broad export asks for a confirmation, but the command is too long to carry on a "
    "button: run it again with `confirm=yes`."
)


async def route_export(  # noqa: PLR0913  keyword-only: where the export goes and how to answer
    deps: AppDeps,
    actor: Actor,
    request: ExportRequest,
    reply: ReplyTo,
    *,
    dedupe_key: str,
    answer: Any,
    confirm_text: str | None = None,
) -> None:
    """Hold, confirm or run a valid export; `answer(message | None)` acks the user first.

    `confirm_text`: the command to put on the Export button (slash only); None
    means the export is already confirmed (`confirm=yes`, the form's Submit).
    """
    policy = deps.approval_policy
    reasons = policy.needs_approval(request)
    if reasons:
        if deps.approvals is None:
            await answer(blocks.refusal(APPROVALS_OFF))
            return
        expires = time.time() + deps.settings.APPROVAL_TTL_HOURS * 3600
        await answer(ui.awaiting(deps.approvals.approvers, reasons, expires))
        held = await deps.approvals.hold(actor, request, reply, reasons, dedupe_key=dedupe_key)
        if held.approval is None and held.error is not None:
            message = blocks.refusal(f"The request could not be held for approval: {held.error}")
            await deps.notifier.tell_user(reply, actor, message, {"what": "approval"})
        return
    if confirm_text is not None and policy.needs_confirmation(request, confirmed=False):
        value = ui.confirm_value(confirm_text, dedupe_key)
        if value is None:
            await answer(blocks.refusal(TOO_LONG_TO_CONFIRM))
        else:
            await answer(ui.confirm_broad(request.as_audit_record(), value))
        return
    await answer(None)
    await deps.service.export(actor, request, reply, dedupe_key=dedupe_key)


def register(app: AsyncApp, deps: AppDeps) -> None:
    """Register the buttons and the deny modal: each acks at once, then does its work."""

    @app.action(ui.APPROVE_ACTION)
    async def approve(ack: AsyncAck, body: dict[str, Any]) -> None:
        await ack_then_continue(deps, ack, body, lambda: _approve(deps, body))

    @app.action(ui.DENY_ACTION)
    async def deny(ack: AsyncAck, body: dict[str, Any]) -> None:
        await ack_then_continue(deps, ack, body, lambda: _ask_deny_reason(deps, body))

    @app.view(ui.DENY_VIEW)
    async def denied(ack: AsyncAck, body: dict[str, Any], view: dict[str, Any]) -> None:
        await ack_then_continue(deps, ack, body, lambda: _deny_with_reason(deps, body, view))

    @app.action(ui.CONFIRM_ACTION)
    async def confirmed(ack: AsyncAck, body: dict[str, Any]) -> None:
        await ack_then_continue(deps, ack, body, lambda: _run_confirmed(deps, body))

    @app.action(ui.CANCEL_ACTION)
    async def cancelled(ack: AsyncAck, body: dict[str, Any]) -> None:
        await ack_then_continue(deps, ack, body, lambda: _cancel(deps, body))


async def _approve(deps: AppDeps, body: dict[str, Any]) -> None:
    service, approval_id, clicker, reply = _click(deps, body)
    if service is not None:
        await service.approve(approval_id, clicker, reply)


async def _ask_deny_reason(deps: AppDeps, body: dict[str, Any]) -> None:
    """Open the deny form (its reason is optional); deny at once if Slack will not open it."""
    service, approval_id, clicker, reply = _click(deps, body)
    if service is None or not await service.may_decide(approval_id, clicker, reply):
        return
    try:
        await deps.prompt_client.views_open(
            trigger_id=body["trigger_id"], view=ui.deny_view(approval_id)
        )
    except SLACK_FAILURES as exc:
        log.warning("views.open of the deny form failed", extra={"error": error_of(exc)})
        # No reason then: deny at once rather than leave the click unanswered.
        await service.deny(approval_id, clicker, reply, None)


async def _deny_with_reason(deps: AppDeps, body: dict[str, Any], view: dict[str, Any]) -> None:
    if deps.approvals is None:
        return
    approval_id = str(view.get("private_metadata") or "")
    user = actor_from(body, "approval", channel_id=body["user"]["id"])
    values = (view.get("state") or {}).get("values") or {}
    reason = ((values.get(ui.REASON_BLOCK) or {}).get(ui.REASON_INPUT) or {}).get("value")
    await deps.approvals.deny(approval_id, user, ReplyTo(user.user_id), reason)


async def _cancel(deps: AppDeps, body: dict[str, Any]) -> None:
    actor = actor_from(body, "slash")
    reply = ReplyTo(actor.channel_id, body.get("response_url"))
    done = blocks.refusal("Cancelled: nothing was sent to HSS.")
    await deps.notifier.tell_user(reply, actor, done, {"what": "confirmation"})


def _click(deps: AppDeps, body: dict[str, Any]) -> tuple[Any, str, Actor, ReplyTo]:
    clicker = actor_from(body, "approval")
    reply = ReplyTo(clicker.channel_id, body.get("response_url"))
    approval_id = str(body["actions"][0].get("value") or "")
    return deps.approvals, approval_id, clicker, reply


async def _run_confirmed(deps: AppDeps, body: dict[str, Any]) -> None:
    """The Export button: the requester's command again, checked again, run once."""
    actor = actor_from(body, "slash")
    reply = ReplyTo(actor.channel_id, body.get("response_url"))
    try:
        packed = json.loads(body["actions"][0]["value"])
        parsed = parse_command(str(packed["text"]), deps.defaults)
        key = f"confirm:{packed['key']}"
    except (ValueError, KeyError, TypeError, InvalidCommand):
        await deps.notifier.tell_user(
            reply, actor, blocks.refusal("This button is stale: run the command again."), {}
        )
        return

    async def answer(message: Message | None) -> None:
        shown = message or blocks.requested()
        await deps.notifier.tell_user(reply, actor, shown, {"what": "confirmation"})

    if isinstance(parsed, Run) and deps.saved is not None:  # `run NAME`, a broad saved export
        overrides = parsed.overrides
        await deps.saved.run(
            actor, parsed.name, overrides, reply, key, answer=answer, confirmed=True
        )
        return
    if not isinstance(parsed, Export):
        return
    # Admitted, the request is bound to its profile (the channel's, or `profile=`) again.
    verdict = await deps.gate.admit(actor, request=parsed.request)
    if isinstance(verdict, Refused):
        await deps.gate.record(actor, verdict)
        message = blocks.refusal(str(verdict.error))
        await deps.notifier.tell_user(reply, actor, message, {})
        return
    request = verdict if isinstance(verdict, ExportRequest) else parsed.request
    await route_export(deps, actor, request, reply, dedupe_key=key, answer=answer)


async def waiting_message(service: ApprovalService, actor: Actor) -> Message:
    """`/hss-export approvals`: yours waiting, and those waiting on you."""
    try:
        mine, on_me = await service.waiting(actor)
    except ApprovalStoreUnavailable as exc:
        return blocks.unavailable("read the pending approvals", exc)
    return ui.waiting_list(mine, on_me)
