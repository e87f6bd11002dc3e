"""The usage text of `/hss-export` (and of the CLI): every key, what it accepts, examples.

Pure. Built from the field catalogue, so a new key documents itself.
"""

from __future__ import annotations

from bot.domain.grammar.commands import MAX_TEXT_CHARS
from bot.domain.grammar.fields import ALL_GRANTED_EPS, ALL_KEYS, BY_KEY, CONFIRM_RULE


def help_text(command: str = "/hss-export", *, slack: bool = True) -> str:
    """Return usage with every key, what it accepts and examples, as Slack mrkdwn.

    With `slack=False` (a terminal), leave out the Slack-only forms (form, status, history).
    """
    if slack:
        usage = (
            f"`{command}` opens a form. `{command} key=value …` exports at once.\n"
            f"`{command} preview key=value …` shows the exact request without sending it.\n"
            f"`{command} form key=value …` opens the form filled in.\n"
            f"`{command} status <task_id>` shows a task (in the enterprise project it was "
            f"created in, or add `enterprise_project_id=…`); `{command} history` your latest "
            f"exports; `{command} approvals` the exports waiting for an approver (on you, or "
            f"yours); `{command} profiles` the HSS profiles you may use; "
            f"`{command} help` this text.\n"
            f"`{command} schedule NAME every monday 09:00 [tz=Asia/Shanghai]` (or "
            f'`cron="0 9 * * 1"`; also `every day 08:30`, `every weekday 09:00`, '
            f"`every monday,thursday 18:00`, `every hour`) runs saved export NAME in this "
            f"channel on that schedule, in `tz=`, else your Slack time zone; "
            f"`{command} schedules` lists them with their next run; `{command} pause NAME`, "
            f"`resume NAME`, `unschedule NAME` (the schedule's owner only).\n"
            f"`{command} save NAME key=value …` keeps those filters as NAME (this workspace's, "
            f"yours to change); `{command} run NAME [key=value …]` exports them (keys you add "
            f"replace the saved ones); `{command} saved` lists the saved exports; "
            f"`{command} forget NAME` deletes yours.\n"
            f"`{CONFIRM_RULE.key}=yes`: {CONFIRM_RULE.accepts.split(': ', 1)[1]}.\n"
        )
        quotes = " (Slack's curly quotes work too)"
    else:
        usage = (
            f"`{command} key=value …` exports at once and prints the task id.\n"
            f"`{command} preview key=value …` (or `--dry-run`) prints the exact request "
            "without sending it; `--json` prints JSON.\n"
        )
        quotes = ""
    keys = "\n".join(f"• `{key}`: {BY_KEY[key].accepts}" for key in ALL_KEYS)
    examples = "\n".join(
        f"• `{command} {example}`{note}"
        for example, note in (
            ("status=running risky=true", ""),
            ("cluster_type=cce cluster_name=prod memory_limit=2Gi export_size=500", ""),
            ("created_after=2024-05-01 created_before=2024-06-01", " (all of May, UTC)"),
            ('headers="container_name:Container,status,risky:Risky?"', ""),
            (f'preview pod_name="web 1" enterprise_project_id={ALL_GRANTED_EPS}', ""),
        )
    )
    return (
        "*Export the HSS container list*\n"
        f"{usage}"
        "\n*Keys* (lower-case; each at most once; every one optional)\n"
        f"{keys}\n"
        "\n*Writing values*\n"
        f'• Quote values with spaces: `pod_name="web 1"`{quotes}.\n'
        "• A value may contain `=`: `image_name=a=b` means `a=b`.\n"
        "• One value per key: for two states, run two exports (`status=Running`, then "
        "`status=Waiting`).\n"
        "• `status` and `cluster_type` also take the API page's Chinese names "
        "(`status=运行中` is `status=Running`).\n"
        f"• At most {MAX_TEXT_CHARS} characters in all.\n"
        f"\n*Examples*\n{examples}"
    )
