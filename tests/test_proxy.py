"""Every outbound call honours HTTPS_PROXY / HTTP_PROXY / NO_PROXY, through a real proxy.

The bot runs as `serve` wires it, with HTTP_PROXY pointing at a forwarding
proxy on 127.0.0.1 (the fakes are plain HTTP on loopback, so the proxy sees
absolute-form requests). HSS calls (httpx), the Slack Web API and the reply to
the response URL (slack_sdk) and the file upload (aiohttp) must all be seen
passing through it; with NO_PROXY naming Slack's fake, Slack's calls go direct.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from forward_proxy import ForwardProxy
from slack_harness import ALICE, EXPORTS, start_runtime, wait_for

from bot.adapters.proxy import proxy_for
from emulators.fake_hss import FakeHss
from emulators.fake_slack import FakeSlack, manifest_scopes

PROXY_VARS = ("HTTP_PROXY", "HTTPS_PROXY", "NO_PROXY", "http_proxy", "https_proxy", "no_proxy")


@pytest.fixture
async def proxy(monkeypatch: pytest.MonkeyPatch) -> AsyncIterator[ForwardProxy]:
    """A forwarding proxy, set as HTTP_PROXY and HTTPS_PROXY for the bot."""
    for name in PROXY_VARS:
        monkeypatch.delenv(name, raising=False)
    async with ForwardProxy() as running:
        monkeypatch.setenv("HTTP_PROXY", running.url)
        monkeypatch.setenv("HTTPS_PROXY", running.url)
        yield running


async def _one_export(tmp_path: Path, hss: FakeHss, slack: FakeSlack) -> None:
    runtime, server = await start_runtime(
        tmp_path, hss, slack, ALLOWED_USER_IDS=ALICE, ALLOWED_CHANNEL_IDS=EXPORTS
    )
    try:
        request = slack.slash_command("status=running risky=yes", user_id=ALICE)
        delivery = await slack.deliver(server.url + "/slack/events", request)
        assert delivery.status == 200
        await wait_for(lambda: bool(slack.calls_to("files.completeUploadExternal")), 20.0)
    finally:
        await server.close()
        await runtime.drain_and_close()


async def test_hss_slack_and_the_upload_go_through_the_proxy(
    tmp_path: Path, fake_hss: FakeHss, proxy: ForwardProxy
) -> None:
    """With HTTP_PROXY set, HSS, the Web API and the file upload are seen at the proxy."""
    async with FakeSlack(scopes=manifest_scopes()) as slack:
        await _one_export(tmp_path, fake_hss, slack)
        seen = "\n".join(proxy.seen)
        assert f"POST {fake_hss.url}/v5/{fake_hss.project_id}/container/export-task" in seen
        assert f"GET {fake_hss.url}/v5/{fake_hss.project_id}/download/" in seen
        assert f"POST {slack.api_url.rstrip('/')}/auth.test" in seen
        assert f"POST {slack.api_url.rstrip('/')}/chat.postMessage" in seen
        assert f"POST {slack.api_url.rstrip('/')}/files.getUploadURLExternal" in seen
        assert f"POST {slack.url}/upload/" in seen  # the file's bytes, by aiohttp


async def test_no_proxy_sends_the_named_hosts_direct(
    tmp_path: Path, fake_hss: FakeHss, proxy: ForwardProxy, monkeypatch: pytest.MonkeyPatch
) -> None:
    """NO_PROXY naming the hosts sends HSS, the Web API, the reply and the upload direct."""
    monkeypatch.setenv("NO_PROXY", "127.0.0.1")
    async with FakeSlack(scopes=manifest_scopes()) as slack:
        assert proxy_for(slack.api_url) is None
        await _one_export(tmp_path, fake_hss, slack)
    # Known gap: Bolt builds a Web API client per request with `proxy=None`, which slack_sdk
    # refills from HTTPS_PROXY ignoring NO_PROXY; its one auth.test (cached after) is proxied.
    assert [line.split("?")[0] for line in proxy.seen] in ([], [f"POST {slack.api_url}auth.test"])
