"""The Workflow Builder step `hss_container_export` end to end: signed events into the real bot.

Each test sends the `function_executed` event Slack sends when a workflow
reaches the step (shaped like bolt-python's own test payload, with the
function's definition read from `manifest.yml`) into the bot as `serve` wires
it, and asserts what Slack is told (`functions.completeSuccess` or
`completeError`, with which token), what HSS received and what the audit log holds.
"""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import pytest
import yaml
from e2e_harness import ALICE, EXPORTS, Bot, running_bot, wait_for

from bot.tracking.model import TrackedTask
from emulators.fake_hss import FakeHss
from emulators.fake_slack import MANIFEST, FakeSlack, StepCompletion

BOB = "U0BOB"  # allowed nowhere
STEP = yaml.safe_load(MANIFEST.read_text(encoding="utf-8"))["functions"]["hss_container_export"]


def step_event(bot: Bot, inputs: dict[str, Any], **kwargs: Any) -> Any:
    """Build the signed event of one step execution, as Slack sends it."""
    return bot.slack.function_executed(
        inputs, function={"callback_id": "hss_container_export", **STEP}, **kwargs
    )


def inputs(**values: Any) -> dict[str, Any]:
    """Return the inputs of a workflow run by Alice, delivering to #exports."""
    return {"user_id": ALICE, "channel_id": EXPORTS, **values}


async def completed(bot: Bot, execution_id: str, seconds: float = 15.0) -> StepCompletion:
    """Wait until the step execution was completed (or failed); return that one call."""
    await wait_for(lambda: bool(bot.slack.completions_of(execution_id)), seconds)
    (completion,) = bot.slack.completions_of(execution_id)
    return completion


async def settled_tasks(bot: Bot, seconds: float = 15.0) -> list[TrackedTask]:
    """Wait until every tracked task is settled (nothing left to do); return them."""
    deadline = asyncio.get_running_loop().time() + seconds
    while True:
        tasks = await bot.runtime.tasks.list_tasks()
        if all(t.settled for t in tasks) or asyncio.get_running_loop().time() > deadline:
            return tasks
        await asyncio.sleep(0.05)


def sorted_files(folder: Path, pattern: str) -> list[Path]:
    """Return the files matching `pattern` in `folder` (the database and its WAL), sorted."""
    return sorted(folder.glob(pattern))


def execution_of(bot: Bot) -> str:
    """Return the id of the newest execution the fake started."""
    return list(bot.slack._executions)[-1]


async def test_step_exports_once_and_completes_with_task_id_and_permalink(
    tmp_path: Path, fake_hss: FakeHss
) -> None:
    """A step run exports once to its channel, then completes with task id, file name, permalink."""
    async with running_bot(tmp_path, fake_hss) as bot:
        delivery = await bot.send(step_event(bot, inputs(status="running", risky=True)))
        execution = execution_of(bot)
        completion = await completed(bot, execution)
        entries = await bot.entries()

    assert delivery.status == 200
    assert not delivery.timed_out
    (create,) = fake_hss.calls_for("create")
    assert create.body["status"] == "Running"
    assert create.body["risky"] is True
    (file,) = bot.slack.files
    assert file.channel_id == EXPORTS
    assert completion.method == "functions.completeSuccess"
    assert completion.token == "bot"  # the event's workflow token is never kept for later
    task_id = entries[0].task_id
    thread = (file.thread_ts or "").replace(".", "")
    assert completion.outputs == {
        "task_id": task_id,
        "file_name": file.filename,
        "permalink": f"https://fake.slack.com/archives/{EXPORTS}/p{thread}",
    }
    (entry,) = entries
    assert (entry.source, entry.user_id, entry.channel_id) == ("workflow", ALICE, EXPORTS)
    assert entry.outcome == "submitted"
    assert entry.delivery is not None
    assert entry.delivery["file_name"] == file.filename


async def test_filters_text_and_inputs_merge_into_one_request(
    tmp_path: Path, fake_hss: FakeHss
) -> None:
    """The `filters` text (slash syntax) and the per-key inputs make one request together."""
    async with running_bot(tmp_path, fake_hss) as bot:
        await bot.send(
            step_event(bot, inputs(filters="status=running cluster_type=cce", risky=False))
        )
        await completed(bot, execution_of(bot))

    (create,) = fake_hss.calls_for("create")
    assert (create.body["status"], create.body["cluster_type"], create.body["risky"]) == (
        "Running",
        "cce",
        False,
    )


@pytest.mark.parametrize(
    ("given", "named"),
    [
        ({"status": "sleeping"}, "`status`: got 'sleeping'"),
        ({"filters": "status=running", "status": "waiting"}, "`status`"),
        ({"filters": "stauts=running"}, "did you mean `status`?"),
        ({"export_size": "0"}, "`export_size`"),
    ],
)
async def test_bad_inputs_fail_the_step_naming_the_key(
    tmp_path: Path, fake_hss: FakeHss, given: dict[str, Any], named: str
) -> None:
    """Bad inputs fail the step with the slash user's message, naming the key; HSS gets nothing."""
    async with running_bot(tmp_path, fake_hss) as bot:
        await bot.send(step_event(bot, inputs(**given)))
        completion = await completed(bot, execution_of(bot))
        entries = await bot.entries()

    assert completion.method == "functions.completeError"
    assert completion.error is not None
    assert named in completion.error
    assert "I could not run that command" in completion.error
    assert fake_hss.calls_for("create") == []
    (entry,) = entries
    assert (entry.source, entry.outcome) == ("workflow", "invalid")


async def test_a_key_given_twice_is_named_with_both_values(
    tmp_path: Path, fake_hss: FakeHss
) -> None:
    """A key both in `filters` and as its own input is refused, showing both values."""
    async with running_bot(tmp_path, fake_hss) as bot:
        await bot.send(step_event(bot, inputs(filters="risky=yes", risky=False)))
        completion = await completed(bot, execution_of(bot))

    assert completion.error is not None
    assert "`risky`" in completion.error
    assert "each key at most once" in completion.error
    assert "risky=yes" in completion.error
    assert "false" in completion.error


async def test_missing_user_input_fails_saying_how_to_set_it(
    tmp_path: Path, fake_hss: FakeHss
) -> None:
    """A step whose `user_id` input is unset fails, saying to map it to the workflow's user."""
    async with running_bot(tmp_path, fake_hss) as bot:
        await bot.send(step_event(bot, {"channel_id": EXPORTS, "status": "running"}))
        completion = await completed(bot, execution_of(bot))
        entries = await bot.entries()

    assert completion.error is not None
    assert "`user_id`" in completion.error
    assert "Person who used this workflow" in completion.error
    assert fake_hss.calls_for("create") == []
    assert [e.outcome for e in entries] == ["invalid"]


async def test_denied_user_fails_the_step_and_is_audited(tmp_path: Path, fake_hss: FakeHss) -> None:
    """A workflow run for a user who may not export fails the step; the refusal is on record."""
    async with running_bot(tmp_path, fake_hss) as bot:  # only #exports may export
        await bot.send(
            step_event(bot, {"user_id": BOB, "channel_id": "C0OTHER", "status": "running"})
        )
        completion = await completed(bot, execution_of(bot))
        entries = await bot.entries()

    assert completion.method == "functions.completeError"
    assert completion.error is not None
    assert "You may not run HSS exports" in completion.error
    assert fake_hss.calls_for("create") == []
    (entry,) = entries
    assert (entry.source, entry.user_id, entry.outcome) == ("workflow", BOB, "denied")
    assert entry.request is not None  # what was asked for is on record with the refusal
    assert entry.request.body["status"] == "Running"


async def test_an_export_the_two_person_rule_holds_fails_the_step(
    tmp_path: Path, fake_hss: FakeHss
) -> None:
    """A step cannot skip the approval a slash command would wait for: it fails, on record."""
    rule = {"APPROVAL_REQUIRED_FOR": ("always",), "APPROVER_USER_IDS": ("U0SECLEAD",)}
    async with running_bot(tmp_path, fake_hss, **rule) as bot:
        await bot.send(step_event(bot, inputs(status="running")))
        completion = await completed(bot, execution_of(bot))
        entries = await bot.entries()

    assert completion.method == "functions.completeError"
    assert completion.error is not None
    assert "needs a second person's approval" in completion.error
    assert "/hss-export" in completion.error
    assert fake_hss.calls_for("create") == []
    (entry,) = entries
    assert (entry.source, entry.user_id, entry.outcome) == ("workflow", ALICE, "denied")


async def test_slack_retries_of_the_event_export_once(tmp_path: Path, fake_hss: FakeHss) -> None:
    """The same event delivered three times (Slack retries) runs one export and completes once."""
    async with running_bot(tmp_path, fake_hss) as bot:
        first = step_event(bot, inputs(status="running"), event_id="Ev0RETRY")
        execution = execution_of(bot)
        again = step_event(
            bot, inputs(status="running"), execution_id=execution, event_id="Ev0RETRY"
        )
        retries = [again.with_headers(**{"X-Slack-Retry-Num": str(n)}) for n in (1, 2)]
        await asyncio.gather(bot.send(first), *(bot.send(r) for r in retries))
        await completed(bot, execution)
        await bot.settle()
        entries = await bot.entries()

    assert len(fake_hss.calls_for("create")) == 1
    assert len(bot.slack.files) == 1
    assert len(bot.slack.completions_of(execution)) == 1
    assert [e.outcome for e in entries] == ["submitted"]


async def test_hss_failure_of_the_task_fails_the_step_with_the_reason(
    tmp_path: Path, fake_hss: FakeHss
) -> None:
    """A task HSS ends in failure fails the step, saying it delivered no file and why."""
    fake_hss.outcome = "failure"
    async with running_bot(tmp_path, fake_hss) as bot:
        await bot.send(step_event(bot, inputs(status="running")))
        completion = await completed(bot, execution_of(bot))
        entries = await bot.entries()

    assert completion.method == "functions.completeError"
    assert completion.error is not None
    assert entries[0].task_id is not None
    assert entries[0].task_id in completion.error
    assert "delivered no file" in completion.error
    assert bot.slack.files == []


async def test_restart_between_event_and_delivery_completes_the_step_once(
    tmp_path: Path, fake_hss: FakeHss
) -> None:
    """A bot stopped before the file is delivered leaves the step to the next start: done once."""
    fake_hss.hang_next(op="download", seconds=30)
    db = f"sqlite:///{tmp_path / 'audit.db'}"
    slack = FakeSlack()
    async with running_bot(tmp_path, fake_hss, slack=slack, audit_db_url=db) as first:
        await first.send(step_event(first, inputs(status="running")))
        execution = execution_of(first)
        await wait_for(lambda: bool(fake_hss.calls_for("download")))
        tasks = await first.runtime.tasks.list_tasks()
    assert slack.completions_of(execution) == []  # stopped mid-download: nothing completed yet
    async with running_bot(tmp_path, fake_hss, slack=slack, audit_db_url=db) as second:
        completion = await completed(second, execution)
        stored = await settled_tasks(second)

    (task,) = tasks
    assert task.step_execution_id == execution
    assert not task.step_done
    assert completion.method == "functions.completeSuccess"
    assert completion.outputs["task_id"] == task.task_id
    assert len(slack.files) == 1
    assert [(t.step_done, t.settled) for t in stored] == [(True, True)]
    assert len(fake_hss.calls_for("create")) == 1


async def test_no_workflow_token_reaches_the_database(tmp_path: Path, fake_hss: FakeHss) -> None:
    """The event's workflow token (xwfp-…) is in neither the audit log nor the task store."""
    async with running_bot(tmp_path, fake_hss) as bot:
        await bot.send(step_event(bot, inputs(status="running")))
        await completed(bot, execution_of(bot))
        token = bot.slack._executions[execution_of(bot)].token

    raw = b"".join(path.read_bytes() for path in sorted_files(tmp_path, "audit.db*"))
    assert token.encode() not in raw
    assert b"xwfp-" not in raw


async def test_slack_down_at_completion_completes_the_step_later_once(
    tmp_path: Path, fake_hss: FakeHss
) -> None:
    """Slack failing the completion call is retried by the tracker: one completion in the end."""
    async with running_bot(tmp_path, fake_hss) as bot:
        bot.slack.fail("functions.completeSuccess", status=503, times=3)
        await bot.send(step_event(bot, inputs(status="running")))
        execution = execution_of(bot)
        completion = await completed(bot, execution, seconds=30)
        stored = await settled_tasks(bot)

    assert completion.method == "functions.completeSuccess"
    assert len(bot.slack.completions_of(execution)) == 1
    assert [(t.step_done, t.settled) for t in stored] == [(True, True)]


async def test_step_slack_no_longer_runs_settles_the_task(
    tmp_path: Path, fake_hss: FakeHss
) -> None:
    """A step Slack already ended (timed out) is not retried forever: the task settles."""
    async with running_bot(tmp_path, fake_hss) as bot:
        bot.slack.fail("functions.completeSuccess", "execution_not_in_running_state")
        await bot.send(step_event(bot, inputs(status="running")))
        await wait_for(lambda: bool(bot.slack.calls_to("functions.completeSuccess")))
        await wait_for(lambda: len(bot.slack.files) == 1)
        stored = await settled_tasks(bot)

    assert [(t.step_done, t.settled) for t in stored] == [(True, True)]
    assert len(bot.slack.calls_to("functions.completeSuccess")) == 1
