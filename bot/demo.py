"""The local demo: the real bot against loopback stand-ins for HSS and Slack.

Nothing about the bot is faked: the same `build_runtime` as production, its
real HTTP endpoint with signature checks, the grammar, the AK/SK signer, the
SQLite audit log and the task tracker. Only the outside world is emulated, by
the same `emulators` the tests use: `FakeHss` checks every signature,
`FakeSlack` signs the commands it sends like Slack does and records what the
bot posts. The demo fires a few commands, then runs the Workflow Builder step
once (a signed `function_executed` event, completed by the tracker once the
file is in the thread), and prints what a Slack user would have seen, then the
audit log.
"""

from __future__ import annotations

import asyncio
import html
import shlex
import shutil
import sys
import textwrap
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final

from bot.bootstrap import Runtime, build_runtime, start_http_runtime
from bot.domain import workflow
from bot.domain.approval_blocks import APPROVE_ACTION
from bot.entrypoints.web import EVENTS_PATH
from bot.observability import configure_logging
from bot.settings import Settings
from emulators.fake_hss import FakeHss
from emulators.fake_slack import Delivery, FakeSlack, Posted, SignedRequest, manifest_scopes

DEMO_DIR: Final = Path("data/demo")
CHANNEL: Final = "C0EXPORTS"
USER: Final = "U0ALICE"
APPROVER: Final = "U0BOB"
DELIVERY_WAIT_SECONDS: Final = 30.0
RULE: Final = "─" * 78
EXPECTED_CREATES: Final = 2


# The typed command; run twice, so the second thread shows what changed since the first.
VALID: Final = "status=running cluster_type=CCE risky=yes headers=container_name,image_name,risky"


@dataclass(frozen=True)
class Step:
    """One thing a user does in Slack."""

    title: str
    request: SignedRequest


async def run_demo(*, keep_serving: bool = False) -> int:
    """Run the demo end to end; return 0 when every step behaved as a user expects."""
    # The demo's own output is the story; log lines (warnings only) go to stderr.
    configure_logging("WARNING", "console", stream=sys.stderr)
    if DEMO_DIR.exists():
        shutil.rmtree(DEMO_DIR)
    DEMO_DIR.mkdir(parents=True)
    async with (
        FakeHss(
            ak="demo-ak",
            sk="demo-sk",
            project_id="demo-project",
            polls_until_done=2,
            file_format="xlsx",  # a real export, as HSS would deliver
        ) as hss,
        FakeSlack(scopes=manifest_scopes(missing_ok=True)) as slack,
    ):
        settings = _demo_settings(hss, slack)
        runtime = await build_runtime(settings)
        runtime.start_background()
        await runtime.check_slack()
        server = await start_http_runtime(runtime, "127.0.0.1", 0)
        events = server.url + EVENTS_PATH
        try:
            _say(
                f"The bot is serving {events} (signature checks on).\n"
                f"HSS stand-in: {hss.url}   Slack stand-in: {slack.api_url}\n"
                f"You are <@{USER}> in <#{CHANNEL}>."
            )
            ok = await _scenario(slack, hss, events)
            ok = await _wait_for_file(slack) and ok
            ok = await _workflow_step(slack, events) and ok
            ok = await _wait_until_settled(runtime) and ok
            ok = await _approval_scenario(slack, hss, events) and ok
            ok = await _wait_until_settled(runtime) and ok
            ok = await _export_again(slack, events, runtime) and ok
            await _show_channel(slack)
            ok = await _show_audit(runtime) and ok
            if keep_serving:
                _say("Still serving; Ctrl-C to stop.")
                await asyncio.Event().wait()
        finally:
            await server.close()
            await runtime.drain_and_close()
    _say("Demo finished: " + ("everything behaved as expected." if ok else "SOMETHING WAS OFF."))
    return 0 if ok else 1


def _demo_settings(hss: FakeHss, slack: FakeSlack) -> Settings:
    # `_env_file=None`: a developer's .env must not point the demo at real services.
    return Settings(
        _env_file=None,
        HSS_ENDPOINT=hss.url,
        HSS_PROJECT_ID="demo-project",
        CLOUD_SDK_AK="demo-ak",
        CLOUD_SDK_SK="demo-sk",
        HSS_EXPORT_HEADER_LANG="en",
        SLACK_BOT_TOKEN=slack.bot_token,
        SLACK_SIGNING_SECRET=slack.signing_secret,
        SLACK_API_URL=slack.api_url,
        ALLOWED_CHANNEL_IDS=(CHANNEL,),
        # The two-person rule: an export of every enterprise project waits for Bob.
        APPROVAL_REQUIRED_FOR=("all_granted_eps",),
        APPROVER_USER_IDS=(APPROVER,),
        AUDIT_DB_URL=f"sqlite:///./{DEMO_DIR}/audit.db",
        TASK_POLL_INITIAL_SECONDS=0.3,
        TASK_POLL_MAX_SECONDS=1.0,
        LOG_LEVEL="WARNING",
    )


async def _scenario(slack: FakeSlack, hss: FakeHss, events: str) -> bool:
    ok = True
    valid = VALID
    steps = [
        Step(f"/hss-export {valid}", slack.slash_command(valid, user_id=USER, channel_id=CHANNEL)),
        Step(
            "/hss-export status=runing export_size=0 clustr_type=cce",
            slack.slash_command(
                "status=runing export_size=0 clustr_type=cce", user_id=USER, channel_id=CHANNEL
            ),
        ),
        Step(
            '/hss-export preview pod_name="web 1" created_after=2026-01-01',
            slack.slash_command(
                'preview pod_name="web 1" created_after=2026-01-01',
                user_id=USER,
                channel_id=CHANNEL,
            ),
        ),
        Step(
            "/hss-export            (no text: the form opens)",
            slack.slash_command("", user_id=USER, channel_id=CHANNEL),
        ),
    ]
    for step in steps:
        answer = await slack.deliver(events, step.request)
        ok = _show_answer(step.title, answer) and ok

    bad = slack.view_submission(values={"export_size": "0", "memory_limit": "lots"})
    answer = await slack.deliver(events, bad)
    ok = _show_answer("Form submitted with export_size=0, memory_limit=lots", answer) and ok

    good = slack.view_submission(values={"status": "Running", "cluster_type": "cce"})
    answer = await slack.deliver(events, good)
    ok = _show_answer("Form submitted with status=Running, cluster_type=cce", answer) and ok
    again = await slack.deliver(events, good)
    ok = _show_answer("The same form submission again (Slack retry)", again) and ok

    # One create for the typed command, one for the form: the bot answers Slack first and
    # calls HSS after the ack, so wait for the calls rather than count them at once.
    await _settle(lambda: len(hss.calls_for("create")) >= EXPECTED_CREATES)
    await asyncio.sleep(0.3)  # a wrongly repeated create would land here
    creates = hss.calls_for("create")
    _say(
        f"HSS received {len(creates)} create calls, each AK/SK-signed and verified by the "
        "stand-in: one for the valid typed command, one for the valid form (the invalid ones "
        "never reached HSS; the retried form did not create a second task):"
    )
    for call in creates:
        print(f"  POST {call.path}" + (f"?{_query(call.query)}" if call.query else ""))
        print(textwrap.indent(textwrap.shorten(str(call.body), 160), "    body: "))
    return ok and len(creates) == EXPECTED_CREATES


# The step's definition as the manifest declares it (the demo reads no YAML): the outputs
# the fake Slack then requires of functions.completeSuccess.
STEP_DEFINITION: Final = {
    "callback_id": workflow.CALLBACK_ID,
    "title": workflow.TITLE,
    "output_parameters": {
        "properties": {name: {"type": "string"} for name in workflow.OUTPUTS},
        "required": list(workflow.OUTPUTS),
    },
}


async def _workflow_step(slack: FakeSlack, events: str) -> bool:
    """Run the Workflow Builder step once, as a workflow would: one export, completed once."""
    inputs = {"user_id": USER, "channel_id": CHANNEL, "filters": "status=running", "risky": True}
    files_before = len(slack.files)
    event = slack.function_executed(inputs, function=STEP_DEFINITION)
    answer = await slack.deliver(events, event)
    ok = _show_answer(
        "Workflow Builder runs the step “Export HSS containers” "
        "(filters: status=running, Risky only: yes)",
        answer,
    )
    done = await _settle(lambda: bool(slack.step_completions), DELIVERY_WAIT_SECONDS)
    if not done:
        _say("The workflow step was not completed in time.")
        return False
    completion = slack.step_completions[-1]
    _say(f"The tracker completed the step ({completion.method}, {completion.token} token):")
    for name, value in completion.outputs.items():
        print(f"  {name}: {value}")
    if completion.error:
        print(f"  error: {completion.error}")
    delivered = len(slack.files) == files_before + 1  # its file, in its thread
    return ok and completion.method == "functions.completeSuccess" and delivered


async def _approval_scenario(slack: FakeSlack, hss: FakeHss, events: str) -> bool:
    """One approval: held, refused to the requester herself, approved by Bob, run once."""
    text = "enterprise_project_id=all_granted_eps risky=yes"
    before = len(hss.calls_for("create"))
    held = slack.slash_command(text, user_id=USER, channel_id=CHANNEL)
    ok = _show_answer(
        f"/hss-export {text}   (the two-person rule holds it)", await slack.deliver(events, held)
    )
    ok = await _settle(lambda: _approval_message(slack) is not None) and ok
    message = _approval_message(slack)
    if message is None:
        return False
    _say(f"The approval request in <#{message.channel}>, with Approve / Deny buttons:")
    print(textwrap.indent(_visible({"blocks": message.blocks[:1] + message.blocks[-2:-1]}), "  │ "))
    own = slack.button_click(message, APPROVE_ACTION, user_id=USER)
    bobs = slack.button_click(message, APPROVE_ACTION, user_id=APPROVER)
    ok = (
        _show_answer(
            f"<@{USER}> clicks Approve on her own request (refused, audited)",
            await slack.deliver(events, own),
        )
        and ok
    )
    ok = _show_answer(f"<@{APPROVER}> clicks Approve", await slack.deliver(events, bobs)) and ok
    ok = await _settle(lambda: len(hss.calls_for("create")) == before + 1) and ok
    await asyncio.sleep(0.3)  # a wrongly repeated create would land here
    creates = len(hss.calls_for("create"))
    _say(f"After the approval HSS received {creates - before} more create call.")
    return ok and creates == before + 1


def _approval_message(slack: FakeSlack) -> Posted | None:
    try:
        return slack.last_message_with(APPROVE_ACTION)
    except AssertionError:
        return None


async def _export_again(slack: FakeSlack, events: str, runtime: Runtime) -> bool:
    """Run the first command again: its thread gets a summary and what changed since."""
    files_before = len(slack.files)
    request = slack.slash_command(VALID, user_id=USER, channel_id=CHANNEL)
    ok = _show_answer(
        f"Later, the same /hss-export {VALID} again", await slack.deliver(events, request)
    )
    ok = await _settle(lambda: len(slack.files) >= files_before + 1, DELIVERY_WAIT_SECONDS) and ok
    ok = await _wait_until_settled(runtime) and ok
    _say(
        "Each file's thread also got a summary; the second run of the same filters "
        "says what changed."
    )
    return ok


def _show_answer(title: str, answer: Delivery) -> bool:
    _say(title)
    print(f"  Slack got HTTP {answer.status} after {answer.elapsed * 1000:.0f} ms")
    text = _visible(answer.json)
    if text:
        print(textwrap.indent(text, "  │ "))
    return answer.status == 200 and not answer.timed_out


async def _wait_for_file(slack: FakeSlack) -> bool:
    ok = await _settle(lambda: len(slack.files) >= 2, DELIVERY_WAIT_SECONDS)
    _say(f"Files delivered into threads: {len(slack.files)}")
    for f in slack.files:
        print(f"  {f.filename}  {f.size} bytes  sha256 {f.sha256[:16]}…  thread {f.thread_ts}")
    return ok


async def _wait_until_settled(runtime: Runtime) -> bool:
    """Wait until every followed task is finished: message updated, delivery audited."""
    deadline = time.monotonic() + DELIVERY_WAIT_SECONDS
    while await runtime.tasks.list_tasks(unsettled_only=True):
        if time.monotonic() > deadline:
            _say("Some tasks were still being followed when the demo gave up waiting.")
            return False
        await asyncio.sleep(0.1)
    return True


async def _show_channel(slack: FakeSlack) -> None:
    _say(f"What everyone in <#{CHANNEL}> sees (messages as last updated):")
    for message in slack.messages_in(CHANNEL):
        latest = _latest_text(slack, message.ts) or message.all_text
        where = f"thread {message.thread_ts}" if message.thread_ts else f"ts {message.ts}"
        print(f"  [{where}]")
        print(textwrap.indent(_squeeze(latest), "  │ "))


async def _show_audit(runtime: Runtime) -> bool:
    entries = await runtime.audit.list_entries()
    _say(f"Audit log ({len(entries)} entries):")
    for e in entries:
        task = f" task={e.task_id}" if e.task_id else ""
        delivered = f" delivered={e.delivery.get('file_name')}" if e.delivery else ""
        summary = (e.delivery or {}).get("summary") or {}
        if "rows" in summary:
            delivered += f" summary={summary['rows']} rows"
        print(f"  #{e.id} {e.at:%H:%M:%S} {e.source:8} <@{e.user_id}> {e.outcome}{task}{delivered}")
    result = await runtime.audit.verify()
    print(f"  chain: {result}")
    database = (Path.cwd() / DEMO_DIR / "audit.db").resolve()
    print(f"  The demo's audit log is {database}; to open it, paste:")
    print(f"    {_cli_command()} audit list --db {shlex.quote(f'sqlite:///{database}')}")
    return bool(result.ok)


def _cli_command() -> str:
    """Return how to run the CLI from this shell: on PATH, else next to this Python."""
    if shutil.which("hss-export-bot"):
        return "hss-export-bot"
    script = Path(sys.executable).parent / "hss-export-bot"
    if script.exists():
        return shlex.quote(str(script.absolute()))
    return f"{shlex.quote(sys.executable)} -m bot"


def _latest_text(slack: FakeSlack, ts: str) -> str | None:
    updates = [c for c in slack.calls_to("chat.update") if c.params.get("ts") == ts]
    if not updates:
        return None
    params = updates[-1].params
    return _visible({"text": params.get("text"), "blocks": params.get("blocks")})


def _visible(body: dict[str, Any]) -> str:
    """Render what Slack shows for a message body: its blocks' texts, else its text."""
    lines: list[str] = []

    def walk(node: Any) -> None:
        if isinstance(node, dict):
            if node.get("type") in ("mrkdwn", "plain_text") and isinstance(node.get("text"), str):
                lines.append(node["text"])
                return
            for value in node.values():
                walk(value)
        elif isinstance(node, list):
            for item in node:
                walk(item)

    walk(body.get("blocks"))
    lines = [html.unescape(line) for line in lines]  # Slack's &lt; &gt; &amp; as the user sees them
    if body.get("response_action") == "errors":
        lines += [f"⚠ field `{k}`: {v}" for k, v in body.get("errors", {}).items()]
    if not lines and isinstance(body.get("text"), str):
        lines.append(body["text"])
    return _squeeze("\n".join(lines))


def _squeeze(text: str) -> str:
    return "\n".join(line for line in text.splitlines() if line.strip())


def _query(query: dict[str, Any]) -> str:
    return "&".join(f"{k}={v}" for k, v in query.items())


async def _settle(done: Any, wait_seconds: float = 10.0) -> bool:
    deadline = time.monotonic() + wait_seconds
    while time.monotonic() < deadline:
        if done():
            return True
        await asyncio.sleep(0.1)
    return bool(done())


def _say(text: str) -> None:
    print(f"\n{RULE}\n{text}")
