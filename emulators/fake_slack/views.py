"""views.open (a modal, within a trigger's few seconds) and views.publish (the App Home tab)."""

from __future__ import annotations

import json
import secrets
import time
from collections.abc import Mapping, Sequence
from typing import Any

from aiohttp import web

from emulators.fake_slack.records import OpenedView
from emulators.fake_slack.state import SlackState
from emulators.fake_slack.wire import _error, _ok
from emulators.slack_models import repeated_block_id, view_problems


class ViewsApi(SlackState):
    """views.open, checked as Slack checks a modal; views.publish, answered by `home`."""

    async def _m_views_open(self, params: dict[str, Any]) -> web.Response:
        trigger_id = str(params.get("trigger_id") or "")
        trigger = self._triggers.get(trigger_id)
        if trigger is None:
            return _error("invalid_trigger_id")
        if trigger.used:
            return _error("exchanged_trigger_id")
        if time.monotonic() > trigger.expires:
            return _error("expired_trigger_id")
        view = params.get("view")
        if isinstance(view, str):
            view = json.loads(view)
        problems = self._refuse("views.open", _view_problems(view) + view_problems(view))
        if problems or not isinstance(view, dict):
            return _error("invalid_arguments", response_metadata={"messages": problems})
        trigger.used = True
        opened = OpenedView(
            id=f"V{next(self._ids):08d}",
            hash=secrets.token_hex(6),
            trigger_id=trigger_id,
            user_id=trigger.user_id,
            view=view,
        )
        self.views.append(opened)
        return _ok(view={**view, "id": opened.id, "hash": opened.hash, "state": {"values": {}}})

    async def _m_views_publish(self, params: dict[str, Any]) -> web.Response:
        return await self.home.publish(params)


def _view_problems(view: Any) -> list[str]:  # noqa: C901, PLR0912  a checklist of Slack's view rules
    """Check the Block Kit rules Slack enforces on views.open that a bot can get wrong."""
    if not isinstance(view, dict):
        return ["view must be an object"]
    problems: list[str] = []
    if view.get("type") != "modal":
        problems.append("view.type must be modal")
    title = (view.get("title") or {}).get("text", "")
    if not 0 < len(title) <= 24:
        problems.append("view.title must be 1-24 characters")
    if len(view.get("private_metadata") or "") > 3000:
        problems.append("private_metadata must be at most 3000 characters")
    blocks: Sequence[Mapping[str, Any]] = view.get("blocks") or ()
    if len(blocks) > 100:
        problems.append("at most 100 blocks")
    seen: set[str] = set()
    for index, block in enumerate(blocks):
        problems += repeated_block_id(index, block, seen)
        if block.get("type") != "input":
            continue
        element = block.get("element") or {}
        if not element.get("action_id") or not (block.get("label") or {}).get("text"):
            problems.append(f"blocks[{index}]: input needs a label and an element action_id")
        offered = [o.get("value") for o in element.get("options", ())]
        for option in element.get("options", ()):
            if len(option.get("text", {}).get("text", "")) > 75:
                problems.append(f"blocks[{index}]: option text longer than 75 characters")
        initial = element.get("initial_option")
        if initial is not None and initial not in element.get("options", ()):
            problems.append(f"blocks[{index}]: initial_option is not one of the options")
        for chosen in element.get("initial_options", ()):
            if chosen.get("value") not in offered or chosen not in element.get("options", ()):
                problems.append(f"blocks[{index}]: initial_options must be among the options")
        if element.get("type") == "checkboxes" and len(offered) > 10:
            problems.append(f"blocks[{index}]: checkboxes take at most 10 options")
    return problems
