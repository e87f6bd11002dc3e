"""Typed, fail-fast settings, read once at start from the environment and `.env`.

Every setting is named exactly as its environment variable. Secrets are
`SecretStr`. `load_settings()` reports every missing or malformed setting at
once and never echoes a value.

The module is longer than 400 lines because every setting, its checks and the
one-round loading are kept together; the profiles' loading lives in
`bot.profiles`, and the cross-field HSS checks could follow it there.
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Final, Literal, get_args

from dotenv import dotenv_values
from pydantic import (
    AnyHttpUrl,
    BeforeValidator,
    Field,
    PrivateAttr,
    SecretStr,
    ValidationError,
    ValidationInfo,
    field_validator,
)
from pydantic.fields import FieldInfo
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

from bot.db_url import audit_db_url_problem
from bot.domain.approval_rules import Condition, parse_conditions
from bot.domain.errors import SettingsError
from bot.domain.model import MAX_LENGTHS, PROJECT_ID_MAX_LENGTH, HeaderLang
from bot.domain.schedules import find_zone
from bot.domain.schedules.spec import ACCEPTED_TZ
from bot.domain.slack_ids import (
    ACCEPTED,
    HOW_TO_FIND,
    IdKind,
    SlackIdKind,
    bad_slack_ids,
    id_problems,
)

if TYPE_CHECKING:
    from bot.profiles.model import Profiles

# Regions served by HSS, as listed by the official SDK (huaweicloudsdkhss 3.1.219).
HSS_REGIONS: Final = frozenset(
    {
        "ae-ad-1", "af-north-1", "af-south-1", "ap-southeast-1", "ap-southeast-2",
        "ap-southeast-3", "ap-southeast-4", "ap-southeast-5", "cn-east-2", "cn-east-3",
        "cn-east-4", "cn-east-5", "cn-north-1", "cn-north-11", "cn-north-12", "cn-north-2",
        "cn-north-4", "cn-north-9", "cn-south-1", "cn-south-2", "cn-south-4", "cn-southwest-2",
        "cn-southwest-3", "eu-west-101", "la-north-2", "la-south-2", "me-east-1",
        "my-kualalumpur-1", "na-mexico-1", "ru-moscow-1", "sa-brazil-1", "tr-west-1",
    }
)  # fmt: skip

Need = Literal["hss", "slack_http", "slack_socket"]
# What a command reads: a malformed setting outside its uses does not stop it
# (`PORT=abc` does not stop `export`). LOG_LEVEL and LOG_FORMAT are always read.
Use = Literal["hss", "audit", "slack"]
_ALWAYS: Final = frozenset({"LOG_LEVEL", "LOG_FORMAT"})
_AUDIT_FIELDS: Final = frozenset({"AUDIT_DB_URL", "AUDIT_RETENTION_DAYS"})
ALL_USES: Final[frozenset[Use]] = frozenset({"hss", "audit", "slack"})

_ALLOW_LISTS: Final[dict[str, IdKind]] = {
    "ALLOWED_USER_IDS": "user",
    "ALLOWED_CHANNEL_IDS": "channel",
    "ALLOWED_USERGROUP_IDS": "usergroup",
}


def no_credentials(aksk: str, iam: str) -> str:
    """Say that neither way of signing in to HSS is set: the one wording, settings and profiles."""
    return f"no credentials: set {aksk} (AK/SK signing) or {iam} (IAM token)"


def field_use(name: str) -> Use | None:
    """Name the use a setting belongs to (None: read by every command)."""
    if name in _ALWAYS:
        return None
    if name.startswith(("HSS_", "CLOUD_SDK_")):
        return "hss"
    if name in _AUDIT_FIELDS:
        return "audit"
    return "slack"  # the bot's own: Slack, PORT, tracking, shutdown, AUDIT_CHANNEL_ID


# A comma-separated list in the environment (`U1,U2`), not JSON: `NoDecode` keeps
# pydantic-settings from json-decoding it before `_split_csv` sees the text.
CsvList = Annotated[tuple[str, ...], NoDecode]


def _csv(value: object) -> object:
    if isinstance(value, str):
        return tuple(part.strip() for part in value.split(",") if part.strip())
    return value


def _empty_is_none(value: object) -> object:
    return None if value == "" else value


class Settings(BaseSettings):
    """Everything the bot can be configured with; see `.env.example` and the README table."""

    model_config = SettingsConfigDict(
        env_file=".env", env_file_encoding="utf-8", extra="ignore", case_sensitive=True
    )

    # --- HSS and the service account -------------------------------------------------
    HSS_REGION: str = "cn-north-4"
    HSS_ENDPOINT: AnyHttpUrl | None = None
    HSS_PROJECT_ID: str = ""
    HSS_ENTERPRISE_PROJECT_ID: str | None = None
    HSS_EXPORT_HEADER_LANG: HeaderLang = "zh"
    HSS_CONNECT_TIMEOUT: float = Field(5.0, gt=0)
    HSS_READ_TIMEOUT: float = Field(30.0, gt=0)
    HSS_MAX_ATTEMPTS: int = Field(4, ge=1, le=10)
    HSS_MAX_IN_FLIGHT: int = Field(100, ge=1, le=1000)
    CLOUD_SDK_AK: SecretStr | None = None
    CLOUD_SDK_SK: SecretStr | None = None
    CLOUD_SDK_SECURITY_TOKEN: SecretStr | None = None
    HSS_IAM_ENDPOINT: AnyHttpUrl | None = None
    HSS_IAM_DOMAIN: str | None = None
    HSS_IAM_USER: str | None = None
    HSS_IAM_PASSWORD: SecretStr | None = None
    # --- Profiles (issue 12): several HSS accounts, projects and regions ---------------
    HSS_PROFILES_FILE: str | None = None
    HSS_DEFAULT_PROFILE: str | None = None

    # --- Slack -----------------------------------------------------------------------
    SLACK_BOT_TOKEN: SecretStr | None = None
    SLACK_SIGNING_SECRET: SecretStr | None = None
    SLACK_APP_TOKEN: SecretStr | None = None
    SLACK_API_URL: AnyHttpUrl = AnyHttpUrl("https://slack.com/api/")
    PORT: int = Field(3000, ge=1, le=65535)
    ALLOWED_USER_IDS: CsvList = ()
    ALLOWED_CHANNEL_IDS: CsvList = ()
    ALLOWED_USERGROUP_IDS: CsvList = ()

    # --- Audit log and task tracking ---------------------------------------------------
    # May hold a database password: kept out of the repr.
    AUDIT_DB_URL: str = Field("sqlite:///./data/audit.db", repr=False)
    AUDIT_CHANNEL_ID: str | None = None
    AUDIT_RETENTION_DAYS: int | None = Field(None, ge=1)
    TASK_POLL_INITIAL_SECONDS: float = Field(5.0, gt=0)
    TASK_POLL_MAX_SECONDS: float = Field(60.0, gt=0)
    TASK_GIVE_UP_SECONDS: float = Field(7200.0, gt=0)
    UPLOAD_MAX_BYTES: int = Field(100 * 1024 * 1024, ge=1)

    # --- Operations --------------------------------------------------------------------
    LOG_LEVEL: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = "INFO"
    LOG_FORMAT: Literal["json", "console"] = "json"
    SHUTDOWN_GRACE_SECONDS: float = Field(20.0, ge=0)

    # --- Two-person rule (issue 14) --------------------------------------------------
    APPROVAL_REQUIRED_FOR: CsvList = ()
    APPROVER_USER_IDS: CsvList = ()
    APPROVER_USERGROUP_IDS: CsvList = ()
    APPROVAL_CHANNEL_ID: str | None = None
    APPROVAL_TTL_HOURS: float = Field(24.0, gt=0, le=24 * 30)
    CONFIRM_BROAD_EXPORTS: bool = True

    @field_validator(
        "APPROVAL_REQUIRED_FOR", "APPROVER_USER_IDS", "APPROVER_USERGROUP_IDS", mode="before"
    )
    @classmethod
    def _split_approval_csv(cls, value: object) -> object:
        return _csv(value)

    @field_validator("APPROVAL_CHANNEL_ID", mode="before")
    @classmethod
    def _empty_approval_channel(cls, value: object) -> object:
        return None if value == "" else value

    @property
    def approval_conditions(self) -> tuple[Condition, ...]:
        """Return APPROVAL_REQUIRED_FOR as typed conditions (problems() reported bad ones)."""
        return parse_conditions(self.APPROVAL_REQUIRED_FOR)[0]

    def _approval_problems(self) -> list[str]:
        found = parse_conditions(self.APPROVAL_REQUIRED_FOR)[1]
        checks: tuple[tuple[str, SlackIdKind, tuple[str, ...]], ...] = (
            ("APPROVER_USER_IDS", "user", self.APPROVER_USER_IDS),
            ("APPROVER_USERGROUP_IDS", "usergroup", self.APPROVER_USERGROUP_IDS),
        )
        for name, kind, entries in checks:
            bad = bad_slack_ids(kind, entries)
            if bad:
                found.append(f"{name}: {len(bad)} entries are not IDs; expected {ACCEPTED[kind]}")
        channel = self.APPROVAL_CHANNEL_ID
        if channel is not None and (channel == "*" or bad_slack_ids("channel", [channel])):
            found.append("APPROVAL_CHANNEL_ID must be one channel ID like C012ABCDEF (or G…)")
        approvers = self.APPROVER_USER_IDS or self.APPROVER_USERGROUP_IDS
        if self.APPROVAL_REQUIRED_FOR and not approvers:
            found.append(
                "APPROVAL_REQUIRED_FOR is set but nobody may approve: "
                "set APPROVER_USER_IDS or APPROVER_USERGROUP_IDS"
            )
        return found

    # --- Schedules of saved exports (issue 15) --------------------------------------
    # They protect HSS's API quota: a schedule may not run more often, nor may one user
    # own more; the zone is for schedules whose owner gave no `tz=` and has none in Slack.
    SCHEDULE_MIN_INTERVAL_MINUTES: int = Field(60, ge=1, le=7 * 24 * 60)
    SCHEDULES_PER_USER: int = Field(10, ge=0, le=1000)
    SCHEDULE_DEFAULT_TZ: str = "UTC"

    @field_validator("SCHEDULE_DEFAULT_TZ", mode="after")
    @classmethod
    def _known_zone(cls, value: str) -> str:
        found = find_zone(value)
        if found is None:
            raise ValueError(f"{value!r} is not {ACCEPTED_TZ}")
        return found

    # --- Summaries in the thread (issue 13); keep this block last and contiguous -------
    SUMMARIES_ENABLED: bool = True
    SUMMARY_MAX_BYTES: int = Field(50 * 1024 * 1024, ge=1)
    SUMMARY_TIMEOUT_SECONDS: float = Field(60.0, gt=0)

    _profiles: Profiles | None = PrivateAttr(None)

    # --- Worker processes (HTTP mode; see bot/entrypoints/workers.py) ------------------
    # None: one per CPU the container may use (affinity, then a cgroup quota).
    WEB_CONCURRENCY: Annotated[int | None, BeforeValidator(_empty_is_none)] = Field(
        None, ge=1, le=64
    )

    @field_validator(
        "ALLOWED_USER_IDS", "ALLOWED_CHANNEL_IDS", "ALLOWED_USERGROUP_IDS", mode="before"
    )
    @classmethod
    def _split_csv(cls, value: object) -> object:
        return _csv(value)

    @field_validator(*_ALLOW_LISTS, mode="after")
    @classmethod
    def _slack_ids(cls, value: tuple[str, ...], info: ValidationInfo) -> tuple[str, ...]:
        name = str(info.field_name)
        problems = id_problems(name, value, _ALLOW_LISTS[name])
        if problems:
            entries = "; ".join(p.removeprefix(f"{name}: ") for p in problems)
            raise ValueError(f"{entries}; {HOW_TO_FIND}")
        return value

    @field_validator("SLACK_BOT_TOKEN", mode="after")
    @classmethod
    def _bot_token(cls, value: SecretStr | None) -> SecretStr | None:
        if value is not None and not value.get_secret_value().startswith("xoxb-"):
            raise ValueError(
                "must be a bot token starting with xoxb- (OAuth & Permissions > Bot User "
                "OAuth Token); a user token (xoxp-…) would make the bot act as that person"
            )
        return value

    @field_validator("AUDIT_DB_URL", mode="after")
    @classmethod
    def _audit_db_url(cls, value: str) -> str:
        problem = audit_db_url_problem(value)
        if problem is not None:
            raise ValueError(problem)
        return value

    @field_validator(
        "HSS_ENDPOINT",
        "HSS_IAM_ENDPOINT",
        "HSS_ENTERPRISE_PROJECT_ID",
        "HSS_IAM_DOMAIN",
        "HSS_IAM_USER",
        "AUDIT_CHANNEL_ID",
        "AUDIT_RETENTION_DAYS",
        "CLOUD_SDK_AK",
        "CLOUD_SDK_SK",
        "CLOUD_SDK_SECURITY_TOKEN",
        "HSS_IAM_PASSWORD",
        "HSS_PROFILES_FILE",
        "HSS_DEFAULT_PROFILE",
        "SLACK_BOT_TOKEN",
        "SLACK_SIGNING_SECRET",
        "SLACK_APP_TOKEN",
        mode="before",
    )
    @classmethod
    def _empty_is_unset(cls, value: object) -> object:
        return None if value == "" else value

    # --- Derived values --------------------------------------------------------------
    @property
    def hss_endpoint(self) -> str:
        """Return the HSS base URL, without a trailing slash."""
        if self.HSS_ENDPOINT is not None:
            return str(self.HSS_ENDPOINT).rstrip("/")
        return f"https://hss.{self.HSS_REGION}.myhuaweicloud.com"

    @property
    def iam_endpoint(self) -> str:
        """Return the IAM base URL, without a trailing slash."""
        if self.HSS_IAM_ENDPOINT is not None:
            return str(self.HSS_IAM_ENDPOINT).rstrip("/")
        return f"https://iam.{self.HSS_REGION}.myhuaweicloud.com"

    @property
    def uses_aksk(self) -> bool:
        """Tell whether the service account signs with AK/SK (else it uses an IAM token)."""
        return self.CLOUD_SDK_AK is not None or self.CLOUD_SDK_SK is not None

    @property
    def has_hss_credentials(self) -> bool:
        """Tell whether any service-account credential is configured."""
        return self.uses_aksk or self.HSS_IAM_USER is not None or self.HSS_IAM_PASSWORD is not None

    @property
    def has_slack_credentials(self) -> bool:
        """Tell whether any Slack credential is configured."""
        return any(
            s is not None
            for s in (self.SLACK_BOT_TOKEN, self.SLACK_SIGNING_SECRET, self.SLACK_APP_TOKEN)
        )

    def problems(self, needs: Iterable[Need]) -> list[str]:
        """List every cross-field problem for the given uses, naming settings, never values."""
        found: list[str] = self._approval_problems()
        needs = set(needs)
        if "hss" in needs:
            found += self._profile_problems()
            found += self._hss_proxy_problems()
        if needs & {"slack_http", "slack_socket"} and self.SLACK_BOT_TOKEN is None:
            found.append("SLACK_BOT_TOKEN is required (xoxb-…, from the app's OAuth page)")
        if "slack_http" in needs and self.SLACK_SIGNING_SECRET is None:
            found.append("SLACK_SIGNING_SECRET is required for HTTP mode (app's Basic Information)")
        if "slack_socket" in needs:
            token = self.SLACK_APP_TOKEN
            if token is None:
                found.append(
                    "SLACK_APP_TOKEN is required for Socket Mode (xapp-…, app-level token)"
                )
            elif not token.get_secret_value().startswith("xapp-"):
                found.append("SLACK_APP_TOKEN must be an app-level token starting with xapp-")
        return found

    @property
    def profiles(self) -> Profiles:
        """Return the HSS profiles: the file's and/or the legacy `default` (loaded once).

        Raises `SettingsError` with every problem of every profile; `load_settings`
        with the "hss" need has already reported them in its one message.
        """
        if self._profiles is None:
            # Imported here: bot.profiles imports this module (HSS_REGIONS).
            from bot.profiles import load_profiles

            self._profiles = load_profiles(
                profiles_file=self.HSS_PROFILES_FILE,
                default_profile=self.HSS_DEFAULT_PROFILE,
                legacy=self.legacy_hss_values(),
                environ=_variables(),
            )
        return self._profiles

    def legacy_hss_values(self) -> dict[str, str]:
        """Return the legacy `HSS_*`/`CLOUD_SDK_*` settings as text, unset ones empty."""
        names = (
            "HSS_REGION", "HSS_ENDPOINT", "HSS_PROJECT_ID", "HSS_ENTERPRISE_PROJECT_ID",
            "HSS_IAM_ENDPOINT", "HSS_IAM_DOMAIN", "HSS_IAM_USER", "CLOUD_SDK_AK",
            "CLOUD_SDK_SK", "CLOUD_SDK_SECURITY_TOKEN", "HSS_IAM_PASSWORD",
        )  # fmt: skip
        values: dict[str, str] = {}
        for name in names:
            value = getattr(self, name)
            if isinstance(value, SecretStr):
                value = value.get_secret_value()
            values[name] = "" if value is None else str(value).rstrip("/")
        return values

    def _hss_proxy_problems(self) -> list[str]:
        """The proxy HTTPS_PROXY / HTTP_PROXY gives HSS, if the HSS client cannot use it."""
        # Imported here: an adapter's rule (what the HSS client's transport can go through).
        from bot.adapters.proxy import hss_proxy_problem

        endpoints = [self.hss_endpoint]
        if self.HSS_PROFILES_FILE is not None or self.HSS_DEFAULT_PROFILE is not None:
            try:
                endpoints = [p.endpoint for p in self.profiles.by_name.values()]
            except SettingsError:
                return []  # reported by _profile_problems
        return list(dict.fromkeys(p for url in endpoints if (p := hss_proxy_problem(url))))

    def _profile_problems(self) -> list[str]:
        """Without a profiles file, the legacy checks (as before); with one, the loader's."""
        if self.HSS_PROFILES_FILE is None:
            found = self._hss_problems()
            if found or self.HSS_DEFAULT_PROFILE is None:
                return found
        try:
            _ = self.profiles
        except SettingsError as exc:
            return list(exc.problems)
        return []

    def _hss_problems(self) -> list[str]:  # noqa: C901  a checklist, one independent check per setting
        found: list[str] = []
        if self.HSS_ENDPOINT is None and self.HSS_REGION not in HSS_REGIONS:
            found.append(
                f"HSS_REGION is not a region HSS serves (e.g. cn-north-4, ap-southeast-1; "
                f"{len(HSS_REGIONS)} known); set HSS_ENDPOINT to use another endpoint"
            )
        project_most, eps_most = PROJECT_ID_MAX_LENGTH, MAX_LENGTHS["enterprise_project_id"]
        if not 1 <= len(self.HSS_PROJECT_ID) <= project_most:
            found.append(
                f"HSS_PROJECT_ID is required (1-{project_most} characters, from 'My Credentials')"
            )
        eps = self.HSS_ENTERPRISE_PROJECT_ID
        if eps is not None and len(eps) > eps_most:
            found.append(f"HSS_ENTERPRISE_PROJECT_ID must be 1-{eps_most} characters")
        iam = (self.HSS_IAM_DOMAIN, self.HSS_IAM_USER, self.HSS_IAM_PASSWORD)
        if self.uses_aksk:
            if self.CLOUD_SDK_AK is None:
                found.append("CLOUD_SDK_AK is required when CLOUD_SDK_SK is set")
            if self.CLOUD_SDK_SK is None:
                found.append("CLOUD_SDK_SK is required when CLOUD_SDK_AK is set")
            if any(v is not None for v in iam):
                found.append("set either CLOUD_SDK_AK/CLOUD_SDK_SK or HSS_IAM_*, not both")
        elif any(v is not None for v in iam):
            for name, value in zip(
                ("HSS_IAM_DOMAIN", "HSS_IAM_USER", "HSS_IAM_PASSWORD"), iam, strict=True
            ):
                if value is None:
                    found.append(f"{name} is required for IAM token authentication")
        else:
            found.append(
                no_credentials(
                    "CLOUD_SDK_AK and CLOUD_SDK_SK",
                    "HSS_IAM_DOMAIN, HSS_IAM_USER and HSS_IAM_PASSWORD",
                )
            )
        if self.CLOUD_SDK_SECURITY_TOKEN is not None and not self.uses_aksk:
            found.append("CLOUD_SDK_SECURITY_TOKEN goes with CLOUD_SDK_AK/CLOUD_SDK_SK")
        return found


def _variables() -> dict[str, str]:
    """Return `.env` overlaid by the environment, where the profiles' `*_env` names are read.

    The same view `hss-export-bot profiles` checks, so it and the bot agree.
    """
    env_file = Path(".env")
    from_file = dotenv_values(env_file) if env_file.is_file() else {}
    return {**{k: v for k, v in from_file.items() if v is not None}, **os.environ}


def load_settings(
    needs: Iterable[Need] = (), *, uses: Iterable[Use] | None = None, **overrides: object
) -> Settings:
    """Read settings once; raise `SettingsError` listing every problem, with no value echoed.

    `uses` names what the command reads (all of it when None): a malformed setting
    outside it is read as its default instead of stopping the command. Every problem
    of what it does read (malformed values and what `needs` asks for together) comes
    in one error, so one round of fixes is enough.
    """
    used = ALL_USES if uses is None else frozenset(uses)
    values = dict(overrides)
    for _round in range(len(Settings.model_fields) + 1):
        try:
            settings = Settings(**values)  # type: ignore[arg-type]
        except ValidationError as exc:
            ignored = _unused_malformed(exc, used)
            if not ignored:
                raise SettingsError(_describe(exc) + _other_problems(exc, needs, values)) from None
            values.update({name: Settings.model_fields[name].default for name in ignored})
            continue
        problems = settings.problems(needs)
        if problems:
            raise SettingsError(problems)
        return settings
    raise AssertionError("unreachable: every malformed setting is reset once")


def _unused_malformed(exc: ValidationError, used: frozenset[Use]) -> set[str]:
    names = {str(err["loc"][0]) for err in exc.errors() if err["loc"]}
    return {
        name
        for name in names
        if (use := field_use(name)) is not None
        and use not in used
        and name in Settings.model_fields
        and not Settings.model_fields[name].is_required()
    }


def _describe(exc: ValidationError) -> list[str]:
    # `include_input=False` keeps secrets (and every other value) out of the message.
    return [
        f"{'.'.join(str(p) for p in err['loc'])}: "
        f"{_number_rule(err['loc']) or err['msg'].removeprefix('Value error, ')}"
        for err in exc.errors(include_input=False, include_url=False)
    ]


def _number_rule(loc: tuple[int | str, ...]) -> str | None:
    """Say what a numeric setting accepts, from its declared bounds: "accepts an integer 1–65535".

    pydantic's own words ("Input should be a valid integer, unable to parse string as an
    integer", "greater than or equal to 1") name neither the kind nor the whole range.
    """
    field = Settings.model_fields.get(str(loc[0])) if len(loc) == 1 else None
    if field is None:
        return None
    kinds = set(get_args(field.annotation)) - {type(None)} or {field.annotation}
    words: dict[object, str] = {int: "an integer", float: "a number", bool: "true or false"}
    what = words.get(kinds.pop()) if len(kinds) == 1 else None
    if what is None:
        return None
    ge, gt, le = (_bound(field, name) for name in ("ge", "gt", "le"))
    low = f"{ge}" if ge is not None else f"greater than {gt}" if gt is not None else None
    if low is not None and le is not None:
        span = f" {low}–{le}" if ge is not None else f" {low} and at most {le}"
    elif low is not None:
        span = f" {low} or more" if ge is not None else f" {low}"
    else:
        span = f" at most {le}" if le is not None else ""
    return f"accepts {what}{span}"


def _bound(field: FieldInfo, name: str) -> object:
    """Return a field's declared bound `name` (`ge`, `gt`, `le`), or None."""
    return next((getattr(m, name) for m in field.metadata if hasattr(m, name)), None)


def _other_problems(
    exc: ValidationError, needs: Iterable[Need], overrides: dict[str, object]
) -> list[str]:
    # Report the cross-field problems too, so one run lists everything: re-read with the
    # malformed settings at their defaults, and drop what mentions those settings.
    malformed = {str(err["loc"][0]) for err in exc.errors() if err["loc"]}
    defaults = {
        name: field.default
        for name, field in Settings.model_fields.items()
        if name in malformed and not field.is_required()
    }
    try:
        partial = Settings(**{**overrides, **defaults})
    except ValidationError:
        return []
    return [p for p in partial.problems(needs) if not any(name in p for name in malformed)]
