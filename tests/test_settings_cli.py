"""Settings errors as an operator meets them: real CLI processes, one message, every problem.

The combination from issue 10 (AK without SK, an unknown region, a malformed
AUDIT_DB_URL, a user token, a non-numeric PORT) must be reported in one round by
each command, each naming only what it reads: `PORT` never stops `export`.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from e2e_harness import served_bot

from emulators.fake_hss import FakeHss
from emulators.fake_slack import FakeSlack

BAD = {
    "CLOUD_SDK_AK": "AKMARKER0123",
    "HSS_REGION": "mars-west-9",
    "AUDIT_DB_URL": "sqlite:/nope",
    "SLACK_BOT_TOKEN": "xoxp-1-2-3-usertoken",
    "PORT": "abc",
}
HSS_PROBLEMS = ("CLOUD_SDK_SK is required", "HSS_REGION is not a region", "HSS_PROJECT_ID")
BOT_PROBLEMS = ("SLACK_BOT_TOKEN: must be a bot token starting with xoxb-", "PORT:")


def _run(tmp_path: Path, *args: str, **env: str) -> subprocess.CompletedProcess[str]:
    ours = ("HSS_", "SLACK_", "AUDIT_", "CLOUD_", "ALLOWED_", "TASK_", "PORT", "PG")
    clean = {k: v for k, v in os.environ.items() if not k.startswith(ours)}
    return subprocess.run(
        [sys.executable, "-m", "bot", *args],
        env={**clean, **env},
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


@pytest.mark.parametrize(
    ("args", "expected", "absent"),
    [
        pytest.param(
            ["serve"],
            (*HSS_PROBLEMS, *BOT_PROBLEMS, "AUDIT_DB_URL:", "SLACK_SIGNING_SECRET"),
            (),
            id="serve",
        ),
        pytest.param(["start"], (*HSS_PROBLEMS, *BOT_PROBLEMS, "AUDIT_DB_URL:"), (), id="start"),
        pytest.param(
            ["socket"],
            (*HSS_PROBLEMS, *BOT_PROBLEMS, "AUDIT_DB_URL:", "SLACK_APP_TOKEN"),
            (),
            id="socket",
        ),
        pytest.param(
            ["export", "status=running"],
            (*HSS_PROBLEMS, "AUDIT_DB_URL:"),
            ("PORT", "SLACK_"),
            id="export",
        ),
        pytest.param(
            ["download", "task-1", "--out", "x.csv"],
            HSS_PROBLEMS,
            ("PORT", "SLACK_"),
            id="download",
        ),
        pytest.param(["audit", "list"], ("AUDIT_DB_URL:",), ("PORT", "SLACK_", "HSS_"), id="audit"),
    ],
)
def test_every_problem_of_what_a_command_reads_in_one_message(
    tmp_path: Path, args: list[str], expected: tuple[str, ...], absent: tuple[str, ...]
) -> None:
    """Each command exits 2 with every problem of the settings it reads, and no other."""
    result = _run(tmp_path, *args, **BAD)
    assert result.returncode == 2, result.stderr
    err = result.stderr
    assert "Traceback" not in err
    for text in expected:
        assert text in err, (text, err)
    for name in absent:
        assert name not in err, (name, err)
    assert "AKMARKER0123" not in err
    assert "usertoken" not in err


def test_an_unused_malformed_setting_does_not_stop_a_dry_run(tmp_path: Path) -> None:
    """`PORT=0` (or a user token) does not stop `export --dry-run`, which reads neither."""
    result = _run(
        tmp_path, "export", "--dry-run", "status=running", PORT="0", SLACK_BOT_TOKEN="xoxp-1"
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith("POST ")


@pytest.mark.parametrize(
    ("env", "says"),
    [
        pytest.param(
            {"ALLOWED_USER_IDS": "alice, @bob"}, ["`alice` is not a user id", "`@bob`"], id="users"
        ),
        pytest.param({"ALLOWED_CHANNEL_IDS": "U0ABC,#general"}, ["`U0ABC`", "`#general`"], id="ch"),
        pytest.param({"ALLOWED_USERGROUP_IDS": "admins"}, ["`admins` is not a user group"], id="g"),
    ],
)
def test_malformed_allow_list_entries_stop_serve_naming_setting_and_entry(
    tmp_path: Path, env: dict[str, str], says: list[str]
) -> None:
    """An allow-list entry that is not a Slack id of its kind stops serve, named with its list."""
    result = _run(tmp_path, "serve", **env)
    assert result.returncode == 2
    [name] = env
    assert f"{name}: " in result.stderr
    for text in says:
        assert text in result.stderr


def test_export_json_prints_json_on_every_failure(tmp_path: Path) -> None:
    """`export --json` prints one JSON object on bad input and on settings errors too."""
    bad_input = _run(tmp_path, "export", "--json", "risky=maybe")
    assert bad_input.returncode == 2
    assert json.loads(bad_input.stdout)["error"] == "invalid_input"
    bad_settings = _run(tmp_path, "export", "--json", "status=running", **BAD)
    assert bad_settings.returncode == 2
    answer = json.loads(bad_settings.stdout)
    assert answer["error"] == "settings"
    assert any("CLOUD_SDK_SK" in p for p in answer["problems"])


async def test_empty_allow_lists_log_one_warning_at_start(
    tmp_path: Path, fake_hss: FakeHss
) -> None:
    """With all three allow lists empty, serve logs once that it refuses everyone."""
    async with FakeSlack() as slack:
        db = f"sqlite:///{tmp_path / 'audit.db'}"
        async with served_bot(tmp_path, fake_hss, slack, db, ALLOWED_CHANNEL_IDS="") as bot:
            pass
        output = bot.log.read_text()
    assert output.count("the bot refuses everyone") == 1
