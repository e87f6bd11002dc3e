"""One keep-alive pool for Slack per process: calls reuse connections, and none is lost to one.

Counted at the fake Slack, which counts the TCP connections it accepts.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from slack_harness import ALICE, EXPORTS, start_runtime, wait_for
from slack_sdk.web.async_client import AsyncWebClient

from bot.adapters import slack_web
from bot.adapters.slack_http import SlackConnections
from bot.adapters.slack_notifier import SLACK_TIMEOUT_SECONDS, build_web_client
from bot.adapters.slack_usergroups import PROMPT_CLIENT_SECONDS, prompt_client
from bot.domain.blocks import Message
from bot.settings import Settings
from emulators.fake_hss import FakeHss
from emulators.fake_slack import FakeSlack, manifest_scopes


@pytest.fixture
async def slack() -> AsyncIterator[FakeSlack]:
    """A fake Slack Web API on loopback."""
    async with FakeSlack() as fake:
        yield fake


@pytest.fixture
async def pool() -> AsyncIterator[SlackConnections]:
    """A process's pool of Slack connections, closed at the end."""
    connections = SlackConnections()
    yield connections
    await connections.aclose()


def client_for(slack: FakeSlack, pool: SlackConnections | None) -> AsyncWebClient:
    """Return the bot's Web API client, over `pool` (None: a connection per call)."""
    settings = Settings(
        _env_file=None, SLACK_BOT_TOKEN=slack.bot_token, SLACK_API_URL=slack.api_url
    )
    session = pool.session(SLACK_TIMEOUT_SECONDS) if pool is not None else None
    return build_web_client(settings, session=session)


async def _post_update_and_look_up(client: AsyncWebClient) -> None:
    posted = await slack_web.post_message(client, EXPORTS, Message("one"))
    assert posted.ts is not None
    await slack_web.update_message(client, EXPORTS, posted.ts, Message("one, updated"))
    await slack_web.post_message(client, EXPORTS, Message("two"))
    await prompt_client(client).auth_test()  # the calls before an ack: their own client


async def test_the_calls_of_a_process_reuse_one_connection(
    slack: FakeSlack, pool: SlackConnections
) -> None:
    """Over the pool, four calls (the prompt client's too) take one connection; without, four."""
    await _post_update_and_look_up(client_for(slack, None))
    unpooled = slack.connections

    await _post_update_and_look_up(client_for(slack, pool))

    assert (unpooled, slack.connections - unpooled) == (4, 1)
    assert len(slack.calls) == 8


async def test_the_prompt_client_keeps_its_own_bound_over_the_same_connections(
    slack: FakeSlack, pool: SlackConnections
) -> None:
    """A session given to a client bounds its calls: the prompt client's is its 2 s, not 10 s."""
    client = client_for(slack, pool)
    quick = prompt_client(client)

    assert client.session is not None
    assert quick.session is not None
    assert quick.session.connector is client.session.connector
    assert (client.session.timeout.total, quick.session.timeout.total) == (
        SLACK_TIMEOUT_SECONDS,
        PROMPT_CLIENT_SECONDS,
    )


async def test_a_connection_slack_closed_while_idle_costs_no_message(
    slack: FakeSlack, pool: SlackConnections
) -> None:
    """Slack closing idle connections, even as a post goes out on one: each message posted once."""
    client = client_for(slack, pool)
    await slack_web.post_message(client, EXPORTS, Message("before"))

    assert slack.close_idle_connections() == 1
    await slack_web.post_message(client, EXPORTS, Message("after the idle ones closed"))
    slack.drop_connection("chat.postMessage")  # closed just as the request arrived
    await slack_web.post_message(client, EXPORTS, Message("after a dropped one"))

    texts = [m.text for m in slack.messages_in(EXPORTS)]
    assert texts == ["before", "after the idle ones closed", "after a dropped one"]


async def test_a_call_after_the_pool_closed_still_goes_out(slack: FakeSlack) -> None:
    """A straggler at shutdown is not lost: slack_sdk opens a connection of its own for it."""
    pool = SlackConnections()
    client = client_for(slack, pool)
    await pool.aclose()

    await slack_web.post_message(client, EXPORTS, Message("late"))

    assert [m.text for m in slack.messages_in(EXPORTS)] == ["late"]


async def test_the_runtime_sends_every_slack_call_over_its_pool_and_closes_it(
    tmp_path: Path, fake_hss: FakeHss
) -> None:
    """One export end to end: Bolt's client shares the pool, far fewer connections than calls."""
    async with FakeSlack(scopes=manifest_scopes()) as slack:
        runtime, server = await start_runtime(
            tmp_path, fake_hss, slack, ALLOWED_USER_IDS=ALICE, ALLOWED_CHANNEL_IDS=EXPORTS
        )
        session = runtime.web_client.session
        try:
            request = slack.slash_command("status=running risky=yes", user_id=ALICE)
            delivery = await slack.deliver(server.url + "/slack/events", request)
            assert delivery.status == 200
            await wait_for(lambda: bool(slack.calls_to("files.completeUploadExternal")), 20.0)
        finally:
            await server.close()
            await runtime.drain_and_close()

        assert session is not None
        assert runtime.app.client.session is session  # Bolt's per-request clients copy it
        assert session.closed
        assert len(slack.files) == 1
        # 7 calls (auth.test twice, the task message, the upload's steps, the reply, the
        # update) and the file's bytes: 8 connections without the pool. Two calls may overlap.
        assert len(slack.calls) >= 7
        assert slack.connections <= 2
