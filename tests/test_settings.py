"""Settings: every problem reported at once, no value echoed, `.env` and the environment read."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml  # PyYAML comes with the dev dependencies (huaweicloudsdkcore needs it)

from bot.domain.errors import SettingsError
from bot.settings import Need, Settings, load_settings

REPO = Path(__file__).resolve().parents[1]

AK = "AKSENTINEL0000000001"
SK = "SKSENTINEL00000000000000000000000000002"
SECURITY_TOKEN = "STSENTINEL-security-token-3"
IAM_PASSWORD = "IAMSENTINEL-password-4"
BOT_TOKEN = "xoxb-1111-2222-BOTSENTINEL5"
SIGNING_SECRET = "SIGNSENTINEL0000000000000000006"
APP_TOKEN_WRONG_KIND = "xoxb-3333-4444-APPSENTINEL7"
DB_PASSWORD = "DBSENTINEL-password-8"
SECRETS = (AK, SK, SECURITY_TOKEN, IAM_PASSWORD, BOT_TOKEN, SIGNING_SECRET, APP_TOKEN_WRONG_KIND)

HSS_OK = {"HSS_PROJECT_ID": "0123456789abcdef", "CLOUD_SDK_AK": AK, "CLOUD_SDK_SK": SK}
IAM = {"HSS_IAM_DOMAIN": "my-domain", "HSS_IAM_USER": "bot-user", "HSS_IAM_PASSWORD": IAM_PASSWORD}


@pytest.fixture(autouse=True)
def clean_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """Run each test with no Settings variable in the environment, in an empty directory."""
    for name in Settings.model_fields:
        monkeypatch.delenv(name, raising=False)
    monkeypatch.chdir(tmp_path)


def _load(
    monkeypatch: pytest.MonkeyPatch, needs: tuple[Need, ...], env: dict[str, str]
) -> Settings:
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    return load_settings(needs, _env_file=None)


def _problems(
    monkeypatch: pytest.MonkeyPatch, needs: tuple[Need, ...], env: dict[str, str]
) -> SettingsError:
    with pytest.raises(SettingsError) as caught:
        _load(monkeypatch, needs, env)
    return caught.value


@pytest.mark.parametrize(
    ("needs", "env", "expected"),
    [
        pytest.param(
            ("hss",),
            {"HSS_PROJECT_ID": "p", "CLOUD_SDK_AK": AK},
            ["CLOUD_SDK_SK is required when CLOUD_SDK_AK is set"],
            id="ak-without-sk",
        ),
        pytest.param(
            ("hss",),
            {"HSS_PROJECT_ID": "p", "CLOUD_SDK_SK": SK},
            ["CLOUD_SDK_AK is required when CLOUD_SDK_SK is set"],
            id="sk-without-ak",
        ),
        pytest.param(
            ("hss",),
            {**HSS_OK, "HSS_REGION": "mars-north-1"},
            ["HSS_REGION is not a region HSS serves"],
            id="unknown-region",
        ),
        pytest.param(
            ("hss",),
            {**HSS_OK, "HSS_ENDPOINT": "not a url"},
            ["HSS_ENDPOINT: Input should be a valid URL"],
            id="bad-hss-endpoint",
        ),
        pytest.param(
            ("hss",),
            {**HSS_OK, "HSS_IAM_ENDPOINT": "iam.example.com/v3"},
            ["HSS_IAM_ENDPOINT: Input should be a valid URL"],
            id="bad-iam-endpoint",
        ),
        pytest.param(
            (),
            {"SLACK_API_URL": "ftp://slack.example.com/api/"},
            ["SLACK_API_URL: URL scheme should be 'http' or 'https'"],
            id="bad-slack-api-url",
        ),
        pytest.param(
            ("hss",),
            {"CLOUD_SDK_AK": AK, "CLOUD_SDK_SK": SK},
            ["HSS_PROJECT_ID is required"],
            id="missing-project-id",
        ),
        pytest.param(
            ("hss",),
            {"HSS_PROJECT_ID": "p", "HSS_IAM_DOMAIN": "d", "HSS_IAM_USER": "u"},
            ["HSS_IAM_PASSWORD is required for IAM token authentication"],
            id="iam-without-password",
        ),
        pytest.param(
            ("hss",),
            {"HSS_PROJECT_ID": "p", "HSS_IAM_PASSWORD": IAM_PASSWORD},
            [
                "HSS_IAM_DOMAIN is required for IAM token authentication",
                "HSS_IAM_USER is required for IAM token authentication",
            ],
            id="iam-password-only",
        ),
        pytest.param(
            ("hss",),
            {**HSS_OK, **IAM},
            ["set either CLOUD_SDK_AK/CLOUD_SDK_SK or HSS_IAM_*, not both"],
            id="aksk-and-iam",
        ),
        pytest.param(
            ("hss",),
            {"HSS_PROJECT_ID": "p"},
            ["no credentials: set CLOUD_SDK_AK and CLOUD_SDK_SK"],
            id="no-credentials",
        ),
        pytest.param(
            ("hss",),
            {"HSS_PROJECT_ID": "p", **IAM, "CLOUD_SDK_SECURITY_TOKEN": SECURITY_TOKEN},
            ["CLOUD_SDK_SECURITY_TOKEN goes with CLOUD_SDK_AK/CLOUD_SDK_SK"],
            id="security-token-without-aksk",
        ),
        pytest.param(
            ("slack_http",),
            {},
            ["SLACK_BOT_TOKEN is required", "SLACK_SIGNING_SECRET is required for HTTP mode"],
            id="http-mode-needs-token-and-signing-secret",
        ),
        pytest.param(
            ("slack_socket",),
            {"SLACK_BOT_TOKEN": BOT_TOKEN},
            ["SLACK_APP_TOKEN is required for Socket Mode"],
            id="socket-mode-needs-app-token",
        ),
        pytest.param(
            ("slack_socket",),
            {"SLACK_BOT_TOKEN": BOT_TOKEN, "SLACK_APP_TOKEN": APP_TOKEN_WRONG_KIND},
            ["SLACK_APP_TOKEN must be an app-level token starting with xapp-"],
            id="app-token-not-xapp",
        ),
        pytest.param(
            (),
            {"PORT": "0", "LOG_LEVEL": "LOUD", "HSS_MAX_ATTEMPTS": "many"},
            [
                "PORT: accepts an integer 1–65535",
                "LOG_LEVEL:",
                "HSS_MAX_ATTEMPTS: accepts an integer 1–10",
            ],
            id="malformed-values",
        ),
    ],
)
def test_each_problem_is_named(
    monkeypatch: pytest.MonkeyPatch,
    needs: tuple[Need, ...],
    env: dict[str, str],
    expected: list[str],
) -> None:
    """A missing or malformed setting is named in the error, one line per problem."""
    error = _problems(monkeypatch, needs, env)
    for text in expected:
        assert any(text in problem for problem in error.problems), (text, error.problems)
    assert len(error.problems) == len(expected), error.problems


@pytest.mark.parametrize(
    ("env", "expected"),
    [
        ({"PORT": "abc"}, "PORT: accepts an integer 1–65535"),
        ({"PORT": "70000"}, "PORT: accepts an integer 1–65535"),
        ({"HSS_READ_TIMEOUT": "soon"}, "HSS_READ_TIMEOUT: accepts a number greater than 0"),
        ({"AUDIT_RETENTION_DAYS": "0"}, "AUDIT_RETENTION_DAYS: accepts an integer 1 or more"),
        ({"WEB_CONCURRENCY": "x"}, "WEB_CONCURRENCY: accepts an integer 1–64"),
        (
            {"APPROVAL_TTL_HOURS": "1000"},
            "APPROVAL_TTL_HOURS: accepts a number greater than 0 and at most 720",
        ),
        ({"SHUTDOWN_GRACE_SECONDS": "-1"}, "SHUTDOWN_GRACE_SECONDS: accepts a number 0 or more"),
        ({"SUMMARIES_ENABLED": "perhaps"}, "SUMMARIES_ENABLED: accepts true or false"),
    ],
)
def test_a_malformed_number_says_what_the_setting_accepts(
    monkeypatch: pytest.MonkeyPatch, env: dict[str, str], expected: str
) -> None:
    """A number or flag setting that does not parse is named with its kind and range."""
    assert _problems(monkeypatch, (), env).problems == [expected]


def test_every_number_setting_says_what_it_accepts(monkeypatch: pytest.MonkeyPatch) -> None:
    """No int, float or bool setting falls back to pydantic's own words."""
    plain = (int, float, bool, int | None, float | None)
    numbers = [n for n, f in Settings.model_fields.items() if f.annotation in plain]
    assert "PORT" in numbers
    assert "WEB_CONCURRENCY" in numbers
    error = _problems(monkeypatch, (), dict.fromkeys(numbers, "not-a-number"))
    assert len(error.problems) == len(numbers)
    for name, problem in zip(numbers, error.problems, strict=True):
        assert problem.startswith(f"{name}: accepts "), problem
        assert "Input should" not in problem


def test_every_problem_is_listed_at_once(monkeypatch: pytest.MonkeyPatch) -> None:
    """Malformed values and cross-field problems come in one error, so one fix round is enough."""
    error = _problems(
        monkeypatch,
        ("hss", "slack_http"),
        {
            "CLOUD_SDK_AK": AK,
            "HSS_REGION": "mars-north-1",
            "SLACK_API_URL": "not a url",
            "PORT": "99999",
            "SLACK_BOT_TOKEN": BOT_TOKEN,
        },
    )
    message = str(error)
    for name in (
        "SLACK_API_URL:",
        "PORT:",
        "HSS_REGION is not a region",
        "HSS_PROJECT_ID is required",
        "CLOUD_SDK_SK is required",
        "SLACK_SIGNING_SECRET is required",
    ):
        assert name in message
    assert len(error.problems) == 6, error.problems


@pytest.mark.parametrize(
    ("needs", "env"),
    [
        pytest.param(("hss",), {"CLOUD_SDK_AK": AK, "CLOUD_SDK_SECURITY_TOKEN": SECURITY_TOKEN}),
        pytest.param(("hss",), {"CLOUD_SDK_SK": SK, **IAM, "HSS_ENDPOINT": "bad"}),
        pytest.param(
            ("slack_http", "slack_socket"),
            {"SLACK_APP_TOKEN": APP_TOKEN_WRONG_KIND, "SLACK_SIGNING_SECRET": SIGNING_SECRET},
        ),
        pytest.param(
            ("hss", "slack_socket"),
            {"SLACK_BOT_TOKEN": BOT_TOKEN, "SLACK_APP_TOKEN": APP_TOKEN_WRONG_KIND, "PORT": "x"},
        ),
    ],
)
def test_no_secret_is_echoed(
    monkeypatch: pytest.MonkeyPatch, needs: tuple[Need, ...], env: dict[str, str]
) -> None:
    """The settings error names settings but never shows a configured secret."""
    error = _problems(monkeypatch, needs, env)
    shown = f"{error} {error.problems!r} {error!r}"
    for secret in SECRETS:
        assert secret not in shown


def test_malformed_value_is_not_echoed(monkeypatch: pytest.MonkeyPatch) -> None:
    """A malformed value is described, not repeated (it may be a pasted secret)."""
    error = _problems(monkeypatch, (), {"SLACK_API_URL": f"xoxb-{SK}", "PORT": f"{AK}"})
    assert "SLACK_API_URL" in str(error)
    assert SK not in str(error)
    assert AK not in str(error)


def test_settings_repr_shows_no_secret(monkeypatch: pytest.MonkeyPatch) -> None:
    """A logged Settings object shows neither secrets nor the database password."""
    settings = _load(
        monkeypatch,
        ("hss",),
        {
            **HSS_OK,
            "CLOUD_SDK_SECURITY_TOKEN": SECURITY_TOKEN,
            "SLACK_BOT_TOKEN": BOT_TOKEN,
            "SLACK_SIGNING_SECRET": SIGNING_SECRET,
            "AUDIT_DB_URL": f"postgresql://bot:{DB_PASSWORD}@db:5432/audit",
        },
    )
    shown = f"{settings!r} {settings}"
    for secret in (*SECRETS, DB_PASSWORD):
        assert secret not in shown


@pytest.mark.parametrize(
    ("needs", "env"),
    [
        pytest.param(("hss",), HSS_OK, id="aksk"),
        pytest.param(("hss",), {**HSS_OK, "CLOUD_SDK_SECURITY_TOKEN": SECURITY_TOKEN}, id="sts"),
        pytest.param(("hss",), {"HSS_PROJECT_ID": "p", **IAM}, id="iam"),
        pytest.param(
            ("hss",),
            {**HSS_OK, "HSS_REGION": "xx-private-1", "HSS_ENDPOINT": "https://hss.example.com/"},
            id="custom-endpoint-any-region",
        ),
        pytest.param(
            ("hss",), {**HSS_OK, "HSS_IAM_DOMAIN": "", "HSS_IAM_USER": ""}, id="empty-is-unset"
        ),
        pytest.param(
            ("slack_http",),
            {"SLACK_BOT_TOKEN": BOT_TOKEN, "SLACK_SIGNING_SECRET": SIGNING_SECRET},
            id="slack-http",
        ),
        pytest.param(
            ("slack_socket",),
            {"SLACK_BOT_TOKEN": BOT_TOKEN, "SLACK_APP_TOKEN": "xapp-1-A0-1-abc"},
            id="slack-socket",
        ),
    ],
)
def test_complete_settings_load(
    monkeypatch: pytest.MonkeyPatch, needs: tuple[Need, ...], env: dict[str, str]
) -> None:
    """A complete configuration loads without error (empty variables count as unset)."""
    settings = _load(monkeypatch, needs, env)
    assert settings.problems(needs) == []


@pytest.mark.parametrize(
    ("raw", "parsed"),
    [
        ("U1", ("U1",)),
        ("U1,U2", ("U1", "U2")),
        (" U1 , U2 ,, U3 ", ("U1", "U2", "U3")),
        ("", ()),
    ],
)
def test_allowed_lists_are_comma_separated(
    monkeypatch: pytest.MonkeyPatch, raw: str, parsed: tuple[str, ...]
) -> None:
    """ALLOWED_* variables take comma-separated ids, spaces and empty items ignored."""
    # Each list holds ids of its own kind (users U…, channels C…, user groups S…).
    settings = _load(
        monkeypatch,
        (),
        {
            "ALLOWED_USER_IDS": raw,
            "ALLOWED_CHANNEL_IDS": raw.replace("U", "C"),
            "ALLOWED_USERGROUP_IDS": raw.replace("U", "S"),
        },
    )
    lists = (
        settings.ALLOWED_USER_IDS,
        settings.ALLOWED_CHANNEL_IDS,
        settings.ALLOWED_USERGROUP_IDS,
    )
    as_kind = lambda prefix: tuple(p.replace("U", prefix) for p in parsed)  # noqa: E731
    assert lists == (parsed, as_kind("C"), as_kind("S"))


def test_dotenv_is_read_and_environment_overrides_it(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """`.env` in the working directory is read; a real environment variable wins over it."""
    (tmp_path / ".env").write_text(
        "HSS_PROJECT_ID=from-dotenv\n"
        "HSS_REGION=ap-southeast-1\n"
        "ALLOWED_CHANNEL_IDS=C1,C2\n"
        f"CLOUD_SDK_AK={AK}\n"
        f"CLOUD_SDK_SK={SK}\n",
        encoding="utf-8",
    )
    monkeypatch.setenv("HSS_PROJECT_ID", "from-environment")

    settings = load_settings(("hss",))

    assert settings.HSS_PROJECT_ID == "from-environment"
    assert settings.HSS_REGION == "ap-southeast-1"
    assert settings.ALLOWED_CHANNEL_IDS == ("C1", "C2")
    assert settings.CLOUD_SDK_SK is not None
    assert settings.CLOUD_SDK_SK.get_secret_value() == SK


def test_env_example_is_a_template_only(tmp_path: Path) -> None:
    """`.env.example` in the working directory is not loaded: the demo runs with no `.env`."""
    (tmp_path / ".env.example").write_text("HSS_PROJECT_ID=from-example\n", encoding="utf-8")
    assert load_settings().HSS_PROJECT_ID == ""


def test_env_example_lists_every_setting_and_parses() -> None:
    """The repository's `.env.example` names every setting, and each value it gives is valid."""
    example = REPO / ".env.example"
    keys = {
        line.split("=", 1)[0].strip()
        for line in example.read_text(encoding="utf-8").splitlines()
        if "=" in line and not line.lstrip().startswith("#")
    }
    assert keys == set(Settings.model_fields)
    settings = Settings(_env_file=example)  # type: ignore[call-arg]
    assert settings.problems(()) == []


def test_kubernetes_example_uses_real_settings_and_outlives_the_drain() -> None:
    """The k8s ConfigMap and Secret name only real settings; the pod's grace covers the drain."""
    k8s = REPO / "deploy" / "k8s"
    config = yaml.safe_load((k8s / "configmap.yaml").read_text(encoding="utf-8"))["data"]
    secret = yaml.safe_load((k8s / "secret.example.yaml").read_text(encoding="utf-8"))
    deployment = yaml.safe_load((k8s / "deployment.yaml").read_text(encoding="utf-8"))
    driver_env = {"PGPASSWORD", "PGSSLMODE"}  # read by the PostgreSQL driver itself

    assert set(config) | set(secret["stringData"]) <= set(Settings.model_fields) | driver_env
    settings = Settings(
        _env_file=None,  # type: ignore[call-arg]
        **{k: v for k, v in config.items() if k not in driver_env},
    )
    assert settings.AUDIT_DB_URL.startswith("postgresql://")
    pod = deployment["spec"]["template"]["spec"]
    pre_stop = float(pod["containers"][0]["lifecycle"]["preStop"]["exec"]["command"][-1])
    assert pod["terminationGracePeriodSeconds"] > settings.SHUTDOWN_GRACE_SECONDS + pre_stop
    assert deployment["spec"]["replicas"] == 2


def test_approval_settings_are_read_and_checked(monkeypatch: pytest.MonkeyPatch) -> None:
    """The two-person rule's settings parse; a bad condition or ID is named, never guessed."""
    settings = _load(
        monkeypatch,
        (),
        {
            "APPROVAL_REQUIRED_FOR": "no_filter, export_size_over:500",
            "APPROVER_USER_IDS": "U0APPROVER1",
            "APPROVAL_CHANNEL_ID": "C0APPROVALS",
        },
    )
    assert [c.words() for c in settings.approval_conditions] == [
        "it has no filter",
        "it may export more than 500 containers",
    ]
    assert (settings.APPROVAL_TTL_HOURS, settings.CONFIRM_BROAD_EXPORTS) == (24.0, True)
    error = _problems(
        monkeypatch,
        (),
        {
            "APPROVAL_REQUIRED_FOR": "sometimes",
            "APPROVER_USER_IDS": "@alice",
            "APPROVAL_CHANNEL_ID": "#approvals",
        },
    )
    assert error.problems == [
        "APPROVAL_REQUIRED_FOR: unknown condition 'sometimes'; accepted: all_granted_eps, "
        "export_size_over:N (N a whole number >= 0), no_filter, profile:NAME, always",
        "APPROVER_USER_IDS: 1 entries are not IDs; expected user IDs like U012ABCDEF "
        "or W012ABCDEF, or *",
        "APPROVAL_CHANNEL_ID must be one channel ID like C012ABCDEF (or G…)",
    ]


def test_approval_conditions_need_an_approver(monkeypatch: pytest.MonkeyPatch) -> None:
    """Requiring approval with nobody allowed to approve is refused at start."""
    error = _problems(monkeypatch, (), {"APPROVAL_REQUIRED_FOR": "always"})
    assert error.problems == [
        "APPROVAL_REQUIRED_FOR is set but nobody may approve: "
        "set APPROVER_USER_IDS or APPROVER_USERGROUP_IDS"
    ]
