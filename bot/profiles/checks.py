"""Check one profile table, key by key, appending every problem found.

The same checks serve a file's `[profiles.NAME]` and the legacy `HSS_*`
settings: a `Scope` says how a message names the profile and its keys
(`profiles.prod: sk_env …` or `CLOUD_SDK_SK …`). A value is echoed only when it
cannot be a secret; an environment variable's value never is.
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Final
from urllib.parse import urlsplit

from pydantic import SecretStr

from bot.domain.model import MAX_LENGTHS, PROJECT_ID_MAX_LENGTH
from bot.domain.slack_ids import ACCEPTED, SlackIdKind, bad_slack_ids
from bot.domain.text import clip
from bot.profiles.model import AkSk, Credentials, IamPassword, Profile, ProfileAccess
from bot.settings import HSS_REGIONS, no_credentials

DEFAULT_REGION: Final = "cn-north-4"  # the legacy HSS_REGION's default
NAME_RULE: Final = re.compile(r"[a-z0-9_-]{1,32}")
ENV_NAME_RULE: Final = re.compile(r"[A-Za-z_][A-Za-z0-9_]{0,127}")

TEXT_KEYS: Final = (
    "region",
    "endpoint",
    "project_id",
    "enterprise_project_id",
    "iam_endpoint",
    "ak_env",
    "sk_env",
    "security_token_env",
    "iam_domain",
    "iam_user",
    "iam_password_env",
)
LIST_KINDS: Final[dict[str, SlackIdKind]] = {
    "channels": "channel",
    "allowed_user_ids": "user",
    "allowed_channel_ids": "channel",
    "allowed_usergroup_ids": "usergroup",
}
KNOWN_KEYS: Final = (*TEXT_KEYS, *LIST_KINDS)
ENV_KEYS: Final = ("ak_env", "sk_env", "security_token_env", "iam_password_env")
ACCESS_KEYS: Final = ("allowed_user_ids", "allowed_channel_ids", "allowed_usergroup_ids")

_Add = Callable[[str], None]  # appends one problem, prefixed with the profile
_Present = Callable[[str], bool]  # the key was given, well typed or not


@dataclass(frozen=True)
class Scope:
    """How messages name one profile and its keys."""

    prefix: str
    keys: Mapping[str, str] = field(default_factory=dict)
    legacy: bool = False

    @classmethod
    def file(cls, name: str) -> Scope:
        """Name keys as the file does: `profiles.NAME: key …`."""
        return cls(prefix=f"profiles.{name}: ")

    @classmethod
    def legacy_settings(cls, keys: Mapping[str, str]) -> Scope:
        """Name keys by the settings that play them: `HSS_REGION …`."""
        return cls(prefix="", keys=keys, legacy=True)

    def key(self, key: str) -> str:
        """Return how a message names `key`."""
        return self.keys.get(key, key)


def check_profile(
    name: str,
    table: Mapping[str, object],
    scope: Scope,
    environ: Mapping[str, str],
    problems: list[str],
) -> Profile | None:
    """Return the checked profile, or None after appending its problems to `problems`."""
    before = len(problems)
    p, k = scope.prefix, scope.key

    def add(text: str) -> None:
        problems.append(p + text)

    if NAME_RULE.fullmatch(name) is None:
        problems.append(
            f"profile name {clip(name, 40)!r} must be 1-32 lower-case letters, digits, - or _"
        )
    _unknown_keys(table, add)
    text, lists, mistyped = _typed(table, add)

    def present(key: str) -> bool:
        return key in text or key in mistyped

    region = _region(text, scope, add, present)
    endpoint = _url(text, "endpoint", scope, add)
    iam_endpoint = _url(text, "iam_endpoint", scope, add)
    project_id, enterprise = _project_ids(text, mistyped, k, add)
    credentials = _credentials(text, scope, environ, add, present)
    channels = lists.get("channels", ())
    _id_lists(lists, add)
    if len(problems) > before or region is None or project_id is None or credentials is None:
        return None
    access = None
    if any(key in lists for key in ACCESS_KEYS):
        access = ProfileAccess(
            users=lists.get("allowed_user_ids", ()),
            channels=lists.get("allowed_channel_ids", ()),
            usergroups=lists.get("allowed_usergroup_ids", ()),
        )
    return Profile(
        name=name,
        region=region,
        endpoint=endpoint or f"https://hss.{region}.myhuaweicloud.com",
        iam_endpoint=iam_endpoint or f"https://iam.{region}.myhuaweicloud.com",
        project_id=project_id,
        enterprise_project_id=enterprise,
        credentials=credentials,
        channels=channels,
        access=access,
        source="settings" if scope.legacy else "file",
    )


def _unknown_keys(table: Mapping[str, object], add: _Add) -> None:
    """Name each key no profile takes, with the nearest known one."""
    for key in table:
        if key not in KNOWN_KEYS:
            near = difflib.get_close_matches(key, KNOWN_KEYS, n=1, cutoff=0.6)
            hint = f"did you mean {near[0]}?" if near else f"known keys: {', '.join(KNOWN_KEYS)}"
            add(f"unknown key {clip(key, 40)!r}: {hint}")


def _project_ids(
    text: Mapping[str, str], mistyped: set[str], k: Callable[[str], str], add: _Add
) -> tuple[str | None, str | None]:
    """Return (project_id, enterprise_project_id) when well formed; report the rest."""
    project_id, most = text.get("project_id"), PROJECT_ID_MAX_LENGTH
    if project_id is None:
        if "project_id" not in mistyped:
            add(f"{k('project_id')} is required (1-{most} characters, from 'My Credentials')")
    elif not 1 <= len(project_id) <= most:
        add(f"{k('project_id')} must be 1-{most} characters (from 'My Credentials')")
    enterprise, most = text.get("enterprise_project_id"), MAX_LENGTHS["enterprise_project_id"]
    if enterprise is not None and not 1 <= len(enterprise) <= most:
        add(f"{k('enterprise_project_id')} must be 1-{most} characters")
    return project_id, enterprise


def _id_lists(lists: Mapping[str, tuple[str, ...]], add: _Add) -> None:
    """Check the channel and allow lists hold Slack IDs of their kind."""
    if "*" in lists.get("channels", ()):
        add("channels: '*' is not a channel; set HSS_DEFAULT_PROFILE for every unlisted channel")
    for key, kind in LIST_KINDS.items():
        bad = bad_slack_ids(kind, lists.get(key, ()))  # `*` passes here; channels refused it
        if bad:
            shown = ", ".join(repr(clip(b, 40)) for b in bad[:5])
            more = f" and {len(bad) - 5} more" if len(bad) > 5 else ""
            add(f"{key}: {shown}{more} not accepted; accepted: {ACCEPTED[kind]}")


def _typed(
    table: Mapping[str, object], add: _Add
) -> tuple[dict[str, str], dict[str, tuple[str, ...]], set[str]]:
    """Split the known keys into strings and string lists; report (and set aside) the rest."""
    text: dict[str, str] = {}
    lists: dict[str, tuple[str, ...]] = {}
    mistyped: set[str] = set()
    for key, value in table.items():
        if key in TEXT_KEYS:
            if isinstance(value, str):
                text[key] = value
            else:
                mistyped.add(key)
                add(f"{key} must be a string (in quotes), got {_kind(value)}")
        elif key in LIST_KINDS:
            if isinstance(value, list) and all(isinstance(v, str) for v in value):
                lists[key] = tuple(dict.fromkeys(value))  # drop repeats, keep the order
            elif isinstance(value, list):
                mistyped.add(key)
                add(f'{key} must hold only strings (in quotes), like ["C012ABCDEF"]')
            else:
                mistyped.add(key)
                add(f'{key} must be a list of strings, like ["C012ABCDEF"], got {_kind(value)}')
    return text, lists, mistyped


def _kind(value: object) -> str:
    if isinstance(value, bool):
        return "true/false"
    if isinstance(value, int | float):
        return "a number"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, list):
        return "a list"
    if isinstance(value, dict):
        return "a table"
    return "a date or time"


def _region(text: Mapping[str, str], scope: Scope, add: _Add, present: _Present) -> str | None:
    region = text.get("region")
    if region is None:
        if not present("region"):
            add(f"{scope.key('region')} is required (e.g. cn-north-4, ap-southeast-1)")
        return None
    # The legacy HSS_REGION may name any region when HSS_ENDPOINT says where to go, as before.
    if region in HSS_REGIONS or (scope.legacy and "endpoint" in text):
        return region
    near = difflib.get_close_matches(region, sorted(HSS_REGIONS), n=1, cutoff=0.6)
    hint = f"did you mean {near[0]}?" if near else "e.g. cn-north-4, ap-southeast-1"
    add(
        f"{scope.key('region')} {clip(region, 40)!r} is not a region HSS serves "
        f"({len(HSS_REGIONS)} known; {hint})"
    )
    return None


def _url(text: Mapping[str, str], key: str, scope: Scope, add: _Add) -> str | None:
    """Return a checked base URL without its trailing slash; the URL itself is never echoed."""
    value = text.get(key)
    if value is None:
        return None
    try:
        parts = urlsplit(value)
        _ = parts.port  # raises on a port that is not a number
    except ValueError:
        parts = urlsplit("")
    if parts.scheme not in ("http", "https") or not parts.hostname or parts.query or parts.fragment:
        add(
            f"{scope.key(key)} must be a full http(s) base URL, "
            "like https://hss.cn-north-4.myhuaweicloud.com"
        )
        return None
    if parts.username is not None or parts.password is not None:
        add(f"{scope.key(key)} must not hold a user name or password")
        return None
    return value.rstrip("/")


def _credentials(
    text: Mapping[str, str],
    scope: Scope,
    environ: Mapping[str, str],
    add: _Add,
    present: _Present,
) -> Credentials | None:
    k = scope.key
    secrets = {key: _env_value(text, key, scope, environ, add) for key in ENV_KEYS}
    aksk = present("ak_env") or present("sk_env")
    iam = [key for key in ("iam_domain", "iam_user", "iam_password_env") if present(key)]
    for key in ("iam_domain", "iam_user"):
        if text.get(key) == "":
            add(f"{k(key)} must not be empty")
    aksk_names = f"{k('ak_env')} and {k('sk_env')}"
    iam_names = f"{k('iam_domain')}, {k('iam_user')} and {k('iam_password_env')}"
    if present("security_token_env") and not aksk:
        add(f"{k('security_token_env')} goes with {aksk_names} (temporary AK/SK)")
    if aksk and iam:
        add(f"set either {aksk_names} (AK/SK) or {iam_names} (IAM), not both")
        return None
    if aksk:
        return _aksk(text, secrets, k, add, present)
    if iam:
        return _iam(text, secrets, k, add, present)
    add(no_credentials(aksk_names, iam_names))
    return None


def _aksk(
    text: Mapping[str, str],
    secrets: Mapping[str, SecretStr | None],
    k: Callable[[str], str],
    add: _Add,
    present: _Present,
) -> AkSk | None:
    """Return the AK/SK pair (and token) when both halves are given and set."""
    for key, other in (("ak_env", "sk_env"), ("sk_env", "ak_env")):
        if not present(key):
            add(f"{k(key)} is required when {k(other)} is set")
    ak, sk, token = secrets["ak_env"], secrets["sk_env"], secrets["security_token_env"]
    if ak is None or sk is None or (present("security_token_env") and token is None):
        return None
    return AkSk(
        ak=ak,
        sk=sk,
        security_token=token,
        ak_env=text["ak_env"],
        sk_env=text["sk_env"],
        security_token_env=text.get("security_token_env"),
    )


def _iam(
    text: Mapping[str, str],
    secrets: Mapping[str, SecretStr | None],
    k: Callable[[str], str],
    add: _Add,
    present: _Present,
) -> IamPassword | None:
    """Return the IAM user's password credentials when domain, user and password are set."""
    iam_names = f"{k('iam_domain')}, {k('iam_user')} and {k('iam_password_env')}"
    for key in ("iam_domain", "iam_user", "iam_password_env"):
        if not present(key):
            add(f"{k(key)} is required for IAM token authentication (with {iam_names})")
    password = secrets["iam_password_env"]
    domain, user = text.get("iam_domain"), text.get("iam_user")
    if password is None or not domain or not user:
        return None
    return IamPassword(
        domain=domain, user=user, password=password, password_env=text["iam_password_env"]
    )


def _env_value(
    text: Mapping[str, str], key: str, scope: Scope, environ: Mapping[str, str], add: _Add
) -> SecretStr | None:
    """Read the variable `key` names; the name is echoed only when it cannot be a pasted key."""
    name = text.get(key)
    if name is None:
        return None
    label = scope.key(key)
    if ENV_NAME_RULE.fullmatch(name) is None or _looks_like_a_key(name):
        add(
            f"{label} must be the NAME of an environment variable holding the secret "
            "(letters, digits and _), not the secret itself"
        )
        return None
    value = environ.get(name)
    if value is None:
        add(f"{label} names {name}, which is not set in the environment")
        return None
    if value == "":
        add(f"{label} names {name}, which is empty")
        return None
    return SecretStr(value)


def _looks_like_a_key(name: str) -> bool:
    # Huawei Cloud AKs are 20 and SKs 40 letters and digits: a valid variable name, but
    # one without an underscore, mixing digits in, that long, is more likely a pasted key.
    return (
        "_" not in name
        and len(name) >= 16
        and any(c.isdigit() for c in name)
        and any(c.isalpha() for c in name)
    )
