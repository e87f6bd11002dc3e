"""Who sent a Slack payload, and from which workspace, for every payload shape the app may get.

The shapes are those of bolt-python's own tests (`tests/slack_bolt/request/
test_internals.py`: a slash command, a block action, a dialog submission, a
global shortcut with and without an org, an event of an org-wide install in
`tests/scenario_tests/test_events_org_apps.py`) and the org-wide
interactivity payload whose `team` is null, as `extract_team_id` in
`slack_bolt/request/internals.py` documents it.
"""

from __future__ import annotations

from typing import Any

import pytest

from bot.domain.types import Actor
from bot.entrypoints.slack_payloads import actor_from, channel_of, enterprise_of, team_of, user_of

SLASH = {
    "command": "/hello",
    "channel_id": "C111",
    "team_id": "T111",
    "enterprise_id": "E111",
    "user_id": "U111",
}
SLASH_ORG_WIDE = {**SLASH, "is_enterprise_install": "true", "enterprise_name": "Org"}
BLOCK_ACTION = {
    "type": "block_actions",
    "actions": [{}],
    "channel": {"id": "C111"},
    "user": {"id": "U111"},
    "team": {"id": "T111", "enterprise_id": "E111"},
}
BLOCK_ACTION_IN_CONTAINER = {
    "type": "block_actions",
    "user": {"id": "W99999", "username": "primary-owner", "team_id": "T111"},
    "container": {"type": "message", "message_ts": "111.222", "channel_id": "C111"},
    "team": {"id": "T111", "domain": "workspace-domain", "enterprise_id": "E111"},
}
DIALOG = {
    "type": "dialog_submission",
    "channel": {"id": "C111"},
    "user": {"id": "U111"},
    "team": {"id": "T111", "enterprise_id": "E111"},
}
SHORTCUT = {
    "type": "shortcut",
    "team": {"id": "T111", "domain": "ddd"},
    "user": {"id": "U111", "username": "use", "team_id": "T111"},
    "is_enterprise_install": False,
    "enterprise": {"id": "E111", "domain": "eee"},
    "callback_id": "run-socket-mode",
}
SHORTCUT_NO_ORG = {**SHORTCUT, "enterprise": None}  # "null" in Socket Mode
VIEW_ORG_WIDE = {
    "type": "view_submission",
    "team": None,  # org-wide install: the workspace is only on the user
    "user": {"id": "W111", "username": "primary-owner", "team_id": "T222"},
    "enterprise": {"id": "E111", "name": "Sandbox Org"},
    "is_enterprise_install": True,
    "view": {"id": "V111", "team_id": "T222", "app_installed_team_id": "E111"},
}
VIEW_ORG_WIDE_VIEW_ONLY = {
    "type": "view_submission",
    "team": None,
    "user": {"id": "W111"},
    "enterprise": {"id": "E111"},
    "view": {"id": "V111", "team_id": "T333"},
}
ORG_ONLY = {"type": "view_submission", "team": None, "user": {"id": "W111"}, "enterprise": "E111"}
ORG_EVENT = {
    "team_id": "T111",
    "enterprise_id": "E111",
    "event": {"type": "app_mention", "user": "W222", "team": "T111", "channel": "C111"},
    "type": "event_callback",
    "authorizations": [{"enterprise_id": "E111", "team_id": None, "is_enterprise_install": True}],
}
NESTED_EVENT_ONLY = {"event": {"user": "U111", "team": "T111", "channel": "C111"}}


@pytest.mark.parametrize(
    ("payload", "team", "enterprise", "user", "channel"),
    [
        (SLASH, "T111", "E111", "U111", "C111"),
        (SLASH_ORG_WIDE, "T111", "E111", "U111", "C111"),
        (BLOCK_ACTION, "T111", "E111", "U111", "C111"),
        (BLOCK_ACTION_IN_CONTAINER, "T111", "E111", "W99999", "C111"),
        (DIALOG, "T111", "E111", "U111", "C111"),
        (SHORTCUT, "T111", "E111", "U111", ""),
        (SHORTCUT_NO_ORG, "T111", "", "U111", ""),
        (VIEW_ORG_WIDE, "T222", "E111", "W111", ""),
        (VIEW_ORG_WIDE_VIEW_ONLY, "T333", "E111", "W111", ""),
        (ORG_ONLY, "E111", "E111", "W111", ""),
        (ORG_EVENT, "T111", "E111", "W222", "C111"),
        (NESTED_EVENT_ONLY, "T111", "", "U111", "C111"),
        ({}, "", "", "", ""),
    ],
)
def test_sender_is_read_from_where_slack_puts_it(
    payload: dict[str, Any], team: str, enterprise: str, user: str, channel: str
) -> None:
    """Workspace, org, user and channel come from wherever this payload type carries them."""
    assert (team_of(payload), enterprise_of(payload), user_of(payload), channel_of(payload)) == (
        team,
        enterprise,
        user,
        channel,
    )


def test_the_workspace_is_the_users_not_the_installations() -> None:
    """A modal opened from a Slack Connect channel names the installing org too: the user's wins."""
    assert team_of(VIEW_ORG_WIDE) == "T222"  # not view.app_installed_team_id (E111)
    assert team_of(ORG_EVENT) == "T111"  # not authorizations[0].team_id (null)


def test_actor_of_a_form_takes_the_channel_it_was_opened_in() -> None:
    """A view submission has no channel: the form's own metadata names it."""
    assert actor_from(VIEW_ORG_WIDE, "modal", channel_id="C0EXPORTS") == Actor(
        "T222", "W111", "C0EXPORTS", "modal"
    )
    assert actor_from(SLASH, "slash") == Actor("T111", "U111", "C111", "slash")


@pytest.mark.parametrize("payload", [{}, {"user_id": "U1"}, {"channel_id": "C1"}, SHORTCUT])
def test_a_payload_without_user_or_channel_is_not_an_actor(payload: dict[str, Any]) -> None:
    """No user, or no channel and none given: a clear ValueError, never a KeyError."""
    with pytest.raises(ValueError, match="names no user or no channel"):
        actor_from(payload, "slash")
