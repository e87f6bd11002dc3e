"""The two-person rule as pure rules: which exports need an approver, which are broad.

`APPROVAL_REQUIRED_FOR` is a comma list of conditions; any one that matches
makes an export wait for an approver. `parse_conditions` turns the setting into
typed conditions (an unknown one is named, with the accepted ones listed), and
`matched` says, in words, which of them a request meets. `is_broad` is the
lighter check behind `CONFIRM_BROAD_EXPORTS`: no filter at all, or every
enterprise project granted to the account. No I/O, no Slack: tested as a table.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Final

from bot.domain.model import EXPORT_SIZE_MAX, ExportRequest

ALL_GRANTED_EPS: Final = "all_granted_eps"
ACCEPTED_CONDITIONS: Final = (
    "all_granted_eps, export_size_over:N (N a whole number >= 0), no_filter, profile:NAME, always"
)


@dataclass(frozen=True)
class AllGrantedEps:
    """The request names every enterprise project granted to the service account."""

    def words(self) -> str:
        """Say the condition as a person reads it."""
        # No brackets: the reasons are shown inside brackets ("needs approval by @x (…)").
        return "it covers all enterprise projects"


@dataclass(frozen=True)
class ExportSizeOver:
    """The request may export more than `limit` containers (no export_size: up to 100000)."""

    limit: int

    def words(self) -> str:
        """Say the condition as a person reads it."""
        return f"it may export more than {self.limit} containers"


@dataclass(frozen=True)
class NoFilter:
    """The body holds no filter at all (only the export headers)."""

    def words(self) -> str:
        """Say the condition as a person reads it."""
        return "it has no filter"


@dataclass(frozen=True)
class Profile:
    """The request runs under the named profile."""

    name: str

    def words(self) -> str:
        """Say the condition as a person reads it."""
        return f"it uses profile {self.name}"


@dataclass(frozen=True)
class Always:
    """Every export needs an approver."""

    def words(self) -> str:
        """Say the condition as a person reads it."""
        return "every export needs approval here"


Condition = AllGrantedEps | ExportSizeOver | NoFilter | Profile | Always


def parse_conditions(entries: Iterable[str]) -> tuple[tuple[Condition, ...], list[str]]:
    """Read `APPROVAL_REQUIRED_FOR`'s entries; return the conditions and one problem per bad one."""
    found: list[Condition] = []
    problems: list[str] = []
    for raw in entries:
        entry = raw.strip()
        name, sep, arg = entry.partition(":")
        condition: Condition | None = None
        if not sep and name == "all_granted_eps":
            condition = AllGrantedEps()
        elif not sep and name == "no_filter":
            condition = NoFilter()
        elif not sep and name == "always":
            condition = Always()
        elif sep and name == "export_size_over" and arg.isascii() and arg.isdecimal():
            condition = ExportSizeOver(int(arg))
        elif sep and name == "profile" and arg.strip():
            condition = Profile(arg.strip())
        if condition is None:
            problems.append(
                f"APPROVAL_REQUIRED_FOR: unknown condition {entry!r}; accepted: "
                f"{ACCEPTED_CONDITIONS}"
            )
        elif condition not in found:
            found.append(condition)
    return tuple(found), problems


def has_no_filter(request: ExportRequest) -> bool:
    """Tell whether the body filters nothing: every container of the project(s) goes out."""
    return all(
        getattr(request.body, name) is None
        for name in type(request.body).model_fields
        if name != "export_headers"
    )


def covers_all_projects(request: ExportRequest) -> bool:
    """Tell whether the request names `all_granted_eps`."""
    return request.query.enterprise_project_id == ALL_GRANTED_EPS


def _meets(condition: Condition, request: ExportRequest, profile: str | None) -> bool:
    match condition:
        case Always():
            return True
        case AllGrantedEps():
            return covers_all_projects(request)
        case NoFilter():
            return has_no_filter(request)
        case ExportSizeOver(limit=limit):
            size = request.query.export_size
            return (EXPORT_SIZE_MAX if size is None else size) > limit
        case Profile(name=name):
            return profile == name


def matched(
    conditions: Iterable[Condition], request: ExportRequest, profile: str | None = None
) -> tuple[str, ...]:
    """Return, in words, each condition the request meets (empty: no approval needed)."""
    return tuple(c.words() for c in conditions if _meets(c, request, profile))


def is_broad(request: ExportRequest) -> bool:
    """Tell whether the export deserves a confirmation: no filter, or all enterprise projects."""
    return has_no_filter(request) or covers_all_projects(request)
