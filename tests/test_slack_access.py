"""Access control: who may export, decided from the allow-lists and Slack user groups, in time."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator

import pytest

from bot.access import COULD_NOT_CHECK, NOT_ALLOWED, NOT_CONFIGURED, AccessControl, AccessPolicy
from bot.adapters.slack_notifier import build_web_client
from bot.adapters.slack_usergroups import SlackUsergroups, prompt_client
from bot.domain.errors import DirectoryUnavailable
from bot.settings import Settings
from emulators.fake_slack import FakeSlack


class _Groups:
    """A user-group directory held in memory; unknown groups cannot be read.

    Groups in `failing` fail as when Slack is down; groups in `slow` never answer.
    """

    def __init__(
        self,
        groups: dict[str, set[str]],
        *,
        failing: frozenset[str] = frozenset(),
        slow: frozenset[str] = frozenset(),
    ) -> None:
        self.groups = groups
        self.failing = failing
        self.slow = slow

    async def members(self, usergroup_id: str) -> frozenset[str]:
        if usergroup_id in self.slow:
            await asyncio.sleep(60)
        if usergroup_id in self.failing:
            raise DirectoryUnavailable("ratelimited", passing=True)
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
        (AccessPolicy(usergroups=frozenset({"SDOWN"})), "U3", "C2", False, COULD_NOT_CHECK),
        (AccessPolicy(usergroups=frozenset({"SDOWN", "S1"})), "U3", "C2", True, None),
        (AccessPolicy(usergroups=frozenset({"SDOWN", "S1"})), "U4", "C2", False, COULD_NOT_CHECK),
        (AccessPolicy(usergroups=frozenset({"SSLOW"})), "U3", "C2", False, COULD_NOT_CHECK),
        (AccessPolicy(usergroups=frozenset({"SSLOW", "S1"})), "U3", "C2", True, None),
        (
            AccessPolicy(users=frozenset({"U3"}), usergroups=frozenset({"SSLOW"})),
            "U3",
            "C2",
            True,
            "user allowed",
        ),
    ],
    ids=[
        "nothing-configured",
        "user",
        "other-user",
        "channel",
        "star",
        "group-member",
        "not-a-member",
        "one-group-unknown",
        "only-group-unknown",
        "only-group-down",
        "member-of-another-group-while-one-is-down",
        "not-a-member-while-one-is-down",
        "only-group-slow",
        "member-of-another-group-while-one-is-slow",
        "user-allowed-without-asking-groups",
    ],
)
async def test_decisions(
    policy: AccessPolicy, user: str, channel: str, allowed: bool, reason: str | None
) -> None:
    """Membership lets a command through; a group that cannot be read in time is refused honestly.

    A group Slack does not know is decided (nobody is in it); one that is down
    or slow is not, so the refusal says the groups could not be checked.
    """
    groups = _Groups({"S1": {"U3"}}, failing=frozenset({"SDOWN"}), slow=frozenset({"SSLOW"}))
    control = AccessControl(policy, groups, budget=0.2)

    started = time.monotonic()
    decision = await control.check(user, channel)

    assert time.monotonic() - started < 1.0
    assert decision.allowed is allowed
    if reason is not None:
        assert decision.reason == reason
    assert decision.undecided is (decision.reason == COULD_NOT_CHECK)


def test_refusal_texts_name_the_settings_and_nothing_secret() -> None:
    """Both refusal texts say which settings to set; the undecided one says to try again."""
    for text in (NOT_CONFIGURED, NOT_ALLOWED):
        for name in ("ALLOWED_USER_IDS", "ALLOWED_CHANNEL_IDS", "ALLOWED_USERGROUP_IDS"):
            assert name in text
    assert "could not check your user groups" in COULD_NOT_CHECK
    assert "Try again" in COULD_NOT_CHECK
    assert "You may not" not in COULD_NOT_CHECK


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


def _client(fake: FakeSlack) -> object:
    settings = Settings(_env_file=None, SLACK_BOT_TOKEN=fake.bot_token, SLACK_API_URL=fake.api_url)
    return prompt_client(build_web_client(settings))


async def test_usergroup_members_are_cached_until_the_ttl(fake_slack: FakeSlack) -> None:
    """Lookups within the TTL reuse one usergroups.users.list answer; after it, Slack is asked."""
    now = [1000.0]
    groups = SlackUsergroups(_client(fake_slack), ttl=60, clock=lambda: now[0])

    assert await groups.members("S1") == {"U1", "U2"}
    fake_slack.usergroups["S1"] = ["U3"]
    assert await groups.members("S1") == {"U1", "U2"}
    now[0] += 61
    assert await groups.members("S1") == {"U3"}

    calls = fake_slack.calls_to("usergroups.users.list")
    assert [c.params["usergroup"] for c in calls] == ["S1", "S1"]


async def test_unknown_usergroup_is_unavailable_not_empty(fake_slack: FakeSlack) -> None:
    """Slack refusing the lookup raises DirectoryUnavailable: its error code, not passing."""
    with pytest.raises(DirectoryUnavailable) as caught:
        await SlackUsergroups(_client(fake_slack)).members("S404")

    assert caught.value.why == "no_such_subteam"
    assert caught.value.passing is False


@pytest.mark.parametrize("trouble", ["ratelimited", "server-error", "slow"])
async def test_failing_lookup_gives_up_fast_and_says_it_may_pass(
    fake_slack: FakeSlack, trouble: str
) -> None:
    """A rate-limited, failing or slow Slack fails the lookup within its timeout, never retried."""
    if trouble == "ratelimited":
        fake_slack.fail("usergroups.users.list", status=429, retry_after=2, times=5)
    elif trouble == "server-error":
        fake_slack.fail("usergroups.users.list", status=503, times=5)
    else:
        fake_slack.delay("usergroups.users.list", 5.0)
    groups = SlackUsergroups(_client(fake_slack), timeout=0.5)

    started = time.monotonic()
    with pytest.raises(DirectoryUnavailable) as caught:
        await groups.members("S1")

    assert time.monotonic() - started < 1.5
    assert caught.value.passing is True
    assert len(fake_slack.calls_to("usergroups.users.list")) == 1


async def test_a_slow_lookup_still_fills_the_cache_for_the_next_command(
    fake_slack: FakeSlack,
) -> None:
    """Slack slower than the bound: the first check gives up, its answer serves the next one."""
    fake_slack.delay("usergroups.users.list", 0.6)
    groups = SlackUsergroups(_client(fake_slack), timeout=0.3)

    with pytest.raises(DirectoryUnavailable):
        await groups.members("S1")
    await asyncio.sleep(0.6)  # the lookup finishes in the background

    assert await groups.members("S1") == {"U1", "U2"}
    assert len(fake_slack.calls_to("usergroups.users.list")) == 1


async def test_retry_after_is_honoured_without_asking_again(fake_slack: FakeSlack) -> None:
    """After a 429 with Retry-After 2, Slack is not asked again until those 2 s are over."""
    now = [1000.0]
    fake_slack.fail("usergroups.users.list", status=429, retry_after=2)
    groups = SlackUsergroups(_client(fake_slack), clock=lambda: now[0])

    for _ in range(3):
        with pytest.raises(DirectoryUnavailable):
            await groups.members("S1")
    now[0] += 2.5
    members = await groups.members("S1")

    assert members == {"U1", "U2"}
    assert len(fake_slack.calls_to("usergroups.users.list")) == 2


@pytest.mark.parametrize(
    ("trouble", "age", "served"),
    [
        ("ratelimited", 61, True),
        ("slow", 61, True),
        ("ratelimited", 60 + 3600 + 1, False),
        ("no_such_subteam", 61, False),
    ],
    ids=["ratelimited", "slow", "too-old", "group-gone"],
)
async def test_last_answer_stands_in_while_slack_fails(
    fake_slack: FakeSlack, trouble: str, age: float, served: bool
) -> None:
    """Past its TTL, the last answer serves while Slack is failing, up to an hour, not if refused.

    A group Slack says is gone is not served from the cache: its members lost access.
    """
    now = [1000.0]
    groups = SlackUsergroups(_client(fake_slack), ttl=60, timeout=0.5, clock=lambda: now[0])
    assert await groups.members("S1") == {"U1", "U2"}
    now[0] += age
    if trouble == "slow":
        fake_slack.delay("usergroups.users.list", 5.0)
    elif trouble == "ratelimited":
        fake_slack.fail("usergroups.users.list", status=429, retry_after=1)
    else:
        del fake_slack.usergroups["S1"]

    if served:
        assert await groups.members("S1") == {"U1", "U2"}
    else:
        with pytest.raises(DirectoryUnavailable):
            await groups.members("S1")
    assert len(fake_slack.calls_to("usergroups.users.list")) == 2


def test_prompt_client_keeps_token_and_url_and_never_retries() -> None:
    """The client for calls before an ack talks to the same Slack, with no retry handlers."""
    settings = Settings(
        _env_file=None, SLACK_BOT_TOKEN="xoxb-1", SLACK_API_URL="http://127.0.0.1:9/api/"
    )
    app_client = build_web_client(settings)

    quick = prompt_client(app_client)

    assert (quick.token, quick.base_url) == ("xoxb-1", "http://127.0.0.1:9/api/")
    assert app_client.retry_handlers
    assert quick.retry_handlers == []
