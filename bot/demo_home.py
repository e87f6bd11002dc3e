"""The demo's App Home: Alice opens the app's Home tab, runs her saved export, pauses its schedule.

What Slack would show is printed from the views the bot published through the
stand-in's `views.publish` (checked with Slack's home-view rules): each block's
text, each button as `[label]`. The clicks are signed `block_actions` payloads,
as Slack sends them from a home (no channel, no response_url).
"""

from __future__ import annotations

import textwrap
from typing import Any, Final

from bot.bootstrap import Runtime
from bot.demo_schedule import NAME, task_message
from bot.demo_steps import (
    CHANNEL,
    DELIVERY_WAIT_SECONDS,
    USER,
    say,
    settle,
    visible,
    wait_until_settled,
)
from bot.domain import home
from emulators.fake_hss import FakeHss
from emulators.fake_slack import FakeSlack
from emulators.fake_slack.home import block_buttons

RUN_NOW: Final = 1  # the creates this scenario adds: one Run now


async def home_scenario(slack: FakeSlack, hss: FakeHss, events: str, runtime: Runtime) -> bool:
    """Open the Home, click Run now on the saved export, then Pause on its schedule."""
    delivered = await slack.deliver(events, slack.home.opened(USER))
    ok = delivered.status == 200 and await settle(lambda: slack.home.has(USER))
    if not ok:
        say("The Home tab was not published.")
        return False
    _show_home(slack, f"<@{USER}> opens the app's Home tab: her saved exports and schedules")

    before = set(hss.tasks)
    ok = await _click(slack, events, home.RUN_SAVED, f"She clicks Run now on `{NAME}`")
    ran = await settle(lambda: len(hss.tasks) == len(before) + RUN_NOW, DELIVERY_WAIT_SECONDS)
    ok = ran and await wait_until_settled(runtime) and ok
    if ran:
        [task_id] = set(hss.tasks) - before
        head = task_message(slack, task_id)
        ok = head is not None and ok
        say(f"HSS received one more create (task `{task_id}`); its message in <#{CHANNEL}>:")
        if head is not None:
            print(textwrap.indent(visible({"blocks": head.blocks, "text": head.text}), "  │ "))

    ok = await _click(slack, events, home.PAUSE_SCHEDULE, f"She clicks Pause on `{NAME}`") and ok
    paused = any(b.get("action_id") == home.RESUME_SCHEDULE for b in slack.home.of(USER).buttons())
    if not paused:
        say("The schedule's Resume button did not appear.")
    return paused and ok


async def _click(slack: FakeSlack, events: str, action_id: str, title: str) -> bool:
    """Click the button, wait for the home to be published again, and show it."""
    published = len(slack.home.published)
    answer = await slack.deliver(events, slack.home.click(action_id, user_id=USER))
    republished = await settle(lambda: len(slack.home.published) > published)
    say(f"{title} (Slack got HTTP {answer.status} after {answer.elapsed * 1000:.0f} ms)")
    if republished:
        _show_home(slack, "The Home, published again")
    return answer.status == 200 and not answer.timed_out and republished


def _show_home(slack: FakeSlack, title: str) -> None:
    print(f"  {title}:")
    print(textwrap.indent(render_home(slack.home.of(USER).view), "  ▌ "))


def render_home(view: dict[str, Any]) -> str:
    """Render a home view as Slack lays it out: block texts, buttons as `[label]`."""
    lines: list[str] = []
    for block in view.get("blocks", []):
        kind = block.get("type")
        if kind == "divider":
            lines.append("─" * 40)
            continue
        labels = "  ".join(f"[{b['text']['text']}]" for b in block_buttons(block))
        if kind == "actions":
            lines.append(labels)
            continue
        text = visible({"blocks": [{k: v for k, v in block.items() if k != "accessory"}]})
        lines.append(f"{text}   {labels}" if labels else text)
    return "\n".join(line for line in lines if line.strip())
