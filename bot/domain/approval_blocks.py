"""The two-person rule's messages: the request an approver sees, its end, the confirmation.

Pure, like `bot.domain.blocks` (whose escaping, limits and `preview` rendering
they reuse): the approval message shows who asks, from where, the filters in
words, the exact request as `preview` shows it, the expiry (`<!date^…>`, shown
in each reader's time zone; its fallback, for clients that cannot, in UTC) and
the buttons; the buttons carry only the approval id. The confirmation's
buttons carry the requester's own command.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from typing import Any, Final

from bot.domain.approvals import Approval
from bot.domain.blocks import (
    Block,
    Message,
    _context,
    _message,
    _section,
    escape,
    preview,
    utc_minute,
)
from bot.domain.blocks import summarize as summarize_record
from bot.domain.model import EXPORT_SIZE_MAX

APPROVE_ACTION: Final = "approval_approve"
DENY_ACTION: Final = "approval_deny"
CONFIRM_ACTION: Final = "broad_confirm"
CANCEL_ACTION: Final = "broad_cancel"
DENY_VIEW: Final = "approval_deny_reason"
REASON_BLOCK: Final = "reason"
REASON_INPUT: Final = "reason_input"
REASON_MAX: Final = 500
BUTTON_VALUE_MAX: Final = 2000  # Slack's limit on a button's value


def _when(epoch: float) -> str:
    """Slack shows the date in each reader's zone; where it cannot, the fallback, in UTC."""
    seconds = int(epoch)
    return f"<!date^{seconds}^{{date_short_pretty}} at {{time}}|{utc_minute(seconds)}>"


def _button(text: str, action_id: str, value: str, style: str | None = None) -> Block:
    button: Block = {
        "type": "button",
        "text": {"type": "plain_text", "text": text},
        "action_id": action_id,
        "value": value,
    }
    if style is not None:
        button["style"] = style
    return button


def _who(approval: Approval) -> str:
    actor = approval.requester
    return f"<@{escape(actor.user_id)}> in <#{escape(actor.channel_id)}>"


def approval_request(approval: Approval, description: Mapping[str, Any], approvers: str) -> Message:
    """The message approvers decide on: who, where, why it is held, the exact request, buttons."""
    why = "; ".join(escape(r) for r in approval.reasons)
    code = preview(description).blocks[1:-1]  # the request exactly as `preview` shows it
    blocks: list[Block] = [
        _section(
            f":raised_hand: *Approval needed*: {_who(approval)} asks for an HSS export.\n"
            f"*Filters*: {summarize_record(approval.record)}\n*Why it is held*: {why}"
        ),
        *code,
        _context(
            f"Approvers: {approvers} (not the requester). Expires {_when(approval.expires_at)}."
        ),
        {
            "type": "actions",
            "block_id": "approval",
            "elements": [
                _button("Approve", APPROVE_ACTION, approval.id, "primary"),
                _button("Deny", DENY_ACTION, approval.id, "danger"),
            ],
        },
    ]
    return _message(
        f"Approval needed: an HSS export asked by <@{approval.requester.user_id}>", blocks
    )


def approval_closed(approval: Approval, outcome: str) -> Message:
    """The approval message once decided or expired: what happened, the buttons gone."""
    head = f"*HSS export* asked by {_who(approval)}: {summarize_record(approval.record)}"
    return _message(f"HSS export request: {outcome}", [_section(head), _context(outcome)])


def approved_outcome(by: str, task_id: str | None) -> str:
    """Say who approved and which task started (or that none did)."""
    task = f"task `{escape(task_id)}`" if task_id else "no task was started (see the audit log)"
    return f":white_check_mark: Approved by <@{escape(by)}>: {task}."


def denied_outcome(by: str, reason: str | None) -> str:
    """Say who denied, and why if they said."""
    why = f" Reason: {escape(reason)}" if reason else ""
    return f":no_entry: Denied by <@{escape(by)}>.{why}"


def expired_outcome(expires_at: float) -> str:
    """Say that no one decided in time."""
    return f":hourglass: Expired {_when(expires_at)}: nobody decided in time. Nothing was run."


def awaiting(approvers: str, reasons: Sequence[str], expires_at: float) -> Message:
    """The requester's ack: the export waits for an approver, and until when."""
    why = "; ".join(escape(r) for r in reasons)
    text = (
        f":hourglass_flowing_sand: This export needs approval by {approvers} ({why}). "
        f"Nothing was sent to HSS yet; the request expires {_when(expires_at)}."
    )
    return _message("This export needs approval", [_section(text)])


def told_requester(outcome: str) -> Message:
    """What the requester is told when their held export is decided or expires."""
    return _message("Your HSS export request was decided", [_section(outcome)])


def refused_click(reason: str) -> Message:
    """Told only to someone whose click was refused."""
    return _message(reason, [_section(f":no_entry_sign: {escape(reason)}")])


def deny_view(approval_id: str) -> dict[str, Any]:
    """The small modal for an optional reason; its private_metadata is the approval id only."""
    return {
        "type": "modal",
        "callback_id": DENY_VIEW,
        "private_metadata": approval_id,
        "title": {"type": "plain_text", "text": "Deny export"},
        "submit": {"type": "plain_text", "text": "Deny"},
        "close": {"type": "plain_text", "text": "Cancel"},
        "blocks": [
            {
                "type": "input",
                "block_id": REASON_BLOCK,
                "optional": True,
                "label": {"type": "plain_text", "text": "Reason (shown to the requester)"},
                "element": {
                    "type": "plain_text_input",
                    "action_id": REASON_INPUT,
                    "multiline": True,
                    "max_length": REASON_MAX,
                },
            }
        ],
    }


def confirm_value(text: str, key: str) -> str | None:
    """Pack the requester's command and its dedupe key for the Export button; None if too long."""
    value = json.dumps({"text": text, "key": key}, ensure_ascii=False, separators=(",", ":"))
    return value if len(value) <= BUTTON_VALUE_MAX else None


def confirm_broad(record: Mapping[str, Any], value: str) -> Message:
    """Ask the requester, only them, to confirm a broad export (no filter or every project)."""
    text = (
        f":warning: This exports up to {EXPORT_SIZE_MAX} containers across all enterprise "
        f"projects ({summarize_record(record)}). Export anyway? "
        "(Add `confirm=yes` to skip this question.)"
    )
    buttons = [
        _button("Export", CONFIRM_ACTION, value, "primary"),
        _button("Cancel", CANCEL_ACTION, "cancel"),
    ]
    return _message(
        "Confirm a broad export",
        [_section(text), {"type": "actions", "block_id": "confirm", "elements": buttons}],
    )


def waiting_list(as_requester: Sequence[Approval], as_approver: Sequence[Approval]) -> Message:
    """`/hss-export approvals`: the requests waiting on you, and yours waiting on others."""

    def lines(items: Sequence[Approval]) -> str:
        return "\n".join(
            f"• {_who(a)}: {summarize_record(a.record)} (expires {_when(a.expires_at)})"
            for a in items[:20]
        )

    blocks: list[Block] = []
    if as_approver:
        blocks.append(_section(f"*Waiting on you*:\n{lines(as_approver)}"))
    if as_requester:
        blocks.append(_section(f"*Yours, waiting on an approver*:\n{lines(as_requester)}"))
    if not blocks:
        blocks.append(_section("No export requests are waiting on you or by you."))
    return _message("Export requests waiting for approval", blocks)
