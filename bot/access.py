"""Decide who may run exports: allowed users, channels, or members of allowed user groups.

A command passes when its user, its channel, or one of the user's groups is
allowed; `*` in any list lets anyone through. With nothing configured the bot
refuses everyone and says which setting to set. Refusal texts name settings,
never values or secrets.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any, Final, Protocol

from bot.adapters.slack_notifier import SLACK_FAILURES, error_of
from bot.settings import Settings

log = logging.getLogger(__name__)

ANYONE: Final = "*"
SETTINGS_NAMES: Final = "ALLOWED_USER_IDS, ALLOWED_CHANNEL_IDS or ALLOWED_USERGROUP_IDS"

NOT_CONFIGURED: Final = (
    "This bot is not open to anyone yet. An admin must set "
    f"{SETTINGS_NAMES} (comma-separated Slack IDs, or * for anyone)."
)
NOT_ALLOWED: Final = (
    "You may not run HSS exports from here. Ask an admin to add your user, this channel, "
    f"or one of your user groups to {SETTINGS_NAMES}."
)


@dataclass(frozen=True)
class Decision:
    """The verdict on one command: allowed or not, and why (safe to show and audit)."""

    allowed: bool
    reason: str


class DirectoryUnavailable(Exception):
    """A user group's members could not be read; `why` names the failure, nothing more."""

    def __init__(self, why: str) -> None:
        self.why = why
        super().__init__(why)


class UsergroupDirectory(Protocol):
    """Answers which users belong to a Slack user group."""

    async def members(self, usergroup_id: str) -> frozenset[str]:
        """Return the group's member ids; raise `DirectoryUnavailable` if they cannot be read."""
        ...


@dataclass(frozen=True)
class AccessPolicy:
    """The three allow-lists, as configured."""

    users: frozenset[str] = frozenset()
    channels: frozenset[str] = frozenset()
    usergroups: frozenset[str] = frozenset()

    @classmethod
    def from_settings(cls, settings: Settings) -> AccessPolicy:
        """Read the allow-lists from settings."""
        return cls(
            users=frozenset(settings.ALLOWED_USER_IDS),
            channels=frozenset(settings.ALLOWED_CHANNEL_IDS),
            usergroups=frozenset(settings.ALLOWED_USERGROUP_IDS),
        )

    @property
    def configured(self) -> bool:
        """Tell whether any allow-list has an entry."""
        return bool(self.users or self.channels or self.usergroups)

    @property
    def open_to_anyone(self) -> bool:
        """Tell whether any list holds `*`."""
        return ANYONE in self.users | self.channels | self.usergroups


class AccessControl:
    """Apply an `AccessPolicy`, looking user groups up only when needed."""

    def __init__(self, policy: AccessPolicy, groups: UsergroupDirectory | None = None) -> None:
        self._policy = policy
        self._groups = groups

    @property
    def policy(self) -> AccessPolicy:
        """Return the policy applied."""
        return self._policy

    async def check(self, user_id: str, channel_id: str) -> Decision:
        """Decide whether `user_id` may run exports from `channel_id`."""
        policy = self._policy
        if not policy.configured:
            return Decision(False, NOT_CONFIGURED)
        if policy.open_to_anyone:
            return Decision(True, "open to anyone")
        if user_id in policy.users:
            return Decision(True, "user allowed")
        if channel_id in policy.channels:
            return Decision(True, "channel allowed")
        group = await self._allowed_group_of(user_id)
        if group is not None:
            return Decision(True, f"member of allowed user group {group}")
        return Decision(False, NOT_ALLOWED)

    async def _allowed_group_of(self, user_id: str) -> str | None:
        if self._groups is None:
            return None
        for group in sorted(self._policy.usergroups):
            try:
                members = await self._groups.members(group)
            except DirectoryUnavailable as exc:
                # Fail closed: a group that cannot be read lets nobody in.
                log.warning(
                    "user group lookup failed", extra={"usergroup": group, "error": exc.why}
                )
                continue
            if user_id in members:
                return group
        return None


class SlackUsergroups:
    """`UsergroupDirectory` over Slack's `usergroups.users.list`, cached for `ttl` seconds."""

    def __init__(
        self,
        client: Any,
        *,
        ttl: float = 300.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        # `client` is a slack_sdk AsyncWebClient; typed loosely because slack_sdk is untyped.
        self._client = client
        self._ttl = ttl
        self._clock = clock
        self._cache: dict[str, tuple[float, frozenset[str]]] = {}
        self._locks: dict[str, asyncio.Lock] = {}

    async def members(self, usergroup_id: str) -> frozenset[str]:
        """Return the group's members, from the cache while it is fresh."""
        cached = self._fresh(usergroup_id)
        if cached is not None:
            return cached
        # One lookup per group at a time: a burst of commands costs one API call.
        async with self._locks.setdefault(usergroup_id, asyncio.Lock()):
            cached = self._fresh(usergroup_id)
            if cached is not None:
                return cached
            try:
                response = await self._client.usergroups_users_list(usergroup=usergroup_id)
            except SLACK_FAILURES as exc:
                raise DirectoryUnavailable(error_of(exc)) from exc
            users: Iterable[str] = response.get("users") or ()
            members = frozenset(users)
            self._cache[usergroup_id] = (self._clock() + self._ttl, members)
            return members

    def _fresh(self, usergroup_id: str) -> frozenset[str] | None:
        hit = self._cache.get(usergroup_id)
        if hit is not None and hit[0] > self._clock():
            return hit[1]
        return None
