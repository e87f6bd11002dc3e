"""Decide whether a command may run, and put every refusal on record.

The one place that turns who, from where and what into a verdict: access
first (`AccessControl`, bounded in time), then the command's own validity. A
refused command is audited as `invalid` or `denied`, with the request when
there is one, and counted. Callers answer the user only once the refusal is
on record (`record_then_answer`), so the user's `history` that follows the
answer lists it, on whichever replica it runs.
"""

from __future__ import annotations

import asyncio
import functools
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any, Literal

from bot.access import AccessControl, ApprovalPolicy, ProfileAccess
from bot.domain import blocks
from bot.domain.blocks import Message
from bot.domain.errors import AccessDenied, AuditUnavailable, InvalidCommand, Problem
from bot.domain.model import ExportQuery, ExportRequest, HssTarget
from bot.domain.types import Actor
from bot.ports import AuditLog
from bot.profiles.model import Profile
from bot.usecases.export import Count, ignore_count

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Refused:
    """A command that will not run, and why; the error's text is safe to show and audit.

    `undecided`: denied only because the user groups could not be read in time.
    `saved_export`/`schedule`: where the command came from (issue 15), on record even
    when no request could be built (stored fields that no longer parse).
    """

    outcome: Literal["invalid", "denied"]
    error: AccessDenied | InvalidCommand
    request: ExportRequest | None = None
    undecided: bool = False
    saved_export: str | None = None
    schedule: str | None = None


class Gatekeeper:
    """Admit or refuse commands; record each refusal in the audit log."""

    def __init__(
        self,
        access: AccessControl,
        audit: AuditLog,
        *,
        count: Count = ignore_count,
        profiles: ProfileAccess | None = None,
    ):
        self._access = access
        self._audit = audit
        self._count = count
        self._profiles = profiles

    @property
    def access(self) -> AccessControl:
        """The access policy it asks (approvals ask the same one who may approve)."""
        return self._access

    async def check(
        self,
        actor: Actor,
        *,
        request: ExportRequest | None = None,
        invalid: InvalidCommand | None = None,
    ) -> Refused | None:
        """Return why `actor` may not run this command, or None if it may.

        Access comes first: someone who may not export learns nothing about
        their command's mistakes. `request` is what the command asks for, if it
        parsed; `invalid` lists its problems, if it did not.
        """
        verdict = await self.admit(actor, request=request, invalid=invalid)
        return verdict if isinstance(verdict, Refused) else None

    async def admit(
        self,
        actor: Actor,
        *,
        request: ExportRequest | None = None,
        invalid: InvalidCommand | None = None,
    ) -> Refused | ExportRequest | None:
        """Like `check`, but return the request resolved to its profile when it may run.

        The request that may run carries its profile's name and target (region,
        project id, endpoint) and, when it names none, the profile's default
        enterprise project. Without profiles configured it is returned as it is.
        """
        decision = await self._access.check(actor.user_id, actor.channel_id)
        if not decision.allowed:
            return Refused("denied", AccessDenied(decision.reason), request, decision.undecided)
        if invalid is not None:
            return Refused("invalid", invalid)
        if request is None or self._profiles is None:
            return request
        verdict = await self._profiles.choose(request.profile, actor.user_id, actor.channel_id)
        if verdict.profile is not None:
            return resolved(request, verdict.profile)
        if verdict.outcome == "invalid":
            accepted = ", ".join(verdict.usable) or "a profile you may use (none here)"
            problem = Problem("profile", request.profile, accepted, verdict.reason)
            return Refused("invalid", InvalidCommand([problem]), request)
        return Refused("denied", AccessDenied(verdict.reason), request, verdict.undecided)

    def held_back(self, request: ExportRequest, cannot_wait: str) -> Refused | None:
        """Refuse a request the two-person rule holds where nobody can wait for an approver.

        For what runs unattended (a Workflow step, a schedule): see `held_back`.
        """
        return held_back(self._access.approvals, request, cannot_wait)

    async def may_use_profile(self, actor: Actor, name: str | None, why: str) -> Refused | None:
        """Return why `actor` may not use the profile `name` here (its allow lists), or None.

        For what works on something already made under a profile (`status` of its
        task): the global lists have passed; the profile's own must pass too. `why`
        names that thing in the refusal. A name no profile has (or none) is no
        refusal: the lookup that follows says the profile is gone.
        """
        if name is None or self._profiles is None:
            return None
        profile = self._profiles.profiles.get(name)
        if profile is None:
            return None
        decision = await self._profiles.may_use(profile, actor.user_id, actor.channel_id)
        if decision.allowed:
            return None
        reason = decision.reason if decision.undecided else f"{decision.reason} {why}"
        return Refused("denied", AccessDenied(reason), undecided=decision.undecided)

    async def usable_profiles(self, actor: Actor) -> list[Profile]:
        """Return the profiles this actor may use here (none without profiles configured)."""
        if self._profiles is None:
            return []
        names = await self._profiles.usable(actor.user_id, actor.channel_id)
        found = (self._profiles.profiles.get(name) for name in names)
        return [p for p in found if p is not None]

    def profile_for_channel(self, channel_id: str) -> str | None:
        """Return the name of the profile a command in this channel goes to by default."""
        if self._profiles is None:
            return None
        profile = self._profiles.profiles.for_channel(channel_id)
        return None if profile is None else profile.name

    @property
    def several_profiles(self) -> bool:
        """Tell whether requests may go to more than one HSS account (profile)."""
        return self._profiles is not None and len(self._profiles.profiles.names) > 1

    @property
    def default_profile(self) -> str | None:
        """Return the profile of channels no profile maps (HSS_DEFAULT_PROFILE or the only one)."""
        return None if self._profiles is None else self._profiles.profiles.default_name

    async def refuse(
        self, actor: Actor, refused: Refused, reply: Reply | None, said: Message | None = None
    ) -> Message:
        """Put `refused` on record, then say why (`said`, else `refusal_message`); return it.

        Said through `reply` when given (Slack's ack), by its deadline (`record_then_answer`).
        """
        said = said or refusal_message(refused)
        if reply is None:
            await self.record(actor, refused)
        else:
            answer = functools.partial(reply.answer, said)
            await record_then_answer(self, actor, refused, answer, deadline=reply.deadline)
        return said

    async def record(self, actor: Actor, refused: Refused) -> int | None:
        """Audit a refusal (and count it); return its entry id, or None if it was not written."""
        self._count(refused.outcome)
        record = refused.request.as_audit_record() if refused.request is not None else None
        try:
            return await self._audit.record_refusal(
                actor,
                refused.outcome,
                str(refused.error),
                record,
                saved_export=refused.saved_export,
                schedule=refused.schedule,
            )
        except AuditUnavailable:
            log.error("refusal not recorded", extra={"outcome": refused.outcome})
            return None


def held_back(policy: ApprovalPolicy, request: ExportRequest, cannot_wait: str) -> Refused | None:
    """Refuse `request` if the two-person rule holds it and nothing can wait for an approver.

    Running it would let a workflow or a schedule skip the rule; holding it would
    leave it waiting for nobody. `cannot_wait` says what cannot wait and what to
    do instead ("a Workflow step cannot wait for one: …").
    """
    reasons = policy.needs_approval(request)
    if not reasons:
        return None
    why = f"this export needs a second person's approval ({'; '.join(reasons)}), and {cannot_wait}"
    return Refused("denied", AccessDenied(why), request)


def resolved(request: ExportRequest, profile: Profile) -> ExportRequest:
    """Return `request` bound to `profile`: its name, target and default enterprise project."""
    query = request.query
    if query.enterprise_project_id is None and profile.enterprise_project_id is not None:
        query = ExportQuery(
            enterprise_project_id=profile.enterprise_project_id, export_size=query.export_size
        )
    target = HssTarget(
        region=profile.region, project_id=profile.project_id, endpoint=profile.endpoint
    )
    return request.model_copy(update={"profile": profile.name, "target": target, "query": query})


@dataclass(frozen=True)
class Reply:
    """Where a refusal is said before Slack's ack is due: `answer(message)` by `deadline`."""

    answer: Callable[[Message], Awaitable[None]]
    deadline: float | None  # event-loop time; None: no ack waits (the entry, then the answer)


def refusal_message(refused: Refused) -> Message:
    """Render a refusal: the problems of an invalid command, or why access was denied."""
    if isinstance(refused.error, InvalidCommand):
        return blocks.problems(refused.error)
    return blocks.refusal(str(refused.error))


async def done_by(work: asyncio.Future[Any], deadline: float | None) -> bool:
    """Wait for `work` until `deadline` (event-loop time; None: until it ends); True if it ended.

    The one bounded wait before Slack's ack: `work` goes on either way, so a caller
    says what it can by the deadline, then awaits the rest.
    """
    remaining = None if deadline is None else max(0.0, deadline - asyncio.get_running_loop().time())
    done, _ = await asyncio.wait({work}, timeout=remaining)
    return bool(done)


async def record_then_answer(
    gate: Gatekeeper,
    actor: Actor,
    refused: Refused,
    answer: Callable[[], Awaitable[None]],
    *,
    deadline: float | None,
) -> None:
    """Audit `refused`, by `deadline` (event-loop time) at the latest, then `answer()`.

    Why this order: a user who reads the refusal and types `history` must find
    it there, whichever replica serves the `history` (they share one database,
    so a committed entry is visible to all). Recording after the answer (as the
    bot once did) let a quick `history` miss it. The wait is bounded by the
    listener's deadline for what comes before Slack's ack (3 s): an audit log
    slower than that does not cost the user Slack's timeout; the answer goes
    out, the entry follows (awaited here still), and a warning says the order
    slipped. No `deadline` (the answer is not an ack): the entry, then the answer.
    """
    recording = asyncio.ensure_future(gate.record(actor, refused))
    if not await done_by(recording, deadline):
        log.warning(
            "refusal answered before it was on record (the audit log is slow)",
            extra={"outcome": refused.outcome},
        )
    await answer()
    await recording
