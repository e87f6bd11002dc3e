"""Posting to Slack one way: where a message landed, and each failure named, never the token."""

from __future__ import annotations

import socket
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import pytest
from slack_sdk.web.async_client import AsyncWebClient

from bot.adapters import slack_web
from bot.adapters.slack_notifier import build_web_client, build_webhook
from bot.domain.blocks import Message
from bot.domain.errors import DeliveryError, DeliveryRefused, DeliveryUnavailable
from bot.settings import Settings
from emulators.fake_slack import FakeSlack

MESSAGE = Message(
    "HSS export task t1", [{"type": "section", "text": {"type": "mrkdwn", "text": "hi"}}]
)


@pytest.fixture
async def slack() -> AsyncIterator[FakeSlack]:
    """A fake Slack Web API on loopback."""
    async with FakeSlack() as fake:
        yield fake


def client_for(slack: FakeSlack, api_url: str | None = None) -> AsyncWebClient:
    """Return the Web API client the bot builds from settings (retry handlers included)."""
    settings = Settings(
        _env_file=None, SLACK_BOT_TOKEN=slack.bot_token, SLACK_API_URL=api_url or slack.api_url
    )
    return build_web_client(settings)


async def test_a_post_says_where_it_landed(slack: FakeSlack) -> None:
    """A channel post returns its ts; a post to a user id returns the DM's `D…` id for threads."""
    client = client_for(slack)

    in_channel = await slack_web.post_message(client, "C0EXPORTS", MESSAGE)
    in_dm = await slack_web.post_message(client, "U0ALICE", MESSAGE, thread_ts=None)

    (posted,) = slack.messages_in("C0EXPORTS")
    assert in_channel == slack_web.Posted("C0EXPORTS", posted.ts)
    assert in_dm.channel_id == slack.dm_with("U0ALICE")


async def test_an_update_replaces_the_text_and_blocks(slack: FakeSlack) -> None:
    """`chat.update` gets the new text and blocks of the message it names."""
    client = client_for(slack)
    posted = await slack_web.post_message(client, "C0EXPORTS", Message("old", []))
    assert posted.ts is not None

    await slack_web.update_message(client, "C0EXPORTS", posted.ts, MESSAGE)

    (message,) = slack.messages_in("C0EXPORTS")
    assert (message.text, message.blocks) == (MESSAGE.text, MESSAGE.blocks)


def _post(client: AsyncWebClient) -> Awaitable[Any]:
    return slack_web.post_message(client, "C0EXPORTS", MESSAGE)


def _update(client: AsyncWebClient) -> Awaitable[Any]:
    return slack_web.update_message(client, "C0EXPORTS", "1.000001", MESSAGE)


def _ephemeral(client: AsyncWebClient) -> Awaitable[Any]:
    return slack_web.post_ephemeral(client, "C0EXPORTS", "U0ALICE", MESSAGE)


CALLS = [
    pytest.param("chat.postMessage", _post, id="post"),
    pytest.param("chat.update", _update, id="update"),
    pytest.param("chat.postEphemeral", _ephemeral, id="ephemeral"),
]
FAULTS = [
    pytest.param({"error": "not_in_channel"}, DeliveryRefused, "not_in_channel", id="not-in"),
    pytest.param({"error": "channel_not_found"}, DeliveryRefused, "channel_not_found", id="gone"),
    pytest.param({"error": "invalid_auth"}, DeliveryRefused, "invalid_auth", id="bad-token"),
    pytest.param({"error": "internal_error"}, DeliveryUnavailable, "internal_error", id="not-now"),
    pytest.param({"status": 429, "times": 9}, DeliveryUnavailable, "ratelimited", id="rate-limit"),
    pytest.param({"status": 503}, DeliveryUnavailable, "HTTP 503", id="bare-5xx"),
]  # fmt: skip


@pytest.mark.parametrize(("method", "call"), CALLS)
@pytest.mark.parametrize(("fault", "error", "code"), FAULTS)
async def test_slack_failures_become_delivery_errors_with_slack_code(
    slack: FakeSlack,
    method: str,
    call: Callable[[AsyncWebClient], Awaitable[Any]],
    fault: dict[str, Any],
    error: type[DeliveryError],
    code: str,
) -> None:
    """ "No" is refused, "not now" unavailable; either names Slack's code and never the token."""
    slack.fail(method, **fault)

    with pytest.raises(error) as caught:
        await call(client_for(slack))

    assert caught.value.code == code
    assert method in str(caught.value)
    assert slack.bot_token not in str(caught.value)


async def test_an_unreachable_slack_is_unavailable_and_named(slack: FakeSlack) -> None:
    """Nothing listening at SLACK_API_URL: unavailable (retry later), naming the failure's type."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        closed = f"http://127.0.0.1:{probe.getsockname()[1]}/api/"
    with pytest.raises(DeliveryUnavailable) as caught:
        await _post(client_for(slack, closed))

    assert "could not be reached for chat.postMessage" in str(caught.value)
    assert caught.value.code == "ClientConnectorError"
    assert slack.bot_token not in str(caught.value)


async def test_a_response_url_post_arrives(slack: FakeSlack) -> None:
    """A command's response_url takes the message with its response type."""
    url = slack.issue_response_url("C0EXPORTS", "U0ALICE")

    await slack_web.send_to_response_url(build_webhook(url), MESSAGE, "in_channel")

    (response,) = slack.responses
    assert (response.response_type, response.body["text"]) == ("in_channel", MESSAGE.text)


@pytest.mark.parametrize(
    ("break_it", "error", "code"),
    [
        pytest.param("expired", DeliveryRefused, "HTTP 404", id="expired-url"),
        pytest.param("broken", DeliveryUnavailable, "HTTP 500", id="slack-5xx"),
    ],
)
async def test_response_url_failures_are_named_by_status_without_the_url(
    slack: FakeSlack, break_it: str, error: type[DeliveryError], code: str
) -> None:
    """An expired response_url is refused, a 5xx unavailable; the URL (a secret) is not shown."""
    url = slack.issue_response_url("C0EXPORTS", "U0ALICE")
    if break_it == "expired":
        url += "-unknown"
    else:
        slack.response_urls_broken = True

    with pytest.raises(error) as caught:
        await slack_web.send_to_response_url(build_webhook(url), MESSAGE, "ephemeral")

    assert caught.value.code == code
    assert url not in str(caught.value)
