"""Read `HSS_PROFILES_FILE` and the legacy `HSS_*` settings into checked `Profiles`.

Pure but for reading the file: the environment is a mapping passed in, so a
test (or the bot, from its settings) decides what the loader sees. Every
problem of every profile is collected and raised as one `SettingsError`, so a
bad deployment is fixed in one round. Messages name keys, profiles and
environment variables; they echo only what cannot be a secret (a region, a
profile name, a Slack ID), never a variable's value, and never a "variable
name" that looks like a pasted key.

The legacy settings form the profile `default`: always when there is no file
(so existing installs keep working, and their problems are reported as
before), and beside the file's profiles when they are *configured*, meaning
`HSS_PROJECT_ID` or any credential setting (`CLOUD_SDK_AK`, `CLOUD_SDK_SK`,
`CLOUD_SDK_SECURITY_TOKEN`, `HSS_IAM_DOMAIN`, `HSS_IAM_USER`,
`HSS_IAM_PASSWORD`) is non-empty. `HSS_REGION` and the endpoints alone do not
count: they have defaults, and a ConfigMap often sets them for everyone.
"""

from __future__ import annotations

import tomllib
from collections.abc import Mapping
from pathlib import Path
from typing import Final

from bot.domain.errors import SettingsError
from bot.profiles.checks import DEFAULT_REGION, Scope, check_profile
from bot.profiles.model import Profile, Profiles

PROFILES_FILE: Final = "HSS_PROFILES_FILE"
DEFAULT_PROFILE: Final = "HSS_DEFAULT_PROFILE"
LEGACY_NAME: Final = "default"

# Which legacy setting plays which profile key; secrets are named, as in the file.
_LEGACY_VALUES: Final = {
    "region": "HSS_REGION",
    "endpoint": "HSS_ENDPOINT",
    "project_id": "HSS_PROJECT_ID",
    "enterprise_project_id": "HSS_ENTERPRISE_PROJECT_ID",
    "iam_endpoint": "HSS_IAM_ENDPOINT",
    "iam_domain": "HSS_IAM_DOMAIN",
    "iam_user": "HSS_IAM_USER",
}
_LEGACY_SECRETS: Final = {
    "ak_env": "CLOUD_SDK_AK",
    "sk_env": "CLOUD_SDK_SK",
    "security_token_env": "CLOUD_SDK_SECURITY_TOKEN",
    "iam_password_env": "HSS_IAM_PASSWORD",
}
_LEGACY_SCOPE: Final = Scope.legacy_settings({**_LEGACY_VALUES, **_LEGACY_SECRETS})
LEGACY_SETTINGS: Final = (*_LEGACY_VALUES.values(), *_LEGACY_SECRETS.values())
# Any of these set makes the legacy settings a profile beside the file's.
CONFIGURING_SETTINGS: Final = (
    "HSS_PROJECT_ID",
    "CLOUD_SDK_AK",
    "CLOUD_SDK_SK",
    "CLOUD_SDK_SECURITY_TOKEN",
    "HSS_IAM_DOMAIN",
    "HSS_IAM_USER",
    "HSS_IAM_PASSWORD",
)


def profiles_from_environ(environ: Mapping[str, str]) -> Profiles:
    """Load the profiles that `HSS_PROFILES_FILE`, `HSS_DEFAULT_PROFILE` and `HSS_*` describe."""
    return load_profiles(
        profiles_file=environ.get(PROFILES_FILE) or None,
        default_profile=environ.get(DEFAULT_PROFILE) or None,
        legacy=environ,
        environ=environ,
    )


def load_profiles(
    *,
    profiles_file: str | Path | None,
    default_profile: str | None,
    legacy: Mapping[str, str],
    environ: Mapping[str, str],
) -> Profiles:
    """Read the file (if any) and the legacy settings; raise one `SettingsError` for all problems.

    `legacy` maps setting names (`HSS_REGION`, `CLOUD_SDK_AK`, …) to values, empty
    meaning unset; `environ` holds the variables the file's `*_env` keys name.
    """
    problems: list[str] = []
    found: dict[str, Profile] = {}
    names: list[str] = []  # every profile named, valid or not, for the default's check

    use_legacy = profiles_file is None or legacy_configured(legacy)
    if use_legacy:
        names.append(LEGACY_NAME)
        # The legacy secrets are the settings themselves: `legacy` is their environment.
        profile = check_profile(LEGACY_NAME, _legacy_table(legacy), _LEGACY_SCOPE, legacy, problems)
        if profile is not None:
            found[LEGACY_NAME] = profile

    if profiles_file is not None:
        tables = _read_file(Path(profiles_file), problems)
        if LEGACY_NAME in tables and use_legacy:
            problems.append(
                f"{PROFILES_FILE} defines [profiles.{LEGACY_NAME}], and the HSS_* settings "
                f"({', '.join(_set_names(legacy))}) form a profile named {LEGACY_NAME} too: "
                "rename the file's profile or unset those settings"
            )
        for name, table in tables.items():
            if name == LEGACY_NAME and use_legacy:
                continue
            names.append(name)
            profile = check_profile(name, table, Scope.file(name), environ, problems)
            if profile is not None:
                found[name] = profile

    problems += _channel_clashes(found)
    default_name = _default_name(default_profile, names, problems)
    if problems:
        raise SettingsError(problems)
    return Profiles(by_name=found, default_name=default_name)


def legacy_configured(legacy: Mapping[str, str]) -> bool:
    """Tell whether the legacy settings describe an account (see the module docstring)."""
    return bool(_set_names(legacy))


def _set_names(legacy: Mapping[str, str]) -> list[str]:
    return [name for name in CONFIGURING_SETTINGS if legacy.get(name)]


def _legacy_table(legacy: Mapping[str, str]) -> dict[str, object]:
    """Express the legacy settings as a profile table, so one set of checks serves both."""
    table: dict[str, object] = {"region": DEFAULT_REGION}
    for key, setting in _LEGACY_VALUES.items():
        if legacy.get(setting):
            table[key] = legacy[setting]
    for key, setting in _LEGACY_SECRETS.items():
        if legacy.get(setting):
            table[key] = setting
    return table


def _read_file(path: Path, problems: list[str]) -> dict[str, dict[str, object]]:  # noqa: PLR0911  one problem per way a file cannot be read
    """Return the file's `[profiles.*]` tables; a file that cannot be read is one problem."""
    where = f"{PROFILES_FILE} {path}"
    try:
        with path.open("rb") as fh:
            document = tomllib.load(fh)
    except FileNotFoundError:
        problems.append(f"{where}: no such file")
        return {}
    except IsADirectoryError:
        problems.append(f"{where}: is a directory, not a TOML file")
        return {}
    except PermissionError:
        problems.append(f"{where}: not readable by this process (check the mount's mode)")
        return {}
    except UnicodeDecodeError:
        problems.append(f"{where}: is not UTF-8 text")
        return {}
    except tomllib.TOMLDecodeError as exc:
        # The message gives line and column ("… (at line 3, column 9)"), not the text there.
        problems.append(f"{where}: not valid TOML: {exc}")
        return {}
    except OSError as exc:
        problems.append(f"{where}: cannot be read ({exc.strerror or type(exc).__name__})")
        return {}
    return _profile_tables(document, where, problems)


def _profile_tables(
    document: dict[str, object], where: str, problems: list[str]
) -> dict[str, dict[str, object]]:
    for key in document:
        if key != "profiles":
            problems.append(
                f"{where}: unknown top-level key {key!r}: profiles go in [profiles.NAME] tables"
            )
    section = document.get("profiles")
    if section is None:
        problems.append(f"{where}: defines no profile: add a [profiles.NAME] table")
        return {}
    if not isinstance(section, dict):
        problems.append(f"{where}: profiles must be tables, [profiles.NAME]")
        return {}
    if not section:
        problems.append(f"{where}: defines no profile: add a [profiles.NAME] table")
    tables: dict[str, dict[str, object]] = {}
    for name, table in section.items():
        if isinstance(table, dict):
            tables[name] = table
        else:
            problems.append(f"{where}: profiles.{name} must be a table, [profiles.{name}]")
    return tables


def _channel_clashes(found: Mapping[str, Profile]) -> list[str]:
    owners: dict[str, list[str]] = {}
    for profile in found.values():
        for channel in profile.channels:
            owners.setdefault(channel, []).append(profile.name)
    return [
        f"channel {channel} is mapped to more than one profile ({', '.join(names)}): "
        "a channel has one default profile"
        for channel, names in owners.items()
        if len(names) > 1
    ]


def _default_name(given: str | None, names: list[str], problems: list[str]) -> str | None:
    if given is not None:
        if given in names:
            return given
        shown = given if len(given) <= 32 else given[:31] + "…"
        problems.append(
            f"{DEFAULT_PROFILE} {shown!r} names no profile; "
            f"the profiles are: {', '.join(names) or 'none'}"
        )
        return None
    return names[0] if len(names) == 1 else None
