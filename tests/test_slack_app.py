"""The Slack app end to end over HTTP: signed requests in, fake Slack and fake HSS behind.

Every test runs the real Bolt app built by `create_app`, served by
`bot.entrypoints.web` on loopback, with the real HSS client (signing for real
against `FakeHss`), the real SQLite audit log and the real Slack notifier
talking to `FakeSlack`'s Web API. Assertions are on what the fakes saw and
what a Slack user would see.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import time
import urllib.parse
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from slack_harness import ALICE, EXPORTS, Stack, running_stack, stack_settings, wait_for

from bot.access import COULD_NOT_CHECK
from bot.adapters.audit_store import SqlAuditLog, open_audit_log
from bot.adapters.hss import HssClient, build_hss_client
from bot.adapters.saved_store import SqlSavedExportStore
from bot.adapters.slack_notifier import SlackNotifier, build_web_client
from bot.domain import modal
from bot.domain.grammar import FIELD_KEYS
from bot.domain.model import HEADER_KEYS
from bot.domain.saved import SavedExport
from bot.domain.types import AuditEntry, TaskStatus
from bot.entrypoints.deps import COMMAND
from bot.entrypoints.slack_app import create_app
from bot.entrypoints.web import EVENTS_PATH, MAX_BODY_BYTES, start_http
from bot.lifecycle import Lifecycle
from bot.usecases import ExportService
from emulators.fake_hss import FakeHss
from emulators.fake_slack import FakeSlack, SignedRequest, sign

BOB = "U0BOB"


@pytest.fixture
async def stack(tmp_path: Path, fake_hss: FakeHss) -> AsyncIterator[Stack]:
    """The stack with Alice allowed by user id."""
    async with running_stack(tmp_path, fake_hss) as running:
        yield running


def _epoch_s(text: str) -> int:
    return int(datetime.fromisoformat(text).replace(tzinfo=UTC).timestamp())


# --- slash command: export ---------------------------------------------------------------


async def test_slash_export_calls_hss_and_posts_task_id_in_channel(stack: Stack) -> None:
    """A valid command is acked at once, HSS gets the exact request, the channel the task_id."""
    delivery = await stack.slash(
        "status=running risky=yes cluster_type=cce export_size=500 headers=container_id,status"
    )

    assert delivery.status == 200
    assert "Export requested" in delivery.json["text"]
    assert delivery.json.get("response_type") == "ephemeral"
    await wait_for(lambda: len(stack.slack.messages) == 1)
    (create,) = stack.hss.calls_for("create")
    assert create.query == {"export_size": "500"}
    assert create.body == {
        "status": "Running",
        "risky": True,
        "cluster_type": "cce",
        "export_headers": [["container_id", "容器id"], ["status", "状态"]],
    }
    (message,) = stack.slack.messages_in(EXPORTS)
    assert "task-0001" in message.text
    assert f"<@{ALICE}>" in message.text
    assert "cluster_type=cce, status=Running, risky=yes; 2 columns, up to 500 rows" in message.text
    assert message.blocks, "the channel message has a Block Kit layout"
    assert "task-0001" in message.all_text
    await stack.settle()
    (entry,) = await stack.entries()
    assert (entry.outcome, entry.task_id, entry.source) == ("submitted", "task-0001", "slash")


async def test_characters_slack_escapes_reach_hss_as_typed(stack: Stack) -> None:
    """`&`, `<` and `>` (sent by Slack as `&amp;`, `&lt;`, `&gt;`) reach HSS unescaped."""
    await stack.slash('image_name="repo/a&b" pod_name="<web>" container_name="&amp;"')

    await wait_for(lambda: len(stack.hss.calls_for("create")) == 1)
    (create,) = stack.hss.calls_for("create")
    assert create.body["image_name"] == "repo/a&b"
    assert create.body["pod_name"] == "<web>"
    assert create.body["container_name"] == "&amp;"


async def test_lost_create_answer_is_reported_as_unknown_not_as_not_started(
    tmp_path: Path, fake_hss: FakeHss
) -> None:
    """A create whose answer never comes: one call, audited `unknown`, the user told to check."""
    fake_hss.hang_next(op="create", seconds=30)
    async with running_stack(tmp_path, fake_hss, HSS_READ_TIMEOUT=0.5) as stack:
        await stack.slash("status=running")
        await wait_for(lambda: len(stack.slack.responses) == 1)
        await stack.settle()
        (entry,) = await stack.entries()
        (response,) = stack.slack.responses

    assert len(fake_hss.calls_for("create")) == 1
    assert entry.outcome == "unknown"
    assert response.response_type == "ephemeral"
    assert "may have started" in response.all_text
    assert "Check the HSS console" in response.all_text
    assert "not started" not in response.all_text


async def test_invalid_command_lists_every_problem_and_calls_nothing(stack: Stack) -> None:
    """Bad values get one ephemeral answer naming each problem; HSS is not called."""
    delivery = await stack.slash("status=sleeping risky=maybe export_size=0 cpu_limit=2")

    assert delivery.status == 200
    shown = delivery.json["text"] + json.dumps(delivery.json["blocks"], ensure_ascii=False)
    for key in ("status", "risky", "export_size", "cpu_limit"):
        assert f"`{key}`" in shown
    assert "4 problems" in delivery.json["text"]
    await stack.settle()
    assert stack.hss.calls == []
    assert stack.slack.messages == []
    (entry,) = await stack.entries()
    assert entry.outcome == "invalid"
    assert "sleeping" in (entry.error or "")


async def test_a_very_long_bad_command_is_answered_within_slacks_limits(stack: Stack) -> None:
    """1999 bad words: the ack lists ten problems and counts the rest, within Slack's limits."""
    delivery = await stack.slash(" ".join(["w"] * 1999))

    assert delivery.status == 200
    blocks = delivery.json["blocks"]
    assert len(blocks) <= 50
    assert all(len(b["text"]["text"]) <= 3000 for b in blocks if b["type"] == "section")
    assert len(delivery.json["text"]) <= 40_000
    assert delivery.json["text"].startswith("I could not run that command: 1999 problems")
    assert "…and 1989 more" in json.dumps(blocks, ensure_ascii=False)


async def test_help_lists_every_key_even_for_someone_not_allowed(stack: Stack) -> None:
    """`help` shows every key with examples, to anyone; nothing is audited or called."""
    delivery = await stack.slash("help", user_id=BOB)

    text = json.dumps(delivery.json["blocks"], ensure_ascii=False)
    for key in FIELD_KEYS:
        assert f"`{key}`" in text
    assert "Examples" in text
    await stack.settle()
    assert stack.hss.calls == []
    assert await stack.entries() == []


async def test_preview_shows_the_exact_request_and_sends_nothing(stack: Stack) -> None:
    """`preview` answers with the signed call's URL, query and body (secrets redacted)."""
    delivery = await stack.slash("preview status=running export_size=10")

    shown = json.dumps(delivery.json, ensure_ascii=False)
    assert "/v5/fake-project/container/export-task" in shown
    assert '\\"status\\": \\"Running\\"' in shown
    assert '\\"export_size\\": \\"10\\"' in shown
    assert stack.hss.sk not in shown
    await stack.settle()
    assert stack.hss.calls == []


async def test_preview_of_a_value_slack_escapes_is_shown_whole(stack: Stack) -> None:
    """`preview pod_name=<512 &>` shows all 512, signed headers named, transport headers not."""
    delivery = await stack.slash("preview pod_name=" + "&" * 512)

    sections = [b["text"]["text"] for b in delivery.json["blocks"] if b["type"] == "section"]
    assert all(len(text) <= 3000 for text in sections)
    shown = "".join(sections)
    assert shown.count("&amp;") == 512
    assert "Headers (signed: " in shown
    assert "Accept-Encoding" not in shown
    assert "Content-Length" not in shown
    assert stack.slack.refusals == []
    await stack.settle()
    assert stack.hss.calls == []


# --- status and history ------------------------------------------------------------------


async def test_status_reports_running_then_success_with_file_name(stack: Stack) -> None:
    """`status <task_id>` answers privately with HSS's state, then the file once done."""
    await stack.slash("status=running")
    await wait_for(lambda: len(stack.slack.messages) == 1)

    await stack.slash("status task-0001")
    await stack.slash("status task-0001")

    await wait_for(lambda: len(stack.slack.responses) == 2)
    first, second = stack.slack.responses
    assert first.response_type == "ephemeral"
    assert "task-0001 is running" in first.body["text"]
    assert "task-0001 is success" in second.body["text"]
    assert "container-export-task-0001.xlsx" in second.all_text


async def test_status_of_unknown_task_shows_hss_error_code(stack: Stack) -> None:
    """A lookup HSS refuses shows its error code and request id."""
    await stack.slash("status no-such-task")

    await wait_for(lambda: len(stack.slack.responses) == 1)
    (call,) = stack.hss.calls_for("status")
    text = stack.slack.responses[0].body["text"]
    assert "HSS.0002" in text
    assert call.request_id in text


@pytest.mark.parametrize(
    ("created_with", "asked", "looked_up_in"),
    [
        ("enterprise_project_id=ep-1", "status task-0001", "ep-1"),
        ("enterprise_project_id=all_granted_eps", "status task-0001", "all_granted_eps"),
        ("enterprise_project_id=ep-1", "status task-0001 enterprise_project_id=ep-2", "ep-2"),
        ("", "status task-0001", None),
        ("enterprise_project_id=ep-1", "status task-0009", None),
    ],
    ids=["as-created", "all-granted", "as-asked", "default-project", "task-not-on-record"],
)
async def test_status_looks_in_the_tasks_enterprise_project(
    stack: Stack, created_with: str, asked: str, looked_up_in: str | None
) -> None:
    """`status` asks HSS in the project the task was created in (audit log), or the one given."""
    await stack.slash(f"status=running {created_with}")
    await wait_for(lambda: len(stack.slack.messages) == 1)
    await stack.settle()

    await stack.slash(asked)

    await wait_for(lambda: len(stack.slack.responses) == 1)
    (call,) = stack.hss.calls_for("status")
    assert call.query.get("enterprise_project_id") == looked_up_in


class _RefusalsHeldForHistory:
    """The real audit log, but a refusal is written only after a `history` read has finished.

    Or after `HOLD_SECONDS` if no history read comes. Under the old order
    (refusal recorded after the ack) the `history` typed after the refusal's
    answer was always read first, so it missed the refusal every time.
    """

    HOLD_SECONDS = 0.5  # well within the listener's answer deadline

    def __init__(self, inner: SqlAuditLog) -> None:
        self.inner = inner
        self.history_read = asyncio.Event()
        self.refusals_written = 0

    def __getattr__(self, name: str) -> Any:
        return getattr(self.inner, name)

    async def record_refusal(self, *args: Any, **kwargs: Any) -> int:
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(self.HOLD_SECONDS):
                await self.history_read.wait()
        entry_id = await self.inner.record_refusal(*args, **kwargs)
        self.refusals_written += 1
        return entry_id

    async def history(self, user_id: str, limit: int = 10) -> list[AuditEntry]:
        try:
            return await self.inner.history(user_id, limit)
        finally:
            self.history_read.set()


async def test_history_lists_the_callers_latest_commands(tmp_path: Path, fake_hss: FakeHss) -> None:
    """`history` lists the caller's exports and refusals, including one answered just before."""
    held: list[_RefusalsHeldForHistory] = []

    def hold(audit: SqlAuditLog) -> _RefusalsHeldForHistory:
        held.append(_RefusalsHeldForHistory(audit))
        return held[0]

    async with running_stack(tmp_path, fake_hss, wrap_audit=hold) as stack:
        await stack.slash("status=running")
        await wait_for(lambda: len(stack.slack.messages) == 1)
        refused = await stack.slash("risky=perhaps")
        assert refused.status == 200
        assert "`risky`" in refused.text  # the refusal was answered…

        await stack.slash("history")  # …and the user asks for their history right after

        await wait_for(lambda: len(stack.slack.responses) == 1)
        shown = stack.slack.responses[0].all_text
        assert "task-0001" in shown
        assert "*invalid*" in shown
        assert "*submitted*" in shown
        assert held[0].refusals_written == 1


@pytest.mark.parametrize(
    ("text", "said"),
    [
        ("risky=perhaps", "`risky`"),
        ("run nosuch", "got 'nosuch'"),
        ("forget nosuch", "got 'nosuch'"),
        ("save weekly risky=perhaps", "`risky`"),
    ],
)
async def test_a_slow_audit_log_delays_a_refusal_only_up_to_the_ack_deadline(
    tmp_path: Path, fake_hss: FakeHss, text: str, said: str
) -> None:
    """A refusal whose audit write hangs is still answered in time, and written after: a
    typed export's bad field, and `run`/`forget` of an unknown name or `save` of a bad field."""
    gate = asyncio.Event()

    class Hanging:
        def __init__(self, inner: SqlAuditLog) -> None:
            self.inner = inner

        def __getattr__(self, name: str) -> Any:
            return getattr(self.inner, name)

        async def record_refusal(self, *args: Any, **kwargs: Any) -> int:
            await gate.wait()
            return await self.inner.record_refusal(*args, **kwargs)

    async with running_stack(tmp_path, fake_hss, wrap_audit=Hanging, saved=True) as stack:
        delivery = await stack.slash(text)

        assert delivery.status == 200
        assert not delivery.timed_out
        assert said in delivery.text
        assert await stack.entries() == []
        gate.set()
        await stack.settle()
        (entry,) = await stack.entries()
        assert entry.outcome == "invalid"


@pytest.mark.parametrize(
    ("text", "said", "outcome"),
    [
        ("save monthly status=running", "Saved `monthly`", "saved"),
        ("forget weekly", "Forgot `weekly`", "forgotten"),
        ("save theirs status=running", "belongs to <@U0BOB>", "denied"),
    ],
)
async def test_a_slow_saved_export_store_is_acked_in_time_and_answered_after(
    tmp_path: Path, fake_hss: FakeHss, text: str, said: str, outcome: str
) -> None:
    """A `save` or `forget` whose store hangs past the ack deadline is acked in time as under
    way; its outcome (a refusal too) follows once, through the response_url."""
    answers = asyncio.Event()
    answers.set()

    class Hanging:
        def __init__(self, inner: SqlSavedExportStore) -> None:
            self.inner = inner

        def __getattr__(self, name: str) -> Any:
            return getattr(self.inner, name)

        async def get(self, team_id: str, name: str) -> SavedExport | None:
            await answers.wait()
            return await self.inner.get(team_id, name)

    async with running_stack(
        tmp_path, fake_hss, wrap_saved=Hanging, saved=True, ALLOWED_USER_IDS=f"{ALICE},{BOB}"
    ) as stack:
        await stack.slash("save weekly status=running")
        await stack.slash("save theirs status=running", user_id=BOB)
        answers.clear()
        delivery = await stack.slash(text)

        assert delivery.status == 200
        assert not delivery.timed_out
        assert "Working on it" in delivery.text
        answers.set()
        await wait_for(lambda: len(stack.slack.responses) == 1)
        await stack.settle()
        (response,) = stack.slack.responses
        *_, entry = await stack.entries()

    assert said in response.all_text
    assert response.response_type == "ephemeral"
    assert entry.outcome == outcome


# --- HSS trouble -------------------------------------------------------------------------


async def test_hss_error_reaches_the_user_with_code_and_request_id(stack: Stack) -> None:
    """A refused create is told privately with HSS's code and request id; audited as failed."""
    stack.hss.fail_next(
        400, body={"error_code": "HSS.1234", "error_msg": "filter refused"}, op="create"
    )

    delivery = await stack.slash("status=running")

    assert delivery.status == 200
    await wait_for(lambda: len(stack.slack.responses) == 1)
    (call,) = stack.hss.calls_for("create")
    response = stack.slack.responses[0]
    assert response.response_type == "ephemeral"
    assert "HSS.1234" in response.body["text"]
    assert call.request_id in response.body["text"]
    assert stack.slack.messages == []
    await stack.settle()
    (entry,) = await stack.entries()
    assert entry.outcome == "failed"


async def test_ack_never_waits_for_a_slow_hss(stack: Stack) -> None:
    """With HSS answering after 5 s, the command is acked well under 3 s; the task_id follows."""
    stack.hss.delay(5.0, op="create")

    delivery = await stack.slash("status=running")

    assert delivery.status == 200
    assert delivery.elapsed < 1.5
    assert not delivery.timed_out
    assert stack.slack.messages == []
    await wait_for(lambda: len(stack.slack.messages) == 1, seconds=20)
    assert "task-0001" in stack.slack.messages[0].text


# --- delivery fallbacks ------------------------------------------------------------------


@pytest.mark.parametrize(
    ("channel", "slack_error"),
    [
        ("C0PRIVATE", "not_in_channel"),
        ("C0GONE", "channel_not_found"),
        ("D0ALICEDM", None),  # a DM between people: the fake answers channel_not_found
    ],
)
async def test_message_falls_back_to_response_url_in_channel(
    stack: Stack, channel: str, slack_error: str | None
) -> None:
    """When the bot cannot post in the channel, the task_id goes to the response_url, in_channel."""
    if slack_error is not None:
        stack.slack.channel_errors[channel] = slack_error

    await stack.slash("status=running", channel_id=channel)

    await wait_for(lambda: len(stack.slack.responses) == 1)
    response = stack.slack.responses[0]
    assert response.response_type == "in_channel"
    assert response.channel == channel
    assert "task-0001" in response.body["text"]
    assert f"<@{ALICE}>" in response.body["text"]
    assert stack.slack.messages_in(channel) == []  # the file follows in Alice's DM instead


async def test_task_id_reaches_the_users_dm_when_channel_and_response_url_fail(
    stack: Stack,
) -> None:
    """With no way into the channel, the message goes to the app's DM; the audit has the id."""
    stack.slack.channel_errors["C0PRIVATE"] = "not_in_channel"
    stack.slack.response_urls_broken = True

    await stack.slash("status=running", channel_id="C0PRIVATE")

    await wait_for(lambda: len(stack.slack.messages) == 1)
    (message,) = stack.slack.messages_in(ALICE)  # a post to the user id: the app's DM with Alice
    assert "task-0001" in (message.text or "")
    await stack.settle()
    (entry,) = await stack.entries()
    assert entry.task_id == "task-0001"


async def test_rate_limited_post_is_retried(stack: Stack) -> None:
    """A 429 from chat.postMessage is retried after Retry-After; one message lands."""
    stack.slack.fail("chat.postMessage", status=429, retry_after=0)

    await stack.slash("status=running")

    await wait_for(lambda: len(stack.slack.messages) == 1)
    assert len(stack.slack.calls_to("chat.postMessage")) == 2
    assert stack.slack.responses == []


async def test_slack_server_errors_still_deliver_the_task_id(stack: Stack) -> None:
    """Slack answering 500 to chat.postMessage sends the task_id by the response_url instead."""
    stack.slack.fail("chat.postMessage", status=500, times=5)

    await stack.slash("status=running")

    await wait_for(lambda: len(stack.slack.responses) == 1)
    assert "task-0001" in stack.slack.responses[0].body["text"]


# --- one command, one export -------------------------------------------------------------


@pytest.mark.parametrize("at_once", [False, True], ids=["retried", "concurrent"])
async def test_same_slash_request_twice_creates_one_task(stack: Stack, at_once: bool) -> None:
    """Slack delivering a command twice (same trigger_id) creates one HSS task and one message."""
    request = stack.slack.slash_command("status=running")

    if at_once:
        deliveries = await asyncio.gather(stack.send(request), stack.send(request))
    else:
        deliveries = [await stack.send(request), await stack.send(request)]

    assert [d.status for d in deliveries] == [200, 200]
    await stack.settle()
    assert len(stack.hss.calls_for("create")) == 1
    assert len(stack.slack.messages) == 1
    assert [e.outcome for e in await stack.entries()] == ["submitted"]


async def test_same_view_submitted_twice_creates_one_task(stack: Stack) -> None:
    """A double-submitted form creates one HSS task."""
    await stack.slash("")
    submission = stack.slack.view_submission(values={"status": "Running"})

    await asyncio.gather(stack.send(submission), stack.send(submission))

    await stack.settle()
    assert len(stack.hss.calls_for("create")) == 1
    assert len(stack.slack.messages) == 1


# --- org-wide installs (Enterprise Grid) --------------------------------------------------


def _as_org_wide(slack: FakeSlack, request: SignedRequest, workspace: str) -> SignedRequest:
    """Reshape a view submission as an org-wide install sends it (`team: null`), signed anew."""
    form = dict(urllib.parse.parse_qsl(request.body.decode()))
    payload = json.loads(form["payload"])
    payload["team"] = None
    payload["user"]["team_id"] = workspace
    payload["view"]["team_id"] = workspace
    payload["enterprise"] = {"id": "E0ORG", "name": "Org"}
    payload["is_enterprise_install"] = True
    body = urllib.parse.urlencode({"payload": json.dumps(payload)}).encode()
    return SignedRequest(body, sign(slack.signing_secret, body, int(time.time())))


async def test_a_form_from_an_org_wide_install_exports_and_names_the_users_workspace(
    stack: Stack,
) -> None:
    """With `team: null` (org-wide install) the form still exports; the audit names T0WORK."""
    await stack.slash("")
    submission = _as_org_wide(
        stack.slack, stack.slack.view_submission(values={"status": "Running"}), "T0WORK"
    )

    delivery = await stack.send(submission)

    assert delivery.status == 200
    assert delivery.text == ""  # the form closes: no errors, no "something went wrong"
    await stack.settle()
    assert len(stack.hss.calls_for("create")) == 1
    (entry,) = await stack.entries()
    assert (entry.team_id, entry.source, entry.outcome) == ("T0WORK", "modal", "submitted")


async def test_a_refused_form_from_an_org_wide_install_is_audited_with_the_workspace(
    stack: Stack,
) -> None:
    """Someone not allowed submits from an org-wide install: refused, audited as denied there."""
    await stack.slash("")  # Alice opens the form; Bob (not allowed) submits one
    submission = _as_org_wide(
        stack.slack,
        stack.slack.view_submission(values={"status": "Running"}, user_id=BOB),
        "T0WORK",
    )

    delivery = await stack.send(submission)

    assert delivery.status == 200
    assert "Not allowed" in delivery.text
    (entry,) = await stack.entries()
    assert (entry.team_id, entry.user_id, entry.outcome) == ("T0WORK", BOB, "denied")
    assert stack.hss.calls == []


# --- the modal ---------------------------------------------------------------------------


async def test_empty_command_opens_the_form_before_acking(stack: Stack) -> None:
    """`/hss-export` opens the modal with the trigger_id, then acks with nothing to show."""
    request = stack.slack.slash_command("")

    delivery = await stack.send(request)

    assert (delivery.status, delivery.text) == (200, "")
    # views.open was done by the time Slack got the ack.
    (opened,) = stack.slack.views
    assert opened.trigger_id == request.trigger_id
    block_ids = [b["block_id"] for b in opened.view["blocks"] if b["type"] == "input"]
    assert sorted(block_ids) == sorted(FIELD_KEYS)
    metadata = json.loads(opened.view["private_metadata"])
    assert metadata["c"] == EXPORTS
    headers = next(b for b in opened.view["blocks"] if b.get("block_id") == "headers")
    assert [o["value"] for o in headers["element"]["initial_options"]] == list(HEADER_KEYS)


async def test_form_command_opens_the_modal_prefilled(stack: Stack) -> None:
    """`/hss-export form k=v …` opens the modal with those values already chosen."""
    await stack.slash("form status=running risky=yes cluster_name=prod created_after=2024-05-01")

    blocks = {b["block_id"]: b["element"] for b in stack.slack.view().view["blocks"][1:]}
    assert blocks["status"]["initial_option"]["value"] == "Running"
    assert blocks["risky"]["initial_option"]["value"] == "yes"
    assert blocks["cluster_container"]["initial_option"]["value"] == "any"
    assert blocks["cluster_name"]["initial_value"] == "prod"
    assert blocks["created_after"]["initial_date_time"] == _epoch_s("2024-05-01T00:00:00")


async def test_prefilled_form_submitted_untouched_sends_what_the_slash_command_sends(
    stack: Stack,
) -> None:
    """`form <args>` then Export sends HSS the same request as typing `<args>`: one grammar."""
    args = (
        "cluster_type=cce status=waiting risky=no cluster_name=prod memory_limit=2gi "
        "created_after=2024-05-01 created_before=2024-06-01 export_size=50 "
        "headers=container_id,status"
    )
    await stack.slash(args)
    await stack.slash("form " + args)

    await stack.send(stack.slack.view_submission())

    await wait_for(lambda: len(stack.hss.calls_for("create")) == 2)
    typed, form = stack.hss.calls_for("create")
    assert form.body == typed.body
    assert form.query == typed.query
    assert typed.body["memory_limit"] == "2Gi"


async def test_form_submission_exports_every_field_as_hss_expects(stack: Stack) -> None:
    """Each kind of input (select, yes/no, text, datetime, number, multi-select) reaches HSS."""
    await stack.slash("")

    delivery = await stack.send(
        stack.slack.view_submission(
            values={
                "cluster_type": "cce",
                "status": "Terminated",
                "cluster_container": "no",
                "risky": "yes",
                "cluster_name": "prod",
                "cpu_limit": "500m",
                "memory_limit": "2Gi",
                "created_after": _epoch_s("2024-05-01T00:00:00"),
                "created_before": _epoch_s("2024-06-01T00:00:00"),
                "export_size": "500",
                "headers": ["container_id", "status"],
                "enterprise_project_id": "all_granted_eps",
            }
        )
    )

    assert (delivery.status, delivery.text) == (200, "")  # the modal closes
    await wait_for(lambda: len(stack.slack.messages) == 1)
    (create,) = stack.hss.calls_for("create")
    assert create.query == {"export_size": "500", "enterprise_project_id": "all_granted_eps"}
    assert create.body == {
        "cluster_type": "cce",
        "status": "Terminated",
        "cluster_container": False,
        "risky": True,
        "cluster_name": "prod",
        "cpu_limit": "500m",
        "memory_limit": "2Gi",
        "create_time": {"start_time": 1714521600000, "end_time": 1717200000000 - 1},
        "export_headers": [["container_id", "容器id"], ["status", "状态"]],
    }
    (message,) = stack.slack.messages_in(EXPORTS)
    assert "task-0001" in message.text
    await stack.settle()
    (entry,) = await stack.entries()
    assert entry.source == "modal"


async def test_form_errors_come_back_on_their_fields_and_nothing_runs(stack: Stack) -> None:
    """Invalid form values are answered with response_action=errors keyed by block_id."""
    await stack.slash("")

    delivery = await stack.send(
        stack.slack.view_submission(
            values={
                "cpu_limit": "2 cores",
                "memory_limit": "lots",
                "created_after": _epoch_s("2024-06-01T00:00:00"),
                "created_before": _epoch_s("2024-05-01T00:00:00"),
                "headers": [],
            }
        )
    )

    assert delivery.status == 200
    assert delivery.json["response_action"] == "errors"
    errors = delivery.json["errors"]
    assert set(errors) == {"cpu_limit", "memory_limit", "created_after", "headers"}
    assert "2 cores" in errors["cpu_limit"]
    await stack.settle()
    assert stack.hss.calls == []
    (entry,) = await stack.entries()
    assert (entry.outcome, entry.source) == ("invalid", "modal")


@pytest.mark.parametrize(
    ("text", "shown", "noted"),
    [
        (
            "form headers=container_name:Name,status",
            {"headers": ["container_name", "status"]},
            ["column names", "container_name:Name"],
        ),
        (
            "form status=sleeping export_size=lots risky=yes",
            {"status": None, "export_size": None, "risky": "yes"},
            ["`status`: got 'sleeping'", "`export_size`: got 'lots'"],
        ),
    ],
    ids=["custom-column-names", "invalid-values"],
)
async def test_form_says_what_it_could_not_fill_in(
    stack: Stack, text: str, shown: dict[str, Any], noted: list[str]
) -> None:
    """`form` with values the form cannot show opens it anyway, saying at its top what and why."""
    delivery = await stack.slash(text)

    assert (delivery.status, delivery.text) == (200, "")
    view = stack.slack.view().view
    elements = {b["block_id"]: b["element"] for b in view["blocks"] if b["type"] == "input"}
    for key, value in shown.items():
        element = elements[key]
        if key == "headers":
            assert [o["value"] for o in element["initial_options"]] == value
        elif value is None:
            assert "initial_option" not in element
            assert "initial_value" not in element
        else:
            assert element["initial_option"]["value"] == value
    notice = view["blocks"][1]
    assert notice["type"] == "section"
    for words in noted:
        assert words in notice["text"]["text"]


async def test_form_with_a_time_the_picker_cannot_show_opens_and_names_it(
    stack: Stack,
) -> None:
    """`form created_before=2300-01-01` opens a valid view: picker empty, the note names it."""
    delivery = await stack.slash("form created_before=2300-01-01 status=running")

    assert (delivery.status, delivery.text) == (200, "")
    view = stack.slack.view().view
    elements = {b["block_id"]: b["element"] for b in view["blocks"] if b["type"] == "input"}
    assert "initial_date_time" not in elements["created_before"]
    assert elements["status"]["initial_option"]["value"] == "Running"
    notice = view["blocks"][1]["text"]["text"]
    assert "`created_before=2300-01-01`" in notice
    assert "2286-11-20" in notice
    assert stack.slack.refusals == []


async def test_form_without_surprises_has_no_notice(stack: Stack) -> None:
    """A `form` whose values all fit the form opens it with inputs only."""
    await stack.slash("form status=running created_after=2024-05-01 headers=container_id")

    view = stack.slack.view().view
    assert [b["type"] for b in view["blocks"][1:]] == ["input"] * len(FIELD_KEYS)


@pytest.mark.parametrize("trouble", ["slow", "ratelimited"])
async def test_form_is_acked_in_time_whatever_views_open_does(
    tmp_path: Path, fake_hss: FakeHss, trouble: str
) -> None:
    """views.open slow (5 s) or rate limited: the command is still acked in time, saying so."""
    slack = FakeSlack()
    if trouble == "slow":
        slack.delay("views.open", 5.0)
    else:
        slack.fail("views.open", status=429, retry_after=2)
    async with running_stack(tmp_path, fake_hss, slack=slack) as stack:
        delivery = await stack.slash("")

        assert delivery.status == 200
        assert not delivery.timed_out
        assert delivery.elapsed < 2.9
        assert "could not open the form" in delivery.json["text"]
        assert len(stack.slack.calls_to("views.open")) == 1  # not retried past the deadline


async def test_form_that_cannot_open_says_so(tmp_path: Path, fake_hss: FakeHss) -> None:
    """An expired trigger_id makes views.open fail; the user is told how to go on."""
    async with running_stack(tmp_path, fake_hss, slack=FakeSlack(trigger_ttl=-1)) as stack:
        delivery = await stack.slash("")

        assert delivery.status == 200
        assert "could not open the form" in delivery.json["text"]
        assert stack.slack.views == []


# --- access control ----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("settings", "groups", "allowed", "says"),
    [
        ({"ALLOWED_USER_IDS": ""}, {}, False, "ALLOWED_USER_IDS, ALLOWED_CHANNEL_IDS"),
        ({"ALLOWED_USER_IDS": BOB}, {}, False, "You may not run HSS exports from here"),
        ({"ALLOWED_USER_IDS": "", "ALLOWED_CHANNEL_IDS": EXPORTS}, {}, True, ""),
        ({"ALLOWED_USER_IDS": "*"}, {}, True, ""),
        (
            {"ALLOWED_USER_IDS": "", "ALLOWED_USERGROUP_IDS": "S0OPS"},
            {"S0OPS": [BOB, ALICE]},
            True,
            "",
        ),
        (
            {"ALLOWED_USER_IDS": "", "ALLOWED_USERGROUP_IDS": "S0OPS"},
            {"S0OPS": [BOB]},
            False,
            "ALLOWED_USERGROUP_IDS",
        ),
    ],
    ids=["nothing-configured", "other-user", "channel", "anyone", "in-group", "not-in-group"],
)
async def test_access_policy(
    tmp_path: Path,
    fake_hss: FakeHss,
    settings: dict[str, str],
    groups: dict[str, list[str]],
    allowed: bool,
    says: str,
) -> None:
    """A command runs only for an allowed user, channel or user group; refusals are audited."""
    slack = FakeSlack()
    slack.usergroups.update(groups)
    async with running_stack(tmp_path, fake_hss, slack=slack, **settings) as stack:
        delivery = await stack.slash("status=running")
        await stack.settle()

        assert delivery.status == 200
        (entry,) = await stack.entries()
        if allowed:
            assert len(fake_hss.calls_for("create")) == 1
            assert entry.outcome == "submitted"
        else:
            assert fake_hss.calls == []
            assert says in delivery.json["text"]
            assert delivery.json["response_type"] == "ephemeral"
            assert stack.slack.views == []
            assert entry.outcome == "denied"
            assert entry.request is not None  # what was asked for is on record


async def test_refused_user_cannot_open_the_form(tmp_path: Path, fake_hss: FakeHss) -> None:
    """With nothing configured the form does not open, and the refusal names the settings."""
    async with running_stack(tmp_path, fake_hss, ALLOWED_USER_IDS="") as stack:
        delivery = await stack.slash("")

        assert "ALLOWED_USERGROUP_IDS" in delivery.json["text"]
        assert stack.slack.views == []


@pytest.mark.parametrize("trouble", ["ratelimited", "slow"])
@pytest.mark.parametrize("via", ["slash", "form"])
async def test_usergroup_trouble_is_answered_in_time_and_said_honestly(
    tmp_path: Path, fake_hss: FakeHss, trouble: str, via: str
) -> None:
    """usergroups.users.list rate limited or slow: acked well under 3 s, nothing run, user told why.

    The refusal is audited `denied` with that reason; no export runs later either.
    """
    slack = FakeSlack()
    slack.usergroups["S0OPS"] = [ALICE]
    overrides = {"ALLOWED_USER_IDS": "", "ALLOWED_USERGROUP_IDS": "S0OPS"}
    async with running_stack(tmp_path, fake_hss, slack=slack, **overrides) as stack:
        if via == "form":  # a form opened before a restart: this process never read the group
            view = modal.build_view(modal.FormContext(EXPORTS))
            trigger = stack.slack.issue_trigger(ALICE)
            await build_web_client(stack.settings).views_open(trigger_id=trigger, view=view)
            request = stack.slack.view_submission(values={"status": "Running"})
        if trouble == "ratelimited":
            slack.fail("usergroups.users.list", status=429, retry_after=2, times=10)
        else:
            slack.delay("usergroups.users.list", 5.0)
        if via == "slash":
            delivery = await stack.slash("status=running")
            shown = delivery.json.get("text", "")
        else:
            delivery = await stack.send(request)
            shown = json.dumps(delivery.json, ensure_ascii=False)
        await stack.settle()  # the listener's run, including any export after its ack

        assert delivery.status == 200
        assert delivery.elapsed < 2.5
        assert "could not check your user groups" in shown
        assert "You may not run" not in shown
        assert fake_hss.calls_for("create") == []
        assert stack.slack.messages == []
        *_, entry = await stack.entries()
        assert (entry.outcome, entry.error) == ("denied", COULD_NOT_CHECK)


async def test_usergroup_members_are_looked_up_once_per_ttl(
    tmp_path: Path, fake_hss: FakeHss
) -> None:
    """Group membership is cached: three commands cost one usergroups.users.list call."""
    slack = FakeSlack()
    slack.usergroups["S0OPS"] = [ALICE]
    overrides = {"ALLOWED_USER_IDS": "", "ALLOWED_USERGROUP_IDS": "S0OPS"}
    async with running_stack(tmp_path, fake_hss, slack=slack, **overrides) as stack:
        for _ in range(3):
            await stack.slash("preview status=running")

        assert len(stack.slack.calls_to("usergroups.users.list")) == 1


# --- request verification ----------------------------------------------------------------


@pytest.mark.parametrize(
    "forge",
    [
        lambda s: s.slack.slash_command("status=running", secret="not-the-secret"),
        lambda s: s.slack.slash_command("status=running", timestamp=int(time.time()) - 6 * 60),
        lambda s: s.slack.slash_command("status=running", timestamp=int(time.time()) + 6 * 60),
        lambda s: SignedRequest(s.slack.slash_command("status=running").body, {}),
        lambda s: s.slack.slash_command("status=running").with_headers(
            **{"X-Slack-Signature": "v0=" + "0" * 64}
        ),
    ],
    ids=["wrong-secret", "too-old", "from-the-future", "unsigned", "bad-digest"],
)
async def test_unverified_requests_get_401_and_nothing_happens(stack: Stack, forge: Any) -> None:
    """A bad signature or a timestamp over 5 minutes off: 401, no listener runs."""
    delivery = await stack.send(forge(stack))

    assert delivery.status == 401
    await asyncio.sleep(0.2)
    assert stack.hss.calls == []
    assert await stack.entries() == []
    assert [c.method for c in stack.slack.calls] == []


async def test_tampered_body_is_refused(stack: Stack) -> None:
    """Changing the text after signing breaks the signature."""
    request = stack.slack.slash_command("status=running")
    body = request.body.replace(b"running", b"waiting")

    delivery = await stack.send(SignedRequest(body, request.headers))

    assert delivery.status == 401
    assert stack.hss.calls == []


async def test_oversized_body_is_refused_before_bolt(stack: Stack) -> None:
    """A body over the limit gets 413 and never reaches a listener."""
    request = stack.slack.slash_command("image_name=" + "x" * (MAX_BODY_BYTES + 1))

    delivery = await stack.send(request)

    assert delivery.status == 413
    assert await stack.entries() == []


async def test_healthz_answers_200(stack: Stack) -> None:
    """GET /healthz answers 200 while the server is up."""
    assert stack.server is not None
    async with (
        aiohttp.ClientSession() as session,
        session.get(f"{stack.server.url}/healthz") as response,
    ):
        assert response.status == 200


async def test_commands_refused_while_draining_are_counted(
    tmp_path: Path, fake_hss: FakeHss
) -> None:
    """A command or form answered "restarting" is counted as `draining` by the hook it is given."""
    counted: list[str] = []
    async with FakeSlack() as slack:
        settings = stack_settings(fake_hss, slack)
        audit = await open_audit_log(f"sqlite:///{tmp_path / 'audit.db'}")
        hss = build_hss_client(settings)
        client = build_web_client(settings)
        notifier = SlackNotifier(client)
        lifecycle = Lifecycle()
        app = create_app(
            settings,
            service=ExportService(hss, audit, notifier),
            hss=hss,
            audit=audit,
            web_client=client,
            notifier=notifier,
            lifecycle=lifecycle,
            count=counted.append,
        )
        server = await start_http(app, "127.0.0.1", 0)
        url = f"{server.url}{EVENTS_PATH}"
        try:
            await slack.deliver(url, slack.slash_command(""))
            lifecycle.begin_drain()
            command = await slack.deliver(url, slack.slash_command("status=running"))
            form = await slack.deliver(url, slack.view_submission(values={"status": "Running"}))
        finally:
            await server.close()
            await hss.aclose()
            await audit.aclose()

    assert "restarting" in command.json["text"]
    assert "restarting" in json.dumps(form.json)
    assert counted == ["draining", "draining"]
    assert fake_hss.calls == []


async def test_while_draining_commands_get_the_restarting_reply(stack: Stack) -> None:
    """Once shutdown begins, a command is answered "restarting" and nothing runs."""
    stack.lifecycle.begin_drain()

    delivery = await stack.slash("status=running")

    assert "restarting" in delivery.json["text"]
    assert stack.hss.calls == []
    assert await stack.entries() == []


# --- unexpected errors and secrets -------------------------------------------------------


class _Broken:
    """An Hss whose every call (and preview) fails in a way nobody planned for."""

    def __init__(self, inner: HssClient) -> None:
        self._inner = inner

    def __getattr__(self, name: str) -> Any:
        return getattr(self._inner, name)

    def describe_create(self, request: Any) -> dict[str, Any]:
        raise RuntimeError("boom")

    async def create_export_task(self, request: Any) -> Any:
        raise RuntimeError("boom")

    async def get_export_task(
        self, task_id: str, enterprise_project_id: str | None = None
    ) -> TaskStatus:
        raise RuntimeError("boom")


def _reference(caplog: pytest.LogCaptureFixture) -> str:
    (record,) = [r for r in caplog.records if r.getMessage().startswith("unexpected error")]
    return str(record.__dict__["reference"])


async def test_bug_after_the_ack_keeps_the_ack_and_tells_the_reference(
    tmp_path: Path, fake_hss: FakeHss, caplog: pytest.LogCaptureFixture
) -> None:
    """A bug after the ack: Slack still gets the ack at once; the user then gets a reference."""
    async with running_stack(tmp_path, fake_hss, wrap_hss=_Broken) as stack:
        delivery = await stack.slash("status task-0001")

        assert delivery.status == 200
        assert delivery.elapsed < 1.5
        assert "Looking up task task-0001" in delivery.json["text"]
        await wait_for(lambda: len(stack.slack.responses) == 1)
        text = stack.slack.responses[0].body["text"]
        assert "went wrong on our side" in text
        assert _reference(caplog) in text


async def test_bug_before_the_ack_is_answered_in_the_ack(
    tmp_path: Path, fake_hss: FakeHss, caplog: pytest.LogCaptureFixture
) -> None:
    """A bug before the ack: the ack itself carries the apology and the reference."""
    async with running_stack(tmp_path, fake_hss, wrap_hss=_Broken) as stack:
        delivery = await stack.slash("preview status=running")

        assert delivery.status == 200
        assert _reference(caplog) in delivery.json["text"]
        assert delivery.json["response_type"] == "ephemeral"


async def test_bug_after_a_form_closes_reaches_the_user(
    tmp_path: Path, fake_hss: FakeHss, caplog: pytest.LogCaptureFixture
) -> None:
    """A bug after a form was accepted is told through the reply URL the form carried."""
    async with running_stack(tmp_path, fake_hss, wrap_hss=_Broken) as stack:
        await stack.slash("")

        delivery = await stack.send(stack.slack.view_submission(values={"status": "Running"}))

        assert (delivery.status, delivery.text) == (200, "")
        await wait_for(lambda: len(stack.slack.responses) == 1)
        assert _reference(caplog) in stack.slack.responses[0].body["text"]


async def test_secrets_never_reach_slack_or_the_logs(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """Bot token, signing secret, AK and SK appear in no message, answer or log record."""
    caplog.set_level(logging.DEBUG)
    hss = FakeHss(ak="AKSENTINEL0123456789", sk="SKSENTINEL-abcdefghijklmnopqrstuvwxyz")
    slack = FakeSlack(bot_token="xoxb-SENTINEL-bot-token", signing_secret="SENTINEL-signing-secret")
    async with hss, running_stack(tmp_path, hss, slack=slack) as stack:
        answers = [
            await stack.slash("status=running"),
            await stack.slash("preview status=running"),
            await stack.slash("risky=perhaps"),
            await stack.slash("help"),
            await stack.slash(""),
        ]
        stack.hss.fail_next(400, op="create")
        answers.append(await stack.slash("status=waiting", channel_id="D0DM"))
        answers.append(await stack.slash("status task-0001"))
        await stack.settle()
        await wait_for(lambda: len(stack.slack.responses) >= 2)

        seen = [stack.slack.everything_received(), *(a.text for a in answers)]
        seen += [r.getMessage() for r in caplog.records]
        seen += [json.dumps(vars(r), default=str) for r in caplog.records]
        everything = "\n".join(seen)
        for secret in (slack.bot_token, slack.signing_secret, hss.ak, hss.sk):
            assert secret not in everything
            assert urllib.parse.quote(secret) not in everything


async def test_a_bot_token_in_the_environment_draws_no_bolt_warning_at_start(
    tmp_path: Path,
    fake_hss: FakeHss,
    caplog: pytest.LogCaptureFixture,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """With SLACK_BOT_TOKEN exported, starting logs no "token will be unused"; Slack is reached."""
    monkeypatch.setenv("SLACK_BOT_TOKEN", "xoxb-from-the-environment")
    caplog.set_level(logging.DEBUG)
    async with running_stack(tmp_path, fake_hss) as stack:
        assert "Export requested" in (await stack.slash("status=running")).json["text"]
        await wait_for(lambda: len(stack.slack.messages) == 1)
        assert stack.app.client.token == stack.slack.bot_token
        assert stack.app.client.base_url == build_web_client(stack.settings).base_url

    assert not [r for r in caplog.records if "will be unused" in r.getMessage()]
    warnings = [r.getMessage() for r in caplog.records if r.levelno >= logging.WARNING]
    assert not [w for w in warnings if "token" in w]


def test_manifest_matches_the_app() -> None:
    """manifest.yml declares the command, the events URL and the scopes the app uses."""
    manifest = (Path(__file__).parent.parent / "manifest.yml").read_text()

    assert f"- command: {COMMAND}\n" in manifest
    # The slash command, interactivity and the event subscriptions (the Workflow step).
    assert manifest.count(f"example.com{EVENTS_PATH}\n") == 3
    for scope in ("commands", "chat:write", "files:write", "files:read", "usergroups:read"):
        assert f"      - {scope} " in manifest
    assert "socket_mode_enabled: false" in manifest
    assert "usage_hint:" in manifest


async def test_choosing_any_in_a_select_leaves_the_filter_out(stack: Stack) -> None:
    """A select set back to "Any" sends no filter for that field."""
    await stack.slash("form status=running cluster_type=cce")

    await stack.send(stack.slack.view_submission(values={"status": "any"}))

    await wait_for(lambda: len(stack.hss.calls_for("create")) == 1)
    body = stack.hss.calls_for("create")[0].body
    assert "status" not in body
    assert body["cluster_type"] == "cce"
