"""A real `serve` at LOG_LEVEL=DEBUG: forged and real Slack requests leave no secret in its output.

Bolt logs the whole body of a request whose signature does not verify ("Invalid
request signature detected (… body: token=…&response_url=…)"); slack_sdk, httpx,
aiohttp and SQLAlchemy log requests at DEBUG. Redaction sits on the one root
handler every logger writes through, so the markers below must appear nowhere
in what the process printed (stdout and stderr, captured together).
"""

from __future__ import annotations

import time
import urllib.parse
from pathlib import Path

import aiohttp
from e2e_harness import served_bot
from slack_harness import EXPORTS, wait_for

from emulators.fake_hss import FakeHss
from emulators.fake_slack import FakeSlack, sign

MARKERS = ("MARKERTOKEN7f3a", "MARKERHOOK9c1d", "MARKERTEXT44be")


def _forged_body() -> bytes:
    form = {
        "token": MARKERS[0],
        "team_id": "T0FAKE",
        "channel_id": EXPORTS,
        "user_id": "U0ALICE",
        "command": "/hss-export",
        "text": f"status=running pod_name={MARKERS[2]}",
        "response_url": f"https://hooks.slack.com/commands/T0FAKE/1/{MARKERS[1]}",
        "trigger_id": "1.2.3",
    }
    return urllib.parse.urlencode(form).encode()


async def test_forged_and_real_requests_leave_no_secret_in_a_debug_log(
    tmp_path: Path, fake_hss: FakeHss
) -> None:
    """Bad-signature bodies (token, response_url, text) never reach serve's DEBUG output."""
    async with FakeSlack() as slack:
        db = f"sqlite:///{tmp_path / 'audit.db'}"
        async with served_bot(tmp_path, fake_hss, slack, db, LOG_LEVEL="DEBUG") as bot:
            body = _forged_body()
            async with aiohttp.ClientSession() as session:
                for secret in ("wrong-signing-secret", slack.signing_secret + "x"):
                    headers = {
                        "Content-Type": "application/x-www-form-urlencoded",
                        **sign(secret, body, int(time.time())),
                    }
                    async with session.post(bot.events_url, data=body, headers=headers) as r:
                        assert r.status == 401
            # A real command too, so Bolt, slack_sdk, httpx and the stores log at DEBUG
            # (its request is audited, so its text is no secret; its token is).
            real = slack.slash_command("status=running risky=yes")
            delivery = await slack.deliver(bot.events_url, real)
            assert delivery.status == 200
            # Until the file is delivered: the tracker's HSS calls and upload log too.
            await wait_for(lambda: bool(slack.calls_to("files.completeUploadExternal")), 20.0)
        output = bot.log.read_text(errors="replace")
    assert "Invalid request signature" in output  # Bolt did log the refusal
    assert "DEBUG" in output.upper()
    for marker in MARKERS:
        assert marker not in output, f"{marker} leaked into the log"
    assert slack.signing_secret not in output
    assert slack.bot_token not in output
