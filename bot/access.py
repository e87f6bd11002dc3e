"""Decide who may run exports, and who may approve them: the bot's one policy place.

Access: allowed users, channels, or members of allowed user groups. Approval
(`ApprovalPolicy`, issue 14): which exports wait for a second person, which ask
the requester to confirm, and who may approve (approver users or members of
approver groups, never the requester), read through the same bounded lookup.

A command passes when its user, its channel, or one of the user's groups is
allowed; `*` in any list lets anyone through. With nothing configured the bot
refuses everyone and says which setting to set. Refusal texts name settings,
never values or secrets.

Pure policy: user groups are read through a `UsergroupDirectory` (the Slack
one is `bot.adapters.slack_usergroups`). The decision is bounded in time,
because it is made before Slack's 3-second ack: when the groups cannot be read
in time, the command is refused (fail closed) with a reason that says so.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass
from typing import Final, Literal, Protocol

from bot.domain.approval_rules import Condition, is_broad, matched
from bot.domain.errors import DirectoryUnavailable
from bot.domain.model import ExportRequest
from bot.profiles.model import Profile, Profiles
from bot.settings import Settings

log = logging.getLogger(__name__)

ANYONE: Final = "*"
SETTINGS_NAMES: Final = "ALLOWED_USER_IDS, ALLOWED_CHANNEL_IDS or ALLOWED_USERGROUP_IDS"
DECIDE_SECONDS: Final = 1.0  # the longest a decision may take; Slack wants the ack within 3 s

NOT_CONFIGURED: Final = (
    "This bot is not open to anyone yet. An admin must set "
    f"{SETTINGS_NAMES} (comma-separated Slack IDs, or * for anyone)."
)
NOT_ALLOWED: Final = (
    "You may not run HSS exports from here. Ask an admin to add your user, this channel, "
    f"or one of your user groups to {SETTINGS_NAMES}."
)
COULD_NOT_CHECK: Final = (
    "I could not check your user groups right now (Slack is slow or unavailable), "
    "so nothing was run. Try again in a minute."
)


@dataclass(frozen=True)
class Decision:
    """The verdict on one command: allowed or not, and why (safe to show and audit).

    `undecided`: refused only because the user groups could not be read in time.
    """

    allowed: bool
    reason: str
    undecided: bool = False


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


@dataclass(frozen=True)
class ApprovalPolicy:
    """The two-person rule, as configured: when an approver is needed, and who may approve."""

    conditions: tuple[Condition, ...] = ()
    approvers: frozenset[str] = frozenset()
    approver_groups: frozenset[str] = frozenset()
    confirm_broad: bool = True

    @classmethod
    def from_settings(cls, settings: Settings) -> ApprovalPolicy:
        """Read APPROVAL_REQUIRED_FOR, APPROVER_* and CONFIRM_BROAD_EXPORTS."""
        return cls(
            conditions=settings.approval_conditions,
            approvers=frozenset(settings.APPROVER_USER_IDS),
            approver_groups=frozenset(settings.APPROVER_USERGROUP_IDS),
            confirm_broad=settings.CONFIRM_BROAD_EXPORTS,
        )

    def needs_approval(self, request: ExportRequest, profile: str | None = None) -> tuple[str, ...]:
        """Return why the request needs an approver, in words; empty when it needs none.

        `profile` defaults to the one the gate bound the request to (`request.profile`).
        """
        return matched(self.conditions, request, profile or request.profile)

    def needs_confirmation(self, request: ExportRequest, *, confirmed: bool) -> bool:
        """Tell whether to ask the requester first (a broad export not already confirmed)."""
        return self.confirm_broad and not confirmed and is_broad(request)

    def approvers_in_words(self, *, besides: str | None = None) -> str:
        """Name who may approve, as Slack mentions (`<@U…>`, `<!subteam^S…>`).

        `besides`: a user left out (the requester, who never decides their own);
        "anyone" then reads "anyone else".
        """
        anyone = "anyone" if besides is None else "anyone else"
        users = sorted(self.approvers - {besides})
        names = [f"<@{u}>" if u != ANYONE else anyone for u in users]
        names += [f"<!subteam^{g}>" for g in sorted(self.approver_groups) if g != ANYONE]
        return ", ".join(names) or "nobody (set APPROVER_USER_IDS)"

    def self_approval(self, requester_id: str) -> str:
        """Tell a requester who clicked Approve on their own request: they cannot; who can."""
        others = self.approvers_in_words(besides=requester_id)
        return (
            f"{SELF_APPROVAL} Another approver must decide on it: {others}. "
            "It is still waiting for them; nothing was run."
        )


SELF_APPROVAL: Final = "You cannot approve your own export request."
NOT_APPROVER: Final = (
    "You may not approve exports. Ask an admin to add you to "
    "APPROVER_USER_IDS or APPROVER_USERGROUP_IDS."
)


class AccessControl:
    """Apply an `AccessPolicy`, looking user groups up only when needed, within `budget` seconds."""

    def __init__(
        self,
        policy: AccessPolicy,
        groups: UsergroupDirectory | None = None,
        *,
        budget: float = DECIDE_SECONDS,
        approvals: ApprovalPolicy | None = None,
    ) -> None:
        self._policy = policy
        self._groups = groups
        self._budget = budget
        self._approvals = approvals if approvals is not None else ApprovalPolicy()

    @property
    def approvals(self) -> ApprovalPolicy:
        """Return the two-person rule applied."""
        return self._approvals

    async def may_approve(self, user_id: str, requester_id: str) -> Decision:  # noqa: PLR0911  one verdict per reason an approver may not decide
        """Decide whether `user_id` may approve `requester_id`'s export (never their own)."""
        rule = self._approvals
        if user_id == requester_id:
            return Decision(False, rule.self_approval(requester_id))
        if ANYONE in rule.approvers or user_id in rule.approvers:
            return Decision(True, "approver")
        if ANYONE in rule.approver_groups:
            return Decision(True, "approver (any group)")
        if self._groups is None or not rule.approver_groups:
            return Decision(False, NOT_APPROVER)
        group, unread = await self._group_of(self._groups, rule.approver_groups, user_id)
        if group is not None:
            return Decision(True, f"member of approver group {group}")
        if unread:
            return Decision(False, COULD_NOT_CHECK, undecided=True)
        return Decision(False, NOT_APPROVER)

    @property
    def policy(self) -> AccessPolicy:
        """Return the policy applied."""
        return self._policy

    async def check(self, user_id: str, channel_id: str) -> Decision:  # noqa: PLR0911  one answer per rule of the access policy, in order
        """Decide whether `user_id` may run exports from `channel_id`, within the budget."""
        policy = self._policy
        if not policy.configured:
            return Decision(False, NOT_CONFIGURED)
        if policy.open_to_anyone:
            return Decision(True, "open to anyone")
        if user_id in policy.users:
            return Decision(True, "user allowed")
        if channel_id in policy.channels:
            return Decision(True, "channel allowed")
        if self._groups is None or not policy.usergroups:
            return Decision(False, NOT_ALLOWED)
        group, unread = await self._group_of(self._groups, policy.usergroups, user_id)
        if group is not None:
            return Decision(True, f"member of allowed user group {group}")
        if unread:
            # Fail closed, but honestly: a group that could not be read may hold the user.
            return Decision(False, COULD_NOT_CHECK, undecided=True)
        return Decision(False, NOT_ALLOWED)

    async def _group_of(
        self, groups: UsergroupDirectory, wanted: frozenset[str], user_id: str
    ) -> tuple[str | None, bool]:
        """Return a `wanted` group holding the user, and whether any group went unread in time."""
        names = sorted(wanted)
        lookups = [asyncio.ensure_future(groups.members(name)) for name in names]
        try:
            # All at once: one slow group must not keep another from answering in time.
            _, late = await asyncio.wait(lookups, timeout=self._budget)
        finally:
            for lookup in lookups:
                lookup.cancel()  # the late ones (or all, if this check is cancelled)
        if late:
            log.warning("user group lookup did not finish in time", extra={"budget": self._budget})
        found, unread = None, bool(late)
        for name, lookup in zip(names, lookups, strict=True):
            if lookup in late:
                continue
            error = lookup.exception()
            if error is None:
                if found is None and user_id in lookup.result():
                    found = name
            elif isinstance(error, DirectoryUnavailable):
                log.warning(
                    "user group lookup failed",
                    extra={"usergroup": name, "error": error.why, "passing": error.passing},
                )
                # A wrong setup (no such group) is decided: nobody is in it. A passing
                # failure is not: the group may hold the user.
                unread = unread or error.passing
            else:
                raise error
        return found, unread


# --- Profiles: which HSS profile a command goes to, and whether this user may use it --

NO_PROFILE: Final = "none: no HSS profile is open to you here; ask an admin"


@dataclass(frozen=True)
class ProfileVerdict:
    """The profile a command goes to, or why it may not (`invalid` or `denied`, safe to show)."""

    profile: Profile | None
    outcome: Literal["invalid", "denied"] | None = None
    reason: str = ""
    usable: tuple[str, ...] = ()
    undecided: bool = False


class ProfileAccess:
    """Resolve a command's profile and apply the profile's own allow lists.

    The global `ALLOWED_*` lists are checked first (by `AccessControl`); a
    profile with allow lists of its own must let the command through as well
    (same meaning, `*` for anyone). A profile without lists is open to whoever
    passes the global ones. Which profile: `profile=NAME`, else the channel's
    (`channels`), else `HSS_DEFAULT_PROFILE`, else the only one; else the user
    is asked to choose among those they may use.
    """

    def __init__(
        self,
        profiles: Profiles,
        groups: UsergroupDirectory | None = None,
        *,
        budget: float = DECIDE_SECONDS,
    ) -> None:
        self._profiles = profiles
        self._groups = groups
        self._budget = budget

    @property
    def profiles(self) -> Profiles:
        """Return the configured profiles."""
        return self._profiles

    async def may_use(self, profile: Profile, user_id: str, channel_id: str) -> Decision:
        """Decide whether this user, in this channel, may use `profile` (global lists passed)."""
        lists = profile.access
        if lists is None:
            return Decision(True, "profile open to everyone allowed")
        policy = AccessPolicy(
            users=frozenset(lists.users),
            channels=frozenset(lists.channels),
            usergroups=frozenset(lists.usergroups),
        )
        decision = await AccessControl(policy, self._groups, budget=self._budget).check(
            user_id, channel_id
        )
        if decision.allowed or decision.undecided:
            return decision
        return Decision(False, f"You may not use the HSS profile {profile.name} from here.")

    async def usable(self, user_id: str, channel_id: str) -> tuple[str, ...]:
        """Return the names of the profiles this user may use in this channel."""
        return tuple(
            [p.name for p in self._profiles if (await self.may_use(p, user_id, channel_id)).allowed]
        )

    async def choose(self, asked: str | None, user_id: str, channel_id: str) -> ProfileVerdict:
        """Return the profile the command goes to, or why it cannot go to one."""
        profile = (
            self._profiles.for_channel(channel_id) if asked is None else self._profiles.get(asked)
        )
        if profile is None:
            usable = await self.usable(user_id, channel_id)
            names = ", ".join(usable) or NO_PROFILE
            if asked is None:
                reason = f"Choose an HSS profile with `profile=NAME`; you may use: {names}."
            else:
                reason = f"There is no HSS profile {asked!r}; you may use: {names}."
            return ProfileVerdict(None, "invalid", reason, usable)
        decision = await self.may_use(profile, user_id, channel_id)
        if decision.allowed:
            return ProfileVerdict(profile)
        if decision.undecided:
            return ProfileVerdict(None, "denied", decision.reason, undecided=True)
        usable = await self.usable(user_id, channel_id)
        names = ", ".join(usable) or NO_PROFILE
        return ProfileVerdict(None, "denied", f"{decision.reason} You may use: {names}.", usable)
