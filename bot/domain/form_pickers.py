"""The form's two pickers: where to post (a form opened from anywhere) and which HSS profile."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, Final

from bot.domain.form_fields import ACTION_ID, PROFILE_BLOCK

CHANNEL_BLOCK: Final = "channel_id"
CHANNEL_ACTION: Final = "channel"
PICK_CHANNEL: Final = "Pick the channel to post the export in."


def _text(text: str) -> dict[str, Any]:
    return {"type": "plain_text", "text": text}


def channel_picker() -> dict[str, Any]:
    """The channel input of a form opened from anywhere: the channel the user was in, if any."""
    return {
        "type": "input",
        "block_id": CHANNEL_BLOCK,
        "label": _text("Post the export in"),
        "hint": _text("The task id goes there, and the file in its thread. Invite the bot first."),
        "element": {
            "type": "conversations_select",
            "action_id": CHANNEL_ACTION,
            "placeholder": _text("Pick a channel"),
            # Slack preselects the conversation the user was viewing, when there is one.
            "default_to_current_conversation": True,
            "filter": {"include": ["public", "private"], "exclude_bot_users": True},
        },
    }


def chosen_channel(values: object) -> str | None:
    """Return the channel picked in the form's channel input, or None if none was picked."""
    blocks = values if isinstance(values, Mapping) else {}
    block = blocks.get(CHANNEL_BLOCK)
    action = block.get(CHANNEL_ACTION) if isinstance(block, Mapping) else None
    chosen = action.get("selected_conversation") if isinstance(action, Mapping) else None
    return chosen if isinstance(chosen, str) and chosen else None


def profile_block(profiles: Sequence[str], chosen: str | None) -> dict[str, Any]:
    """The Profile select: the profiles this user may use, the channel's preselected."""
    options = [{"text": _text(name), "value": name} for name in profiles[:100]]
    element: dict[str, Any] = {
        "type": "static_select",
        "action_id": ACTION_ID,
        "placeholder": _text("This channel's profile"),
        "options": options,
    }
    initial = next((o for o in options if o["value"] == chosen), None)
    if initial is not None:
        element["initial_option"] = initial
    return {
        "type": "input",
        "block_id": PROFILE_BLOCK,
        "optional": True,
        "label": _text("HSS profile"),
        "element": element,
        "hint": _text("The account, project and region to export from"),
    }
