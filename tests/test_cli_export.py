"""`hss-export-bot export`: what a terminal user sees, and what the fake HSS receives."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import pytest

from bot.adapters.hss import PLACEHOLDER_PROJECT_ID, REDACTED
from bot.cli import main
from bot.domain.grammar import FIELD_KEYS, RequestDefaults, build_request
from bot.settings import Settings
from emulators.fake_hss import FakeHss

DEFAULT_ENDPOINT = "https://hss.cn-north-4.myhuaweicloud.com"
SECRET_SK = "sk-must-never-show-0123456789"
SECRET_PASSWORD = "password-must-never-show"


@pytest.fixture(autouse=True)
def clean_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """Run every test in an empty directory with no setting in the environment."""
    monkeypatch.chdir(tmp_path)
    for name in Settings.model_fields:
        monkeypatch.delenv(name, raising=False)


def expected_body(fields: dict[str, str], lang: str = "zh") -> str:
    """Return the body bytes the grammar builds for these fields, as text."""
    defaults = RequestDefaults(header_lang=lang)  # type: ignore[arg-type]
    return build_request(fields, defaults).body_bytes().decode()


def use_fake(monkeypatch: pytest.MonkeyPatch, fake: FakeHss, *, sk: str | None = None) -> None:
    """Point the settings at the fake HSS with its AK/SK (or a wrong SK)."""
    monkeypatch.setenv("HSS_ENDPOINT", fake.url)
    monkeypatch.setenv("HSS_PROJECT_ID", fake.project_id)
    monkeypatch.setenv("CLOUD_SDK_AK", fake.ak)
    monkeypatch.setenv("CLOUD_SDK_SK", sk or fake.sk)


# --- Dry run ---------------------------------------------------------------------------


def test_dry_run_without_credentials_prints_the_exact_request(
    capsys: pytest.CaptureFixture[str],
) -> None:
    """With no settings at all, --dry-run prints method, URL, redacted headers and exact body."""
    assert main(["export", "status=running", "--dry-run"]) == 0
    out, err = capsys.readouterr()
    lines = out.splitlines()
    # The project id placeholder reads the same in the URL as in its header.
    assert lines[0] == f"POST {DEFAULT_ENDPOINT}/v5/<project_id>/container/export-task"
    assert f"X-Project-Id: {PLACEHOLDER_PROJECT_ID}" in lines
    assert "Content-Type: application/json" in lines
    assert f"Authorization: {REDACTED}" in lines
    assert lines[-2:] == ["", expected_body({"status": "running"})]
    assert '"status":"Running"' in lines[-1]
    assert "placeholder" in err
    assert len(err.splitlines()) == 1


def test_dry_run_json_describes_the_call(capsys: pytest.CaptureFixture[str]) -> None:
    """--json gives the described call as JSON: body as sent, query, redacted auth."""
    code = main(
        ["export", "--json", "--dry-run", "risky=false", "export_size=10", "headers=status"]
    )
    assert code == 0
    described = json.loads(capsys.readouterr().out)
    assert described["method"] == "POST"
    assert described["query"] == {"export_size": "10"}
    assert described["body"] == {"risky": False, "export_headers": [["status", "状态"]]}
    assert described["headers"]["Authorization"] == REDACTED


def test_dry_run_never_shows_credentials(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """With real AK/SK configured the signature is computed but neither key nor SK is printed."""
    monkeypatch.setenv("HSS_PROJECT_ID", "proj-1")
    monkeypatch.setenv("CLOUD_SDK_AK", "AK-VISIBLE-NOWHERE")
    monkeypatch.setenv("CLOUD_SDK_SK", SECRET_SK)
    assert main(["export", "status=running", "--dry-run"]) == 0
    out, err = capsys.readouterr()
    assert "/v5/proj-1/container/export-task" in out.splitlines()[0]
    assert "X-Project-Id: proj-1" in out
    assert SECRET_SK not in out + err
    assert "AK-VISIBLE-NOWHERE" not in out + err
    assert err == ""  # nothing is a placeholder


def test_dry_run_with_an_iam_account_fetches_no_token(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """Under an IAM account the dry run shows a token placeholder and contacts nobody."""
    monkeypatch.setenv("HSS_PROJECT_ID", "proj-1")
    monkeypatch.setenv("HSS_IAM_ENDPOINT", "http://127.0.0.1:9")  # nothing listens there
    monkeypatch.setenv("HSS_IAM_DOMAIN", "dom")
    monkeypatch.setenv("HSS_IAM_USER", "user")
    monkeypatch.setenv("HSS_IAM_PASSWORD", SECRET_PASSWORD)
    assert main(["export", "--dry-run", "status=running"]) == 0
    out, err = capsys.readouterr()
    assert "X-Auth-Token: <redacted" in out
    assert SECRET_PASSWORD not in out + err


def test_settings_choose_language_and_enterprise_project(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """HSS_EXPORT_HEADER_LANG and HSS_ENTERPRISE_PROJECT_ID are the defaults of a CLI export."""
    monkeypatch.setenv("HSS_EXPORT_HEADER_LANG", "en")
    monkeypatch.setenv("HSS_ENTERPRISE_PROJECT_ID", "ep-7")
    assert main(["export", "--dry-run", "--json", "status=running"]) == 0
    described = json.loads(capsys.readouterr().out)
    assert described["query"] == {"enterprise_project_id": "ep-7"}
    assert described["body"]["export_headers"][0] == ["container_id", "Container ID"]


@pytest.mark.parametrize(
    "argv",
    [
        pytest.param(["export", "status=running", "--dry-run", "risky=true"], id="flag-between"),
        pytest.param(["export", "--dry-run", "status=running", "risky=true"], id="flag-first"),
        pytest.param(["export", "--dry-run", "--", "status=running", "risky=true"], id="dashdash"),
        pytest.param(["export", "preview", "status=running", "risky=true"], id="preview-word"),
    ],
)
def test_flags_anywhere_and_preview_word(
    argv: list[str], capsys: pytest.CaptureFixture[str]
) -> None:
    """Flags may come before, between or after the pairs; `preview` means a dry run."""
    assert main(argv) == 0
    body = capsys.readouterr().out.splitlines()[-1]
    assert body == expected_body({"status": "running", "risky": "true"})


def test_shell_quoted_words_are_taken_as_they_are(capsys: pytest.CaptureFixture[str]) -> None:
    """A word the shell already unquoted keeps its spaces and apostrophes, curly or not."""
    assert main(["export", "--dry-run", "pod_name=O’Brien's “web” 1"]) == 0
    body = json.loads(capsys.readouterr().out.splitlines()[-1])
    assert body["pod_name"] == "O’Brien's “web” 1"


# --- Bad input -------------------------------------------------------------------------


def test_bad_input_lists_every_problem_and_exits_2(capsys: pytest.CaptureFixture[str]) -> None:
    """Every problem is printed, one per line, without a traceback, before any settings check."""
    code = main(["export", "Status=running", "risky=maybe", "cpu_limit=1", "headers=stauts"])
    out, err = capsys.readouterr()
    assert code == 2
    assert out == ""
    lines = err.splitlines()
    assert [line.split(":")[0] for line in lines] == [
        "`Status`",
        "`risky`",
        "`cpu_limit`",
        "`headers`",
    ]
    assert "did you mean `status`" in lines[0]
    assert "did you mean `status`" in lines[3]
    assert "Traceback" not in err


@pytest.mark.parametrize(
    ("argv", "says"),
    [
        pytest.param(["export"], "nothing to export", id="nothing"),
        pytest.param(["export", "--dry-run"], "nothing to export", id="nothing-dry"),
        pytest.param(["export", "status", "task-1"], "Slack command", id="status"),
        pytest.param(["export", "history"], "Slack command", id="history"),
        pytest.param(["export", "form", "status=running"], "Slack command", id="form"),
    ],
)
def test_commands_a_terminal_cannot_run(
    argv: list[str], says: str, capsys: pytest.CaptureFixture[str]
) -> None:
    """An empty export or a Slack-only command word exits 2 and says why."""
    assert main(argv) == 2
    assert says in capsys.readouterr().err


def test_help_lists_every_key(capsys: pytest.CaptureFixture[str]) -> None:
    """`export help` prints the grammar with every key and exits 0."""
    assert main(["export", "help"]) == 0
    out = capsys.readouterr().out
    assert all(f"`{key}`" in out for key in FIELD_KEYS)
    assert "hss-export-bot export status=running" in out


def test_missing_credentials_without_dry_run_exit_2_naming_settings(
    capsys: pytest.CaptureFixture[str],
) -> None:
    """Valid input but no credentials: exit 2 naming the missing settings, nothing sent."""
    assert main(["export", "status=running"]) == 2
    out, err = capsys.readouterr()
    assert out == ""
    assert "HSS_PROJECT_ID" in err
    assert "CLOUD_SDK_AK" in err


# --- Against the fake HSS --------------------------------------------------------------


async def test_export_prints_the_task_id_hss_gave(
    fake_hss: FakeHss, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """A real export is signed, accepted by the fake, and prints only the task id."""
    use_fake(monkeypatch, fake_hss)
    argv = ["export", "status=running", "pod_name=web 1", "enterprise_project_id=all_granted_eps"]
    assert await asyncio.to_thread(main, argv) == 0
    out, err = capsys.readouterr()
    [call] = fake_hss.calls_for("create")
    assert call.status == 200
    assert out == f"{next(iter(fake_hss.tasks))}\n"
    assert err == ""
    assert call.body == json.loads(expected_body({"status": "running", "pod_name": "web 1"}))
    assert call.query == {"enterprise_project_id": "all_granted_eps"}


async def test_export_json_prints_task_and_request_ids(
    fake_hss: FakeHss, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """--json prints the task id and the X-Request-Id support asks for."""
    use_fake(monkeypatch, fake_hss)
    assert await asyncio.to_thread(main, ["export", "--json", "risky=true"]) == 0
    [call] = fake_hss.calls_for("create")
    assert json.loads(capsys.readouterr().out) == {
        "task_id": next(iter(fake_hss.tasks)),
        "request_id": call.request_id,
    }


async def test_hss_refusal_prints_its_message_and_exits_1(
    fake_hss: FakeHss, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """An HSS error is one line with HSS's code and request id, exit 1, no traceback."""
    use_fake(monkeypatch, fake_hss)
    fake_hss.fail_next(400, op="create")
    assert await asyncio.to_thread(main, ["export", "status=running"]) == 1
    out, err = capsys.readouterr()
    [call] = fake_hss.calls_for("create")
    assert out == ""
    assert err.startswith("error: ")
    assert "HSS.400" in err
    assert call.request_id in err
    assert len(err.splitlines()) == 1


async def test_wrong_secret_key_is_an_auth_error_without_the_key(
    fake_hss: FakeHss, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """A bad SK is refused by the fake's signature check: exit 1, and the SK is never echoed."""
    use_fake(monkeypatch, fake_hss, sk=SECRET_SK)
    assert await asyncio.to_thread(main, ["export", "status=running"]) == 1
    out, err = capsys.readouterr()
    assert "refused" in err
    assert SECRET_SK not in out + err
    assert fake_hss.tasks == {}


# --- Audit -----------------------------------------------------------------------------


async def test_export_from_a_terminal_is_audited_as_cli(
    fake_hss: FakeHss, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """A terminal export leaves a `cli` audit entry holding the task id and the body sent."""
    use_fake(monkeypatch, fake_hss)
    assert await asyncio.to_thread(main, ["export", "status=running"]) == 0
    task_id = capsys.readouterr().out.strip()
    assert await asyncio.to_thread(main, ["audit", "list", "--json"]) == 0
    [entry] = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    [call] = fake_hss.calls_for("create")
    assert entry["source"] == "cli"
    assert entry["outcome"] == "submitted"
    assert entry["task_id"] == task_id
    assert entry["request"]["body"] == call.body


async def test_refused_terminal_export_is_audited_as_failed(
    fake_hss: FakeHss, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """An export HSS refuses is on record as `failed` with HSS's request id."""
    use_fake(monkeypatch, fake_hss)
    fake_hss.fail_next(400, op="create")
    assert await asyncio.to_thread(main, ["export", "status=running"]) == 1
    capsys.readouterr()
    assert await asyncio.to_thread(main, ["audit", "list", "--json"]) == 0
    [entry] = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    [call] = fake_hss.calls_for("create")
    assert (entry["outcome"], entry["hss_request_id"]) == ("failed", call.request_id)


async def test_unwritable_audit_log_means_nothing_is_sent(
    fake_hss: FakeHss,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    tmp_path: Path,
) -> None:
    """With the audit log out of reach the export is refused and HSS is never called."""
    use_fake(monkeypatch, fake_hss)
    blocker = tmp_path / "not-a-dir"
    blocker.write_text("a file where the database folder should be")
    monkeypatch.setenv("AUDIT_DB_URL", f"sqlite:///{blocker}/audit.db")
    assert await asyncio.to_thread(main, ["export", "status=running"]) == 1
    out, err = capsys.readouterr()
    assert out == ""
    assert err.startswith("error: cannot create the audit database folder")
    assert fake_hss.calls_for("create") == []
