"""`/hss-export`: verify access, ack within Slack's 3 seconds, then hand over to the use case.

Everything before the ack is pure or bounded: parsing, the access decision
(bounded by `AccessControl`), and views.open (bounded by `FORM_DEADLINE_SECONDS`
from the listener's start, through a client that never retries). The HSS call
and the reply happen after the ack. `help` is shown to anyone (it reveals only
the grammar); every other form of the command needs access.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any, Final

from slack_bolt.async_app import AsyncApp
from slack_bolt.context.ack.async_ack import AsyncAck

from bot.adapters.slack_notifier import SLACK_FAILURES, error_of
from bot.domain import blocks, modal
from bot.domain.blocks import Message
from bot.domain.errors import AccessDenied, AuditUnavailable, HssError, InvalidCommand
from bot.domain.grammar import (
    Command,
    Export,
    Form,
    Help,
    History,
    OpenModal,
    Preview,
    Status,
    help_text,
    parse_command,
)
from bot.domain.types import Actor
from bot.entrypoints.deps import AppDeps
from bot.entrypoints.listeners.errors import reporting
from bot.lifecycle import restarting_reply
from bot.service import ReplyTo

log = logging.getLogger(__name__)

# views.open must be done by then (from the listener's start), so the ack that follows
# reaches Slack within its 3 seconds whatever Slack itself does.
FORM_DEADLINE_SECONDS: Final = 2.2


def register(app: AsyncApp, deps: AppDeps) -> None:
    """Register the slash command listener."""

    @app.command(deps.command)
    async def hss_export(ack: AsyncAck, command: dict[str, Any]) -> None:
        if deps.lifecycle.draining:
            await ack(restarting_reply())
            deps.count("draining")
            return
        deps.track_this_run()
        async with reporting(deps, ack, command):
            await handle(deps, ack, command)


async def ack_with(ack: AsyncAck, message: Message) -> None:
    """Answer the command with an ephemeral message."""
    await ack(text=message.text, blocks=message.blocks, response_type="ephemeral")


async def handle(deps: AppDeps, ack: AsyncAck, command: dict[str, Any]) -> None:
    """Run one `/hss-export`: access, then the command's own path."""
    form_deadline = asyncio.get_running_loop().time() + FORM_DEADLINE_SECONDS
    actor = Actor(command["team_id"], command["user_id"], command["channel_id"], "slash")
    reply = ReplyTo(actor.channel_id, command.get("response_url"))
    try:
        text = slack_unescape(command.get("text", ""))
        parsed: Command | InvalidCommand = parse_command(text, deps.defaults)
    except InvalidCommand as exc:
        parsed = exc
    if not isinstance(parsed, Help):
        decision = await deps.access.check(actor.user_id, actor.channel_id)
        if not decision.allowed:
            await ack_with(ack, blocks.refusal(decision.reason))
            request = parsed.request if isinstance(parsed, Export | Preview) else None
            await deps.service.refuse(actor, "denied", AccessDenied(decision.reason), request)
            return
    match parsed:
        case InvalidCommand():
            await ack_with(ack, blocks.problems(parsed))
            await deps.service.refuse(actor, "invalid", parsed)
        case Help():
            await ack_with(ack, blocks.help_message(help_text(deps.command)))
        case OpenModal():
            await open_form(deps, ack, command, {}, form_deadline)
        case Form(prefill=prefill):
            await open_form(deps, ack, command, prefill, form_deadline)
        case Preview(request=request):
            await ack_with(ack, blocks.preview(deps.describe(request)))
        case Status(task_id=task_id, enterprise_project_id=project):
            await ack_with(ack, blocks.looking_up(f"task {task_id}"))
            message = await task_status(deps, task_id, project)
            await deps.notifier.tell_user(reply, actor, message, {})
        case History():
            await ack_with(ack, blocks.looking_up("your latest exports"))
            await deps.notifier.tell_user(reply, actor, await history(deps, actor), {})
        case Export(request=request):
            await ack_with(ack, blocks.requested())
            # Slack retries carry the same trigger_id: one command, one export.
            key = f"slash:{command['trigger_id']}"
            await deps.service.export(actor, request, reply, dedupe_key=key)


def slack_unescape(text: str) -> str:
    """Undo Slack's escaping of `&`, `<` and `>` in a command's text (`&amp;` last)."""
    return text.replace("&lt;", "<").replace("&gt;", ">").replace("&amp;", "&")


async def open_form(
    deps: AppDeps,
    ack: AsyncAck,
    command: dict[str, Any],
    prefill: dict[str, str],
    deadline: float,
) -> None:
    """Open the form first (trigger_ids expire in 3 s), by `deadline` at the latest; then ack."""
    context = modal.FormContext(command["channel_id"], command.get("response_url"))
    lang = deps.settings.HSS_EXPORT_HEADER_LANG
    shown = modal.check_prefill(prefill, header_lang=lang)
    view = modal.build_view(context, prefill=shown.values, header_lang=lang, notes=shown.notes)
    try:
        async with asyncio.timeout_at(deadline):
            await deps.prompt_client.views_open(trigger_id=command["trigger_id"], view=view)
    except SLACK_FAILURES as exc:  # TimeoutError included: the deadline passed
        log.warning("views.open failed", extra={"error": error_of(exc)})
        await ack_with(ack, blocks.form_unavailable(deps.command))
        return
    await ack()


async def task_status(deps: AppDeps, task_id: str, project: str | None) -> Message:
    """Ask HSS for a task's state, in the enterprise project given or the task's own."""
    if project is None:
        project = await task_project(deps, task_id)
    where = f" in enterprise project {project}" if project else ""
    try:
        status = await deps.hss.get_export_task(task_id, project)
    except HssError as exc:
        return blocks.unavailable(f"look up task {task_id}{where}", exc)
    return blocks.task_status(status)


async def task_project(deps: AppDeps, task_id: str) -> str | None:
    """Return the enterprise project a task was created in, per the audit log, else the default.

    A task the audit log does not know (created elsewhere) is looked up in the
    bot's default project, as a command without `enterprise_project_id` would be.
    """
    try:
        entry = await deps.audit.entry_for_task(task_id)
    except AuditUnavailable:
        log.warning("audit log unreadable; using the default enterprise project")
        entry = None
    if entry is None or entry.request is None:
        return deps.defaults.enterprise_project_id
    project = (entry.request.get("query") or {}).get("enterprise_project_id")
    return str(project) if project else None


async def history(deps: AppDeps, actor: Actor) -> Message:
    """Read the caller's last ten commands from the audit log."""
    try:
        entries = await deps.audit.history(actor.user_id, 10)
    except AuditUnavailable as exc:
        return blocks.unavailable("read the audit log", exc)
    return blocks.history(entries)
