"""A resolved profile: one HSS account, project and region, and who may use it.

Built once at start by `bot.profiles.loading`, then read-only: the request
carries its `Profile` from the grammar to the HSS client, the audit entry and
the tracked task. Secrets are `SecretStr`, so no repr, str or f-string of a
profile shows one; `describe()` gives what may be displayed (names of the
environment variables, never their values).
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Literal

from pydantic import SecretStr

Source = Literal["file", "settings"]


@dataclass(frozen=True)
class AkSk:
    """AK/SK signing, with a security token when the keys are temporary."""

    ak: SecretStr
    sk: SecretStr
    security_token: SecretStr | None
    # Where the values were read from, for display.
    ak_env: str
    sk_env: str
    security_token_env: str | None

    def describe(self) -> dict[str, str | None]:
        """Return the kind and the variable names, never the values."""
        return {
            "kind": "aksk",
            "ak_env": self.ak_env,
            "sk_env": self.sk_env,
            "security_token_env": self.security_token_env,
        }


@dataclass(frozen=True)
class IamPassword:
    """An IAM user's password, exchanged for a token at IAM."""

    domain: str
    user: str
    password: SecretStr
    password_env: str

    def describe(self) -> dict[str, str | None]:
        """Return the kind, the account and the variable name, never the password."""
        return {
            "kind": "iam",
            "iam_domain": self.domain,
            "iam_user": self.user,
            "iam_password_env": self.password_env,
        }


Credentials = AkSk | IamPassword


@dataclass(frozen=True)
class ProfileAccess:
    """A profile's own allow lists; a command must pass these as well as the global ones.

    Same meaning as `ALLOWED_*`: the user, the channel or one of the user's
    groups must be listed, `*` lets anyone through. A kind not given is empty.
    """

    users: tuple[str, ...] = ()
    channels: tuple[str, ...] = ()
    usergroups: tuple[str, ...] = ()


@dataclass(frozen=True)
class Profile:
    """Everything a request needs to reach one HSS account, resolved and checked."""

    name: str
    region: str
    endpoint: str  # without a trailing slash
    iam_endpoint: str  # without a trailing slash
    project_id: str
    enterprise_project_id: str | None
    credentials: Credentials
    channels: tuple[str, ...] = ()  # this profile is the default in these channels
    access: ProfileAccess | None = None  # None: only the global ALLOWED_* apply
    source: Source = "file"

    def describe(self) -> dict[str, object]:
        """Return what may be displayed or printed as JSON: no secret value."""
        return {
            "name": self.name,
            "source": self.source,
            "region": self.region,
            "endpoint": self.endpoint,
            "iam_endpoint": self.iam_endpoint,
            "project_id": self.project_id,
            "enterprise_project_id": self.enterprise_project_id,
            "auth": self.credentials.describe(),
            "channels": list(self.channels),
            "allowed_user_ids": None if self.access is None else list(self.access.users),
            "allowed_channel_ids": None if self.access is None else list(self.access.channels),
            "allowed_usergroup_ids": (
                None if self.access is None else list(self.access.usergroups)
            ),
        }


@dataclass(frozen=True)
class Profiles:
    """The configured profiles, the default one, and which channel maps to which.

    Built only by the loader, which has already refused a channel mapped twice
    and a default naming no profile.
    """

    by_name: Mapping[str, Profile]
    default_name: str | None
    by_channel: Mapping[str, str] = field(init=False)

    def __post_init__(self) -> None:
        # Read-only views, so a shared `Profiles` cannot be changed under a request.
        object.__setattr__(self, "by_name", MappingProxyType(dict(self.by_name)))
        mapped = {c: p.name for p in self.by_name.values() for c in p.channels}
        object.__setattr__(self, "by_channel", MappingProxyType(mapped))

    @property
    def names(self) -> tuple[str, ...]:
        """Return the profile names, in the order they were configured."""
        return tuple(self.by_name)

    @property
    def default(self) -> Profile | None:
        """Return the profile of channels no `channels` list maps, if there is one."""
        return None if self.default_name is None else self.by_name[self.default_name]

    def get(self, name: str) -> Profile | None:
        """Return the profile called `name`, or None."""
        return self.by_name.get(name)

    def for_channel(self, channel_id: str) -> Profile | None:
        """Return the profile for a command in this channel; None: ask the user to choose."""
        mapped = self.by_channel.get(channel_id)
        return self.by_name[mapped] if mapped is not None else self.default

    def __iter__(self) -> Iterator[Profile]:
        return iter(self.by_name.values())

    def __len__(self) -> int:
        return len(self.by_name)

    def describe(self) -> dict[str, object]:
        """Return every profile for display, and which is the default: no secret value."""
        return {
            "default_profile": self.default_name,
            "profiles": [p.describe() | {"default": p.name == self.default_name} for p in self],
        }
