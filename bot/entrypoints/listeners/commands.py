"""`/hss-export`: verify access, ack within Slack's 3 seconds, then hand over to the use case.

Everything before the ack is pure or bounded: parsing, the access decision
(bounded by `AccessControl`), recording a refusal, views.open and a `save` or
`forget` (bounded by `ANSWER_DEADLINE_SECONDS` from the listener's start;
views.open through a client that never retries; a slower save or forget is
answered after the ack). The HSS call and the reply happen after the ack.
`help` is shown to anyone (it reveals only the grammar), `approvals` to anyone
(it lists only what the caller asked or may decide); every other form of the
command needs access.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from dataclasses import replace
from typing import Any, Final

from slack_bolt.async_app import AsyncApp
from slack_bolt.context.ack.async_ack import AsyncAck

from bot.adapters.slack_notifier import SLACK_FAILURES, error_of
from bot.domain import (
    blocks,
    history_messages,
    modal,
    profile_messages,
    saved_messages,
    schedule_messages,
)
from bot.domain.blocks import Message
from bot.domain.errors import AuditUnavailable, InvalidCommand
from bot.domain.grammar import (
    Approvals,
    Command,
    Export,
    Forget,
    Form,
    Help,
    History,
    OpenModal,
    Preview,
    ProfileList,
    Run,
    Save,
    SavedList,
    ScheduleAdd,
    ScheduleList,
    SchedulePause,
    ScheduleResume,
    Status,
    Unschedule,
    help_text,
    parse_command,
)
from bot.domain.model import ExportRequest
from bot.domain.types import Actor, ReplyTo
from bot.entrypoints.deps import AppDeps
from bot.entrypoints.listeners.approvals import route_export, waiting_message
from bot.entrypoints.listeners.running import answer_then_continue
from bot.entrypoints.listeners.schedules import schedule_answer
from bot.entrypoints.slack_payloads import actor_from
from bot.lifecycle import restarting_reply
from bot.usecases import Refused, TaskLookup
from bot.usecases.refusal import Reply, done_by, record_then_answer, refusal_message
from bot.usecases.saved import Changed

log = logging.getLogger(__name__)


def register(app: AsyncApp, deps: AppDeps) -> None:
    """Register the slash command listener."""

    @app.command(deps.command)
    async def hss_export(ack: AsyncAck, command: dict[str, Any]) -> None:
        if deps.lifecycle.draining:
            await ack(restarting_reply())
            deps.count("draining")
            return
        await answer_then_continue(deps, ack, command, lambda ack: handle(deps, ack, command))


async def ack_with(ack: AsyncAck, message: Message) -> None:
    """Answer the command with an ephemeral message."""
    await ack(text=message.text, blocks=message.blocks, response_type="ephemeral")


async def handle(deps: AppDeps, ack: AsyncAck, command: dict[str, Any]) -> None:  # noqa: C901  one case per command word, each a line or two
    """Run one `/hss-export`: access, then the command's own path."""
    deadline = deps.answer_deadline()
    actor = actor_from(command, "slash")
    reply = ReplyTo(actor.channel_id, command.get("response_url"))
    try:
        text = slack_unescape(command.get("text", ""))
        parsed: Command | InvalidCommand = parse_command(text, deps.defaults)
    except InvalidCommand as exc:
        parsed = exc
    if isinstance(parsed, Save | Run | SavedList | Forget):
        await saved_command(deps, ack, command, parsed, deadline)
        return
    admitted = await admitted_or_refused(deps, ack, actor, parsed, deadline)
    if admitted is None:
        return
    if (answer := await instant_answer(deps, actor, admitted)) is not None:
        await ack_with(ack, answer)
        return
    match admitted:
        case OpenModal():
            await open_form(deps, ack, command, {}, deadline)
        case Form(prefill=prefill):
            await open_form(deps, ack, command, prefill, deadline)
        case Preview(request=request):
            await ack_with(ack, blocks.preview(deps.describe(request)))
        case Status(task_id=task_id, enterprise_project_id=project):
            await ack_with(ack, blocks.looking_up(f"task {task_id}"))
            message = status_message(await deps.status.look_up(task_id, project, actor=actor))
            await deps.notifier.tell_user(reply, actor, message, {})
        case History():
            await ack_with(ack, blocks.looking_up("your latest exports"))
            await deps.notifier.tell_user(reply, actor, await history_message(deps, actor), {})
        case Approvals():
            await ack_with(ack, blocks.looking_up("export requests waiting for approval"))
            await deps.notifier.tell_user(reply, actor, await approvals_message(deps, actor), {})
        case ScheduleAdd() | ScheduleList() | SchedulePause() | ScheduleResume() | Unschedule():
            await ack_with(ack, schedule_messages.acknowledged(admitted))
            message = await schedule_answer(deps.schedules, actor, admitted, deps.workspace.url)
            await deps.notifier.tell_user(reply, actor, message, {"what": "schedule"})
        case Export(request=request, confirmed=confirmed):

            async def acknowledge(message: Message | None) -> None:
                await ack_with(ack, message or blocks.requested())

            # Slack retries carry the same trigger_id: one command, one export.
            await route_export(
                deps,
                actor,
                request,
                reply,
                dedupe_key=f"slash:{command['trigger_id']}",
                answer=acknowledge,
                confirm_text=None if confirmed else text,
            )


SAVED_OFF = "Saved exports are not available on this bot right now (no store is open)."
# A save's or forget's refusal is due this long before the listener's deadline (see
# `change_by_deadline`), so it takes the ack before the "under way" answer would.
REFUSAL_HEADSTART_SECONDS: Final = 0.2


async def saved_command(
    deps: AppDeps, ack: AsyncAck, command: dict[str, Any], parsed: Command, deadline: float
) -> None:
    """`save`, `run`, `saved`, `forget`: the use case checks access and audits; answer in the ack.

    A refusal is on record before the ack, by `deadline` at the latest (as a typed
    command's); so is a save or forget, else it is answered after (`change_by_deadline`).
    A Slack retry carries the same trigger_id: one command, one change or export.
    """
    actor = actor_from(command, "slash")
    reply = ReplyTo(actor.channel_id, command.get("response_url"))
    key = f"slash:{command['trigger_id']}"
    text = slack_unescape(command.get("text", ""))
    saved = deps.saved
    if saved is None:
        await ack_with(ack, blocks.refusal(SAVED_OFF))
        return

    async def acknowledge(message: Message | None) -> None:
        if ack.response is None:  # a refusal may be in the ack already (`Reply`)
            await ack_with(ack, message or blocks.requested())

    match parsed:
        case Save(name=name, fields=fields):
            await change_by_deadline(
                deps,
                ack,
                actor,
                reply,
                action=f"save `{name}`",
                deadline=deadline,
                change=lambda why: saved.save(actor, name, fields, dedupe_key=key, reply=why),
            )
        case Run(name=name, overrides=overrides, confirmed=confirmed):
            await saved.run(
                actor,
                name,
                overrides,
                reply,
                key,
                answer=acknowledge,
                deadline=deadline,
                confirmed=confirmed,
                confirm_text=text,
            )
        case Forget(name=name):
            await change_by_deadline(
                deps,
                ack,
                actor,
                reply,
                action=f"forget `{name}`",
                deadline=deadline,
                change=lambda why: saved.forget(actor, name, dedupe_key=key, reply=why),
            )
        case SavedList():
            admitted = await admitted_or_refused(deps, ack, actor, parsed, deadline)
            if admitted is not None:
                await ack_with(ack, await saved.listing(actor))


async def change_by_deadline(  # noqa: PLR0913  keyword-only: what the change is, and when due
    deps: AppDeps,
    ack: AsyncAck,
    actor: Actor,
    reply: ReplyTo,
    *,
    action: str,
    deadline: float,
    change: Callable[[Reply], Awaitable[Changed]],
) -> None:
    """Run `save`/`forget` (`change`), saying its outcome in the ack if it ends by `deadline`.

    `action` says what the change does (`save NAME`). A change the store
    is slow to make is acked as under way at the deadline and its outcome said through
    the response_url once known, so a slow store never costs Slack's 3 s. A refusal is
    said once, first and in the ack when it can be (`record_then_answer`): it is due a
    little before the deadline, since two answers due at one instant would race for it.
    """
    said = False

    async def say(message: Message) -> None:
        nonlocal said
        said = True
        if ack.response is None:
            await ack_with(ack, message)
        else:
            await deps.notifier.tell_user(reply, actor, message, {"what": "saved"})

    changing = asyncio.ensure_future(change(Reply(say, deadline - REFUSAL_HEADSTART_SECONDS)))
    if not await done_by(changing, deadline) and ack.response is None:
        await ack_with(ack, saved_messages.under_way(action))
    changed = await changing
    if not said:
        await say(changed.message)


async def admitted_or_refused(
    deps: AppDeps,
    ack: AsyncAck,
    actor: Actor,
    parsed: Command | InvalidCommand,
    deadline: float,
) -> Command | None:
    """Pass `parsed` through the gate: the command to run (its request bound to its
    profile), or None once a refusal is put on record, then answered. `help` needs no access;
    nor does `approvals`, which shows only the caller's own requests and those they may
    decide (an approver need not be allowed to export to see their queue). `pause`,
    `resume` and `unschedule` are checked by `ScheduleService`, for the schedule's owner
    and channel (an owner may always stop their own schedule).
    """
    if isinstance(parsed, Help | Approvals | SchedulePause | ScheduleResume | Unschedule):
        return parsed
    verdict = await deps.gate.admit(
        actor,
        request=parsed.request if isinstance(parsed, Export | Preview) else None,
        invalid=parsed if isinstance(parsed, InvalidCommand) else None,
    )
    if isinstance(verdict, Refused):
        answer = refusal_message(verdict)
        await record_then_answer(
            deps.gate, actor, verdict, lambda: ack_with(ack, answer), deadline=deadline
        )
        return None
    assert not isinstance(parsed, InvalidCommand)  # the gate refuses an invalid command
    if isinstance(verdict, ExportRequest) and isinstance(parsed, Export | Preview):
        return replace(parsed, request=verdict)
    return parsed


async def instant_answer(deps: AppDeps, actor: Actor, parsed: Command) -> Message | None:
    """Answer `help` and `profiles` in the ack itself (only to the caller); None for others."""
    if isinstance(parsed, Help):
        return blocks.help_message(help_text(deps.command))
    if isinstance(parsed, ProfileList):
        return await profiles_message(deps, actor)
    return None


async def profiles_message(deps: AppDeps, actor: Actor) -> Message:
    """Render the profiles this user may use here: names, regions, projects, channels."""
    default = deps.gate.default_profile
    usable = await deps.gate.usable_profiles(actor)
    return profile_messages.profiles(
        [
            profile_messages.ProfileLine(
                p.name,
                p.region,
                p.project_id,
                p.enterprise_project_id,
                p.channels,
                p.name == default,
            )
            for p in usable
        ]
    )


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
    actor = actor_from(command, "slash")
    usable = [p.name for p in await deps.gate.usable_profiles(actor)]
    view = modal.build_view(
        context,
        prefill=shown.values,
        header_lang=lang,
        notes=shown.notes,
        profiles=modal.ProfileOptions(
            tuple(usable),
            prefill.get("profile") or deps.gate.profile_for_channel(context.channel_id),
        ),
    )
    try:
        async with asyncio.timeout_at(deadline):
            await deps.prompt_client.views_open(trigger_id=command["trigger_id"], view=view)
    except SLACK_FAILURES as exc:  # TimeoutError included: the deadline passed
        log.warning("views.open failed", extra={"error": error_of(exc)})
        await ack_with(ack, blocks.form_unavailable(deps.command))
        return
    await ack()


def status_message(lookup: TaskLookup) -> Message:
    """Render what HSS said of a task, or why it could not be looked up (and where)."""
    if lookup.refused is not None:
        return refusal_message(lookup.refused)
    if lookup.status is not None:
        return blocks.task_status(lookup.status)
    project = lookup.enterprise_project_id
    where = f" in enterprise project {project}" if project else ""
    assert lookup.error is not None  # a lookup holds a status or an error
    return blocks.unavailable(f"look up task {lookup.task_id}{where}", lookup.error)


async def history_message(deps: AppDeps, actor: Actor, tz: str = "UTC") -> Message:
    """Render the caller's latest entries (times in `tz`), or say the log cannot be read."""
    try:
        entries = await deps.history.latest(actor)
    except AuditUnavailable as exc:
        return blocks.unavailable("read the audit log", exc)
    return history_messages.history(entries, tz)


async def approvals_message(deps: AppDeps, actor: Actor) -> Message:
    """Render the requests waiting on the caller (as approver) or by them."""
    if deps.approvals is None:
        return blocks.refusal("Approvals are not enabled on this bot.")
    return await waiting_message(deps.approvals, actor)
