"""Socket Mode end to end: the same app over the fake Slack's WebSocket, reconnecting on its own."""

from __future__ import annotations

import asyncio
from pathlib import Path

from slack_harness import EXPORTS, running_stack, wait_for

from bot.entrypoints.socket import run_socket_mode
from emulators.fake_hss import FakeHss


async def test_socket_mode_serves_slash_and_form_and_survives_a_dropped_connection(
    tmp_path: Path, fake_hss: FakeHss
) -> None:
    """Commands and form submissions work over Socket Mode, before and after Slack drops it."""
    async with running_stack(
        tmp_path, fake_hss, http=False, socket_mode=True, SLACK_SIGNING_SECRET=""
    ) as stack:
        slack = stack.slack
        stop = asyncio.Event()
        serving = asyncio.create_task(
            run_socket_mode(stack.app, slack.app_token, stop=stop, ping_interval=0.5)
        )
        try:
            ack = await slack.socket_send(slack.slash_command("status=running"))
            assert "Export requested" in ack["text"]
            await wait_for(lambda: len(slack.messages_in(EXPORTS)) == 1)

            await slack.drop_sockets()
            await slack.wait_for_socket(connections=2)

            assert await slack.socket_send(slack.slash_command("")) == {}
            errors = await slack.socket_send(slack.view_submission(values={"cpu_limit": "2"}))
            assert set(errors["errors"]) == {"cpu_limit"}
            await slack.socket_send(slack.view_submission(values={"status": "Waiting"}))
            await wait_for(lambda: len(slack.messages_in(EXPORTS)) == 2)
        finally:
            stop.set()
            await serving

        bodies = [call.body for call in fake_hss.calls_for("create")]
        assert [b["status"] for b in bodies] == ["Running", "Waiting"]
        assert len(slack.calls_to("apps.connections.open")) == 2
