"""Check views and messages with slack_sdk's own Block Kit models, as Slack would refuse them.

The fake Slack calls these on every view (views.open), message (chat.postMessage,
chat.update, chat.postEphemeral, response_url posts) and ack body it receives. Slack
refuses Block Kit that breaks its schema (`invalid_arguments` for a view,
`invalid_blocks` for a message); slack_sdk's models encode those rules (lengths,
digits of a timestamp, option counts), so a bot's view that slack_sdk rejects is
refused here too and a test sees the bug instead of a user. `to_dict()` validates
the whole tree (`validate_json()` alone checks only the top object), and a block or
element type slack_sdk does not know is named rather than silently dropped.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Final

from slack_sdk.errors import SlackObjectFormationError
from slack_sdk.models.blocks import Block
from slack_sdk.models.views import View

BLOCKS_MAX: Final = 50  # a message's blocks (a modal takes 100)
TEXT_MAX: Final = 40_000  # a message's notification text


def view_problems(view: Any) -> list[str]:
    """Say what slack_sdk's `View` model refuses in `view`; empty when Slack would accept it."""
    if not isinstance(view, Mapping):
        return ["view must be an object"]
    problems = _blocks_problems(view.get("blocks") or [], "view.blocks")
    try:
        View(**view).to_dict()
    except (SlackObjectFormationError, TypeError, ValueError, KeyError, AttributeError) as exc:
        problems.append(f"view: {exc}")
    return problems


def repeated_block_id(index: int, block: Mapping[str, Any], seen: set[str]) -> list[str]:
    """Say whether a view's block repeats a `block_id` (Slack refuses the view); note it seen."""
    block_id = block.get("block_id")
    if block_id is None:
        return []
    repeated = block_id in seen
    seen.add(block_id)
    return [f"blocks[{index}]: duplicate block_id {block_id}"] if repeated else []


def message_problems(message: Mapping[str, Any]) -> list[str]:
    """Say what Slack refuses in a message's `text` and `blocks` (a post, an update, an ack)."""
    problems: list[str] = []
    text = message.get("text")
    if text is not None and not isinstance(text, str):
        problems.append("text must be a string")
    elif isinstance(text, str) and len(text) > TEXT_MAX:
        problems.append(f"text must be at most {TEXT_MAX} characters, got {len(text)}")
    blocks = message.get("blocks")
    if blocks is None:
        return problems
    if not isinstance(blocks, list):
        return [*problems, "blocks must be a list"]
    if len(blocks) > BLOCKS_MAX:
        problems.append(f"at most {BLOCKS_MAX} blocks, got {len(blocks)}")
    return problems + _blocks_problems(blocks, "blocks")


def _blocks_problems(blocks: Any, where: str) -> list[str]:
    if not isinstance(blocks, list):
        return [f"{where} must be a list"]
    problems: list[str] = []
    for index, block in enumerate(blocks):
        try:
            parsed = Block.parse(dict(block)) if isinstance(block, Mapping) else None
            if parsed is None:
                problems.append(f"{where}[{index}]: unknown block {block!r:.80}")
                continue
            element = block.get("element")
            if isinstance(element, Mapping) and getattr(parsed, "element", element) is None:
                problems.append(f"{where}[{index}].element: unknown element {element!r:.80}")
                continue
            parsed.to_dict()
        except (SlackObjectFormationError, TypeError, ValueError, KeyError, AttributeError) as exc:
            problems.append(f"{where}[{index}]: {exc}")
    return problems
