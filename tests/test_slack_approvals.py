"""The two-person rule end to end: signed slash commands and button clicks through the real app."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from slack_harness import ALICE, EXPORTS, Stack, running_stack, wait_for

from bot.adapters.approval_store import open_approval_store
from bot.adapters.slack_approvals import SlackApprovalMessenger
from bot.adapters.slack_notifier import SlackNotifier, build_web_client
from bot.adapters.task_store import open_task_store
from bot.domain import approval_blocks as ui
from bot.tracking.lease import Leases
from bot.tracking.model import TrackerConfig
from bot.tracking.worker import LeaseWorker
from bot.usecases import ApprovalExpiry
from emulators.fake_hss import FakeHss
from emulators.fake_slack import FakeSlack, Posted

BOB = "U0BOB"
CAROL = "U0CAROL"
MALLORY = "U0MALLORY"
APPROVALS = "C0APPROVALS"
BROAD = "enterprise_project_id=all_granted_eps status=running"
RULE = {
    "APPROVAL_REQUIRED_FOR": "all_granted_eps",
    "APPROVER_USER_IDS": f"{BOB},{CAROL},{ALICE}",  # Alice approves others, never herself
    "APPROVAL_CHANNEL_ID": APPROVALS,
    "ALLOWED_USER_IDS": f"{ALICE},{MALLORY}",
}


class Clock:
    """The approvals' clock, moved by hand."""

    def __init__(self) -> None:
        self.now = 1_767_258_000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def clock() -> Clock:
    """A hand-moved clock for expiry."""
    return Clock()


@pytest.fixture
async def stack(tmp_path: Path, fake_hss: FakeHss, clock: Clock) -> AsyncIterator[Stack]:
    """The stack with the two-person rule on all_granted_eps, approvals posted in #approvals."""
    async with running_stack(tmp_path, fake_hss, approvals=True, clock=clock, **RULE) as running:
        yield running


async def _ask(stack: Stack, text: str = BROAD, user: str = ALICE) -> Posted:
    delivery = await stack.slash(text, user_id=user)
    assert delivery.status == 200
    assert "needs approval by" in delivery.json["text"] or "needs approval" in str(delivery.json)
    await stack.settle()
    return stack.slack.last_message_with(ui.APPROVE_ACTION)


async def _click(stack: Stack, message: Posted, action: str, user: str, **kw: Any) -> int | None:
    delivery = await stack.send(stack.slack.button_click(message, action, user_id=user, **kw))
    await stack.settle()
    return delivery.status


def _creates(stack: Stack) -> int:
    return len(stack.hss.calls_for("create"))


def _told(stack: Stack, user: str) -> str:
    """Everything shown to one user privately (ephemeral, response_url, DM)."""
    parts = [
        str(m.blocks) + str(m.text) for m in stack.slack.ephemerals if m.ephemeral_user == user
    ]
    parts += [json.dumps(r.body) for r in stack.slack.responses if r.user_id == user]
    parts += [str(m.blocks) for m in stack.slack.messages if m.channel == stack.slack.dm_with(user)]
    return "\n".join(parts)


async def test_held_request_is_posted_for_approvers_and_nothing_reaches_hss(
    stack: Stack, clock: Clock
) -> None:
    """The command is acked "needs approval by …", audited awaiting_approval, and posted."""
    delivery = await stack.slash(BROAD)
    assert "needs approval by" in delivery.json["blocks"][0]["text"]["text"]
    assert f"<@{BOB}>" in delivery.json["blocks"][0]["text"]["text"]
    # The reason reads in one pair of brackets, as the README's example shows it.
    text = delivery.json["blocks"][0]["text"]["text"]
    assert " (it covers all enterprise projects). Nothing was sent to HSS yet" in text
    assert "))" not in text
    await stack.settle()
    message = stack.slack.last_message_with(ui.APPROVE_ACTION)
    assert message.channel == APPROVALS
    shown = json.dumps(message.blocks)
    assert f"<@{ALICE}> in <#{EXPORTS}>" in shown
    expires = int(clock.now) + 24 * 3600  # APPROVAL_TTL_HOURS' default
    when = datetime.fromtimestamp(expires, UTC).strftime("%Y-%m-%d %H:%M UTC")
    assert f"<!date^{expires}^{{date_short_pretty}} at {{time}}|{when}>" in shown
    code = "\n".join(
        b["text"]["text"]
        for b in message.blocks
        if b["type"] == "section" and b["text"]["text"].startswith("```")
    )
    # As `preview` shows it: the signed call's line, then the body.
    assert code.startswith(f"```POST {stack.hss.url}/v5/{stack.hss.project_id}/container/")
    assert "export-task?enterprise_project_id=all_granted_eps" in code
    assert '"status": "Running"' in code
    buttons = [e for b in message.blocks if b["type"] == "actions" for e in b["elements"]]
    assert [(b["text"]["text"], len(b["value"])) for b in buttons] == [
        ("Approve", 24),
        ("Deny", 24),
    ]  # the id only
    assert _creates(stack) == 0
    (entry,) = await stack.entries()
    assert (entry.outcome, entry.request["query"]) == (
        "awaiting_approval",
        {"enterprise_project_id": "all_granted_eps"},
    )


def test_expiry_fallback_is_a_readable_utc_time() -> None:
    """Where Slack cannot render `<!date^…>`, the expiry reads as a UTC time, not Unix seconds."""
    expires = datetime(2026, 12, 3, 14, 0, tzinfo=UTC).timestamp()

    text = json.dumps(
        [ui.awaiting("<@U0BOB>", ["all"], expires).blocks, ui.expired_outcome(expires)]
    )

    assert text.count("|2026-12-03 14:00 UTC>") == 2
    assert "Unix time" not in text


async def test_approve_runs_one_export_and_posts_the_task_id(stack: Stack) -> None:
    """An approver's click: one HSS call, the task id in the requester's channel, message closed."""
    message = await _ask(stack)
    assert await _click(stack, message, ui.APPROVE_ACTION, BOB) == 200
    await wait_for(lambda: _creates(stack) == 1)
    (create,) = stack.hss.calls_for("create")
    assert create.query["enterprise_project_id"] == "all_granted_eps"
    assert create.body["status"] == "Running"
    announced = [m for m in stack.slack.messages if m.channel == EXPORTS]
    assert len(announced) == 1
    (task_id,) = stack.hss.tasks
    assert task_id in json.dumps(announced[0].blocks)
    assert task_id in json.dumps(next(m for m in stack.slack.messages if m.ts == message.ts).blocks)
    closed = next(m for m in stack.slack.messages if m.ts == message.ts)
    assert f"Approved by <@{BOB}>" in json.dumps(closed.blocks)
    assert not [b for b in closed.blocks if b["type"] == "actions"]  # buttons gone
    held, export = await stack.entries()
    assert (held.outcome, held.approver) == ("approved", BOB)
    assert (export.source, export.user_id, export.outcome, export.approver) == (
        "approval",
        ALICE,
        "submitted",
        BOB,
    )
    assert export.request == held.request
    assert (await stack.audit.verify()).ok


async def test_double_click_and_slack_retry_make_one_export(stack: Stack) -> None:
    """The same click twice, and the same request delivered again: still one export."""
    message = await _ask(stack)
    click = stack.slack.button_click(message, ui.APPROVE_ACTION, user_id=BOB)
    again = stack.slack.button_click(message, ui.APPROVE_ACTION, user_id=BOB)  # a double click
    await stack.send(click)
    await stack.send(click)  # Slack's retry of the very same request
    await stack.send(again)
    await stack.settle()
    assert _creates(stack) == 1
    assert len([e for e in await stack.entries() if e.source == "approval"]) == 1


async def test_two_approvers_at_once_make_one_export(stack: Stack) -> None:
    """Bob and Carol clicking together: exactly one export; the loser is told who won."""
    message = await _ask(stack)
    clicks = [stack.slack.button_click(message, ui.APPROVE_ACTION, user_id=u) for u in (BOB, CAROL)]
    await asyncio.gather(*(stack.send(c) for c in clicks))
    await stack.settle()
    assert _creates(stack) == 1
    held = (await stack.entries())[0]
    loser = CAROL if held.approver == BOB else BOB
    assert "Already approved by" in _told(stack, loser)


async def test_self_approval_is_refused_and_audited(stack: Stack) -> None:
    """The requester cannot approve their own export, even as an approver; it is on record."""
    message = await _ask(stack)
    await _click(stack, message, ui.APPROVE_ACTION, ALICE)
    assert _creates(stack) == 0
    told = (
        f"You cannot approve your own export request. Another approver must decide on it: "
        f"<@{BOB}>, <@{CAROL}>. It is still waiting for them; nothing was run."
    )
    assert told in _told(stack, ALICE)
    held, refusal = await stack.entries()
    assert held.outcome == "awaiting_approval"
    assert (refusal.user_id, refusal.source, refusal.outcome) == (ALICE, "approval", "denied")
    assert told in (refusal.error or "")


async def test_non_approver_is_refused_and_audited(stack: Stack) -> None:
    """Someone not among the approvers is refused; the request stays pending."""
    message = await _ask(stack)
    later = stack.slack.button_click(message, ui.APPROVE_ACTION, user_id=BOB)
    await _click(stack, message, ui.APPROVE_ACTION, MALLORY)
    assert _creates(stack) == 0
    assert "You may not approve exports" in _told(stack, MALLORY)
    entries = await stack.entries()
    assert [(e.user_id, e.outcome) for e in entries] == [
        (ALICE, "awaiting_approval"),
        (MALLORY, "denied"),
    ]
    await stack.send(later)  # still decidable
    await stack.settle()
    assert _creates(stack) == 1


async def test_forged_click_does_nothing(stack: Stack) -> None:
    """A click signed with the wrong secret gets 401: no export, no audit entry, no message."""
    message = await _ask(stack)
    before = len(stack.slack.messages)
    status = await _click(stack, message, ui.APPROVE_ACTION, BOB, secret="not-the-secret")
    assert status == 401
    assert _creates(stack) == 0
    assert len(await stack.entries()) == 1
    assert len(stack.slack.messages) == before


async def test_a_forged_id_runs_nothing(stack: Stack) -> None:
    """A signed click carrying another id (not one the bot issued) runs nothing."""
    message = await _ask(stack)
    await _click(stack, message, ui.APPROVE_ACTION, BOB, value="x" * 24)
    assert _creates(stack) == 0
    assert "unknown" in _told(stack, BOB)


async def test_deny_with_a_reason(stack: Stack) -> None:
    """Deny opens a small form; its reason is audited, shown to the requester, buttons removed."""
    message = await _ask(stack)
    late = stack.slack.button_click(message, ui.APPROVE_ACTION, user_id=CAROL)
    await _click(stack, message, ui.DENY_ACTION, BOB)
    opened = stack.slack.view()
    assert opened.view["private_metadata"] == message.blocks[-1]["elements"][1]["value"]
    submit = stack.slack.view_submission(values={ui.REASON_BLOCK: "too broad for a Friday"})
    assert (await stack.send(submit)).status == 200
    await stack.settle()
    assert _creates(stack) == 0
    held = (await stack.entries())[0]
    assert (held.outcome, held.approver, held.error) == (
        "denied_by_approver",
        BOB,
        "too broad for a Friday",
    )
    assert "too broad for a Friday" in _told(stack, ALICE)
    closed = next(m for m in stack.slack.messages if m.ts == message.ts)
    assert "Denied by" in json.dumps(closed.blocks)
    assert not [b for b in closed.blocks if b["type"] == "actions"]
    await stack.send(late)  # too late: already denied
    await stack.settle()
    assert _creates(stack) == 0
    assert "Already denied by" in _told(stack, CAROL)


async def test_expiry_with_a_fake_clock(stack: Stack, clock: Clock, tmp_path: Path) -> None:
    """Past APPROVAL_TTL_HOURS a click is refused; the lease worker expires it once, closes it."""
    message = await _ask(stack)
    clock.now += 24 * 3600 + 1
    await _click(stack, message, ui.APPROVE_ACTION, BOB)
    assert _creates(stack) == 0
    assert "expired" in _told(stack, BOB)
    url = f"sqlite:///{tmp_path / 'audit.db'}"
    approvals, tasks = await open_approval_store(url), await open_task_store(url)
    client = build_web_client(stack.settings)
    expiry = ApprovalExpiry(
        approvals, stack.audit, SlackApprovalMessenger(client, SlackNotifier(client)), clock=clock
    )

    async def no_task(_task: object) -> None:
        raise AssertionError("no task is due")

    leases = Leases(tasks, "worker-1", lease_seconds=60, clock=clock, sleep=asyncio.sleep)
    worker = LeaseWorker(
        leases, no_task, TrackerConfig(), clock=clock, sleep=asyncio.sleep, also=(expiry,)
    )
    try:
        assert await worker.run_once() == 1  # the one job loop claims the expiry as due work
        assert await worker.run_once() == 0
    finally:
        await approvals.aclose()
        await tasks.aclose()
    held = (await stack.entries())[0]
    assert held.outcome == "expired"
    assert "Expired" in _told(stack, ALICE)
    closed = next(m for m in stack.slack.messages if m.ts == message.ts)
    assert not [b for b in closed.blocks if b["type"] == "actions"]
    assert "Expired" in json.dumps(closed.blocks)
    assert (await stack.audit.verify()).ok


async def test_a_restart_between_request_and_approval(
    tmp_path: Path, fake_hss: FakeHss, clock: Clock
) -> None:
    """The request held by one app instance is approved through a new one on the same database."""
    async with FakeSlack() as slack:
        async with running_stack(
            tmp_path, fake_hss, slack=slack, approvals=True, clock=clock, **RULE
        ) as first:
            message = await _ask(first)
        async with running_stack(
            tmp_path, fake_hss, slack=slack, approvals=True, clock=clock, **RULE
        ) as second:
            await _click(second, message, ui.APPROVE_ACTION, BOB)
            assert _creates(second) == 1


async def test_approvals_lists_what_waits_on_you_and_by_you(stack: Stack) -> None:
    """`/hss-export approvals` lists an approver's queue and a requester's own requests."""
    await _ask(stack)
    await stack.slash("approvals", user_id=BOB)
    await stack.settle()
    assert "Waiting on you" in _told(stack, BOB)
    await stack.slash("approvals", user_id=ALICE)
    await stack.settle()
    assert "Yours, waiting on an approver" in _told(stack, ALICE)
    assert "Waiting on you" not in _told(stack, ALICE)  # her own request is not hers to decide


# --- the broad-export confirmation (CONFIRM_BROAD_EXPORTS) ------------------------------


@pytest.fixture
async def asking(tmp_path: Path, fake_hss: FakeHss) -> AsyncIterator[Stack]:
    """The stack with CONFIRM_BROAD_EXPORTS on and no approval rule."""
    async with running_stack(
        tmp_path, fake_hss, approvals=True, CONFIRM_BROAD_EXPORTS=True
    ) as running:
        yield running


async def _question(stack: Stack, text: str) -> Posted:
    delivery = await stack.slash(text)
    assert delivery.json.get("response_type") == "ephemeral"
    await stack.settle()
    # The question is the command's ephemeral ack: a message only Alice sees.
    return Posted(EXPORTS, delivery.json["text"], delivery.json["blocks"], "1.000001", None, ALICE)


async def test_a_broad_export_asks_first_and_runs_once_on_export(asking: Stack) -> None:
    """No filter: the requester is asked, only them; Export runs one export, even clicked twice."""
    question = await _question(asking, "export_size=100000")
    assert "up to 100000 containers across all enterprise projects" in json.dumps(question.blocks)
    assert _creates(asking) == 0
    first = asking.slack.button_click(question, ui.CONFIRM_ACTION, user_id=ALICE)
    second = asking.slack.button_click(question, ui.CONFIRM_ACTION, user_id=ALICE)
    await asking.send(first)
    await asking.send(second)
    await asking.settle()
    assert _creates(asking) == 1
    assert [e.outcome for e in await asking.entries()] == ["submitted"]


async def test_cancel_runs_nothing(asking: Stack) -> None:
    """Cancel: nothing reaches HSS and the requester is told."""
    question = await _question(asking, "enterprise_project_id=all_granted_eps status=running")
    await _click(asking, question, ui.CANCEL_ACTION, ALICE)
    assert _creates(asking) == 0
    assert "Cancelled" in _told(asking, ALICE)


async def test_confirm_yes_skips_the_question_and_a_filtered_export_is_not_asked(
    asking: Stack,
) -> None:
    """`confirm=yes` runs a broad export at once; a filtered one in one project never asks."""
    await asking.slash("export_size=100000 confirm=yes")
    await asking.slash("status=running")
    await asking.settle()
    await wait_for(lambda: _creates(asking) == 2)
    bodies = [c.body for c in asking.hss.calls_for("create")]
    assert all("confirm" not in body for body in bodies)  # not sent to HSS


async def test_the_confirmation_rechecks_access(asking: Stack) -> None:
    """A click on Export by someone not allowed to export runs nothing and is audited."""
    question = await _question(asking, "export_size=100000")
    await _click(asking, question, ui.CONFIRM_ACTION, MALLORY)
    assert _creates(asking) == 0
    assert [e.outcome for e in await asking.entries()] == ["denied"]


async def test_the_form_cannot_bypass_the_rule(stack: Stack) -> None:
    """An export from the form that the rule holds waits for an approver too."""
    await stack.slash("")
    await stack.settle()
    submit = stack.slack.view_submission(
        values={"enterprise_project_id": "all_granted_eps", "status": "Running"}
    )
    assert (await stack.send(submit)).status == 200
    await stack.settle()
    assert _creates(stack) == 0
    assert "needs approval by" in _told(stack, ALICE)
    message = stack.slack.last_message_with(ui.APPROVE_ACTION)
    (entry,) = await stack.entries()
    assert (entry.source, entry.outcome) == ("modal", "awaiting_approval")
    await _click(stack, message, ui.APPROVE_ACTION, BOB)
    assert _creates(stack) == 1
