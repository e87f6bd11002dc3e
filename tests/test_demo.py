"""The README's first command: with no credentials, `start` runs the local demo end to end."""

from __future__ import annotations

import asyncio
import os
import subprocess
from pathlib import Path

import pytest

from bot.access import SELF_APPROVAL
from bot.cli import main
from bot.demo_steps import wait_for_file
from bot.settings import Settings
from emulators.fake_hss import FakeHss, Task
from emulators.fake_slack import FakeSlack
from emulators.fake_slack.records import UploadedFile


@pytest.fixture(autouse=True)
def no_settings(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """Run in an empty directory with no setting in the environment (a fresh clone)."""
    monkeypatch.chdir(tmp_path)
    for name in Settings.model_fields:
        monkeypatch.delenv(name, raising=False)


async def test_start_without_credentials_runs_the_whole_demo(
    capsys: pytest.CaptureFixture[str],
) -> None:
    """`start` with nothing configured shows commands, task ids, delivered files and the audit."""
    assert await asyncio.to_thread(main, ["start"]) == 0
    out = capsys.readouterr().out
    assert "running the local demo" in out
    assert "Export requested" in out  # the valid command's immediate answer
    assert "3 problems" in out  # the invalid command lists every problem at once
    assert "did you mean `Running`" in out
    assert "did you mean `cluster_type`" in out
    assert "field `export_size`" in out  # the form's error lands on its field
    assert "HSS received 2 create calls" in out  # the retried form created nothing
    assert "Files delivered into threads: 2" in out
    delivered = out.split("Files delivered into threads: 2")[1]
    assert delivered.index("task-0001.xlsx") < delivered.index("task-0002.xlsx")
    assert "Task ID:* `task-0001`" in out
    assert "chain intact" in out
    # Her own Approve is refused, and she reads why, before Bob's click.
    own = out.split("clicks Approve on her own request")[1].split("<@U0BOB> clicks Approve")[0]
    assert SELF_APPROVAL in own
    # The Workflow Builder step ran once and was completed by the tracker with the bot token.
    assert "The tracker completed the step (functions.completeSuccess, bot token)" in out
    assert "task_id: task-0003" in out
    assert "Export summary: 5 containers (xlsx)" in out  # each thread gets a summary
    assert "Changed since" in out  # the same filters again: what changed since the first
    assert "summary=5 rows" in out  # the audit's delivery record notes the summary
    # The schedule: saved, scheduled in Berlin time, run on two Mondays by a moved clock.
    assert "Scheduled `weekly`: every Monday at 09:00 in Europe/Berlin (as given)" in out
    first, second = out.split("Run 1 of `weekly`")[1].split("Run 2 of `weekly`")
    assert first.count("└ file ") == 1  # the export alone
    assert "Changed since" not in first
    assert second.count("└ file ") == 2  # the export and the chart
    assert second.count("└ file weekly-runs.png") == 1
    assert "Changed since" in second  # what changed since the first run
    assert "the demo saved it as data/demo/weekly-runs.png" in out
    chart = await asyncio.to_thread(Path("data/demo/weekly-runs.png").read_bytes)
    assert chart.startswith(b"\x89PNG\r\n\x1a\n")
    assert 0 < len(chart) <= 200_000
    assert "(640x320 PNG" in out
    # The App Home: her saved export and schedule, Run now, then Pause.
    opened, ran, paused = out.split("opens the app's Home tab")[1].split("She clicks ")[:3]
    assert "▌ *weekly* · `profile=prod risky=yes status=running`" in opened
    assert "▌ [Run now]  [Forget]" in opened
    assert "▌ [Pause]  [Delete]" in opened
    assert "Times are shown in Europe/Berlin, your Slack time zone." in opened
    assert "Next run: Mon 2026-12-21 09:00 CET" in opened  # in her zone, not UTC
    assert "Running `weekly`: the task id and the file go to <#C0EXPORTS>." in ran
    assert "HSS received one more create (task `task-0008`)" in ran
    assert "Export ready*: `container-export-task-0008.xlsx`" in ran
    assert "Schedule `weekly` paused" in paused
    assert "▌ [Resume]  [Delete]" in paused
    assert "Demo finished: everything behaved as expected." in out
    for key in ("demo-prod-ak", "demo-prod-sk", "demo-staging-ak", "demo-staging-sk"):
        assert key not in out  # no stand-in's key is ever shown


async def test_the_demo_lists_delivered_files_in_task_order(
    capsys: pytest.CaptureFixture[str],
) -> None:
    """Files that arrive task-0002 first are listed task-0001 first: in the tasks' order."""
    hss, slack = FakeHss(), FakeSlack()
    for number in (1, 2):
        task_id = f"task-000{number}"
        hss.tasks[task_id] = Task(task_id, 0, "success", f"F{number}", f"export-{task_id}.xlsx", 9)
    for number in (2, 1):  # the second task finished first
        slack.files.append(
            UploadedFile(
                f"F{number}",
                f"export-task-000{number}.xlsx",
                None,
                9,
                "0" * 64,
                "C0EXPORTS",
                f"1.00000{number}",
                None,
            )
        )
    assert await wait_for_file(slack, hss)
    listed = [line.split()[0] for line in capsys.readouterr().out.splitlines()[3:]]
    assert listed == ["export-task-0001.xlsx", "export-task-0002.xlsx"]


async def test_the_demo_lands_a_command_on_each_of_its_two_profiles(
    capsys: pytest.CaptureFixture[str],
) -> None:
    """prod (the channel's default) gets eight creates (two by the schedule, one from the Home)."""
    assert await asyncio.to_thread(main, ["demo"]) == 0
    out = capsys.readouterr().out
    profiles = await asyncio.to_thread(Path("data/demo/profiles.toml").read_text, "utf-8")
    assert 'ak_env = "DEMO_STAGING_AK"' in profiles  # names of variables, never keys
    assert "demo-staging-sk" not in profiles
    # Each stand-in received exactly its creates, each call signed with its own keys.
    assert (
        "prod (cn-north-4, project demo-prod-project): 8 create calls, tasks task-0001, "
        "task-0002, task-0003, task-0004, task-0005, task-0006, task-0007, task-0008; "
        "every call signed with its own keys"
    ) in out
    assert (
        "staging (ap-southeast-1, project demo-staging-project): 1 create call, "
        "tasks stg-0001; every call signed with its own keys"
    ) in out
    assert "POST /v5/demo-staging-project/container/export-task" in out
    assert "container-export-stg-0001.xlsx" in out  # staging's file, delivered in its thread
    # The audit log says which profile each task went to.
    assert " submitted profile=prod task=task-0001" in out
    assert " submitted profile=staging task=stg-0001" in out
    assert "profile=staging task=task-" not in out
    assert "profile=prod task=stg-" not in out
    assert "DEMO_STAGING_AK" not in os.environ  # the keys were set for the demo only


async def test_demo_leaves_an_audit_log_the_cli_can_read(
    capsys: pytest.CaptureFixture[str],
) -> None:
    """The demo's audit log is a real one: `audit verify` on it passes."""
    assert await asyncio.to_thread(main, ["demo"]) == 0
    capsys.readouterr()
    verify = ["audit", "verify", "--db", "sqlite:///./data/demo/audit.db"]
    assert await asyncio.to_thread(main, verify) == 0
    assert "chain intact" in capsys.readouterr().out


def test_the_demo_prints_a_pasteable_command_that_opens_its_audit_log(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    """The demo names its audit log and a command that, pasted in any folder, lists it."""
    assert main(["demo"]) == 0
    out = capsys.readouterr().out
    # The summary says which two requests made the two creates (no "two commands" to count).
    assert "2 create calls" in out
    assert "one for the valid typed command, one for the valid form" in out
    lines = out.splitlines()
    [at] = [i for i, line in enumerate(lines) if "The demo's audit log is" in line]
    command = lines[at + 1].strip()
    assert " audit list --db sqlite:///" in command
    env = {k: v for k, v in os.environ.items() if k != "PATH"} | {"PATH": "/usr/bin:/bin"}
    result = subprocess.run(  # noqa: S602 - exactly what a user pastes into a shell
        command, shell=True, cwd=tmp_path, env=env, capture_output=True, text=True, check=False
    )
    assert result.returncode == 0, result.stderr
    assert "submitted" in result.stdout


def test_a_missing_audit_database_says_how_to_point_at_one(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """`audit list` with no database names --db and AUDIT_DB_URL (and the demo's log)."""
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("AUDIT_DB_URL", raising=False)
    assert main(["audit", "list"]) == 2
    err = capsys.readouterr().err
    assert "no audit database at" in err
    assert "--db" in err
    assert "AUDIT_DB_URL" in err
    assert "data/demo/audit.db" in err
