"""Slack calling the app: slash commands, view submissions, button clicks, global shortcuts.

Each builds a request signed with the signing secret, like Slack's; `deliver` posts one
with Slack's 3-second patience and checks the ack's Block Kit.
"""

from __future__ import annotations

import contextlib
import json
import time
import urllib.parse
from collections.abc import Mapping
from typing import Any, Final

import aiohttp

from emulators.fake_slack.records import SLACK_ACK_SECONDS, Delivery, Posted, SignedRequest
from emulators.fake_slack.state import SlackState


class Interactions(SlackState):
    """The signed requests Slack sends the app, and their delivery."""

    def slash_command(  # noqa: PLR0913  one keyword per field of the payload
        self,
        text: str,
        *,
        user_id: str = "U0ALICE",
        channel_id: str = "C0EXPORTS",
        command: str = "/hss-export",
        trigger_id: str | None = None,
        timestamp: int | None = None,
        secret: str | None = None,
    ) -> SignedRequest:
        """Build the signed request Slack sends when a user types the command."""
        trigger_id = trigger_id or self.issue_trigger(user_id)
        response_url = self.issue_response_url(channel_id, user_id)
        form = {
            "token": "deprecated-verification-token",
            "team_id": self.team_id,
            "team_domain": "fake",
            "channel_id": channel_id,
            "channel_name": "directmessage" if channel_id.startswith("D") else "exports",
            "user_id": user_id,
            "user_name": user_id.lower(),
            "command": command,
            # Slack escapes these three in the text it sends, as in every message.
            "text": text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;"),
            "api_app_id": "A0FAKE",
            "is_enterprise_install": "false",
            "response_url": response_url,
            "trigger_id": trigger_id,
        }
        body = urllib.parse.urlencode(form).encode()
        return self._signed(body, timestamp, secret, trigger_id, response_url)

    def view_submission(
        self,
        view_id: str | None = None,
        values: Mapping[str, Any] | None = None,
        *,
        user_id: str | None = None,
        timestamp: int | None = None,
        secret: str | None = None,
    ) -> SignedRequest:
        """Build the signed request Slack sends when the user submits an opened modal.

        `values` maps block_id to what the user chose: a string (option value,
        text, `YYYY-MM-DD`), a list of option values, an int (datetimepicker
        epoch seconds), or None to clear. Untouched inputs keep their initial values.
        """
        opened = self.view(view_id)
        user_id = user_id or opened.user_id
        state = self._state(opened.view, values or {})
        trigger_id = self.issue_trigger(user_id)
        view = {
            **opened.view,
            "id": opened.id,
            "team_id": self.team_id,
            "hash": opened.hash,
            "root_view_id": opened.id,
            "app_id": "A0FAKE",
            "bot_id": "B0FAKE",
            "state": {"values": state},
        }
        payload = {
            "type": "view_submission",
            "team": {"id": self.team_id, "domain": "fake"},
            "user": {"id": user_id, "username": user_id.lower(), "team_id": self.team_id},
            "api_app_id": "A0FAKE",
            "token": "deprecated-verification-token",
            "trigger_id": trigger_id,
            "view": view,
            "response_urls": [],
            "is_enterprise_install": False,
        }
        body = urllib.parse.urlencode({"payload": json.dumps(payload)}).encode()
        return self._signed(body, timestamp, secret, trigger_id, None)

    # --- block_actions (button clicks; issue 14) ---------------------------------------

    def button_click(  # noqa: PLR0913  one keyword per field of the payload
        self,
        message: Posted,
        action_id: str,
        *,
        user_id: str = "U0ALICE",
        value: str | None = None,
        timestamp: int | None = None,
        secret: str | None = None,
    ) -> SignedRequest:
        """Build the signed `block_actions` request Slack sends when `user_id` clicks a button.

        The button is found in `message`'s blocks by `action_id` (its value sent
        unless `value` overrides it, as a forger would); the payload has the
        fields of Slack's documented block_actions payload: user, team,
        container (message ts, channel, ephemeral or not), channel, the message,
        a response_url and trigger_id minted here, and the one action.
        """
        button = next(
            (
                element
                for block in message.blocks
                if block.get("type") == "actions"
                for element in block.get("elements", [])
                if element.get("action_id") == action_id
            ),
            None,
        )
        if button is None:
            raise AssertionError(f"no button {action_id!r} in the message")
        trigger_id = self.issue_trigger(user_id)
        response_url = self.issue_response_url(message.channel, user_id)
        payload = {
            "type": "block_actions",
            "user": {"id": user_id, "username": user_id.lower(), "team_id": self.team_id},
            "api_app_id": "A0FAKE",
            "token": "deprecated-verification-token",
            "container": {
                "type": "message",
                "message_ts": message.ts,
                "channel_id": message.channel,
                "is_ephemeral": message.ephemeral_user is not None,
            },
            "trigger_id": trigger_id,
            "team": {"id": self.team_id, "domain": "fake"},
            "enterprise": None,
            "is_enterprise_install": False,
            "channel": {"id": message.channel, "name": "approvals"},
            "message": {"type": "message", "ts": message.ts, "text": message.text,
                        "blocks": message.blocks},
            "response_url": response_url,
            "actions": [
                {
                    "action_id": action_id,
                    "block_id": next(
                        b.get("block_id", "") for b in message.blocks if button in
                        b.get("elements", [])
                    ),
                    "value": button.get("value") if value is None else value,
                    "type": "button",
                    "text": button.get("text"),
                    "action_ts": f"{time.time():.6f}",
                }
            ],
        }  # fmt: skip
        body = urllib.parse.urlencode({"payload": json.dumps(payload)}).encode()
        return self._signed(body, timestamp, secret, trigger_id, response_url)

    def last_message_with(self, action_id: str) -> Posted:
        """Return the newest message or ephemeral (or response_url post) holding a button."""
        found = [
            m
            for m in [*self.messages, *self.ephemerals]
            if any(
                e.get("action_id") == action_id
                for b in m.blocks
                if b.get("type") == "actions"
                for e in b.get("elements", [])
            )
        ]
        if not found:
            raise AssertionError(f"no message with a {action_id!r} button")
        return max(found, key=lambda m: float(m.ts))

    # --- shortcuts (issue 16) ----------------------------------------------------------

    def global_shortcut(
        self,
        callback_id: str,
        *,
        user_id: str = "U0ALICE",
        enterprise_id: str | None = None,
        timestamp: int | None = None,
        secret: str | None = None,
    ) -> SignedRequest:
        """Build the signed request Slack sends when a user picks a global shortcut.

        It names no channel (a global shortcut is run from anywhere). With an
        `enterprise_id` it is an org-wide install's payload: `team` is null and
        the workspace is only in `user.team_id`.
        """
        trigger_id = self.issue_trigger(user_id)
        payload = {
            "type": "shortcut",
            "token": "deprecated-verification-token",
            "action_ts": f"{int(time.time())}.000200",
            "team": None if enterprise_id else {"id": self.team_id, "domain": "fake"},
            "user": {"id": user_id, "username": user_id.lower(), "team_id": self.team_id},
            "is_enterprise_install": enterprise_id is not None,
            "enterprise": {"id": enterprise_id, "name": "Fake Org"} if enterprise_id else None,
            "callback_id": callback_id,
            "trigger_id": trigger_id,
        }
        body = urllib.parse.urlencode({"payload": json.dumps(payload)}).encode()
        return self._signed(body, timestamp, secret, trigger_id, None)

    # --- delivery ----------------------------------------------------------------------

    async def deliver(self, url: str, request: SignedRequest) -> Delivery:
        """POST a request to the app as Slack does, giving up after Slack's 3 seconds."""
        headers = {"Content-Type": "application/x-www-form-urlencoded", **request.headers}
        started = time.monotonic()
        timeout = aiohttp.ClientTimeout(total=SLACK_ACK_SECONDS + 0.5)
        async with aiohttp.ClientSession(timeout=timeout) as session:
            try:
                async with session.post(url, data=request.body, headers=headers) as response:
                    text = await response.text()
                    delivery = Delivery(response.status, text, time.monotonic() - started)
            except TimeoutError:
                return Delivery(None, "", time.monotonic() - started)
        with contextlib.suppress(ValueError):
            self._check_ack("ack", delivery.json)
        return delivery

    def _state(
        self, view: Mapping[str, Any], values: Mapping[str, Any]
    ) -> dict[str, dict[str, Any]]:
        """Fill `view.state.values` the way Slack's client does: initial values, then edits."""
        state: dict[str, dict[str, Any]] = {}
        unknown = set(values) - {b.get("block_id") for b in view.get("blocks", ())}
        if unknown:
            raise KeyError(f"no input with block_id {sorted(unknown)}")
        for block in view.get("blocks", ()):
            if block.get("type") != "input":
                continue
            element = block["element"]
            block_id = block["block_id"]
            given = values.get(block_id, _UNTOUCHED)
            state[block_id] = {element["action_id"]: _element_state(element, given)}
        return state


_UNTOUCHED: Final = object()


def _element_state(element: Mapping[str, Any], given: Any) -> dict[str, Any]:
    kind = element["type"]
    out: dict[str, Any] = {"type": kind}
    options = {o["value"]: o for o in element.get("options", ())}
    if kind in {"static_select", "radio_buttons"}:
        if given is _UNTOUCHED:
            out["selected_option"] = element.get("initial_option")
        elif given is None:
            out["selected_option"] = None
        else:
            out["selected_option"] = options[given]  # a user can only pick offered options
    elif kind in {"multi_static_select", "checkboxes"}:
        if given is _UNTOUCHED:
            out["selected_options"] = list(element.get("initial_options", ()))
        else:
            out["selected_options"] = [options[v] for v in given or ()]
    elif kind in {"plain_text_input", "number_input"}:
        out["value"] = element.get("initial_value") if given is _UNTOUCHED else given
    elif kind == "datetimepicker":
        out["selected_date_time"] = (
            element.get("initial_date_time") if given is _UNTOUCHED else given
        )
    elif kind == "datepicker":
        out["selected_date"] = element.get("initial_date") if given is _UNTOUCHED else given
    elif kind == "conversations_select":
        # Untouched: the initial conversation (the current one is unknown to the fake).
        initial = element.get("initial_conversation")
        out["selected_conversation"] = initial if given is _UNTOUCHED else given
    else:
        raise ValueError(f"the fake does not know input element {kind!r}")
    return out
