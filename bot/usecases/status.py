"""Look up an export task's state at HSS, in the enterprise project it was created in.

HSS finds a task only in its own enterprise project. The audit log knows
which one that was (the request it recorded), so `status TASK_ID` works
without the user repeating it; a task the log does not know (created
elsewhere) is looked up in the bot's default project.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

from bot.domain.errors import AuditUnavailable, HssError
from bot.domain.types import Actor, AuditEntry, TaskStatus
from bot.ports import AuditLog, Hss, HssDirectory
from bot.usecases.refusal import Gatekeeper, Refused

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class TaskLookup:
    """What HSS said of a task (`status`), or why it could not say (`error`), and where it looked.

    `enterprise_project_id` is the project asked (None: HSS's default). `refused`: the
    caller may not use the profile the task was created under, so HSS was not asked
    (the refusal is on record).
    """

    task_id: str
    enterprise_project_id: str | None
    status: TaskStatus | None = None
    error: HssError | None = None
    refused: Refused | None = None


class TaskStatusQuery:
    """Answer `status TASK_ID [enterprise_project_id=…]`."""

    def __init__(
        self,
        hss: Hss,
        audit: AuditLog,
        default_project: str | None,
        *,
        gate: Gatekeeper | None = None,
    ) -> None:
        self._hss = hss
        self._audit = audit
        self._default_project = default_project
        self._gate = gate

    async def look_up(
        self, task_id: str, enterprise_project_id: str | None = None, *, actor: Actor | None = None
    ) -> TaskLookup:
        """Ask HSS for a task's state, in the enterprise project given or the task's own.

        The call goes to the profile the task was created under (per the audit log).
        With an `actor` (and a gate), that profile's allow lists must let the actor
        through first, as for a new export under it; a refusal is audited and HSS
        is not asked.
        """
        hss = self._hss
        profiles = isinstance(hss, HssDirectory)
        # The log is read only when it has something to say: the project, or the profile.
        needed = enterprise_project_id is None or profiles
        entry = await self._entry(task_id) if needed else None
        project = enterprise_project_id
        if project is None:
            project = self._project_in(entry)
        if isinstance(hss, HssDirectory):
            profile = entry.request.profile if entry and entry.request else None
            refused = await self._refusal(actor, profile, task_id)
            if refused is not None:
                return TaskLookup(task_id, project, refused=refused)
            try:
                hss = hss.for_profile(profile)
            except HssError as exc:
                return TaskLookup(task_id, project, error=exc)
        try:
            status = await hss.get_export_task(task_id, project)
        except HssError as exc:
            return TaskLookup(task_id, project, error=exc)
        return TaskLookup(task_id, project, status=status)

    async def project_of(self, task_id: str) -> str | None:
        """Return the enterprise project a task was created in, per the audit log, else the default.

        A recorded request without `enterprise_project_id` was sent to HSS's
        default project, so that is where its task is (None).
        """
        return self._project_in(await self._entry(task_id))

    async def _refusal(
        self, actor: Actor | None, profile: str | None, task_id: str
    ) -> Refused | None:
        """Return the refusal of `actor` using `profile` (recorded), or None if they may."""
        if actor is None or self._gate is None:
            return None
        why = f"Task {task_id} was created under it."
        refused = await self._gate.may_use_profile(actor, profile, why)
        if refused is not None:
            await self._gate.record(actor, refused)
        return refused

    async def _entry(self, task_id: str) -> AuditEntry | None:
        try:
            return await self._audit.entry_for_task(task_id)
        except AuditUnavailable:
            log.warning("audit log unreadable; using the default enterprise project and profile")
            return None

    def _project_in(self, entry: AuditEntry | None) -> str | None:
        if entry is None or entry.request is None:
            return self._default_project
        return entry.request.enterprise_project_id
