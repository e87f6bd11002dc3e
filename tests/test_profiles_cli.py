"""`hss-export-bot profiles`, end to end in a subprocess: what an operator reads, never a secret."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

AK = "AKMARKER0000000CLI01"
SK = "SKMARKER-cli-secret-key-00000000000000002"
TOKEN = "STMARKER-cli-security-token-3"
PASSWORD = "PWMARKER-cli-iam-password-4"
LEGACY_SK = "SKMARKER-cli-legacy-secret-00000000000005"
MARKERS = (AK, SK, TOKEN, PASSWORD, LEGACY_SK)

PROFILES = """
[profiles.prod]
region = "cn-north-4"
project_id = "prod-project"
enterprise_project_id = "all_granted_eps"
ak_env = "PROD_AK"
sk_env = "PROD_SK"
security_token_env = "PROD_TOKEN"
channels = ["C0PROD0001"]
allowed_user_ids = ["U0ALICE001"]
allowed_usergroup_ids = ["S0SECTEAM1"]

[profiles.staging]
region = "ap-southeast-1"
endpoint = "http://127.0.0.1:9999/"
project_id = "staging-project"
iam_domain = "example-domain"
iam_user = "hss-bot"
iam_password_env = "STAGING_PASSWORD"
"""

SECRETS_ENV = {"PROD_AK": AK, "PROD_SK": SK, "PROD_TOKEN": TOKEN, "STAGING_PASSWORD": PASSWORD}

EXPECTED_TEXT = """\
default profile: prod (for every channel no profile lists)

prod (from HSS_PROFILES_FILE, default)
  region:             cn-north-4
  endpoint:           https://hss.cn-north-4.myhuaweicloud.com
  project id:         prod-project
  enterprise project: all_granted_eps
  auth:               AK/SK from PROD_AK and PROD_SK, security token from PROD_TOKEN \
(temporary keys)
  default in:         C0PROD0001, every channel no profile lists
  allowed:            users U0ALICE001; user groups S0SECTEAM1 (within the global ALLOWED_* lists)

staging (from HSS_PROFILES_FILE)
  region:             ap-southeast-1
  endpoint:           http://127.0.0.1:9999
  project id:         staging-project
  enterprise project: (none given)
  auth:               IAM user hss-bot of domain example-domain, password from STAGING_PASSWORD
  iam endpoint:       https://iam.ap-southeast-1.myhuaweicloud.com
  default in:         (no channel)
  allowed:            whoever the global ALLOWED_* lists allow
"""


def _cli(cwd: Path, env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    # Only PATH from the outside: no HSS_* or CLOUD_SDK_* of the machine running the tests.
    return subprocess.run(
        [sys.executable, "-m", "bot", "profiles", *args],
        cwd=cwd,
        env={"PATH": os.environ.get("PATH", ""), **env},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def _no_marker(result: subprocess.CompletedProcess[str]) -> None:
    leaked = [m for m in MARKERS if m in result.stdout or m in result.stderr]
    assert leaked == []


def test_prints_each_profile_without_secrets(tmp_path: Path) -> None:
    """The text output shows region, endpoint, project, auth variable names, channels, lists."""
    (tmp_path / "profiles.toml").write_text(PROFILES, encoding="utf-8")
    env = {**SECRETS_ENV, "HSS_PROFILES_FILE": "profiles.toml", "HSS_DEFAULT_PROFILE": "prod"}
    result = _cli(tmp_path, env)
    assert (result.returncode, result.stderr) == (0, "")
    assert result.stdout == EXPECTED_TEXT
    _no_marker(result)


def test_json_output(tmp_path: Path) -> None:
    """`--json` gives one document with every profile's display fields and the default."""
    (tmp_path / "profiles.toml").write_text(PROFILES, encoding="utf-8")
    env = {**SECRETS_ENV, "HSS_PROFILES_FILE": str(tmp_path / "profiles.toml")}
    result = _cli(tmp_path, env, "--json")
    assert result.returncode == 0, result.stderr
    _no_marker(result)
    document = json.loads(result.stdout)
    assert document["default_profile"] is None  # two profiles, no HSS_DEFAULT_PROFILE: ask
    prod, staging = document["profiles"]
    assert prod == {
        "name": "prod",
        "source": "file",
        "region": "cn-north-4",
        "endpoint": "https://hss.cn-north-4.myhuaweicloud.com",
        "iam_endpoint": "https://iam.cn-north-4.myhuaweicloud.com",
        "project_id": "prod-project",
        "enterprise_project_id": "all_granted_eps",
        "auth": {
            "kind": "aksk",
            "ak_env": "PROD_AK",
            "sk_env": "PROD_SK",
            "security_token_env": "PROD_TOKEN",
        },
        "channels": ["C0PROD0001"],
        "allowed_user_ids": ["U0ALICE001"],
        "allowed_channel_ids": [],
        "allowed_usergroup_ids": ["S0SECTEAM1"],
        "default": False,
    }
    assert staging["auth"] == {
        "kind": "iam",
        "iam_domain": "example-domain",
        "iam_user": "hss-bot",
        "iam_password_env": "STAGING_PASSWORD",
    }
    assert (staging["endpoint"], staging["allowed_user_ids"]) == ("http://127.0.0.1:9999", None)


def test_a_bad_file_exits_2_with_every_problem(tmp_path: Path) -> None:
    """A broken configuration exits 2 with the one settings message, no traceback, no secret."""
    broken = PROFILES.replace('"cn-north-4"', '"cn-north4"').replace(
        'iam_password_env = "STAGING_PASSWORD"',
        'iam_password_env = "STAGING_PASSWORD"\nak_env = "X"',
    )
    (tmp_path / "profiles.toml").write_text(broken, encoding="utf-8")
    env = {**SECRETS_ENV, "HSS_PROFILES_FILE": "profiles.toml", "HSS_DEFAULT_PROFILE": "dev"}
    result = _cli(tmp_path, env)
    assert (result.returncode, result.stdout) == (2, "")
    assert result.stderr == (
        "error: invalid settings:\n"
        "  - profiles.prod: region 'cn-north4' is not a region HSS serves "
        "(32 known; did you mean cn-north-4?)\n"
        "  - profiles.staging: ak_env names X, which is not set in the environment\n"
        "  - profiles.staging: set either ak_env and sk_env (AK/SK) or iam_domain, iam_user "
        "and iam_password_env (IAM), not both\n"
        "  - HSS_DEFAULT_PROFILE 'dev' names no profile; the profiles are: prod, staging\n"
    )
    _no_marker(result)

    malformed = _cli(tmp_path, {"HSS_PROFILES_FILE": "missing.toml"})
    assert (malformed.returncode, malformed.stderr) == (
        2,
        "error: invalid settings:\n  - HSS_PROFILES_FILE missing.toml: no such file\n",
    )


def test_reads_dotenv_and_the_environment_wins(tmp_path: Path) -> None:
    """`.env` supplies settings and secrets as for the bot; the environment overrides `.env`."""
    (tmp_path / "profiles.toml").write_text(PROFILES, encoding="utf-8")
    dotenv = "\n".join(f"{k}={v}" for k, v in SECRETS_ENV.items())
    (tmp_path / ".env").write_text(
        f"HSS_PROFILES_FILE=profiles.toml\nHSS_DEFAULT_PROFILE=prod\n{dotenv}\n", encoding="utf-8"
    )
    result = _cli(tmp_path, {"HSS_DEFAULT_PROFILE": "staging"}, "--json")
    assert result.returncode == 0, result.stderr
    _no_marker(result)
    assert json.loads(result.stdout)["default_profile"] == "staging"


def test_legacy_settings_alone(tmp_path: Path) -> None:
    """Without a file, today's HSS_* settings show as the profile `default`."""
    env = {
        "HSS_REGION": "cn-east-3",
        "HSS_PROJECT_ID": "legacy-project",
        "CLOUD_SDK_AK": AK,
        "CLOUD_SDK_SK": LEGACY_SK,
    }
    result = _cli(tmp_path, env)
    assert result.returncode == 0, result.stderr
    _no_marker(result)
    assert result.stdout.splitlines()[:4] == [
        "default profile: default (for every channel no profile lists)",
        "",
        "default (from HSS_* settings, default)",
        "  region:             cn-east-3",
    ]
    assert "  auth:               AK/SK from CLOUD_SDK_AK and CLOUD_SDK_SK" in result.stdout
