"""The fake Slack's Workflow step rules, checked with the real slack_sdk client.

What the bot's step relies on: the event's shape (bolt-python's own test
payload), the workflow token living only as long as its execution, a step
completed at most once with the outputs its definition requires, permalinks
only for messages that exist, and global shortcuts naming no channel.
"""

from __future__ import annotations

import json
import time
import urllib.parse
from collections.abc import AsyncIterator

import pytest
import yaml
from slack_sdk.errors import SlackApiError
from slack_sdk.web.async_client import AsyncWebClient

from emulators.fake_slack import MANIFEST, FakeSlack
from emulators.fake_slack import workflow as workflow_module

STEP = {
    "callback_id": "hss_container_export",
    **yaml.safe_load(MANIFEST.read_text(encoding="utf-8"))["functions"]["hss_container_export"],
}
OUTPUTS = {"task_id": "t1", "file_name": "f.xlsx", "permalink": "https://x"}


@pytest.fixture
async def slack() -> AsyncIterator[FakeSlack]:
    """A fake Slack on loopback."""
    async with FakeSlack() as fake:
        yield fake


def event_of(slack: FakeSlack, **kwargs: object) -> dict[str, object]:
    """Return the body of a new function_executed event (and start its execution)."""
    body = json.loads(slack.function_executed({"user_id": "U0ALICE"}, function=STEP, **kwargs).body)
    assert isinstance(body, dict)
    return body


async def test_event_has_the_shape_of_bolts_test_payload(slack: FakeSlack) -> None:
    """The event carries bolt-python's fields: function, inputs, execution id, workflow token."""
    request = slack.function_executed({"user_id": "U0ALICE"}, function=STEP)
    body = json.loads(request.body)
    event = body["event"]

    assert request.headers["Content-Type"] == "application/json"
    assert body["type"] == "event_callback"
    assert {"token", "team_id", "api_app_id", "event_id", "event_time"} <= set(body)
    assert event["type"] == "function_executed"
    assert event["function"]["callback_id"] == "hss_container_export"
    assert event["inputs"] == {"user_id": "U0ALICE"}
    assert event["function_execution_id"].startswith("Fx")
    assert event["bot_access_token"].startswith("xwfp-")
    required = {p["name"] for p in event["function"]["input_parameters"] if p["is_required"]}
    assert required == {"user_id", "channel_id"}


async def test_a_retry_repeats_the_event_id_and_execution(slack: FakeSlack) -> None:
    """The same execution sent again keeps its event id and token (a Slack retry)."""
    first = event_of(slack)
    event = first["event"]
    assert isinstance(event, dict)
    again = event_of(slack, execution_id=event["function_execution_id"])

    assert again["event_id"] == first["event_id"]
    assert again["event"] == {**event, "event_ts": again["event"]["event_ts"]}  # type: ignore[index]


async def test_completion_takes_the_required_outputs_once(slack: FakeSlack) -> None:
    """completeSuccess refuses missing outputs, then succeeds once; a second call is refused."""
    event = event_of(slack)["event"]
    assert isinstance(event, dict)
    execution = str(event["function_execution_id"])
    bot = AsyncWebClient(token=slack.bot_token, base_url=slack.api_url)

    with pytest.raises(SlackApiError, match="parameter_validation_failed"):
        await bot.functions_completeSuccess(function_execution_id=execution, outputs={"x": "1"})
    await bot.functions_completeSuccess(function_execution_id=execution, outputs=OUTPUTS)
    with pytest.raises(SlackApiError, match="execution_not_in_running_state"):
        await bot.functions_completeError(function_execution_id=execution, error="late")

    (completion,) = slack.completions_of(execution)
    assert (completion.method, completion.outputs, completion.token) == (
        "functions.completeSuccess",
        OUTPUTS,
        "bot",
    )


async def test_workflow_token_works_only_while_its_execution_runs(slack: FakeSlack) -> None:
    """The event's xwfp token may fail its step, and is refused once the step has ended."""
    event = event_of(slack)["event"]
    assert isinstance(event, dict)
    workflow = AsyncWebClient(token=str(event["bot_access_token"]), base_url=slack.api_url)
    execution = str(event["function_execution_id"])

    with pytest.raises(SlackApiError, match="invalid_auth"):
        await workflow.chat_postMessage(channel="C0EXPORTS", text="not for this token")
    await workflow.functions_completeError(function_execution_id=execution, error="no")
    with pytest.raises(SlackApiError, match="invalid_auth"):
        await workflow.functions_completeError(function_execution_id=execution, error="again")

    assert [c.token for c in slack.completions_of(execution)] == ["workflow"]


async def test_unknown_execution_and_message_are_refused(slack: FakeSlack) -> None:
    """completeSuccess of an unknown execution, and a permalink of no message, are refused."""
    bot = AsyncWebClient(token=slack.bot_token, base_url=slack.api_url)

    with pytest.raises(SlackApiError, match="function_execution_not_found"):
        await bot.functions_completeSuccess(function_execution_id="Fx0NONE", outputs=OUTPUTS)
    with pytest.raises(SlackApiError, match="message_not_found"):
        await bot.chat_getPermalink(channel="C0EXPORTS", message_ts="1.000001")
    posted = await bot.chat_postMessage(channel="C0EXPORTS", text="hello")
    link = await bot.chat_getPermalink(channel="C0EXPORTS", message_ts=posted["ts"])

    assert (
        link["permalink"]
        == f"https://fake.slack.com/archives/C0EXPORTS/p{posted['ts'].replace('.', '')}"
    )


async def test_global_shortcut_names_no_channel_and_org_installs_no_team(slack: FakeSlack) -> None:
    """A global shortcut payload has no channel; from an org-wide install its team is null."""
    local = json.loads(
        urllib.parse.parse_qs(slack.global_shortcut("cb").body.decode())["payload"][0]
    )
    org = slack.global_shortcut("cb", enterprise_id="E0ORG")
    org_payload = json.loads(urllib.parse.parse_qs(org.body.decode())["payload"][0])

    assert local["type"] == "shortcut"
    assert "channel" not in local
    assert local["team"]["id"] == slack.team_id
    assert org_payload["team"] is None
    assert org_payload["user"]["team_id"] == slack.team_id
    assert org_payload["enterprise"]["id"] == "E0ORG"


async def test_a_retry_a_second_later_is_the_same_event(
    slack: FakeSlack, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Slack resends the event it sent: a retry crossing a second keeps event_time and the
    function's dates (the flaky failure of the test above, made certain)."""
    first = event_of(slack)
    event = first["event"]
    assert isinstance(event, dict)
    later = time.time() + 1.0
    monkeypatch.setattr(workflow_module.time, "time", lambda: later)
    again = event_of(slack, execution_id=event["function_execution_id"])

    assert again["event_time"] == first["event_time"]
    assert again["event"] == {**event, "event_ts": again["event"]["event_ts"]}  # type: ignore[index]
