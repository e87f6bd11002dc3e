"""The fake Slack's App Home rules, checked with the real slack_sdk client.

What the bot's Home tab relies on: views.publish refuses what Slack refuses in a
home view (type, block count, submit/close, metadata length, duplicate block
ids, Block Kit), needs a user id and an enabled Home tab, honours `hash`; the
`app_home_opened` event and a click in a home have the shape of Slack's payloads
(bolt-python's test payloads): a click has a view container, the view's id and
hash, a trigger id, and no response_url or channel.
"""

from __future__ import annotations

import json
import urllib.parse
from collections.abc import AsyncIterator
from typing import Any

import pytest
from slack_sdk.errors import SlackApiError
from slack_sdk.web.async_client import AsyncWebClient

from emulators.fake_slack import FakeSlack


def home(blocks: list[dict[str, Any]] | None = None, **extra: Any) -> dict[str, Any]:
    """A small home view with one button."""
    return {
        "type": "home",
        "blocks": blocks
        if blocks is not None
        else [
            {"type": "section", "text": {"type": "mrkdwn", "text": "Hi"}},
            {
                "type": "actions",
                "block_id": "b1",
                "elements": [
                    {
                        "type": "button",
                        "action_id": "go",
                        "value": "weekly",
                        "text": {"type": "plain_text", "text": "Go"},
                    }
                ],
            },
        ],
        **extra,
    }


@pytest.fixture
async def slack() -> AsyncIterator[FakeSlack]:
    """A fake Slack on loopback that leaves refusals to each test."""
    async with FakeSlack(check_block_kit=False) as fake:
        yield fake


def client(slack: FakeSlack) -> AsyncWebClient:
    """A slack_sdk client for the fake."""
    return AsyncWebClient(token=slack.bot_token, base_url=slack.api_url)


def payload(request_body: bytes) -> dict[str, Any]:
    """Return the JSON payload of a form-encoded interactivity request."""
    loaded = json.loads(dict(urllib.parse.parse_qsl(request_body.decode()))["payload"])
    assert isinstance(loaded, dict)
    return loaded


async def test_publish_keeps_the_home_and_answers_with_its_id_and_hash(slack: FakeSlack) -> None:
    """A good home is published for the user; a second publish keeps the id, changes the hash."""
    first = await client(slack).views_publish(user_id="U0ALICE", view=home())
    second = await client(slack).views_publish(user_id="U0ALICE", view=home())

    assert first["view"]["type"] == "home"
    assert first["view"]["id"] == second["view"]["id"]
    assert first["view"]["hash"] != second["view"]["hash"]
    assert slack.home.of("U0ALICE").hash == second["view"]["hash"]
    assert len(slack.home.published) == 2


@pytest.mark.parametrize(
    ("view", "complaint"),
    [
        ({**home(), "type": "modal"}, "view.type must be home"),
        (home(submit={"type": "plain_text", "text": "Go"}), "no submit"),
        (home(close={"type": "plain_text", "text": "No"}), "no close"),
        (home(private_metadata="x" * 3001), "private_metadata"),
        (
            home([{"type": "section", "text": {"type": "mrkdwn", "text": "x"}}] * 101),
            "at most 100 blocks",
        ),
        (
            home([{"type": "divider", "block_id": "d"}, {"type": "divider", "block_id": "d"}]),
            "duplicate block_id d",
        ),
        (
            home([{"type": "section", "text": {"type": "mrkdwn", "text": "x" * 3001}}]),
            "3000",
        ),
        (
            home(
                [
                    {
                        "type": "actions",
                        "elements": [
                            {
                                "type": "button",
                                "action_id": "a",
                                "text": {"type": "plain_text", "text": "x"},
                            },
                            {
                                "type": "button",
                                "action_id": "a",
                                "text": {"type": "plain_text", "text": "y"},
                            },
                        ],
                    }
                ]
            ),
            "action_ids must be unique",
        ),
    ],
)
async def test_publish_refuses_what_slack_refuses_in_a_home(
    slack: FakeSlack, view: dict[str, Any], complaint: str
) -> None:
    """Each rule of a home view refuses the publish with invalid_arguments, and says why."""
    with pytest.raises(SlackApiError) as refused:
        await client(slack).views_publish(user_id="U0ALICE", view=view)

    assert refused.value.response["error"] == "invalid_arguments"
    assert any(complaint in r for r in slack.refusals), slack.refusals
    assert not slack.home.has("U0ALICE")


async def test_publish_needs_a_user_an_enabled_tab_and_the_current_hash(slack: FakeSlack) -> None:
    """No user_id, a Home tab not enabled, or a stale hash: Slack's own errors."""
    web = client(slack)
    with pytest.raises(SlackApiError) as no_user:
        await web.api_call("views.publish", json={"view": home()})
    published = await web.views_publish(user_id="U0ALICE", view=home())
    with pytest.raises(SlackApiError) as stale:
        await web.views_publish(user_id="U0ALICE", view=home(), hash="1.stale")
    await web.views_publish(user_id="U0ALICE", view=home(), hash=published["view"]["hash"])
    slack.home.enabled = False
    with pytest.raises(SlackApiError) as disabled:
        await web.views_publish(user_id="U0ALICE", view=home())

    assert no_user.value.response["error"] == "invalid_arguments"
    assert stale.value.response["error"] == "hash_conflict"
    assert disabled.value.response["error"] == "not_enabled"


async def test_app_home_opened_is_a_signed_event_callback_with_the_home(slack: FakeSlack) -> None:
    """The event names the user, their DM, the tab, and the home once one was published."""
    before = json.loads(slack.home.opened("U0ALICE").body)
    await client(slack).views_publish(user_id="U0ALICE", view=home())
    request = slack.home.opened("U0ALICE")
    after = json.loads(request.body)

    assert request.headers["Content-Type"] == "application/json"
    assert request.headers["X-Slack-Signature"].startswith("v0=")
    assert after["type"] == "event_callback"
    assert {"token", "team_id", "api_app_id", "event_id", "event_time", "authorizations"} <= set(
        after
    )
    event = after["event"]
    assert (event["type"], event["user"], event["tab"]) == ("app_home_opened", "U0ALICE", "home")
    assert event["channel"] == slack.dm_with("U0ALICE")
    assert "view" not in before["event"]
    assert event["view"]["id"] == slack.home.of("U0ALICE").id
    assert event["view"]["type"] == "home"


async def test_click_in_a_home_has_a_view_container_and_no_reply_url(slack: FakeSlack) -> None:
    """A click names the view (id, hash), carries a trigger id, and no response_url or channel."""
    await client(slack).views_publish(user_id="U0ALICE", view=home())
    published = slack.home.of("U0ALICE")
    first = payload(slack.home.click("go", value="weekly").body)
    second = payload(slack.home.click("go", value="weekly").body)
    forged = payload(slack.home.click("go", forged_value="other").body)

    assert first["type"] == "block_actions"
    assert first["container"] == {"type": "view", "view_id": published.id}
    assert first["view"]["hash"] == second["view"]["hash"] == published.hash
    assert first["trigger_id"] != second["trigger_id"]
    assert "response_url" not in first
    assert "channel" not in first
    (action,) = first["actions"]
    assert (action["action_id"], action["block_id"], action["value"]) == ("go", "b1", "weekly")
    assert forged["actions"][0]["value"] == "other"


async def test_click_on_a_button_the_home_does_not_have_fails_the_test(slack: FakeSlack) -> None:
    """A test cannot click what the user does not see."""
    await client(slack).views_publish(user_id="U0ALICE", view=home())

    with pytest.raises(AssertionError, match="no button"):
        slack.home.click("go", value="missing")
    with pytest.raises(AssertionError, match="no home"):
        slack.home.click("go", user_id="U0BOB")
