"""The fake Slack's App Home tab: `views.publish`, the `app_home_opened` event, clicks in a home.

Modelled on Slack's documentation of `views.publish` (arguments `user_id`,
`view`, optional `hash`; errors `invalid_arguments`, `not_enabled` when the app
has no Home tab, `hash_conflict` when `hash` is not the user's current one,
`view_too_large` over 250 kB; no scope needed), of the `app_home_opened` event
(an Events API `event_callback` whose event has `user`, `channel` (the app's DM
with the user), `tab` and, once a home was published, that `view`) and of the
`block_actions` payload of a click in a view (`container.type = view`,
`view` with its id and hash, a `trigger_id`; no `response_url` and no
`channel`), as in bolt-python's tests (`test_events_org_apps.py`,
`test_block_suggestion.py`). A home view is checked as Slack checks it: type
`home`, at most 100 blocks, no `submit` or `close`, private_metadata of at
most 3000 characters, unique block ids, and every block through slack_sdk's
models (`emulators.slack_models`); a refusal is recorded in the fake's
`refusals` like any other. Each accepted publish gets a new `hash`, so two
clicks on one published home carry the same view id and hash, and a click
after a re-publish carries the new one, as in Slack.
"""

from __future__ import annotations

import json
import secrets
import time
import urllib.parse
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Final

from aiohttp import web

from emulators.fake_slack.wire import _error
from emulators.slack_models import repeated_block_id, view_problems

if TYPE_CHECKING:
    from emulators.fake_slack.records import SignedRequest
    from emulators.fake_slack.state import SlackState

VIEW_BYTES_MAX: Final = 250_000  # Slack: view_too_large beyond 250 kB
HOME_BLOCKS_MAX: Final = 100


def block_buttons(block: Mapping[str, Any]) -> list[dict[str, Any]]:
    """Return one block's buttons, in order: an actions block's elements, then its accessory."""
    elements = list(block.get("elements", [])) if block.get("type") == "actions" else []
    if "accessory" in block:
        elements.append(block["accessory"])
    return [e for e in elements if e.get("type") == "button"]


@dataclass
class PublishedHome:
    """A home view as Slack keeps it for one user: its id, current hash and the view."""

    id: str
    hash: str
    user_id: str
    view: dict[str, Any]

    def buttons(self) -> list[dict[str, Any]]:
        """Return every button of the view (with its block id under `_block_id`), in order."""
        return [
            {**button, "_block_id": block.get("block_id", "")}
            for block in self.view.get("blocks", [])
            for button in block_buttons(block)
        ]

    def button(self, action_id: str, value: str | None = None) -> dict[str, Any]:
        """Return the button with this action id (and value, when several share it)."""
        found = [
            b
            for b in self.buttons()
            if b.get("action_id") == action_id and (value is None or b.get("value") == value)
        ]
        if not found:
            raise AssertionError(f"no button {action_id!r} (value {value!r}) in the home")
        return found[0]


class FakeHome:
    """The Home tab side of one `FakeSlack`: what was published, and the requests Slack sends."""

    def __init__(self, slack: SlackState) -> None:
        self._slack = slack
        self.enabled = True  # the manifest's features.app_home.home_tab_enabled
        self.published: list[PublishedHome] = []  # every accepted publish, in order
        self._current: dict[str, PublishedHome] = {}

    def of(self, user_id: str) -> PublishedHome:
        """Return the home the user sees now (fails the test if none was published)."""
        if user_id not in self._current:
            raise AssertionError(f"no home published for {user_id}")
        return self._current[user_id]

    def has(self, user_id: str) -> bool:
        """Tell whether a home was published for the user."""
        return user_id in self._current

    # --- Slack calling the app ---------------------------------------------------------

    def opened(
        self,
        user_id: str = "U0ALICE",
        *,
        tab: str = "home",
        event_id: str | None = None,
        timestamp: int | None = None,
        secret: str | None = None,
    ) -> SignedRequest:
        """Build the signed `app_home_opened` event Slack sends when the user opens the app.

        `tab` is `home` or `messages`; the event carries the user's current home
        view once one was published. The same `event_id` again makes a retry.
        """
        slack = self._slack
        now = time.time()
        event: dict[str, Any] = {
            "type": "app_home_opened",
            "user": user_id,
            "channel": slack.dm_with(user_id),
            "tab": tab,
            "event_ts": f"{now:.6f}",
        }
        if user_id in self._current:
            event["view"] = self._view_payload(self._current[user_id])
        body = {
            "token": "deprecated-verification-token",
            "team_id": slack.team_id,
            "api_app_id": "A0FAKE",
            "event": event,
            "type": "event_callback",
            "event_id": event_id or f"Ev{secrets.token_hex(5).upper()}",
            "event_time": int(now),
            "authorizations": [
                {
                    "enterprise_id": None,
                    "team_id": slack.team_id,
                    "user_id": slack.bot_user_id,
                    "is_bot": True,
                    "is_enterprise_install": False,
                }
            ],
            "is_ext_shared_channel": False,
        }
        signed = slack._signed(json.dumps(body).encode(), timestamp, secret, None, None)
        return signed.with_headers(**{"Content-Type": "application/json"})

    def click(  # noqa: PLR0913  one keyword per field a test sets
        self,
        action_id: str,
        *,
        user_id: str = "U0ALICE",
        value: str | None = None,
        forged_value: str | None = None,
        timestamp: int | None = None,
        secret: str | None = None,
    ) -> SignedRequest:
        """Build the signed `block_actions` request Slack sends when the user clicks in their home.

        The button is found in the user's current home by `action_id` (and
        `value`, when several buttons share the action id); `forged_value`
        replaces the value sent, as a forger would. A button with a `confirm`
        dialog is clicked as if the user confirmed it.
        """
        slack = self._slack
        home = self.of(user_id)
        button = home.button(action_id, value)
        trigger_id = slack.issue_trigger(user_id)
        payload = {
            "type": "block_actions",
            "user": {
                "id": user_id,
                "username": user_id.lower(),
                "name": user_id.lower(),
                "team_id": slack.team_id,
            },
            "api_app_id": "A0FAKE",
            "token": "deprecated-verification-token",
            "container": {"type": "view", "view_id": home.id},
            "trigger_id": trigger_id,
            "team": {"id": slack.team_id, "domain": "fake"},
            "enterprise": None,
            "is_enterprise_install": False,
            "view": self._view_payload(home),
            "actions": [
                {
                    "action_id": action_id,
                    "block_id": button["_block_id"],
                    "value": button.get("value") if forged_value is None else forged_value,
                    "type": "button",
                    "text": button.get("text"),
                    "action_ts": f"{time.time():.6f}",
                }
            ],
        }
        body = urllib.parse.urlencode({"payload": json.dumps(payload)}).encode()
        return slack._signed(body, timestamp, secret, trigger_id, None)

    def _view_payload(self, home: PublishedHome) -> dict[str, Any]:
        """The view as Slack puts it in events and payloads: the published view, and its ids."""
        return {
            "id": home.id,
            "team_id": self._slack.team_id,
            "type": "home",
            "blocks": home.view.get("blocks", []),
            "private_metadata": home.view.get("private_metadata", ""),
            "callback_id": home.view.get("callback_id", ""),
            "state": {"values": {}},
            "hash": home.hash,
            "title": {"type": "plain_text", "text": "View Title"},
            "clear_on_close": False,
            "notify_on_close": False,
            "close": None,
            "submit": None,
            "previous_view_id": None,
            "root_view_id": home.id,
            "app_id": "A0FAKE",
            "external_id": home.view.get("external_id", ""),
            "app_installed_team_id": self._slack.team_id,
            "bot_id": "B0FAKE",
        }

    # --- views.publish -----------------------------------------------------------------

    async def publish(self, params: Mapping[str, Any]) -> web.Response:
        """Answer `views.publish` as Slack does."""
        user_id = str(params.get("user_id") or "")
        raw = params.get("view")
        try:
            view = json.loads(raw) if isinstance(raw, str) else raw
        except ValueError:
            view = None
        if not user_id or not isinstance(view, dict):
            return _error("invalid_arguments")
        if len(json.dumps(view)) > VIEW_BYTES_MAX:
            return _error("view_too_large")
        problems = self._slack._refuse("views.publish", home_problems(view))
        if problems:
            return _error("invalid_arguments", response_metadata={"messages": problems})
        if not self.enabled:
            return _error("not_enabled")
        current = self._current.get(user_id)
        given_hash = params.get("hash")
        if given_hash and current is not None and given_hash != current.hash:
            return _error("hash_conflict")
        home = PublishedHome(
            id=current.id if current is not None else f"V{secrets.token_hex(5).upper()}",
            hash=f"{time.time():.6f}.{secrets.token_hex(4)}",
            user_id=user_id,
            view=view,
        )
        self._current[user_id] = home
        self.published.append(home)
        return web.json_response({"ok": True, "view": self._view_payload(home)})


def home_problems(view: Mapping[str, Any]) -> list[str]:
    """Say what Slack refuses in a home view; empty when it would publish it."""
    problems: list[str] = []
    if view.get("type") != "home":
        problems.append("view.type must be home")
    for part in ("submit", "close"):
        if part in view:
            problems.append(f"a home view has no {part}")
    if len(view.get("private_metadata") or "") > 3000:
        problems.append("private_metadata must be at most 3000 characters")
    blocks: Sequence[Mapping[str, Any]] = view.get("blocks") or ()
    if len(blocks) > HOME_BLOCKS_MAX:
        problems.append(f"at most {HOME_BLOCKS_MAX} blocks, got {len(blocks)}")
    seen: set[str] = set()
    for index, block in enumerate(blocks):
        problems += repeated_block_id(index, block, seen)
        actions = [e.get("action_id") for e in block.get("elements", ()) if e.get("action_id")]
        if len(actions) != len(set(actions)):
            problems.append(f"blocks[{index}]: action_ids must be unique in a block")
    return problems + view_problems(view)


__all__ = ["FakeHome", "PublishedHome", "block_buttons", "home_problems"]
