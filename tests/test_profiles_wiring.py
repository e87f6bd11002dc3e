"""Profiles wired through the bot: settings, grammar, the access policy, one HSS client each."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import AbstractAsyncContextManager
from pathlib import Path
from typing import Any

import pytest
from test_service import FakeAudit, Journal

from bot.access import AccessControl, AccessPolicy, ProfileAccess
from bot.adapters.hss_profiles import HssProfiles, build_profile_client, fallback_name
from bot.domain.errors import AccessDenied, DirectoryUnavailable, InvalidCommand, SettingsError
from bot.domain.grammar import build_request, parse_command
from bot.domain.grammar.commands import Export
from bot.domain.model import ExportRequest
from bot.domain.types import Actor, CreatedTask, TaskStatus
from bot.profiles import load_profiles
from bot.settings import Settings, load_settings
from bot.usecases import Gatekeeper, Refused

AK_A, SK_A = "AKMARKERAAAAAAAAAAAA", "SKMARKER-profile-a-secret-000000000000001"
AK_B, SK_B = "AKMARKERBBBBBBBBBBBB", "SKMARKER-profile-b-secret-000000000000002"
ENV = {"A_AK": AK_A, "A_SK": SK_A, "B_AK": AK_B, "B_SK": SK_B}

TWO_PROFILES = """
[profiles.alpha]
region = "cn-north-4"
project_id = "project-alpha"
enterprise_project_id = "eps-alpha"
ak_env = "A_AK"
sk_env = "A_SK"
channels = ["C0ALPHA001"]

[profiles.beta]
region = "ap-southeast-1"
project_id = "project-beta"
ak_env = "B_AK"
sk_env = "B_SK"
channels = ["C0BETA0001"]
allowed_user_ids = ["U0BETA0001"]
allowed_usergroup_ids = ["S0BETA0001"]
"""


def _file(tmp_path: Path, text: str = TWO_PROFILES) -> Path:
    path = tmp_path / "profiles.toml"
    path.write_text(text, encoding="utf-8")
    return path


@pytest.fixture
def environ(monkeypatch: pytest.MonkeyPatch) -> None:
    """The variables the profiles' `*_env` keys name."""
    for name, value in ENV.items():
        monkeypatch.setenv(name, value)


# --- settings ---------------------------------------------------------------------------


def test_without_a_file_the_legacy_settings_are_the_profile_default() -> None:
    """No HSS_PROFILES_FILE: the HSS_* settings form one profile, `default`, as before."""
    settings = load_settings(
        ["hss"], _env_file=None, HSS_PROJECT_ID="p1", CLOUD_SDK_AK="ak", CLOUD_SDK_SK="sk"
    )
    assert settings.profiles.names == ("default",)
    default = settings.profiles.get("default")
    assert default is not None
    assert (default.project_id, default.endpoint) == ("p1", settings.hss_endpoint)


@pytest.mark.usefixtures("environ")
def test_the_file_is_read_at_start_and_needs_no_legacy_account(tmp_path: Path) -> None:
    """With the file alone, `hss` commands start: its profiles, HSS_DEFAULT_PROFILE honoured."""
    settings = load_settings(
        ["hss"], _env_file=None, HSS_PROFILES_FILE=str(_file(tmp_path)), HSS_DEFAULT_PROFILE="beta"
    )
    assert settings.profiles.names == ("alpha", "beta")
    assert settings.profiles.default_name == "beta"


@pytest.mark.usefixtures("environ")
def test_profile_problems_join_the_one_settings_message(tmp_path: Path) -> None:
    """A bad profile file and a malformed setting are reported together, in one error."""
    bad = TWO_PROFILES.replace('"ap-southeast-1"', '"mars-north-1"').replace('"B_SK"', '"NO_SUCH"')
    with pytest.raises(SettingsError) as caught:
        load_settings(
            ["hss"], _env_file=None, HSS_PROFILES_FILE=str(_file(tmp_path, bad)), HSS_MAX_ATTEMPTS=0
        )
    text = str(caught.value)
    assert "HSS_MAX_ATTEMPTS" in text
    assert "profiles.beta" in text
    assert "profiles.beta: region 'mars-north-1'" in text
    assert "NO_SUCH" in text
    assert SK_A not in text
    assert SK_B not in text


def test_a_default_profile_naming_nothing_is_refused_at_start() -> None:
    """HSS_DEFAULT_PROFILE must name a profile, even without a file."""
    with pytest.raises(SettingsError, match="HSS_DEFAULT_PROFILE 'prod' names no profile"):
        load_settings(
            ["hss"],
            _env_file=None,
            HSS_PROJECT_ID="p1",
            CLOUD_SDK_AK="ak",
            CLOUD_SDK_SK="sk",
            HSS_DEFAULT_PROFILE="prod",
        )


# --- grammar and the request record ------------------------------------------------------


def test_profile_key_is_read_and_never_sent_to_hss() -> None:
    """`profile=beta` names the profile; the body and query HSS gets do not carry it."""
    command = parse_command("status=running profile=beta")
    assert isinstance(command, Export)
    assert command.request.profile == "beta"
    assert "profile" not in command.request.body_json()
    assert "profile" not in command.request.query_params()


def test_a_profile_name_in_capitals_gets_a_suggestion() -> None:
    """`profile=Beta` is refused with the lower-case name suggested."""
    with pytest.raises(InvalidCommand) as caught:
        build_request({"profile": "Beta"})
    (problem,) = caught.value.problems
    assert problem.key == "profile"
    assert "did you mean `beta`" in str(problem)


# --- the access policy -------------------------------------------------------------------


class Groups:
    """User groups in memory."""

    def __init__(self, groups: dict[str, set[str]]) -> None:
        self.groups = groups

    async def members(self, usergroup_id: str) -> frozenset[str]:
        if usergroup_id not in self.groups:
            raise DirectoryUnavailable("no_such_subteam", passing=False)
        return frozenset(self.groups[usergroup_id])


def _profiles(tmp_path: Path, default: str | None = None) -> Any:
    return load_profiles(
        profiles_file=_file(tmp_path), default_profile=default, legacy={}, environ=ENV
    )


# (asked, user, channel, default) -> the profile chosen, or the outcome of the refusal
CHOICES = [
    pytest.param(None, "U0ANYONE01", "C0ALPHA001", None, "alpha", id="mapped-channel"),
    pytest.param(None, "U0BETA0001", "C0BETA0001", None, "beta", id="mapped-and-allowed"),
    pytest.param(None, "U0ANYONE01", "C0BETA0001", None, "denied", id="mapped-but-forbidden"),
    pytest.param(None, "U0GROUP001", "C0BETA0001", None, "beta", id="allowed-by-group"),
    pytest.param("beta", "U0BETA0001", "C0ALPHA001", None, "beta", id="override-allowed"),
    pytest.param("beta", "U0ANYONE01", "C0ALPHA001", None, "denied", id="override-forbidden"),
    pytest.param("gamma", "U0ANYONE01", "C0ALPHA001", None, "invalid", id="unknown"),
    pytest.param(None, "U0ANYONE01", "C0OTHER001", None, "invalid", id="unmapped-no-default"),
    pytest.param(None, "U0ANYONE01", "C0OTHER001", "alpha", "alpha", id="unmapped-default"),
]


@pytest.mark.parametrize(("asked", "user", "channel", "default", "expected"), CHOICES)
async def test_profile_choice(
    tmp_path: Path, asked: str | None, user: str, channel: str, default: str | None, expected: str
) -> None:
    """Which profile a command goes to, and who may use it, as one table."""
    access = ProfileAccess(_profiles(tmp_path, default), Groups({"S0BETA0001": {"U0GROUP001"}}))
    verdict = await access.choose(asked, user, channel)
    if verdict.profile is not None:
        assert verdict.profile.name == expected
    else:
        assert verdict.outcome == expected
        # The refusal names what the user may use: alpha is open to everyone allowed.
        assert "alpha" in verdict.reason
        assert "beta" not in verdict.usable


def _actor(user: str, channel: str) -> Actor:
    return Actor("T0TEAM0001", user, channel, "slash")


def _gate(tmp_path: Path, audit: FakeAudit) -> Gatekeeper:
    everyone = AccessControl(AccessPolicy(users=frozenset({"*"})))
    return Gatekeeper(everyone, audit, profiles=ProfileAccess(_profiles(tmp_path), Groups({})))


async def test_a_resolved_request_carries_where_it_goes_into_the_audit_record(
    tmp_path: Path,
) -> None:
    """The admitted request names its profile, region and project id; its default EPS applies."""
    gate = _gate(tmp_path, FakeAudit(Journal()))
    verdict = await gate.admit(_actor("U0ANYONE01", "C0ALPHA001"), request=build_request({}))
    assert isinstance(verdict, ExportRequest)
    record = verdict.as_audit_record()
    assert (record["profile"], record["region"], record["project_id"]) == (
        "alpha",
        "cn-north-4",
        "project-alpha",
    )
    assert record["query"] == {"enterprise_project_id": "eps-alpha"}


async def test_a_global_refusal_comes_before_the_profile(tmp_path: Path) -> None:
    """Someone the global lists refuse is denied by them, whatever profile they name."""
    nobody = AccessControl(AccessPolicy(users=frozenset({"U0SOMEONE1"})))
    gate = Gatekeeper(
        nobody, FakeAudit(Journal()), profiles=ProfileAccess(_profiles(tmp_path), Groups({}))
    )
    verdict = await gate.admit(_actor("U0ANYONE01", "C0ALPHA001"), request=build_request({}))
    assert isinstance(verdict, Refused)
    assert "ALLOWED_USER_IDS" in str(verdict.error)


@pytest.mark.parametrize(
    ("fields", "outcome", "kind"),
    [
        ({"profile": "gamma"}, "invalid", InvalidCommand),
        ({"profile": "beta"}, "denied", AccessDenied),
    ],
)
async def test_unknown_and_forbidden_profiles_are_refused_and_audited(
    tmp_path: Path, fields: dict[str, str], outcome: str, kind: type[Exception]
) -> None:
    """`profile=gamma` is invalid, a forbidden `profile=beta` denied; both on record with names."""
    audit = FakeAudit(Journal())
    gate = _gate(tmp_path, audit)
    actor = _actor("U0ANYONE01", "C0ALPHA001")
    verdict = await gate.admit(actor, request=build_request(fields))
    assert isinstance(verdict, Refused)
    assert (verdict.outcome, type(verdict.error)) == (outcome, kind)
    assert "you may use: alpha" in str(verdict.error).lower()
    await gate.record(actor, verdict)
    (entry,) = audit.entries
    assert entry.outcome == outcome
    assert entry.request is not None
    assert entry.request["profile"] == fields["profile"]


# --- one HSS client per profile ------------------------------------------------------------


class RecordingHss:
    """An HSS port that remembers what it was asked."""

    def __init__(self, name: str) -> None:
        self.name = name
        self.created: list[ExportRequest] = []
        self.looked_up: list[str] = []

    async def create_export_task(self, request: ExportRequest) -> CreatedTask:
        self.created.append(request)
        return CreatedTask(f"task-{self.name}", None)

    async def get_export_task(
        self, task_id: str, enterprise_project_id: str | None = None
    ) -> TaskStatus:
        self.looked_up.append(task_id)
        raise AssertionError("not looked up in these tests")

    def download(
        self, file_id: str, enterprise_project_id: str | None = None
    ) -> AbstractAsyncContextManager[AsyncIterator[bytes]]:
        raise AssertionError("not downloaded in these tests")

    async def aclose(self) -> None:
        return None


async def test_a_create_goes_to_the_client_of_its_profile() -> None:
    """The registry sends each request to its own profile's client, and only there."""
    alpha, beta = RecordingHss("alpha"), RecordingHss("beta")
    hss = HssProfiles({"alpha": alpha, "beta": beta}, fallback="alpha")
    request = build_request({})
    task = await hss.create_export_task(request.model_copy(update={"profile": "beta"}))
    assert task.task_id == "task-beta"
    assert (len(alpha.created), len(beta.created)) == (0, 1)
    assert hss.for_profile(None) is alpha


@pytest.mark.usefixtures("environ")
def test_each_profile_client_signs_with_its_own_keys(tmp_path: Path) -> None:
    """Profile beta's client shows beta's endpoint and project, and none of alpha's keys."""
    settings = Settings(  # type: ignore[call-arg]
        _env_file=None, HSS_PROFILES_FILE=str(_file(tmp_path))
    )
    profiles = settings.profiles
    beta = profiles.get("beta")
    assert beta is not None
    client = build_profile_client(beta, settings)
    described = client.describe_create(build_request({}))
    text = repr(described) + repr(client)
    assert "hss.ap-southeast-1.myhuaweicloud.com/v5/project-beta/" in text
    assert AK_A not in text
    assert SK_A not in text
    assert SK_B not in text
    assert fallback_name(profiles) is None


def test_the_profiles_keys_may_come_from_dot_env(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A variable a profile names may live in `.env`, as `hss-export-bot profiles` reads it."""
    monkeypatch.chdir(tmp_path)
    for name in ENV:
        monkeypatch.delenv(name, raising=False)
    (tmp_path / ".env").write_text(
        "".join(f"{name}={value}\n" for name, value in ENV.items()), encoding="utf-8"
    )
    settings = load_settings(["hss"], _env_file=None, HSS_PROFILES_FILE=str(_file(tmp_path)))
    assert settings.profiles.names == ("alpha", "beta")
