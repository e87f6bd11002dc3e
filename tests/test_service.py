"""The use cases with hand-written in-memory fakes: no network, no database.

`ExportService`, `Gatekeeper`, `TaskStatusQuery` and `CommandHistory` are
driven through the ports they are given; every assertion is on what the
fakes saw (and in which order), or on what the user would be shown.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from contextlib import AbstractAsyncContextManager
from datetime import UTC, datetime
from typing import Any, Literal

import pytest

from bot.access import NOT_ALLOWED, AccessControl, AccessPolicy
from bot.domain import blocks
from bot.domain.errors import (
    AccessDenied,
    AuditUnavailable,
    DirectoryUnavailable,
    DuplicateCommand,
    HssError,
    HssOutcomeUnknown,
    InvalidCommand,
    Problem,
)
from bot.domain.grammar import Export, RequestDefaults, parse_command
from bot.domain.model import ExportRequest
from bot.domain.types import (
    Actor,
    Announcement,
    AuditEntry,
    CreatedTask,
    Duplicate,
    Failed,
    Outcome,
    ReplyTo,
    StoredRequest,
    Submitted,
    TaskStatus,
)
from bot.usecases import CommandHistory, ExportService, Gatekeeper, Refused, TaskStatusQuery

ALICE = Actor("T1", "U0ALICE", "C0EXPORTS", "slash")
MALLORY = Actor("T1", "U0MALLORY", "C0RANDOM", "slash")
REPLY = ReplyTo("C0EXPORTS", "https://hooks.slack.invalid/commands/1")
WHEN = datetime(2026, 1, 1, 9, 0, tzinfo=UTC)


def request_for(text: str, default_project: str | None = None) -> ExportRequest:
    """Parse `/hss-export <text>` as the listeners do."""
    command = parse_command(text, RequestDefaults(enterprise_project_id=default_project))
    assert isinstance(command, Export)
    return command.request


class Journal:
    """One ordered record of what every fake was asked, to check the order of events."""

    def __init__(self) -> None:
        self.events: list[tuple[str, Any]] = []

    def kinds(self) -> list[str]:
        """Return the event names in order."""
        return [kind for kind, _ in self.events]


class FakeAudit:
    """An audit log in a list: dedupe keys are unique; `down` makes every write fail."""

    def __init__(self, journal: Journal) -> None:
        self.journal = journal
        self.entries: list[AuditEntry] = []
        self.keys: dict[str, int] = {}
        self.down = False
        self.outcomes_down = False

    async def record_pending(
        self,
        actor: Actor,
        request: dict[str, Any],
        dedupe_key: str | None = None,
        *,
        approved_by: str | None = None,
        awaiting_approval: bool = False,
    ) -> int:
        self.journal.events.append(("audit.pending", request))
        if self.down:
            raise AuditUnavailable("the audit database is unreachable")
        if dedupe_key is not None and dedupe_key in self.keys:
            raise DuplicateCommand(self.keys[dedupe_key])
        entry_id = self._append(actor, request, "pending")
        if dedupe_key is not None:
            self.keys[dedupe_key] = entry_id
        return entry_id

    async def record_outcome(
        self,
        entry_id: int,
        outcome: Outcome,
        *,
        task_id: str | None = None,
        hss_request_id: str | None = None,
        error: str | None = None,
    ) -> None:
        self.journal.events.append(("audit.outcome", (entry_id, outcome)))
        if self.down or self.outcomes_down:
            raise AuditUnavailable("the audit database is unreachable")
        old = self.entries[entry_id - 1]
        self.entries[entry_id - 1] = AuditEntry(
            old.id, old.at, old.team_id, old.user_id, old.channel_id, old.source, old.request,
            outcome, task_id=task_id, hss_request_id=hss_request_id, error=error,
        )  # fmt: skip

    async def record_refusal(
        self,
        actor: Actor,
        outcome: Literal["invalid", "denied"],
        error: str,
        request: dict[str, Any] | None = None,
        *,
        saved_export: str | None = None,
        schedule: str | None = None,
    ) -> int:
        self.journal.events.append(("audit.refusal", (outcome, error)))
        if self.down:
            raise AuditUnavailable("the audit database is unreachable")
        entry_id = self._append(actor, request, outcome)
        old = self.entries[entry_id - 1]
        self.entries[entry_id - 1] = AuditEntry(
            old.id, old.at, old.team_id, old.user_id, old.channel_id, old.source, old.request,
            outcome, error=error,
        )  # fmt: skip
        return entry_id

    async def record_delivery(
        self, entry_id: int, *, delivery: dict[str, Any] | None, error: str | None = None
    ) -> None:
        raise AssertionError("the use cases under test deliver no files")

    async def history(self, user_id: str, limit: int = 10) -> list[AuditEntry]:
        self.journal.events.append(("audit.history", (user_id, limit)))
        if self.down:
            raise AuditUnavailable("the audit database is unreachable")
        return [e for e in reversed(self.entries) if e.user_id == user_id][:limit]

    async def entry_for_task(self, task_id: str) -> AuditEntry | None:
        self.journal.events.append(("audit.entry_for_task", task_id))
        if self.down:
            raise AuditUnavailable("the audit database is unreachable")
        found = [e for e in self.entries if e.task_id == task_id]
        return found[-1] if found else None

    async def entry_with_key(self, dedupe_key: str) -> int | None:
        return self.keys.get(dedupe_key)

    async def aclose(self) -> None:
        return None

    def _append(self, actor: Actor, request: dict[str, Any] | None, outcome: Outcome) -> int:
        entry = AuditEntry(
            len(self.entries) + 1, WHEN, actor.team_id, actor.user_id, actor.channel_id,
            actor.source, StoredRequest.from_record(request), outcome,
        )  # fmt: skip
        self.entries.append(entry)
        return entry.id


class FakeHss:
    """An HSS that hands out task ids, or raises the error it is told to raise next."""

    def __init__(self, journal: Journal) -> None:
        self.journal = journal
        self.created: list[ExportRequest] = []
        self.looked_up: list[tuple[str, str | None]] = []
        self.fail_with: HssError | None = None

    async def create_export_task(self, request: ExportRequest) -> CreatedTask:
        self.journal.events.append(("hss.create", request))
        if self.fail_with is not None:
            raise self.fail_with
        self.created.append(request)
        return CreatedTask(f"task-{len(self.created)}", f"req-{len(self.created)}")

    async def get_export_task(
        self, task_id: str, enterprise_project_id: str | None = None
    ) -> TaskStatus:
        self.looked_up.append((task_id, enterprise_project_id))
        if self.fail_with is not None:
            raise self.fail_with
        return TaskStatus(task_id, "export", "success", "file-1", "containers.xlsx")

    def download(
        self, file_id: str, enterprise_project_id: str | None = None
    ) -> AbstractAsyncContextManager[AsyncIterator[bytes]]:
        raise AssertionError("the use cases under test download nothing")

    async def aclose(self) -> None:
        return None


class FakeNotifier:
    """Remembers what the user would have been told."""

    def __init__(self, journal: Journal) -> None:
        self.journal = journal
        self.submitted: list[Submitted] = []
        self.failed: list[Failed] = []

    async def export_submitted(
        self, reply: ReplyTo, actor: Actor, request: ExportRequest, result: Submitted
    ) -> Announcement | None:
        self.journal.events.append(("notify.submitted", result))
        self.submitted.append(result)
        return Announcement(reply.channel_id, "1700000000.000100")

    async def export_failed(self, reply: ReplyTo, actor: Actor, result: Failed) -> None:
        self.journal.events.append(("notify.failed", result))
        self.failed.append(result)


class FakeFollower:
    """Remembers which tasks it was asked to follow, and where."""

    def __init__(self) -> None:
        self.followed: list[tuple[str, Announcement | None]] = []

    async def follow(
        self,
        result: Submitted,
        actor: Actor,
        request: ExportRequest,
        announcement: Announcement | None,
        *,
        step: str | None = None,
    ) -> None:
        self.followed.append((result.task.task_id, announcement))


class World:
    """The fakes wired to the use cases, as `bootstrap` wires the real adapters."""

    def __init__(self, policy: AccessPolicy | None = None, groups: Any = None) -> None:
        self.journal = Journal()
        self.audit = FakeAudit(self.journal)
        self.hss = FakeHss(self.journal)
        self.notifier = FakeNotifier(self.journal)
        self.follower = FakeFollower()
        self.counted: list[str] = []
        self.service = ExportService(
            self.hss, self.audit, self.notifier, self.follower, count=self.counted.append
        )
        access = AccessControl(policy or AccessPolicy(users=frozenset({ALICE.user_id})), groups)
        self.gate = Gatekeeper(access, self.audit, count=self.counted.append)
        self.status = TaskStatusQuery(self.hss, self.audit, "ep-default")
        self.history = CommandHistory(self.audit)


@pytest.fixture
def world() -> World:
    """Fresh fakes for one test, Alice allowed by user id."""
    return World()


# --- export ---------------------------------------------------------------------------


async def test_the_request_is_on_record_before_hss_is_called(world: World) -> None:
    """Audit pending, then HSS, then the outcome, then the user is told and the task followed."""
    request = request_for("status=running")

    result = await world.service.export(ALICE, request, REPLY, dedupe_key="slash:1")

    assert isinstance(result, Submitted)
    assert world.journal.kinds() == [
        "audit.pending",
        "hss.create",
        "audit.outcome",
        "notify.submitted",
    ]
    assert world.journal.events[0][1] == request.as_audit_record()
    [entry] = world.audit.entries
    assert (entry.outcome, entry.task_id, entry.hss_request_id) == ("submitted", "task-1", "req-1")
    assert entry.request == request.as_audit_record()
    assert world.follower.followed == [("task-1", Announcement("C0EXPORTS", "1700000000.000100"))]
    assert world.counted == ["submitted"]


async def test_hss_is_never_called_when_the_audit_entry_cannot_be_written(world: World) -> None:
    """Audit down: no HSS call, the user is told the export did not start, and why."""
    world.audit.down = True

    result = await world.service.export(ALICE, request_for("status=running"), REPLY)

    assert isinstance(result, Failed)
    assert isinstance(result.error, AuditUnavailable)
    assert result.entry_id is None
    assert world.journal.kinds() == ["audit.pending", "notify.failed"]
    assert world.hss.created == []
    assert "HSS export was not started" in blocks.failed(result.error).text
    assert world.counted == ["failed"]


async def test_same_dedupe_key_twice_calls_hss_once(world: World) -> None:
    """A Slack retry (same key) is a `Duplicate` of the first entry; HSS sees one create."""
    request = request_for("status=running")

    first = await world.service.export(ALICE, request, REPLY, dedupe_key="slash:trigger-1")
    second = await world.service.export(ALICE, request, REPLY, dedupe_key="slash:trigger-1")

    assert isinstance(first, Submitted)
    assert second == Duplicate(first.entry_id)
    assert world.journal.kinds().count("hss.create") == 1
    assert len(world.notifier.submitted) == 1  # the retry tells nobody a second time
    assert world.counted == ["submitted", "duplicate"]


async def test_hss_refusal_is_failed_with_its_code_and_request_id(world: World) -> None:
    """HSS says no: the entry is `failed` with HSS's words; the user sees code and request id."""
    world.hss.fail_with = HssError("filter refused", status=400, code="HSS.1234", request_id="r-9")

    result = await world.service.export(ALICE, request_for("status=running"), REPLY)

    assert isinstance(result, Failed)
    assert result.entry_id == 1
    [entry] = world.audit.entries
    assert (entry.outcome, entry.hss_request_id) == ("failed", "r-9")
    assert entry.error is not None
    assert "HSS.1234" in entry.error
    assert world.notifier.failed == [result]
    message = blocks.failed(result.error, entry_id=result.entry_id)
    told = json.dumps(message.blocks)
    assert "HSS.1234" in told
    assert "r-9" in told
    assert "audit entry #1" in told


async def test_lost_answer_is_unknown_and_the_user_is_told_to_check_first(world: World) -> None:
    """A create whose answer was lost is `unknown`; the user is told to check before retrying."""
    world.hss.fail_with = HssOutcomeUnknown("no answer from HSS in time", request_id="r-7")

    result = await world.service.export(ALICE, request_for("status=running"), REPLY)

    assert isinstance(result, Failed)
    [entry] = world.audit.entries
    assert (entry.outcome, entry.hss_request_id) == ("unknown", "r-7")
    told = blocks.failed(result.error, entry_id=result.entry_id).text
    assert "may have started the export" in told
    assert "before running the command again" in told
    assert world.follower.followed == []


async def test_task_id_still_reaches_the_user_when_the_outcome_is_not_recorded(
    world: World,
) -> None:
    """HSS took it but the outcome write failed: the task id is shown, flagged incomplete."""
    world.audit.outcomes_down = True

    result = await world.service.export(ALICE, request_for("status=running"), REPLY)

    assert isinstance(result, Submitted)
    assert result.audit_complete is False
    [told] = world.notifier.submitted
    assert told.task == result.task
    assert result.announced is not None  # where the task id was shown
    assert world.audit.entries[0].outcome == "pending"  # left for an operator to reconcile


# --- refusals -------------------------------------------------------------------------


async def test_denied_command_is_refused_and_audited_with_its_request(world: World) -> None:
    """Someone not allowed is refused with the reason; the entry is `denied`, request kept."""
    request = request_for("status=running")

    refused = await world.gate.check(MALLORY, request=request)
    assert refused is not None
    entry_id = await world.gate.record(MALLORY, refused)

    assert (refused.outcome, str(refused.error)) == ("denied", NOT_ALLOWED)
    [entry] = world.audit.entries
    assert (entry.id, entry.user_id, entry.outcome, entry.error) == (
        entry_id,
        MALLORY.user_id,
        "denied",
        NOT_ALLOWED,
    )
    assert entry.request == request.as_audit_record()
    assert world.hss.created == []
    assert world.counted == ["denied"]


async def test_access_comes_before_the_commands_own_mistakes(world: World) -> None:
    """A bad command from someone not allowed is `denied`, not `invalid`: no hint at the grammar."""
    invalid = InvalidCommand([Problem("risky", "perhaps", "yes, no")])

    refused = await world.gate.check(MALLORY, invalid=invalid)

    assert refused is not None
    assert refused.outcome == "denied"


async def test_invalid_command_is_audited_with_every_problem(world: World) -> None:
    """An allowed user's bad command is `invalid`, with its problems as the entry's error."""
    invalid = InvalidCommand(
        [Problem("risky", "perhaps", "yes, no"), Problem("status", "x", "running, waiting")]
    )

    refused = await world.gate.check(ALICE, invalid=invalid)
    assert refused == Refused("invalid", invalid)
    await world.gate.record(ALICE, refused)

    [entry] = world.audit.entries
    assert (entry.outcome, entry.request) == ("invalid", None)
    assert entry.error is not None
    assert "`risky`" in entry.error
    assert "`status`" in entry.error
    assert world.counted == ["invalid"]


async def test_allowed_valid_command_is_not_refused(world: World) -> None:
    """An allowed user with a valid command passes the gate and nothing is written."""
    assert await world.gate.check(ALICE, request=request_for("status=running")) is None
    assert world.audit.entries == []


async def test_unreadable_groups_refuse_as_undecided() -> None:
    """Groups that cannot be read refuse the command as undecided, so the form says try again."""

    class Down:
        async def members(self, usergroup_id: str) -> frozenset[str]:
            raise DirectoryUnavailable("ratelimited", passing=True)

    world = World(AccessPolicy(usergroups=frozenset({"S0SEC"})), Down())

    refused = await world.gate.check(ALICE)

    assert refused is not None
    assert (refused.outcome, refused.undecided) == ("denied", True)
    assert isinstance(refused.error, AccessDenied)


async def test_refusal_with_the_audit_log_down_is_still_refused_and_counted(world: World) -> None:
    """No refusal entry can be written: the command is still refused, and counted."""
    world.audit.down = True
    refused = await world.gate.check(MALLORY)
    assert refused is not None

    assert await world.gate.record(MALLORY, refused) is None
    assert world.counted == ["denied"]


# --- status ---------------------------------------------------------------------------


async def test_status_looks_the_task_up_in_its_own_enterprise_project(world: World) -> None:
    """`status TASK` asks HSS in the enterprise project the task was created in, per the log."""
    await world.service.export(ALICE, request_for("enterprise_project_id=ep-prod"), REPLY)

    lookup = await world.status.look_up("task-1")

    assert world.hss.looked_up == [("task-1", "ep-prod")]
    assert lookup.enterprise_project_id == "ep-prod"
    assert lookup.status is not None
    assert lookup.status.file_name == "containers.xlsx"


async def test_status_of_a_task_the_log_does_not_know_uses_the_default_project(
    world: World,
) -> None:
    """A task created elsewhere is looked up in the bot's default enterprise project."""
    await world.status.look_up("task-elsewhere")
    world.audit.down = True
    await world.status.look_up("task-unreadable")

    assert world.hss.looked_up == [
        ("task-elsewhere", "ep-default"),
        ("task-unreadable", "ep-default"),
    ]


async def test_status_of_a_task_sent_without_a_project_asks_hss_default(world: World) -> None:
    """A recorded request that named no enterprise project is looked up without one."""
    world.status = TaskStatusQuery(world.hss, world.audit, None)
    await world.service.export(ALICE, request_for("status=running"), REPLY)

    await world.status.look_up("task-1")

    assert world.hss.looked_up == [("task-1", None)]


async def test_status_with_a_project_given_asks_there_without_reading_the_log(
    world: World,
) -> None:
    """`enterprise_project_id=` in the command wins; the audit log is not consulted."""
    await world.status.look_up("task-9", "ep-given")

    assert world.hss.looked_up == [("task-9", "ep-given")]
    assert "audit.entry_for_task" not in world.journal.kinds()


async def test_status_hss_error_is_returned_with_where_it_looked(world: World) -> None:
    """An HSS error comes back in the lookup (not raised), with the project it asked."""
    world.hss.fail_with = HssError("no such task", status=404, code="HSS.0404")

    lookup = await world.status.look_up("task-404", "ep-x")

    assert (lookup.status, lookup.enterprise_project_id) == (None, "ep-x")
    assert lookup.error is world.hss.fail_with


# --- history --------------------------------------------------------------------------


async def test_history_lists_the_callers_own_exports_and_refusals_newest_first(
    world: World,
) -> None:
    """`history` shows the caller's entries, refusals included, newest first; nobody else's."""
    await world.service.export(ALICE, request_for("status=running"), REPLY)
    refused = await world.gate.check(ALICE, invalid=InvalidCommand([Problem("risky", "x", "yes")]))
    assert refused is not None
    await world.gate.record(ALICE, refused)
    denied = await world.gate.check(MALLORY)
    assert denied is not None
    await world.gate.record(MALLORY, denied)

    entries = await world.history.latest(ALICE)

    assert [(e.outcome, e.task_id) for e in entries] == [("invalid", None), ("submitted", "task-1")]
    assert ("audit.history", (ALICE.user_id, 10)) in world.journal.events


async def test_history_with_the_audit_log_down_raises_its_error(world: World) -> None:
    """An unreadable log raises `AuditUnavailable` for the entry point to explain."""
    world.audit.down = True
    with pytest.raises(AuditUnavailable):
        await world.history.latest(ALICE)


# --- the stored request ---------------------------------------------------------------


@pytest.mark.parametrize(
    ("record", "query", "body", "project"),
    [
        (
            {"query": {"enterprise_project_id": "ep-1"}, "body": {"status": "Running"}},
            {"enterprise_project_id": "ep-1"},
            {"status": "Running"},
            "ep-1",
        ),
        ({"query": {}, "body": {}}, {}, {}, None),
        ({"body": {"status": "Running"}}, {}, {"status": "Running"}, None),  # no query at all
        ({"query": None, "body": None}, {}, {}, None),  # nulls, as an older writer left them
        (
            {"query": {"enterprise_project_id": ""}, "body": {}},
            {"enterprise_project_id": ""},
            {},
            None,
        ),
    ],
)
def test_stored_request_reads_every_shape_the_log_has_held(
    record: dict[str, Any], query: dict[str, Any], body: dict[str, Any], project: str | None
) -> None:
    """A stored request reads old and partial records; it stays equal to the record it came from."""
    stored = StoredRequest.from_record(record)

    assert stored is not None
    assert (dict(stored.query), dict(stored.body), stored.enterprise_project_id) == (
        query,
        body,
        project,
    )
    assert stored == record
    assert stored.as_record() == record


@pytest.mark.parametrize("record", [None, "not a record", 7, ["query", "body"]])
def test_a_record_that_holds_no_request_reads_as_none(record: object) -> None:
    """Null (a refusal without a request) or anything that is not an object reads as no request."""
    assert StoredRequest.from_record(record) is None


def test_stored_request_cannot_be_changed_through_its_view() -> None:
    """Changing the record read back does not change the entry (exports see what was stored)."""
    record = {"query": {"export_size": "5"}, "body": {"status": "Running"}}
    stored = StoredRequest.from_record(record)
    assert stored is not None

    copy = stored.as_record()
    copy["body"]["status"] = "Waiting"

    assert stored.body["status"] == "Running"
    with pytest.raises(TypeError):
        stored.record["query"] = {}  # type: ignore[index]
