"""The Workflow Builder step `hss_container_export`: read inputs, check, hand to the use case.

Bolt acknowledges the `function_executed` event at once (`auto_acknowledge`);
the listener then reads the inputs into the slash grammar's fields
(`bot.domain.workflow`), checks access for the user the workflow names, and
runs the same export use case as the slash command, with source `workflow`
and the channel input as where to deliver. What it cannot run fails the step
at once with the text a slash user would read (`fail(error=…)`, through Bolt's
client, which carries the event's workflow token), after the refusal is on
record. A submitted export completes later, from the tracker, once the file is
in the thread (`bot.tracking.report`). Slack retries of the event carry the
same `function_execution_id`: it is the dedupe key, so one execution is one export.
"""

from __future__ import annotations

import logging
from typing import Any, Final

from slack_bolt.async_app import AsyncApp
from slack_bolt.context.fail.async_fail import AsyncFail

from bot.adapters.slack_notifier import SLACK_FAILURES, error_of
from bot.domain import blocks, workflow
from bot.domain.errors import InvalidCommand
from bot.domain.grammar import build_request
from bot.domain.model import ExportRequest
from bot.domain.types import Actor, Duplicate, Failed, ReplyTo, Submitted
from bot.entrypoints.deps import AppDeps
from bot.entrypoints.listeners.errors import log_unexpected
from bot.entrypoints.listeners.running import continue_after_receipt
from bot.entrypoints.slack_payloads import team_of
from bot.usecases import Refused
from bot.usecases.refusal import held_back

log = logging.getLogger(__name__)

WORKFLOW_CANNOT_WAIT: Final = (
    "a Workflow step cannot wait for one: ask for it with /hss-export, or narrow the step's filters"
)


def register(app: AsyncApp, deps: AppDeps) -> None:
    """Register the custom step's `function_executed` listener."""

    @app.function(workflow.CALLBACK_ID)
    async def hss_container_export(
        body: dict[str, Any], event: dict[str, Any], fail: AsyncFail
    ) -> None:
        continue_after_receipt(deps, executed(deps, body, event, fail))


async def executed(
    deps: AppDeps, body: dict[str, Any], event: dict[str, Any], fail: AsyncFail
) -> None:
    """Run the step; an unexpected error is logged with a reference and fails the step."""
    try:
        await handle(deps, body, event, fail)
    except Exception as error:  # noqa: BLE001 - logged with a reference, the step failed
        reference = log_unexpected(error)
        await _fail(fail, blocks.internal_error(reference).text)


async def handle(
    deps: AppDeps, body: dict[str, Any], event: dict[str, Any], fail: AsyncFail
) -> None:
    """Run one step execution: inputs, access, the export; fail the step if it cannot run."""
    execution = str(event.get("function_execution_id") or "")
    raw = event.get("inputs")
    inputs = workflow.read_inputs(raw if isinstance(raw, dict) else {})
    actor = Actor(team_of(body), inputs.user_id, inputs.channel_id, "workflow")
    request: ExportRequest | InvalidCommand
    try:
        if inputs.problems:
            raise InvalidCommand(inputs.problems)
        request = build_request(inputs.fields, deps.defaults)
    except InvalidCommand as exc:
        request = exc
    if not inputs.identified:
        # No user or channel to check access for: the inputs are the whole problem.
        assert isinstance(request, InvalidCommand)
        refused: Refused | None = Refused("invalid", request)
    else:
        # The same gate as the slash command: access, then the profile (channel default,
        # `profile=`, its own allow lists), which binds the request to its account.
        verdict = await deps.gate.admit(
            actor,
            request=request if isinstance(request, ExportRequest) else None,
            invalid=request if isinstance(request, InvalidCommand) else None,
        )
        refused = verdict if isinstance(verdict, Refused) else None
        if isinstance(verdict, ExportRequest):
            request = verdict
    if refused is None and isinstance(request, ExportRequest):
        refused = _held_back(deps, request)
    if refused is not None:
        await deps.gate.record(actor, refused)
        await _fail(fail, _refusal_text(refused))
        return
    assert isinstance(request, ExportRequest)  # not invalid, or the gate refused it
    result = await deps.service.export(
        actor,
        request,
        ReplyTo(inputs.channel_id),
        dedupe_key=f"workflow:{execution}",
        step=execution,
    )
    match result:
        case Failed(error=error, entry_id=entry_id):
            await _fail(fail, blocks.failed(error, entry_id=entry_id).text)
        case Submitted():
            log.info("workflow step waits for its file", extra={"function_execution_id": execution})
        case Duplicate():
            log.info("workflow step seen before", extra={"function_execution_id": execution})


def _held_back(deps: AppDeps, request: ExportRequest) -> Refused | None:
    """Refuse an export the two-person rule holds: a step cannot wait days for an approver.

    Running it would let a workflow skip the rule; holding it would leave the step
    open past Slack's patience. The step fails, saying where to ask instead.
    """
    return held_back(deps.approval_policy, request, WORKFLOW_CANNOT_WAIT)


def _refusal_text(refused: Refused) -> str:
    """Say why the step cannot run, in the words a slash user reads."""
    if isinstance(refused.error, InvalidCommand):
        return blocks.problems(refused.error).text
    return blocks.refusal(str(refused.error)).text


async def _fail(fail: AsyncFail, error: str) -> None:
    """Fail the step; a Slack that refuses is logged (the step then times out in Slack)."""
    try:
        await fail(error=error)
    except SLACK_FAILURES as exc:
        log.warning("functions.completeError failed", extra={"error": error_of(exc)})
