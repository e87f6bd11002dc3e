"""The fake Slack holds Slack's rules the bot depends on, checked with the real slack_sdk client."""

from __future__ import annotations

import contextlib
import hashlib
import hmac
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any, Final

import aiohttp
import pytest
import yaml
from slack_harness import ALICE, EXPORTS, start_runtime, wait_for
from slack_sdk.errors import SlackApiError
from slack_sdk.web.async_client import AsyncWebClient
from slack_sdk.webhook.async_client import AsyncWebhookClient

from emulators.fake_hss import FakeHss
from emulators.fake_slack import MANIFEST, FakeSlack, Posted, manifest_scopes, sign

MiB = 1024 * 1024

VALID = "status=running risky=yes"
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


@pytest.mark.parametrize("keep_bytes", [True, False])
async def test_file_upload_flow_records_the_share_with_size_hash_and_thread(
    keep_bytes: bool,
) -> None:
    """files_upload_v2 of 3 MiB lands one file, hashed; its bytes are kept only if asked."""
    data = bytes(range(256)) * (3 * MiB // 256)  # past aiohttp's 1 MiB body limit
    async with FakeSlack(keep_bytes=keep_bytes) as slack:
        client = AsyncWebClient(token=slack.bot_token, base_url=slack.api_url)
        await client.files_upload_v2(
            channel="C1",
            thread_ts="171.000001",
            filename="export.xlsx",
            content=data,
            title="Export",
            initial_comment="here",
        )

    (uploaded,) = slack.files
    assert (uploaded.filename, uploaded.title, uploaded.initial_comment) == (
        "export.xlsx",
        "Export",
        "here",
    )
    assert (uploaded.channel_id, uploaded.thread_ts) == ("C1", "171.000001")
    assert (uploaded.size, uploaded.sha256) == (len(data), hashlib.sha256(data).hexdigest())
    assert uploaded.data == (data if keep_bytes else None)


async def _upload(slack: FakeSlack, client: AsyncWebClient, length: int, data: bytes) -> str:
    """Get an upload URL announcing `length` bytes, send `data` to it; return the file id."""
    slot = await client.files_getUploadURLExternal(filename="x.csv", length=length)
    async with aiohttp.ClientSession() as session, session.post(slot["upload_url"], data=data):
        pass
    return str(slot["file_id"])


@pytest.mark.parametrize(
    ("length", "sent", "channel", "file_id", "error"),
    [
        pytest.param(5, b"12345", "C1", "F-unknown", "file_not_found", id="unknown-file"),
        pytest.param(5, None, "C1", None, "file_not_found", id="nothing-uploaded"),
        pytest.param(9, b"12345", "C1", None, "file_size_mismatch", id="short-upload"),
        pytest.param(5, b"12345", "D0SOMEONE", None, "channel_not_found", id="foreign-dm"),
        pytest.param(5, b"12345", "C0GONE", None, "channel_not_found", id="channel-error"),
    ],
)
async def test_complete_upload_refuses_what_slack_refuses(
    slack: FakeSlack,
    client: AsyncWebClient,
    length: int,
    sent: bytes | None,
    channel: str,
    file_id: str | None,
    error: str,
) -> None:
    """completeUploadExternal refuses unknown or unsent files, wrong sizes, bad channels."""
    slack.channel_errors["C0GONE"] = "channel_not_found"
    if sent is None:
        slot = await client.files_getUploadURLExternal(filename="x.csv", length=length)
        uploaded = str(slot["file_id"])
    else:
        uploaded = await _upload(slack, client, length, sent)

    with pytest.raises(SlackApiError) as caught:
        await client.files_completeUploadExternal(
            files=[{"id": file_id or uploaded}], channel_id=channel
        )

    assert caught.value.response["error"] == error
    assert slack.files == []


async def test_files_info_says_where_a_file_is_shared(
    slack: FakeSlack, client: AsyncWebClient
) -> None:
    """files.info lists the channels a file was shared in: none before the share, one after."""
    file_id = await _upload(slack, client, 3, b"abc")
    before = (await client.files_info(file=file_id))["file"]
    await client.files_completeUploadExternal(
        files=[{"id": file_id}], channel_id="C1", thread_ts="5.000001"
    )
    after = (await client.files_info(file=file_id))["file"]

    assert (before["channels"], before["shares"]) == ([], {})
    assert after["channels"] == ["C1"]
    [share] = after["shares"]["public"]["C1"]
    assert share["thread_ts"] == "5.000001"


@pytest.mark.parametrize(
    ("files_info", "file_id", "status", "error"),
    [
        pytest.param(True, "F-unknown", 200, "file_not_found", id="unknown-file"),
        pytest.param(False, None, 404, "unknown_method", id="slack-cannot-say"),
    ],
)
async def test_files_info_refuses_unknown_files_or_when_disabled(
    files_info: bool, file_id: str | None, status: int, error: str
) -> None:
    """files.info answers file_not_found for a file it never saw; disabled, it is unknown."""
    async with FakeSlack(files_info=files_info) as slack:
        client = AsyncWebClient(token=slack.bot_token, base_url=slack.api_url)
        uploaded = await _upload(slack, client, 3, b"abc")
        with pytest.raises(SlackApiError) as caught:
            await client.files_info(file=file_id or uploaded)

    assert (caught.value.response.status_code, caught.value.response["error"]) == (status, error)


# --- scopes ---------------------------------------------------------------------------------

MANIFEST_SCOPES = ("commands", "chat:write", "files:write", "files:read", "usergroups:read")


@pytest.mark.parametrize(
    ("method", "params", "needed"),
    [
        ("chat.postMessage", {"channel": "C1", "text": "hi"}, "chat:write"),
        ("chat.postEphemeral", {"channel": "C1", "user": "U1", "text": "hi"}, "chat:write"),
        ("chat.update", {"channel": "C1", "ts": "1.000001", "text": "hi"}, "chat:write"),
        ("files.getUploadURLExternal", {"filename": "x.csv", "length": 3}, "files:write"),
        ("files.completeUploadExternal", {"files": '[{"id": "F1"}]'}, "files:write"),
        ("files.info", {"file": "F1"}, "files:read"),
        ("usergroups.users.list", {"usergroup": "S1"}, "usergroups:read"),
    ],
)
async def test_a_method_without_its_scope_is_refused_as_slack_does(
    method: str, params: dict[str, Any], needed: str
) -> None:
    """Lacking the scope a method needs gives missing_scope naming it and what was granted."""
    granted = [scope for scope in MANIFEST_SCOPES if scope != needed]
    async with FakeSlack(scopes=granted) as slack:
        client = AsyncWebClient(token=slack.bot_token, base_url=slack.api_url)
        with pytest.raises(SlackApiError) as caught:
            await client.api_call(method, data=params)

    assert caught.value.response.data == {
        "ok": False,
        "error": "missing_scope",
        "needed": needed,
        "provided": ",".join(granted),
    }
    assert (slack.messages, slack.ephemerals, slack.files) == ([], [], [])


async def test_methods_that_need_no_bot_scope_work_with_none_granted() -> None:
    """auth.test and views.open answer a bot with no scopes at all."""
    async with FakeSlack(scopes=()) as slack:
        client = AsyncWebClient(token=slack.bot_token, base_url=slack.api_url)
        who = await client.auth_test()
        opened = await client.views_open(trigger_id=slack.issue_trigger("U1"), view=MODAL)

    assert who["user_id"] == slack.bot_user_id
    assert opened["view"]["id"] == slack.view().id


MANIFEST_VARIANTS = {
    "block-list-indented": """
oauth_config:
  scopes:
    bot:
      - commands
      - chat:write
""",
    "block-list-at-its-key's-indent": """
oauth_config:
  scopes:
    bot:
    - commands # why
    - 'files:read'
    user:
    - search:read
""",
    "flow-list": """
oauth_config:
  scopes:
    user: [x:y]
    bot: [commands, "chat:write"]  # c
""",
    "comments-and-neighbours": """
# a: [b]
features:
  bot:
    - nope
oauth_config:
  # scopes: x
  scopes:
    bot:
      # - not:this
      - chat:write  # it's needed
      - "files:write"
settings:
  bot: x
""",
}


@pytest.mark.parametrize("text", list(MANIFEST_VARIANTS.values()), ids=list(MANIFEST_VARIANTS))
def test_manifest_scopes_reads_what_yaml_reads(tmp_path: Path, text: str) -> None:
    """The dependency-free reader gives the bot scopes pyyaml finds, in order."""
    path = tmp_path / "manifest.yml"
    path.write_text(text)

    expected = tuple(yaml.safe_load(text)["oauth_config"]["scopes"]["bot"])
    assert manifest_scopes(path) == expected


def test_manifest_scopes_of_the_real_manifest() -> None:
    """The app's manifest grants exactly the scopes the bot's Web API calls need."""
    granted = manifest_scopes()

    assert granted == tuple(yaml.safe_load(MANIFEST.read_text())["oauth_config"]["scopes"]["bot"])
    assert set(granted) == {
        "commands",
        "chat:write",
        "files:write",
        "files:read",
        "usergroups:read",
        "users:read",
    }


def test_manifest_scopes_of_a_missing_file(tmp_path: Path) -> None:
    """A missing manifest is an error, or None ("every scope") when `missing_ok`."""
    with pytest.raises(FileNotFoundError):
        manifest_scopes(tmp_path / "nope.yml")
    assert manifest_scopes(tmp_path / "nope.yml", missing_ok=True) is None


def _task_message(slack: FakeSlack) -> Posted | None:
    """Return the task_id message in #exports, once posted."""
    return next((m for m in slack.messages_in(EXPORTS) if m.thread_ts is None), None)


def _settled(slack: FakeSlack) -> bool:
    message = _task_message(slack)
    return message is not None and any(
        text in message.all_text for text in ("is in the thread", "Export failed")
    )


@pytest.mark.parametrize(
    "dropped",
    [pytest.param(None, id="manifest-scopes"), pytest.param("files:write", id="no-files-write")],
)
async def test_the_manifest_scopes_carry_a_slash_export_to_its_file(
    tmp_path: Path, fake_hss: FakeHss, dropped: str | None
) -> None:
    """Manifest scopes put the file in its thread; without files:write both say missing_scope."""
    scopes = [scope for scope in manifest_scopes() if scope != dropped]
    async with FakeSlack(scopes=scopes) as slack:
        runtime, server = await start_runtime(tmp_path, fake_hss, slack)
        try:
            request = slack.slash_command(VALID, user_id=ALICE, channel_id=EXPORTS)
            answer = await slack.deliver(f"{server.url}/slack/events", request)
            await wait_for(lambda: _settled(slack))
        finally:
            await server.close()
            await runtime.drain_and_close()

    message = _task_message(slack)
    assert message is not None
    assert answer.status == 200
    [task_id] = fake_hss.tasks
    assert task_id in message.all_text
    if dropped is None:
        served = fake_hss.tasks[task_id]
        assert [(f.filename, f.channel_id, f.thread_ts, f.size) for f in slack.files] == [
            (served.file_name, EXPORTS, message.ts, served.file_size)
        ]
        assert "missing_scope" not in slack.everything_received()
    else:
        [reply] = [m for m in slack.messages_in(EXPORTS) if m.thread_ts == message.ts]
        assert slack.files == []
        for seen in (message.all_text, reply.all_text):
            assert "Export failed" in seen
            assert "missing_scope" in seen
            assert f"hss-export-bot download {task_id}" in seen


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
    assert slack.refusals  # kept, and raised on leaving the fake
    slack.refusals.clear()


DATETIME_INPUT: Final = {
    "type": "input",
    "block_id": "when",
    "label": {"type": "plain_text", "text": "When"},
    "element": {"type": "datetimepicker", "action_id": "v", "initial_date_time": 10413792000},
}


async def test_views_open_refuses_what_slack_sdks_models_refuse(
    slack: FakeSlack, client: AsyncWebClient
) -> None:
    """A datetimepicker with an 11-digit initial_date_time is refused with slack_sdk's reason."""
    bad = {**MODAL, "blocks": [DATETIME_INPUT]}

    with pytest.raises(SlackApiError) as caught:
        await client.views_open(trigger_id=slack.issue_trigger("U1"), view=bad)

    assert caught.value.response["error"] == "invalid_arguments"
    messages = caught.value.response["response_metadata"]["messages"]
    assert any("initial_date_time" in m for m in messages)
    assert slack.views == []
    slack.refusals.clear()


@pytest.mark.parametrize(
    "method", ["chat_postMessage", "chat_postEphemeral", "chat_update"], ids=str
)
@pytest.mark.parametrize(
    ("blocks", "words"),
    [
        ([{"type": "section", "text": {"type": "mrkdwn", "text": "x" * 3001}}], "3000"),
        ([{"type": "no_such_block"}], "unknown block"),
        ([{"type": "divider"}] * 51, "at most 50 blocks"),
    ],
    ids=["section-too-long", "unknown-block", "too-many-blocks"],
)
async def test_messages_with_blocks_slack_refuses_are_refused(
    slack: FakeSlack, client: AsyncWebClient, method: str, blocks: list[Any], words: str
) -> None:
    """chat.postMessage, postEphemeral and update refuse invalid blocks, naming why."""
    posted = await client.chat_postMessage(channel="C1", text="first")
    args: dict[str, Any] = {"channel": "C1", "text": "t", "blocks": blocks}
    if method == "chat_postEphemeral":
        args["user"] = "U1"
    if method == "chat_update":
        args["ts"] = posted["ts"]

    with pytest.raises(SlackApiError) as caught:
        await getattr(client, method)(**args)

    assert caught.value.response["error"] == "invalid_blocks"
    assert any(words in m for m in caught.value.response["response_metadata"]["messages"])
    assert [m.text for m in slack.messages] == ["first"]
    assert slack.ephemerals == []
    slack.refusals.clear()


async def test_response_url_refuses_blocks_slack_refuses(slack: FakeSlack) -> None:
    """A response_url post with an over-long section is refused (400) and not recorded."""
    webhook = AsyncWebhookClient(slack.issue_response_url("C1", "U1"))
    section = {"type": "section", "text": {"type": "mrkdwn", "text": "x" * 3001}}

    response = await webhook.send(text="t", blocks=[section])

    assert (response.status_code, response.body) == (400, "invalid_blocks")
    assert slack.responses == []
    slack.refusals.clear()


async def test_leaving_the_fake_with_refused_block_kit_fails_the_test() -> None:
    """A refusal the test did not clear is raised on leaving the fake, so no test passes over it."""
    slack = await FakeSlack().__aenter__()
    client = AsyncWebClient(token=slack.bot_token, base_url=slack.api_url)
    with contextlib.suppress(SlackApiError):
        await client.views_open(
            trigger_id=slack.issue_trigger("U1"), view={**MODAL, "blocks": [DATETIME_INPUT]}
        )

    with pytest.raises(AssertionError, match="initial_date_time"):
        await slack.__aexit__(None, None, None)


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
