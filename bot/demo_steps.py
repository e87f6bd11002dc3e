"""The local demo's steps: what a user does in Slack, and what they see.

`bot.demo` builds the stand-ins and the bot, then runs these in order: typed
commands and the form (landing on the channel's profile), a command sent to
the other profile with `profile=`, the Workflow Builder step, an approval, and
the first command again. Each step prints what Slack showed and returns
whether it behaved as a user expects.
"""

from __future__ import annotations

import asyncio
import html
import textwrap
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Final

from bot.bootstrap import Runtime
from bot.domain import workflow
from bot.domain.approval_blocks import APPROVE_ACTION
from emulators.fake_hss import FakeHss
from emulators.fake_slack import Delivery, FakeSlack, Posted, SignedRequest

CHANNEL: Final = "C0EXPORTS"
USER: Final = "U0ALICE"
USER_TZ: Final = "Europe/Berlin"  # her Slack time zone, as users.info tells it
APPROVER: Final = "U0BOB"
DELIVERY_WAIT_SECONDS: Final = 30.0
RULE: Final = "─" * 78
EXPECTED_CREATES: Final = 2

# The typed command; run twice, so the second thread shows what changed since the first.
VALID: Final = "status=running cluster_type=CCE risky=yes headers=container_name,image_name,risky"
# Sent to the other profile from the same channel.
ELSEWHERE: Final = "profile=staging status=running risky=yes"


@dataclass(frozen=True)
class Step:
    """One thing a user does in Slack."""

    title: str
    request: SignedRequest


async def scenario(slack: FakeSlack, hss: FakeHss, events: str) -> bool:
    """Typed commands and the form, valid and not: two creates, both at the channel's profile."""
    ok = True
    steps = [
        Step(
            f"/hss-export {VALID}   (no profile=: the channel's default, prod)",
            slack.slash_command(VALID, user_id=USER, channel_id=CHANNEL),
        ),
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
        ok = show_answer(step.title, answer) and ok

    bad = slack.view_submission(values={"export_size": "0", "memory_limit": "lots"})
    answer = await slack.deliver(events, bad)
    ok = show_answer("Form submitted with export_size=0, memory_limit=lots", answer) and ok

    good = slack.view_submission(values={"status": "Running", "cluster_type": "cce"})
    answer = await slack.deliver(events, good)
    ok = show_answer("Form submitted with status=Running, cluster_type=cce", answer) and ok
    again = await slack.deliver(events, good)
    ok = show_answer("The same form submission again (Slack retry)", again) and ok

    # One create for the typed command, one for the form: the bot answers Slack first and
    # calls HSS after the ack, so wait for the calls rather than count them at once.
    await settle(lambda: len(hss.calls_for("create")) >= EXPECTED_CREATES)
    await asyncio.sleep(0.3)  # a wrongly repeated create would land here
    creates = hss.calls_for("create")
    say(
        f"HSS received {len(creates)} create calls, each AK/SK-signed and verified by the "
        "stand-in: one for the valid typed command, one for the valid form (the invalid ones "
        "never reached HSS; the retried form did not create a second task):"
    )
    for call in creates:
        print(f"  POST {call.path}" + (f"?{_query(call.query)}" if call.query else ""))
        print(textwrap.indent(textwrap.shorten(str(call.body), 160), "    body: "))
    return ok and len(creates) == EXPECTED_CREATES


async def other_profile(slack: FakeSlack, hss: FakeHss, events: str) -> bool:
    """`profile=staging` from the same channel: one create at the staging account, one file."""
    files_before, creates_before = len(slack.files), len(hss.calls_for("create"))
    request = slack.slash_command(ELSEWHERE, user_id=USER, channel_id=CHANNEL)
    ok = show_answer(
        f"/hss-export {ELSEWHERE}   (the other profile, from the same channel)",
        await slack.deliver(events, request),
    )
    ok = await settle(lambda: len(slack.files) > files_before, DELIVERY_WAIT_SECONDS) and ok
    created = hss.calls_for("create")[creates_before:]
    say(f"The staging stand-in received {len(created)} create call; its file, in its thread:")
    for call in created:
        print(f"  POST {call.path}")
    for f in slack.files[files_before:]:
        print(f"  {f.filename}  {f.size} bytes  sha256 {f.sha256[:16]}…  thread {f.thread_ts}")
    return ok and len(created) == 1 and len(slack.files) == files_before + 1


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


async def workflow_step(slack: FakeSlack, events: str) -> bool:
    """Run the Workflow Builder step once, as a workflow would: one export, completed once."""
    inputs = {"user_id": USER, "channel_id": CHANNEL, "filters": "status=running", "risky": True}
    files_before = len(slack.files)
    event = slack.function_executed(inputs, function=STEP_DEFINITION)
    answer = await slack.deliver(events, event)
    ok = show_answer(
        "Workflow Builder runs the step “Export HSS containers” "
        "(filters: status=running, Risky only: yes)",
        answer,
    )
    done = await settle(lambda: bool(slack.step_completions), DELIVERY_WAIT_SECONDS)
    if not done:
        say("The workflow step was not completed in time.")
        return False
    completion = slack.step_completions[-1]
    say(f"The tracker completed the step ({completion.method}, {completion.token} token):")
    for name, value in completion.outputs.items():
        print(f"  {name}: {value}")
    if completion.error:
        print(f"  error: {completion.error}")
    delivered = len(slack.files) == files_before + 1  # its file, in its thread
    return ok and completion.method == "functions.completeSuccess" and delivered


async def approval_scenario(slack: FakeSlack, hss: FakeHss, events: str) -> bool:
    """One approval: held, refused to the requester herself, approved by Bob, run once."""
    text = "enterprise_project_id=all_granted_eps risky=yes"
    before = len(hss.calls_for("create"))
    held = slack.slash_command(text, user_id=USER, channel_id=CHANNEL)
    ok = show_answer(
        f"/hss-export {text}   (the two-person rule holds it)", await slack.deliver(events, held)
    )
    ok = await settle(lambda: _approval_message(slack) is not None) and ok
    message = _approval_message(slack)
    if message is None:
        return False
    say(f"The approval request in <#{message.channel}>, with Approve / Deny buttons:")
    print(textwrap.indent(visible({"blocks": message.blocks[:1] + message.blocks[-2:-1]}), "  │ "))
    own = slack.button_click(message, APPROVE_ACTION, user_id=USER)
    bobs = slack.button_click(message, APPROVE_ACTION, user_id=APPROVER)
    told_before = len(_told(slack, USER))
    ok = (
        show_answer(
            f"<@{USER}> clicks Approve on her own request (refused, audited)",
            await slack.deliver(events, own),
        )
        and ok
    )
    # The refusal comes after the click's ack, only to her: show it as she sees it.
    ok = await settle(lambda: len(_told(slack, USER)) > told_before) and ok
    for body in _told(slack, USER)[told_before:]:
        print(textwrap.indent(visible(body), "  │ "))
    ok = show_answer(f"<@{APPROVER}> clicks Approve", await slack.deliver(events, bobs)) and ok
    ok = await settle(lambda: len(hss.calls_for("create")) == before + 1) and ok
    await asyncio.sleep(0.3)  # a wrongly repeated create would land here
    creates = len(hss.calls_for("create"))
    say(f"After the approval HSS received {creates - before} more create call.")
    return ok and creates == before + 1


def _told(slack: FakeSlack, user: str) -> list[dict[str, Any]]:
    """Return what was shown to `user` alone, through reply URLs or as ephemeral messages."""
    replies = [r.body for r in slack.responses if r.user_id == user]
    ephemerals = [
        {"text": m.text, "blocks": m.blocks} for m in slack.ephemerals if m.ephemeral_user == user
    ]
    return replies + ephemerals


def _approval_message(slack: FakeSlack) -> Posted | None:
    try:
        return slack.last_message_with(APPROVE_ACTION)
    except AssertionError:
        return None


async def export_again(slack: FakeSlack, events: str, runtime: Runtime) -> bool:
    """Run the first command again: its thread gets a summary and what changed since."""
    files_before = len(slack.files)
    request = slack.slash_command(VALID, user_id=USER, channel_id=CHANNEL)
    ok = show_answer(
        f"Later, the same /hss-export {VALID} again", await slack.deliver(events, request)
    )
    ok = await settle(lambda: len(slack.files) >= files_before + 1, DELIVERY_WAIT_SECONDS) and ok
    ok = await wait_until_settled(runtime) and ok
    say(
        "Each file's thread also got a summary; the second run of the same filters "
        "says what changed."
    )
    return ok


def show_answer(title: str, answer: Delivery) -> bool:
    """Print what Slack showed for one request; True if the bot answered in time."""
    say(title)
    print(f"  Slack got HTTP {answer.status} after {answer.elapsed * 1000:.0f} ms")
    text = visible(answer.json)
    if text:
        print(textwrap.indent(text, "  │ "))
    return answer.status == 200 and not answer.timed_out


async def wait_for_file(slack: FakeSlack, hss: FakeHss) -> bool:
    """Wait for the first two files (the typed command's and the form's) and list them.

    They are listed in the order their tasks were created: the tracker delivers whichever
    finishes first, so the order of delivery says nothing.
    """
    ok = await settle(lambda: len(slack.files) >= EXPECTED_CREATES, DELIVERY_WAIT_SECONDS)
    say(f"Files delivered into threads: {len(slack.files)}")
    created = [task.file_name for task in hss.tasks.values()]
    for f in sorted(
        slack.files,
        key=lambda f: created.index(f.filename) if f.filename in created else len(created),
    ):
        print(f"  {f.filename}  {f.size} bytes  sha256 {f.sha256[:16]}…  thread {f.thread_ts}")
    return ok


async def wait_until_settled(runtime: Runtime) -> bool:
    """Wait until every followed task is finished: message updated, delivery audited."""
    deadline = time.monotonic() + DELIVERY_WAIT_SECONDS
    while await runtime.tasks.list_tasks(unsettled_only=True):
        if time.monotonic() > deadline:
            say("Some tasks were still being followed when the demo gave up waiting.")
            return False
        await asyncio.sleep(0.1)
    return True


async def show_channel(slack: FakeSlack) -> None:
    """Print the channel's messages as last updated."""
    say(f"What everyone in <#{CHANNEL}> sees (messages as last updated):")
    for message in slack.messages_in(CHANNEL):
        latest = _latest_text(slack, message.ts) or visible(
            {"text": message.text, "blocks": message.blocks}
        )
        where = f"thread {message.thread_ts}" if message.thread_ts else f"ts {message.ts}"
        print(f"  [{where}]")
        print(textwrap.indent(_squeeze(latest), "  │ "))


def _latest_text(slack: FakeSlack, ts: str) -> str | None:
    updates = [c for c in slack.calls_to("chat.update") if c.params.get("ts") == ts]
    if not updates:
        return None
    params = updates[-1].params
    return visible({"text": params.get("text"), "blocks": params.get("blocks")})


def visible(body: dict[str, Any]) -> str:
    """Render what Slack shows for a message body: its blocks' texts, else its text."""
    lines: list[str] = []

    def walk(node: Any) -> None:
        if isinstance(node, dict):
            if node.get("type") == "table":
                lines.append(_table(node.get("rows") or []))
                return
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


def _table(rows: list[list[dict[str, Any]]]) -> str:
    """Render a table block's raw_text cells as aligned columns, as Slack lays them out."""
    cells = [[str(cell.get("text", "")) for cell in row] for row in rows]
    widths = [max(len(row[i]) for row in cells if i < len(row)) for i in range(len(cells[0]))]
    return (
        "\n".join(
            ("  " + "  ".join(t.ljust(w) for t, w in zip(row, widths, strict=False))).rstrip()
            for row in cells
        )
        if cells
        else ""
    )


def _squeeze(text: str) -> str:
    return "\n".join(line for line in text.splitlines() if line.strip())


def _query(query: dict[str, Any]) -> str:
    return "&".join(f"{k}={v}" for k, v in query.items())


async def settle(done: Callable[[], bool], wait_seconds: float = 10.0) -> bool:
    """Wait until `done()` holds, up to `wait_seconds`; return whether it does."""
    deadline = time.monotonic() + wait_seconds
    while time.monotonic() < deadline:
        if done():
            return True
        await asyncio.sleep(0.1)
    return bool(done())


def say(text: str) -> None:
    """Print a section of the demo's story under a rule."""
    print(f"\n{RULE}\n{text}")
