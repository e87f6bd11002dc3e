"""The fake Slack holds Slack's rules the bot depends on, checked with the real slack_sdk client."""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import AsyncIterator

import pytest
from slack_sdk.errors import SlackApiError
from slack_sdk.web.async_client import AsyncWebClient
from slack_sdk.webhook.async_client import AsyncWebhookClient

from emulators.fake_slack import FakeSlack, sign

MODAL = {
    "type": "modal",
    "title": {"type": "plain_text", "text": "Test"},
    "blocks": [
        {
            "type": "input",
            "block_id": "b",
            "label": {"type": "plain_text", "text": "B"},
            "element": {"type": "plain_text_input", "action_id": "v"},
        }
    ],
}


@pytest.fixture
async def slack() -> AsyncIterator[FakeSlack]:
    """A fake Slack on loopback."""
    async with FakeSlack() as fake:
        yield fake


@pytest.fixture
def client(slack: FakeSlack) -> AsyncWebClient:
    """slack_sdk's async client pointed at the fake with the right bot token."""
    return AsyncWebClient(token=slack.bot_token, base_url=slack.api_url)


async def test_file_upload_flow_records_bytes_and_thread(
    slack: FakeSlack, client: AsyncWebClient
) -> None:
    """files_upload_v2 (URL, bytes, complete) lands one file with its bytes, channel and thread."""
    data = bytes(range(256)) * 1000

    await client.files_upload_v2(
        channel="C1", thread_ts="171.000001", filename="export.xlsx", content=data, title="Export"
    )

    (uploaded,) = slack.files
    assert (uploaded.filename, uploaded.title) == ("export.xlsx", "Export")
    assert (uploaded.channel_id, uploaded.thread_ts) == ("C1", "171.000001")
    assert uploaded.size == len(data)
    assert uploaded.sha256 == hashlib.sha256(data).hexdigest()


async def test_wrong_token_is_refused(slack: FakeSlack) -> None:
    """A call with another token gets invalid_auth."""
    client = AsyncWebClient(token="xoxb-someone-else", base_url=slack.api_url)

    with pytest.raises(SlackApiError) as caught:
        await client.chat_postMessage(channel="C1", text="hi")

    assert caught.value.response["error"] == "invalid_auth"
    assert slack.messages == []


@pytest.mark.parametrize(
    ("trigger", "error"),
    [("unknown", "invalid_trigger_id"), ("used", "exchanged_trigger_id")],
)
async def test_views_open_needs_a_fresh_unused_trigger(
    slack: FakeSlack, client: AsyncWebClient, trigger: str, error: str
) -> None:
    """views.open refuses unknown and already used trigger_ids."""
    trigger_id = "nope"
    if trigger == "used":
        trigger_id = slack.issue_trigger("U1")
        await client.views_open(trigger_id=trigger_id, view=MODAL)

    with pytest.raises(SlackApiError) as caught:
        await client.views_open(trigger_id=trigger_id, view=MODAL)

    assert caught.value.response["error"] == error


async def test_views_open_refuses_an_expired_trigger() -> None:
    """A trigger_id older than Slack's 3 seconds cannot open a view."""
    async with FakeSlack(trigger_ttl=-1) as slack:
        client = AsyncWebClient(token=slack.bot_token, base_url=slack.api_url)
        with pytest.raises(SlackApiError) as caught:
            await client.views_open(trigger_id=slack.issue_trigger("U1"), view=MODAL)

    assert caught.value.response["error"] == "expired_trigger_id"


async def test_views_open_checks_block_kit_rules(slack: FakeSlack, client: AsyncWebClient) -> None:
    """A view Slack would reject (title too long, duplicate block_id) is rejected."""
    bad = {**MODAL, "title": {"type": "plain_text", "text": "x" * 25}}
    bad["blocks"] = MODAL["blocks"] * 2

    with pytest.raises(SlackApiError) as caught:
        await client.views_open(trigger_id=slack.issue_trigger("U1"), view=bad)

    messages = caught.value.response["response_metadata"]["messages"]
    assert any("title" in m for m in messages)
    assert any("duplicate block_id" in m for m in messages)


async def test_response_url_takes_five_posts(slack: FakeSlack) -> None:
    """A response_url accepts five messages, then answers 404 like Slack's expired hooks."""
    webhook = AsyncWebhookClient(slack.issue_response_url("C1", "U1"))

    statuses = [(await webhook.send(text=f"m{i}")).status_code for i in range(6)]

    assert statuses == [200] * 5 + [404]
    assert [r.body["text"] for r in slack.responses] == [f"m{i}" for i in range(5)]


def test_signature_is_slacks_v0_hmac() -> None:
    """`sign` computes v0=HMAC-SHA256(secret, "v0:{ts}:{body}"), as Slack documents."""
    headers = sign("secret", b"a=1", 1700000000)

    expected = hmac.new(b"secret", b"v0:1700000000:a=1", hashlib.sha256).hexdigest()
    assert headers == {
        "X-Slack-Request-Timestamp": "1700000000",
        "X-Slack-Signature": f"v0={expected}",
    }
