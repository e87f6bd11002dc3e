"""Profiles: the file and the legacy settings resolve to checked profiles, or one error says all."""

from __future__ import annotations

import re
from collections.abc import Mapping
from pathlib import Path

import pytest
import yaml

from bot.domain.errors import SettingsError
from bot.domain.slack_ids import SlackIdKind, bad_slack_ids
from bot.profiles import AkSk, IamPassword, Profiles, load_profiles, profiles_from_environ
from bot.settings import Settings

REPO = Path(__file__).resolve().parents[1]

# Marker secrets: none of them may ever appear in a repr, a str, a message or the CLI's output.
PROD_AK = "AKMARKER00000000PROD"
PROD_SK = "SKMARKER-prod-secret-key-0000000000000001"
TEMP_AK = "AKMARKER00000000TEMP"
TEMP_SK = "SKMARKER-temp-secret-key-0000000000000002"
TEMP_TOKEN = "STMARKER-temporary-security-token-3"
IAM_PASSWORD = "PWMARKER-iam-password-4"
LEGACY_AK = "AKMARKER000000LEGACY"
LEGACY_SK = "SKMARKER-legacy-secret-key-000000000005"
MARKERS = (PROD_AK, PROD_SK, TEMP_AK, TEMP_SK, TEMP_TOKEN, IAM_PASSWORD, LEGACY_AK, LEGACY_SK)

ENV = {
    "PROD_AK": PROD_AK,
    "PROD_SK": PROD_SK,
    "TEMP_AK": TEMP_AK,
    "TEMP_SK": TEMP_SK,
    "TEMP_TOKEN": TEMP_TOKEN,
    "STAGING_PASSWORD": IAM_PASSWORD,
    "EMPTY_VAR": "",
}
LEGACY = {"HSS_PROJECT_ID": "legacy-project", "CLOUD_SDK_AK": LEGACY_AK, "CLOUD_SDK_SK": LEGACY_SK}

THREE_PROFILES = """
# AK/SK, mapped to two channels, open to one user group.
[profiles.prod]
region = "cn-north-4"
project_id = "prod-project"
enterprise_project_id = "all_granted_eps"
ak_env = "PROD_AK"
sk_env = "PROD_SK"
channels = ["C0PROD0001", "G0PRIVATE1"]
allowed_usergroup_ids = ["S0SECTEAM1"]

# Temporary AK/SK with a security token, explicit endpoint (trailing slash dropped).
[profiles.temp]
region = "ap-southeast-1"
endpoint = "http://127.0.0.1:8443/"
project_id = "temp-project"
ak_env = "TEMP_AK"
sk_env = "TEMP_SK"
security_token_env = "TEMP_TOKEN"
allowed_user_ids = ["U0ALICE001", "W0BOB00002"]
allowed_channel_ids = ["*"]

# IAM user and password, its own IAM endpoint.
[profiles.staging]
region = "cn-east-3"
iam_endpoint = "https://iam.example.internal"
project_id = "staging-project"
iam_domain = "example-domain"
iam_user = "hss-bot"
iam_password_env = "STAGING_PASSWORD"
channels = ["C0STAGING1"]
"""

# One valid profile, to which each case adds or changes keys.
PROD = """
[profiles.prod]
region = "cn-north-4"
project_id = "prod-project"
ak_env = "PROD_AK"
sk_env = "PROD_SK"
"""


def _write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "profiles.toml"
    path.write_text(text, encoding="utf-8")
    return path


def _load(
    tmp_path: Path,
    text: str | None,
    *,
    default: str | None = None,
    legacy: Mapping[str, str] | None = None,
    environ: Mapping[str, str] = ENV,
) -> Profiles:
    return load_profiles(
        profiles_file=None if text is None else _write(tmp_path, text),
        default_profile=default,
        legacy={} if legacy is None else legacy,
        environ=environ,
    )


def _problems(tmp_path: Path, text: str | None, **kwargs: object) -> list[str]:
    with pytest.raises(SettingsError) as info:
        _load(tmp_path, text, **kwargs)  # type: ignore[arg-type]
    return info.value.problems


NO_CREDENTIALS = (
    "no credentials: set ak_env and sk_env (AK/SK signing) or iam_domain, iam_user and "
    "iam_password_env (IAM token)"
)
IAM_NAMES = "iam_domain, iam_user and iam_password_env"
BOTH = f"set either ak_env and sk_env (AK/SK) or {IAM_NAMES} (IAM), not both"
NOT_THE_SECRET = (
    "must be the NAME of an environment variable holding the secret "
    "(letters, digits and _), not the secret itself"
)
USER_IDS = "user IDs like U012ABCDEF or W012ABCDEF, or *"
CHANNEL_IDS = "channel IDs like C012ABCDEF (G… private, D… direct message), or *"


def _prod(extra: str = "", *, drop: tuple[str, ...] = ()) -> str:
    lines = [line for line in PROD.splitlines() if line.split(" ")[0] not in drop]
    return "\n".join(lines) + "\n" + extra + "\n"


PROBLEM_CASES = [
    (
        "unknown region",
        _prod('region = "mars-central-1"', drop=("region",)),
        [
            "profiles.prod: region 'mars-central-1' is not a region HSS serves "
            "(32 known; e.g. cn-north-4, ap-southeast-1)"
        ],
    ),
    (
        "mistyped region",
        _prod('region = "cn-nort-4"', drop=("region",)),
        [
            "profiles.prod: region 'cn-nort-4' is not a region HSS serves "
            "(32 known; did you mean cn-north-4?)"
        ],
    ),
    (
        "missing region and project",
        _prod(drop=("region", "project_id")),
        [
            "profiles.prod: region is required (e.g. cn-north-4, ap-southeast-1)",
            "profiles.prod: project_id is required (1-256 characters, from 'My Credentials')",
        ],
    ),
    (
        "project ids out of bounds",
        _prod(f'project_id = ""\nenterprise_project_id = "{"e" * 257}"', drop=("project_id",)),
        [
            "profiles.prod: project_id must be 1-256 characters (from 'My Credentials')",
            "profiles.prod: enterprise_project_id must be 1-256 characters",
        ],
    ),
    (
        "env var not set",
        _prod('sk_env = "NOT_SET_ANYWHERE"', drop=("sk_env",)),
        ["profiles.prod: sk_env names NOT_SET_ANYWHERE, which is not set in the environment"],
    ),
    (
        "env var empty",
        _prod('ak_env = "EMPTY_VAR"', drop=("ak_env",)),
        ["profiles.prod: ak_env names EMPTY_VAR, which is empty"],
    ),
    (
        "token and password variables missing",
        _prod('security_token_env = "NO_TOKEN"')
        + '[profiles.iam]\nregion = "cn-north-4"\nproject_id = "p"\n'
        'iam_domain = "d"\niam_user = "u"\niam_password_env = "NO_PASSWORD"\n',
        [
            "profiles.prod: security_token_env names NO_TOKEN, which is not set in the environment",
            "profiles.iam: iam_password_env names NO_PASSWORD, which is not set in the environment",
        ],
    ),
    (
        "AK without SK",
        _prod(drop=("sk_env",)),
        ["profiles.prod: sk_env is required when ak_env is set"],
    ),
    (
        "SK without AK",
        _prod(drop=("ak_env",)),
        ["profiles.prod: ak_env is required when sk_env is set"],
    ),
    (
        "AK/SK and IAM both",
        _prod('iam_user = "u"'),
        [f"profiles.prod: {BOTH}"],
    ),
    (
        "no credentials",
        _prod(drop=("ak_env", "sk_env")),
        [f"profiles.prod: {NO_CREDENTIALS}"],
    ),
    (
        "IAM without a password, token without keys",
        _prod(
            'iam_domain = "d"\niam_user = "u"\nsecurity_token_env = "TEMP_TOKEN"',
            drop=("ak_env", "sk_env"),
        ),
        [
            "profiles.prod: security_token_env goes with ak_env and sk_env (temporary AK/SK)",
            f"profiles.prod: iam_password_env is required for IAM token authentication "
            f"(with {IAM_NAMES})",
        ],
    ),
    (
        "empty IAM names",
        _prod(
            'iam_domain = ""\niam_user = ""\niam_password_env = "STAGING_PASSWORD"',
            drop=("ak_env", "sk_env"),
        ),
        [
            "profiles.prod: iam_domain must not be empty",
            "profiles.prod: iam_user must not be empty",
        ],
    ),
    (
        "a secret pasted where a variable name goes",
        _prod('sk_env = "Ab12Cd34Ef56Gh78Ij90Kl12Mn34Op56Qr78St90"', drop=("sk_env",)),
        [f"profiles.prod: sk_env {NOT_THE_SECRET}"],
    ),
    (
        "not a variable name",
        _prod('ak_env = "PROD-AK"', drop=("ak_env",)),
        [f"profiles.prod: ak_env {NOT_THE_SECRET}"],
    ),
    (
        "channel mapped to two profiles",
        _prod('channels = ["C0SHARED01", "C0PROD0001"]')
        + '[profiles.stage]\nregion = "cn-north-4"\nproject_id = "p"\n'
        'ak_env = "TEMP_AK"\nsk_env = "TEMP_SK"\nchannels = ["C0SHARED01"]\n',
        [
            "channel C0SHARED01 is mapped to more than one profile (prod, stage): "
            "a channel has one default profile"
        ],
    ),
    (
        "unknown keys",
        _prod('projectid = "x"\nchanels = ["C0PROD0001"]\ncolour = "blue"'),
        [
            "profiles.prod: unknown key 'projectid': did you mean project_id?",
            "profiles.prod: unknown key 'chanels': did you mean channels?",
            "profiles.prod: unknown key 'colour': known keys: region, endpoint, project_id, "
            "enterprise_project_id, iam_endpoint, ak_env, sk_env, security_token_env, "
            "iam_domain, iam_user, iam_password_env, channels, allowed_user_ids, "
            "allowed_channel_ids, allowed_usergroup_ids",
        ],
    ),
    (
        "wrong types",
        _prod(
            'project_id = 123\nchannels = "C0PROD0001"\nallowed_user_ids = [1, 2]\n'
            "allowed_channel_ids = true",
            drop=("project_id",),
        ),
        [
            "profiles.prod: project_id must be a string (in quotes), got a number",
            'profiles.prod: channels must be a list of strings, like ["C012ABCDEF"], got a string',
            "profiles.prod: allowed_user_ids must hold only strings (in quotes), "
            'like ["C012ABCDEF"]',
            'profiles.prod: allowed_channel_ids must be a list of strings, like ["C012ABCDEF"], '
            "got true/false",
        ],
    ),
    (
        "bad Slack IDs",
        _prod(
            'channels = ["#security", "*"]\n'
            'allowed_user_ids = ["@alice", "C0NOTAUSER", "U0OK00001"]'
        ),
        [
            "profiles.prod: channels: '*' is not a channel; set HSS_DEFAULT_PROFILE for every "
            "unlisted channel",
            f"profiles.prod: channels: '#security' not accepted; accepted: {CHANNEL_IDS}",
            f"profiles.prod: allowed_user_ids: '@alice', 'C0NOTAUSER' not accepted; "
            f"accepted: {USER_IDS}",
        ],
    ),
    (
        "bad endpoints",
        _prod('endpoint = "ftp://hss.example.com"\niam_endpoint = "https://me:pw@iam.example.com"'),
        [
            "profiles.prod: endpoint must be a full http(s) base URL, "
            "like https://hss.cn-north-4.myhuaweicloud.com",
            "profiles.prod: iam_endpoint must not hold a user name or password",
        ],
    ),
    (
        "bad profile names",
        _prod().replace("profiles.prod", "profiles.Prod")
        + _prod().replace("profiles.prod", f"profiles.{'x' * 33}"),
        [
            "profile name 'Prod' must be 1-32 lower-case letters, digits, - or _",
            f"profile name {'x' * 33!r} must be 1-32 lower-case letters, digits, - or _",
        ],
    ),
    (
        "a profile that is not a table, a stray top-level key",
        'region = "cn-north-4"\n[profiles]\nprod = "cn-north-4"\n',
        [
            "HSS_PROFILES_FILE {path}: unknown top-level key 'region': profiles go in "
            "[profiles.NAME] tables",
            "HSS_PROFILES_FILE {path}: profiles.prod must be a table, [profiles.prod]",
        ],
    ),
    (
        "no profile at all",
        "# nothing yet\n",
        ["HSS_PROFILES_FILE {path}: defines no profile: add a [profiles.NAME] table"],
    ),
    (
        "malformed file",
        '[profiles.prod]\nregion "cn-north-4"\n',
        [
            "HSS_PROFILES_FILE {path}: not valid TOML: Expected '=' after a key in a "
            "key/value pair (at line 2, column 8)"
        ],
    ),
]


@pytest.mark.parametrize(
    ("text", "expected"), [c[1:] for c in PROBLEM_CASES], ids=[c[0] for c in PROBLEM_CASES]
)
def test_each_problem_is_named_exactly(tmp_path: Path, text: str, expected: list[str]) -> None:
    """Each kind of mistake gets the exact line a user reads, naming the profile and key."""
    path = tmp_path / "profiles.toml"
    assert _problems(tmp_path, text) == [line.format(path=path) for line in expected]


def test_every_problem_of_every_profile_comes_in_one_error(tmp_path: Path) -> None:
    """Problems in several profiles and the default profile are all listed in one message."""
    text = (
        '[profiles.prod]\nregion = "cn-nort-4"\nproject_id = "p"\nak_env = "PROD_AK"\n'
        '[profiles.stage]\nregion = "cn-north-4"\nprojectid = "p"\n'
        'iam_domain = "d"\niam_user = "u"\niam_password_env = "EMPTY_VAR"\n'
    )
    with pytest.raises(SettingsError) as info:
        _load(tmp_path, text, default="production")
    assert info.value.problems == [
        "profiles.prod: region 'cn-nort-4' is not a region HSS serves "
        "(32 known; did you mean cn-north-4?)",
        "profiles.prod: sk_env is required when ak_env is set",
        "profiles.stage: unknown key 'projectid': did you mean project_id?",
        "profiles.stage: project_id is required (1-256 characters, from 'My Credentials')",
        "profiles.stage: iam_password_env names EMPTY_VAR, which is empty",
        "HSS_DEFAULT_PROFILE 'production' names no profile; the profiles are: prod, stage",
    ]
    assert str(info.value).startswith("invalid settings:\n  - profiles.prod: region")


def test_a_missing_file_is_named(tmp_path: Path) -> None:
    """A file that does not exist is one problem naming HSS_PROFILES_FILE and the path."""
    missing = tmp_path / "nope.toml"
    with pytest.raises(SettingsError) as info:
        load_profiles(profiles_file=missing, default_profile=None, legacy={}, environ=ENV)
    assert info.value.problems == [f"HSS_PROFILES_FILE {missing}: no such file"]


def test_a_directory_or_non_utf8_file_is_named(tmp_path: Path) -> None:
    """A directory or a file that is not UTF-8 is refused with the path, not a traceback."""
    latin = tmp_path / "latin1.toml"
    latin.write_bytes(b'[profiles.prod]\nregion = "caf\xe9"\n')
    for path, why in ((tmp_path, "is a directory, not a TOML file"), (latin, "is not UTF-8 text")):
        with pytest.raises(SettingsError) as info:
            load_profiles(profiles_file=path, default_profile=None, legacy={}, environ=ENV)
        assert info.value.problems == [f"HSS_PROFILES_FILE {path}: {why}"]


def test_three_profiles_resolve_completely(tmp_path: Path) -> None:
    """AK/SK, temporary AK/SK with a token, and IAM profiles resolve with derived endpoints."""
    profiles = _load(tmp_path, THREE_PROFILES, default="prod")

    assert profiles.names == ("prod", "temp", "staging")
    assert profiles.default_name == "prod"
    prod, temp, staging = (profiles.get(n) for n in profiles.names)
    assert prod is not None
    assert temp is not None
    assert staging is not None
    assert (prod.region, prod.endpoint, prod.iam_endpoint) == (
        "cn-north-4",
        "https://hss.cn-north-4.myhuaweicloud.com",
        "https://iam.cn-north-4.myhuaweicloud.com",
    )
    assert (prod.project_id, prod.enterprise_project_id) == ("prod-project", "all_granted_eps")
    assert prod.channels == ("C0PROD0001", "G0PRIVATE1")
    assert prod.access is not None
    assert (prod.access.users, prod.access.channels, prod.access.usergroups) == (
        (),
        (),
        ("S0SECTEAM1",),
    )
    assert isinstance(prod.credentials, AkSk)
    assert prod.credentials.ak.get_secret_value() == PROD_AK
    assert prod.credentials.sk.get_secret_value() == PROD_SK
    assert prod.credentials.security_token is None

    assert temp.endpoint == "http://127.0.0.1:8443"
    assert temp.iam_endpoint == "https://iam.ap-southeast-1.myhuaweicloud.com"
    assert temp.enterprise_project_id is None
    assert isinstance(temp.credentials, AkSk)
    assert temp.credentials.security_token is not None
    assert temp.credentials.security_token.get_secret_value() == TEMP_TOKEN
    assert temp.credentials.security_token_env == "TEMP_TOKEN"
    assert temp.access is not None
    assert temp.access.users == ("U0ALICE001", "W0BOB00002")
    assert temp.access.channels == ("*",)

    assert staging.endpoint == "https://hss.cn-east-3.myhuaweicloud.com"
    assert staging.iam_endpoint == "https://iam.example.internal"
    assert isinstance(staging.credentials, IamPassword)
    assert (staging.credentials.domain, staging.credentials.user) == ("example-domain", "hss-bot")
    assert staging.credentials.password.get_secret_value() == IAM_PASSWORD
    assert staging.access is None
    assert profiles.get("nope") is None


@pytest.mark.parametrize(
    ("default", "channel", "expected"),
    [
        ("prod", "C0PROD0001", "prod"),
        ("prod", "G0PRIVATE1", "prod"),
        ("prod", "C0STAGING1", "staging"),
        ("prod", "C0ELSEWHERE", "prod"),
        ("temp", "C0ELSEWHERE", "temp"),
        ("temp", "C0PROD0001", "prod"),
        (None, "C0STAGING1", "staging"),
        (None, "C0ELSEWHERE", None),
    ],
)
def test_channel_resolution(
    tmp_path: Path, default: str | None, channel: str, expected: str | None
) -> None:
    """A mapped channel gets its profile, others the default, and with no default: ask (None)."""
    profile = _load(tmp_path, THREE_PROFILES, default=default).for_channel(channel)
    assert (None if profile is None else profile.name) == expected


def test_the_only_profile_is_the_default(tmp_path: Path) -> None:
    """With one profile and no HSS_DEFAULT_PROFILE, every channel gets that profile."""
    profiles = _load(tmp_path, PROD)
    assert profiles.default_name == "prod"
    profile = profiles.for_channel("C0ANYWHERE1")
    assert profile is not None
    assert profile.name == "prod"


def test_legacy_settings_alone_form_the_default_profile(tmp_path: Path) -> None:
    """Without a file, today's HSS_* settings are the one profile `default`, as before."""
    legacy = {
        **LEGACY,
        "HSS_REGION": "ap-southeast-3",
        "HSS_ENTERPRISE_PROJECT_ID": "eps-1",
        "CLOUD_SDK_SECURITY_TOKEN": TEMP_TOKEN,
        "HSS_IAM_ENDPOINT": "",  # empty is unset, as in Settings
    }
    profiles = _load(tmp_path, None, legacy=legacy, environ={})
    assert profiles.names == ("default",)
    assert profiles.default_name == "default"
    profile = profiles.for_channel("C0ANYWHERE1")
    assert profile is not None
    assert (profile.source, profile.region, profile.project_id) == (
        "settings",
        "ap-southeast-3",
        "legacy-project",
    )
    assert profile.endpoint == "https://hss.ap-southeast-3.myhuaweicloud.com"
    assert profile.enterprise_project_id == "eps-1"
    assert isinstance(profile.credentials, AkSk)
    assert profile.credentials.ak.get_secret_value() == LEGACY_AK
    assert profile.credentials.security_token is not None
    assert profile.credentials.describe() == {
        "kind": "aksk",
        "ak_env": "CLOUD_SDK_AK",
        "sk_env": "CLOUD_SDK_SK",
        "security_token_env": "CLOUD_SDK_SECURITY_TOKEN",
    }


def test_legacy_iam_and_region_defaults(tmp_path: Path) -> None:
    """Legacy IAM settings work; HSS_REGION defaults to cn-north-4; any region with HSS_ENDPOINT."""
    iam = {
        "HSS_PROJECT_ID": "p",
        "HSS_IAM_DOMAIN": "d",
        "HSS_IAM_USER": "u",
        "HSS_IAM_PASSWORD": IAM_PASSWORD,
    }
    profile = _load(tmp_path, None, legacy=iam, environ={}).get("default")
    assert profile is not None
    assert profile.region == "cn-north-4"
    assert isinstance(profile.credentials, IamPassword)
    assert profile.credentials.password_env == "HSS_IAM_PASSWORD"

    private = {**LEGACY, "HSS_REGION": "my-private-1", "HSS_ENDPOINT": "https://hss.internal/"}
    profile = _load(tmp_path, None, legacy=private, environ={}).get("default")
    assert profile is not None
    assert profile.endpoint == "https://hss.internal"


def test_legacy_problems_name_the_settings(tmp_path: Path) -> None:
    """Without a file, unset or bad HSS_* settings are reported by their setting names."""
    assert _problems(tmp_path, None, legacy={}) == [
        "HSS_PROJECT_ID is required (1-256 characters, from 'My Credentials')",
        "no credentials: set CLOUD_SDK_AK and CLOUD_SDK_SK (AK/SK signing) or HSS_IAM_DOMAIN, "
        "HSS_IAM_USER and HSS_IAM_PASSWORD (IAM token)",
    ]
    assert _problems(tmp_path, None, legacy={"HSS_PROJECT_ID": "p"}) == Settings(
        _env_file=None, HSS_PROJECT_ID="p"
    ).problems(["hss"]), "the settings and the profiles say it in the same words"
    bad = {"HSS_REGION": "cn-north4", "HSS_PROJECT_ID": "p", "CLOUD_SDK_AK": LEGACY_AK}
    assert _problems(tmp_path, None, legacy=bad) == [
        "HSS_REGION 'cn-north4' is not a region HSS serves (32 known; did you mean cn-north-4?)",
        "CLOUD_SDK_SK is required when CLOUD_SDK_AK is set",
    ]


def test_legacy_settings_beside_the_file(tmp_path: Path) -> None:
    """Configured legacy settings are the profile `default` beside the file's ones."""
    profiles = _load(tmp_path, THREE_PROFILES, legacy=LEGACY)
    assert profiles.names == ("default", "prod", "temp", "staging")
    assert profiles.default_name is None  # several profiles, no HSS_DEFAULT_PROFILE: ask
    assert profiles.for_channel("C0ELSEWHERE") is None
    with_default = _load(tmp_path, THREE_PROFILES, legacy=LEGACY, default="default")
    profile = with_default.for_channel("C0ELSEWHERE")
    assert profile is not None
    assert profile.source == "settings"


def test_unconfigured_legacy_settings_add_no_profile(tmp_path: Path) -> None:
    """HSS_REGION alone (a ConfigMap default) does not make a `default` profile beside the file."""
    legacy = {"HSS_REGION": "cn-north-4", "HSS_ENDPOINT": "https://hss.example.com"}
    assert _load(tmp_path, THREE_PROFILES, legacy=legacy).names == ("prod", "temp", "staging")


def test_a_file_defining_default_beside_legacy_settings_is_refused(tmp_path: Path) -> None:
    """A file's [profiles.default] and configured HSS_* settings clash, naming the settings set."""
    text = PROD.replace("profiles.prod", "profiles.default")
    assert _problems(tmp_path, text, legacy=LEGACY) == [
        "HSS_PROFILES_FILE defines [profiles.default], and the HSS_* settings (HSS_PROJECT_ID, "
        "CLOUD_SDK_AK, CLOUD_SDK_SK) form a profile named default too: rename the file's "
        "profile or unset those settings"
    ]
    assert _load(tmp_path, text).names == ("default",)  # without legacy settings: fine


def test_profiles_from_environ_reads_the_three_settings(tmp_path: Path) -> None:
    """HSS_PROFILES_FILE, HSS_DEFAULT_PROFILE and the legacy settings come from one mapping."""
    path = _write(tmp_path, THREE_PROFILES)
    environ = {**ENV, **LEGACY, "HSS_PROFILES_FILE": str(path), "HSS_DEFAULT_PROFILE": "temp"}
    profiles = profiles_from_environ(environ)
    assert profiles.names == ("default", "prod", "temp", "staging")
    assert profiles.default_name == "temp"
    assert profiles_from_environ({**LEGACY, "HSS_PROFILES_FILE": ""}).names == ("default",)


def test_profiles_cannot_be_changed_once_loaded(tmp_path: Path) -> None:
    """The shared profiles are read-only: a request cannot swap another's profile."""
    profiles = _load(tmp_path, THREE_PROFILES)
    with pytest.raises(TypeError):
        profiles.by_name["prod"] = profiles.by_name["temp"]  # type: ignore[index]
    with pytest.raises(TypeError):
        profiles.by_channel["C0NEW00001"] = "temp"  # type: ignore[index]


def test_no_secret_in_repr_str_describe_or_errors(tmp_path: Path) -> None:
    """Marker secrets never show in a profile's repr/str/describe, nor in a loading error."""
    profiles = _load(tmp_path, THREE_PROFILES, legacy=LEGACY, default="prod")
    shown = [repr(profiles), str(profiles), repr(profiles.describe())]
    for profile in profiles:
        shown += [repr(profile), str(profile), f"{profile}", repr(profile.credentials)]
    # Broken configurations that name the same variables (and a secret pasted as a name).
    broken = (
        THREE_PROFILES.replace('region = "cn-east-3"', 'region = "cn-east-33"')
        .replace('sk_env = "PROD_SK"', f'sk_env = "{PROD_SK}"')
        .replace('ak_env = "TEMP_AK"', 'ak_env = "EMPTY_VAR"')
        .replace('iam_password_env = "STAGING_PASSWORD"', 'iam_password_env = "NOT_SET"')
    )
    for text, legacy in (
        (broken, LEGACY),
        (broken, {**LEGACY, "HSS_REGION": "x"}),
        (None, {"CLOUD_SDK_SK": LEGACY_SK, "HSS_IAM_PASSWORD": IAM_PASSWORD}),
    ):
        with pytest.raises(SettingsError) as info:
            _load(tmp_path, text, legacy=legacy, default="prod")
        shown += [str(info.value), repr(info.value), *info.value.problems]
    leaked = [(m, s) for m in MARKERS for s in shown if m in s]
    assert leaked == []
    assert any("PROD_AK" in s for s in shown)  # the names are shown, so the check has teeth


def test_docs_and_configmap_examples_load(tmp_path: Path) -> None:
    """The example file in docs/profiles.md and the example ConfigMap resolve to 3 profiles."""
    docs = (REPO / "docs" / "profiles.md").read_text(encoding="utf-8")
    match = re.search(r"```toml\n(.*?)```", docs, re.DOTALL)
    assert match is not None
    configmap = yaml.safe_load(
        (REPO / "deploy" / "k8s" / "profiles.configmap.example.yaml").read_text(encoding="utf-8")
    )
    assert configmap["data"]["profiles.toml"] == match.group(1)
    secret = yaml.safe_load(
        (REPO / "deploy" / "k8s" / "secret.example.yaml").read_text(encoding="utf-8")
    )
    named = set(re.findall(r"_env = \"(\w+)\"", match.group(1)))
    secret_text = (REPO / "deploy" / "k8s" / "secret.example.yaml").read_text(encoding="utf-8")
    assert all(f"# {name}: " in secret_text for name in named)  # each key is in the example
    assert "CLOUD_SDK_AK" in secret["stringData"]  # the legacy install is untouched
    environ = dict.fromkeys(named, "example-value")
    profiles = _load(tmp_path, match.group(1), environ=environ, default="prod-cn")
    assert profiles.names == ("prod-cn", "prod-ap", "staging")
    kinds = [p.credentials.describe()["kind"] for p in profiles]
    assert kinds == ["aksk", "aksk", "iam"]


def test_deployment_mounts_the_profiles_file_once_uncommented() -> None:
    """Uncommenting the profiles blocks in deployment.yaml mounts the ConfigMap at the path set."""
    text = (REPO / "deploy" / "k8s" / "deployment.yaml").read_text(encoding="utf-8")
    commented = re.compile(
        r"^(\s*)# (\s*(?:env:|- name: HSS_PROFILES_FILE|value: /etc/|- name: profiles|"
        r"mountPath: /etc/|readOnly: true|configMap:|name: hss-export-bot-profiles).*)$",
        re.MULTILINE,
    )
    pod = yaml.safe_load(commented.sub(r"\1\2", text))["spec"]["template"]["spec"]
    container = pod["containers"][0]
    (path,) = [e["value"] for e in container["env"] if e["name"] == "HSS_PROFILES_FILE"]
    (mount,) = [m for m in container["volumeMounts"] if m["name"] == "profiles"]
    (volume,) = [v for v in pod["volumes"] if v["name"] == "profiles"]
    configmap = yaml.safe_load(
        (REPO / "deploy" / "k8s" / "profiles.configmap.example.yaml").read_text(encoding="utf-8")
    )
    assert volume["configMap"]["name"] == configmap["metadata"]["name"]
    assert path == f"{mount['mountPath']}/{next(iter(configmap['data']))}"
    assert mount["readOnly"] is True
    assert "env" not in yaml.safe_load(text)["spec"]["template"]["spec"]["containers"][0]


@pytest.mark.parametrize(
    ("kind", "entries", "bad"),
    [
        ("user", ["U012ABCDEF", "W012ABCDEF", "*"], []),
        (
            "user",
            ["@alice", "u012abcdef", "C012ABCDEF", "U", "<@U012ABCDEF>"],
            ["@alice", "u012abcdef", "C012ABCDEF", "U", "<@U012ABCDEF>"],
        ),
        ("channel", ["C012ABCDEF", "G012ABCDEF", "D012ABCDEF", "*"], []),
        (
            "channel",
            ["#general", "general", "U012ABCDEF", " C012ABCDEF"],
            ["#general", "general", "U012ABCDEF", " C012ABCDEF"],
        ),
        ("usergroup", ["S012ABCDEF", "*"], []),
        ("usergroup", ["@sec-team", "U012ABCDEF"], ["@sec-team", "U012ABCDEF"]),
    ],
)
def test_slack_id_shapes(kind: SlackIdKind, entries: list[str], bad: list[str]) -> None:
    """Only `*` and IDs with the kind's prefix pass; handles, names and other kinds do not."""
    assert bad_slack_ids(kind, entries) == bad
