"""Access control: who may export, decided from the allow-lists and Slack user groups."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from bot.access import (
    NOT_ALLOWED,
    NOT_CONFIGURED,
    AccessControl,
    AccessPolicy,
    DirectoryUnavailable,
    SlackUsergroups,
)
from bot.adapters.slack_notifier import build_web_client
from bot.settings import Settings
from emulators.fake_slack import FakeSlack


class _Groups:
    """A user-group directory held in memory; unknown groups cannot be read."""

    def __init__(self, groups: dict[str, set[str]]) -> None:
        self.groups = groups

    async def members(self, usergroup_id: str) -> frozenset[str]:
        if usergroup_id not in self.groups:
            raise DirectoryUnavailable("no_such_subteam")
        return frozenset(self.groups[usergroup_id])


@pytest.mark.parametrize(
    ("policy", "user", "channel", "allowed", "reason"),
    [
        (AccessPolicy(), "U1", "C1", False, NOT_CONFIGURED),
        (AccessPolicy(users=frozenset({"U1"})), "U1", "C9", True, "user allowed"),
        (AccessPolicy(users=frozenset({"U1"})), "U2", "C1", False, NOT_ALLOWED),
        (AccessPolicy(channels=frozenset({"C1"})), "U2", "C1", True, "channel allowed"),
        (AccessPolicy(channels=frozenset({"*"})), "U2", "C2", True, "open to anyone"),
        (
            AccessPolicy(usergroups=frozenset({"S1"})),
            "U3",
            "C2",
            True,
            "member of allowed user group S1",
        ),
        (AccessPolicy(usergroups=frozenset({"S1"})), "U4", "C2", False, NOT_ALLOWED),
        (AccessPolicy(usergroups=frozenset({"S404", "S1"})), "U3", "C2", True, None),
        (AccessPolicy(usergroups=frozenset({"S404"})), "U3", "C2", False, NOT_ALLOWED),
    ],
    ids=[
        "nothing-configured",
        "user",
        "other-user",
        "channel",
        "star",
        "group-member",
        "not-a-member",
        "one-group-unreadable",
        "only-group-unreadable",
    ],
)
async def test_decisions(
    policy: AccessPolicy, user: str, channel: str, allowed: bool, reason: str | None
) -> None:
    """User, channel or group membership lets a command through; an unreadable group does not."""
    control = AccessControl(policy, _Groups({"S1": {"U3"}}))

    decision = await control.check(user, channel)

    assert decision.allowed is allowed
    if reason is not None:
        assert decision.reason == reason


def test_refusal_texts_name_the_settings_and_nothing_secret() -> None:
    """Both refusal texts say which settings to set."""
    for text in (NOT_CONFIGURED, NOT_ALLOWED):
        for name in ("ALLOWED_USER_IDS", "ALLOWED_CHANNEL_IDS", "ALLOWED_USERGROUP_IDS"):
            assert name in text


def test_policy_reads_comma_lists_from_settings() -> None:
    """The allow-lists come from the three comma-separated settings."""
    settings = Settings(
        _env_file=None,
        ALLOWED_USER_IDS="U1, U2",
        ALLOWED_CHANNEL_IDS="C1",
        ALLOWED_USERGROUP_IDS="",
    )

    policy = AccessPolicy.from_settings(settings)

    assert policy == AccessPolicy(users=frozenset({"U1", "U2"}), channels=frozenset({"C1"}))


@pytest.fixture
async def fake_slack() -> AsyncIterator[FakeSlack]:
    """A fake Slack with one user group."""
    async with FakeSlack() as fake:
        fake.usergroups["S1"] = ["U1", "U2"]
        yield fake


async def test_usergroup_members_are_cached_until_the_ttl(fake_slack: FakeSlack) -> None:
    """Lookups within the TTL reuse one usergroups.users.list answer; after it, Slack is asked."""
    now = [1000.0]
    client = build_web_client(
        Settings(
            _env_file=None, SLACK_BOT_TOKEN=fake_slack.bot_token, SLACK_API_URL=fake_slack.api_url
        )
    )
    groups = SlackUsergroups(client, ttl=60, clock=lambda: now[0])

    assert await groups.members("S1") == {"U1", "U2"}
    fake_slack.usergroups["S1"] = ["U3"]
    assert await groups.members("S1") == {"U1", "U2"}
    now[0] += 61
    assert await groups.members("S1") == {"U3"}

    calls = fake_slack.calls_to("usergroups.users.list")
    assert [c.params["usergroup"] for c in calls] == ["S1", "S1"]


async def test_unknown_usergroup_is_unavailable_not_empty(fake_slack: FakeSlack) -> None:
    """Slack refusing the lookup raises DirectoryUnavailable with Slack's error code."""
    client = build_web_client(
        Settings(
            _env_file=None, SLACK_BOT_TOKEN=fake_slack.bot_token, SLACK_API_URL=fake_slack.api_url
        )
    )

    with pytest.raises(DirectoryUnavailable) as caught:
        await SlackUsergroups(client).members("S404")

    assert caught.value.why == "no_such_subteam"
