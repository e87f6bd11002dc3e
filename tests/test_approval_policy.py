"""The two-person rule as a table: which exports need approval, which ask first, who decides."""

from __future__ import annotations

import asyncio

import pytest

from bot.access import (
    COULD_NOT_CHECK,
    NOT_APPROVER,
    SELF_APPROVAL,
    AccessControl,
    AccessPolicy,
    ApprovalPolicy,
)
from bot.domain.approval_rules import (
    AllGrantedEps,
    Always,
    ExportSizeOver,
    NoFilter,
    Profile,
    is_broad,
    matched,
    parse_conditions,
)
from bot.domain.errors import DirectoryUnavailable
from bot.domain.grammar import Export, RequestDefaults, parse_command
from bot.domain.model import ExportRequest


def _request(text: str) -> ExportRequest:
    parsed = parse_command(text, RequestDefaults())
    assert isinstance(parsed, Export)
    return parsed.request


@pytest.mark.parametrize(
    ("setting", "conditions"),
    [
        ((), ()),
        (("always",), (Always(),)),
        (("all_granted_eps", "no_filter"), (AllGrantedEps(), NoFilter())),
        (("export_size_over:500",), (ExportSizeOver(500),)),
        (("profile:prod",), (Profile("prod"),)),
        ((" always ", "always"), (Always(),)),
    ],
)
def test_conditions_parse(setting: tuple[str, ...], conditions: tuple[object, ...]) -> None:
    """Each accepted spelling of APPROVAL_REQUIRED_FOR becomes its typed condition, once."""
    assert parse_conditions(setting) == (conditions, [])


@pytest.mark.parametrize(
    "entry", ["sometimes", "export_size_over", "export_size_over:-1", "export_size_over:1e3",
              "profile:", "no_filter:1", "export_size_over:١٢"]
)  # fmt: skip
def test_unknown_condition_is_named_with_the_accepted_ones(entry: str) -> None:
    """A condition the bot does not know is a settings problem that names it and lists the rest."""
    conditions, problems = parse_conditions([entry])
    assert conditions == ()
    assert problems == [
        f"APPROVAL_REQUIRED_FOR: unknown condition {entry!r}; accepted: all_granted_eps, "
        "export_size_over:N (N a whole number >= 0), no_filter, profile:NAME, always"
    ]


@pytest.mark.parametrize(
    ("setting", "command", "profile", "why"),
    [
        ((), "export_size=100000", None, ()),
        (("always",), "status=Running", None, ("every export needs approval here",)),
        (("no_filter",), "export_size=100000", None, ("it has no filter",)),
        (("no_filter",), "status=Running", None, ()),
        (("no_filter",), "export_size=10", None, ("it has no filter",)),
        (
            ("all_granted_eps",),
            "enterprise_project_id=all_granted_eps status=Running",
            None,
            ("it covers all enterprise projects",),
        ),
        (("all_granted_eps",), "enterprise_project_id=ep1", None, ()),
        (("export_size_over:500",), "export_size=501 status=Running", None,
         ("it may export more than 500 containers",)),
        (("export_size_over:500",), "export_size=500 status=Running", None, ()),
        (("export_size_over:500",), "status=Running", None,
         ("it may export more than 500 containers",)),
        (("profile:prod",), "status=Running", "prod", ("it uses profile prod",)),
        (("profile:prod",), "status=Running", "dev", ()),
        (("no_filter", "always"), "export_size=100000", None, ("it has no filter",
                                                   "every export needs approval here")),
    ],
)  # fmt: skip
def test_needs_approval(
    setting: tuple[str, ...], command: str, profile: str | None, why: tuple[str, ...]
) -> None:
    """A request needs an approver exactly when a configured condition matches; it says which."""
    conditions, _ = parse_conditions(setting)
    assert matched(conditions, _request(command), profile) == why
    assert ApprovalPolicy(conditions).needs_approval(_request(command), profile) == why


def test_profile_condition_reads_the_profile_the_request_is_bound_to() -> None:
    """`profile:prod` holds a request the gate bound to prod; the listeners pass no profile."""
    conditions, _ = parse_conditions(("profile:prod",))
    policy = ApprovalPolicy(conditions)
    bound = _request("status=Running").model_copy(update={"profile": "prod"})
    other = _request("status=Running").model_copy(update={"profile": "dev"})
    assert policy.needs_approval(bound) == ("it uses profile prod",)
    assert policy.needs_approval(other) == ()


@pytest.mark.parametrize(
    ("command", "broad"),
    [
        ("export_size=100000", True),
        ("export_size=5", True),
        ("enterprise_project_id=all_granted_eps status=Running", True),
        ("status=Running", False),
        ("enterprise_project_id=ep1 risky=true", False),
    ],
)
def test_broad_exports(command: str, broad: bool) -> None:
    """No filter, or every enterprise project, is broad; a filtered export in one project is not."""
    assert is_broad(_request(command)) is broad


@pytest.mark.parametrize(
    ("confirm_broad", "confirmed", "command", "asks"),
    [
        (True, False, "export_size=100000", True),
        (True, True, "export_size=100000", False),
        (False, False, "export_size=100000", False),
        (True, False, "status=Running", False),
    ],
)
def test_needs_confirmation(confirm_broad: bool, confirmed: bool, command: str, asks: bool) -> None:
    """A broad export asks first unless CONFIRM_BROAD_EXPORTS is off or confirm=yes was given."""
    policy = ApprovalPolicy(confirm_broad=confirm_broad)
    assert policy.needs_confirmation(_request(command), confirmed=confirmed) is asks


class _Groups:
    """Approver groups in memory; SDOWN fails as when Slack is down, SSLOW never answers."""

    async def members(self, usergroup_id: str) -> frozenset[str]:
        if usergroup_id == "SSLOW":
            await asyncio.sleep(60)
        if usergroup_id == "SDOWN":
            raise DirectoryUnavailable("ratelimited", passing=True)
        return frozenset({"SAPPROVERS": {"U7", "UREQ"}}.get(usergroup_id, set()))


@pytest.mark.parametrize(
    ("users", "groups", "user", "requester", "allowed", "reason"),
    [
        ({"U1"}, set(), "U1", "UREQ", True, "approver"),
        ({"U1"}, set(), "U2", "UREQ", False, NOT_APPROVER),
        ({"U1"}, set(), "U1", "U1", False, SELF_APPROVAL),
        ({"*"}, set(), "U9", "UREQ", True, "approver"),
        ({"*"}, set(), "UREQ", "UREQ", False, SELF_APPROVAL),
        (set(), {"SAPPROVERS"}, "U7", "UREQ", True, "member of approver group SAPPROVERS"),
        (set(), {"SAPPROVERS"}, "UREQ", "UREQ", False, SELF_APPROVAL),
        (set(), {"SAPPROVERS"}, "U8", "UREQ", False, NOT_APPROVER),
        (set(), {"SDOWN"}, "U8", "UREQ", False, COULD_NOT_CHECK),
        (set(), {"SSLOW", "SAPPROVERS"}, "U7", "UREQ", True, "member of approver group SAPPROVERS"),
        (set(), set(), "U1", "UREQ", False, NOT_APPROVER),
    ],
)
async def test_may_approve(
    users: set[str], groups: set[str], user: str, requester: str, allowed: bool, reason: str
) -> None:
    """Approver users and members of approver groups may decide, never on their own request."""
    rule = ApprovalPolicy(approvers=frozenset(users), approver_groups=frozenset(groups))
    control = AccessControl(AccessPolicy(), _Groups(), budget=0.2, approvals=rule)
    decision = await control.may_approve(user, requester)
    expected = rule.self_approval(requester) if reason == SELF_APPROVAL else reason
    assert (decision.allowed, decision.reason) == (allowed, expected)


@pytest.mark.parametrize(
    ("users", "groups", "who_can"),
    [
        ({"UREQ", "U1", "U2"}, set(), "<@U1>, <@U2>"),
        ({"*"}, set(), "anyone else"),
        ({"UREQ"}, {"SAPPROVERS"}, "<!subteam^SAPPROVERS>"),
        ({"UREQ"}, set(), "nobody (set APPROVER_USER_IDS)"),
    ],
)
def test_self_approval_says_you_cannot_and_who_can(
    users: set[str], groups: set[str], who_can: str
) -> None:
    """The requester's own Approve is refused in plain words, naming the other approvers."""
    rule = ApprovalPolicy(approvers=frozenset(users), approver_groups=frozenset(groups))

    assert rule.self_approval("UREQ") == (
        f"You cannot approve your own export request. Another approver must decide on it: "
        f"{who_can}. It is still waiting for them; nothing was run."
    )
