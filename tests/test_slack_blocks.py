"""Block Kit rendering, pure: what each message says, within Slack's limits, user text escaped."""

from __future__ import annotations

import dataclasses
from datetime import UTC, datetime
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bot.domain import blocks, history_messages, task_messages
from bot.domain.blocks import Message
from bot.domain.errors import BotError, HssError, InvalidCommand, Problem
from bot.domain.grammar import help_text, parse_command
from bot.domain.model import HEADER_KEYS, default_headers
from bot.domain.types import AuditEntry, Outcome, Source, TaskStatus

ALL_HEADERS = [list(pair) for pair in default_headers()]


def _texts(message: Message) -> list[str]:
    found: list[str] = []
    for block in message.blocks:
        if "text" in block:
            found.append(block["text"]["text"])
        found += [e["text"] for e in block.get("elements", ())]
    return found


def _assert_within_limits(message: Message) -> None:
    """Assert Slack's message limits: 50 blocks, 3000 per section, 2000 per context, 40k text."""
    assert len(message.text) <= 40_000
    assert message.text.strip()
    assert len(message.blocks) <= 50
    for block in message.blocks:
        if block["type"] == "section":
            assert 0 < len(block["text"]["text"]) <= 3000
        if block["type"] == "context":
            assert len(block["elements"]) <= 10
            assert all(len(e["text"]) <= 2000 for e in block["elements"])


@pytest.mark.parametrize(
    ("record", "summary"),
    [
        (None, "no request"),
        ({"query": {}, "body": {"export_headers": ALL_HEADERS}}, "all containers; all 16 columns"),
        (
            {
                "query": {"export_size": "500"},
                "body": {"risky": True, "cluster_container": False, "export_headers": [["a", "A"]]},
            },
            "cluster_container=no, risky=yes; 1 column, up to 500 rows",
        ),
        (
            {
                "query": {"enterprise_project_id": "all_granted_eps"},
                "body": {
                    "create_time": {"start_time": 1714521600000, "end_time": 1717199999999},
                    "export_headers": ALL_HEADERS,
                },
            },
            "created 2024-05-01 00:00 UTC → 2024-05-31 23:59 UTC; all 16 columns, "
            "enterprise project all_granted_eps",
        ),
        (
            {"query": {}, "body": {"cluster_name": "<!channel> & co", "export_headers": []}},
            "cluster_name=&lt;!channel&gt; &amp; co; 0 columns",
        ),
        (
            {"query": {}, "body": {"pod_name": "p" * 100, "export_headers": ALL_HEADERS}},
            f"pod_name={'p' * 39}…; all 16 columns",
        ),
    ],
    ids=["none", "everything", "booleans-size", "window-project", "escaped", "clipped"],
)
def test_summary_is_one_line_of_the_filters(record: dict[str, Any] | None, summary: str) -> None:
    """The one-line summary names each filter, escapes user text and clips long values."""
    assert blocks.summarize(record) == summary
    assert "\n" not in blocks.summarize(record)


def test_submitted_message_carries_task_id_requester_and_summary() -> None:
    """The channel message text alone says which task, who asked and for what."""
    record = {"query": {}, "body": {"status": "Running", "export_headers": ALL_HEADERS}}

    message = blocks.submitted(user_id="U1", record=record, task_id="t-1", request_id="r-9")

    assert message.text == (
        "HSS export task t-1 requested by <@U1>: status=Running; all 16 columns"
    )
    shown = "\n".join(_texts(message))
    assert "`t-1`" in shown
    assert "r-9" in shown
    _assert_within_limits(message)


def test_submitted_message_warns_when_the_audit_outcome_is_missing() -> None:
    """If the audit log missed the outcome, the message says an operator must check."""
    record = {"query": {}, "body": {"export_headers": ALL_HEADERS}}

    message = blocks.submitted(user_id="U1", record=record, task_id="t", audit_complete=False)

    assert any("audit log could not record" in t for t in _texts(message))


def test_failure_shows_hss_code_and_request_id() -> None:
    """A failed export names HSS's error code and request id."""
    error = HssError("HSS refused the request", status=400, code="HSS.1234", request_id="req-7")

    message = blocks.failed(error, entry_id=12)

    assert "HSS.1234" in message.text
    assert "req-7" in message.text
    assert "audit entry #12" in "\n".join(_texts(message))


def test_problems_are_all_listed() -> None:
    """Every problem of an invalid command appears, with the count."""
    error = InvalidCommand([Problem("status", "x", "Running, …"), Problem("risky", "y", "yes")])

    message = blocks.problems(error)

    assert message.text.startswith("I could not run that command: 2 problems")
    shown = "\n".join(_texts(message))
    assert "`status`" in shown
    assert "`risky`" in shown
    assert "Nothing was sent to HSS" in shown


@pytest.mark.parametrize(
    "message",
    [
        blocks.help_message(help_text()),
        blocks.help_message("line\n" * 2000),
        blocks.preview({"body": {"pod_name": "x" * 9000}}),
        blocks.problems(InvalidCommand([Problem("k", "v" * 500, "a" * 500)] * 30)),
    ],
    ids=["help", "long-help", "large-preview", "many-problems"],
)
def test_long_messages_are_split_within_slack_limits(message: Message) -> None:
    """Texts are split into sections of at most 3000 characters."""
    _assert_within_limits(message)
    assert len(message.blocks) >= 1


# Texts from empty to far past every limit, with characters that escaping lengthens.
_text = st.text(max_size=40) | st.integers(0, 6000).map(lambda n: "<&" * n)
_problem = st.builds(
    Problem,
    key=_text,
    given=st.none() | _text,
    accepted=_text,
    hint=st.none() | _text,
)
# A few distinct problems, repeated up to 200 times: lists of up to 4000 stay cheap to build.
_problems = st.tuples(st.lists(_problem, max_size=20), st.integers(1, 200)).map(
    lambda drawn: drawn[0] * drawn[1]
)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(_problems)
def test_any_invalid_command_is_answered_within_slack_limits(found: list[Problem]) -> None:
    """Whatever an InvalidCommand holds, its message fits Slack: ≤ 50 blocks, ≤ 3000 a section."""
    message = blocks.problems(InvalidCommand(found))

    _assert_within_limits(message)
    assert f"{len(found)} problem" in message.text


def test_a_long_list_of_problems_shows_ten_and_counts_the_rest() -> None:
    """1999 bare words: the first ten problems are listed, then "…and 1989 more"."""
    with pytest.raises(InvalidCommand) as caught:
        parse_command(" ".join(f"w{i}" for i in range(1999))[:4000])
    error = caught.value

    message = blocks.problems(error)

    _assert_within_limits(message)
    shown = "\n".join(_texts(message))
    assert f"…and {len(error.problems) - 10} more" in shown
    assert "'w9'" in shown
    assert "'w10'" not in shown


_HUGE = "<&>" + "x" * 200_000


@pytest.mark.parametrize(
    "message",
    [
        blocks.help_message(_HUGE),
        blocks.preview({"body": {"pod_name": _HUGE}}),
        blocks.preview({"body": {f"k{i}": "y" * 3000 for i in range(100)}}),
        blocks.task_status(TaskStatus(_HUGE, _HUGE, "success", "f", _HUGE)),
        history_messages.history(
            [
                AuditEntry(
                    i,
                    datetime(2024, 5, 1, tzinfo=UTC),
                    "T",
                    "U",
                    "C",
                    "slash",
                    {"query": {}, "body": {"pod_name": _HUGE}},
                    "failed",
                    task_id=_HUGE,
                    error=_HUGE,
                )
                for i in range(60)
            ]
        ),
        blocks.refusal(_HUGE),
        blocks.unavailable("look up task t", BotError(_HUGE)),
        blocks.failed(HssError(_HUGE, code=_HUGE, request_id=_HUGE), entry_id=1),
        blocks.submitted(
            user_id="U1",
            record={"query": {"enterprise_project_id": _HUGE}, "body": {"pod_name": _HUGE}},
            task_id=_HUGE,
            request_id=_HUGE,
        ),
        blocks.looking_up(_HUGE),
        blocks.form_unavailable(_HUGE),
        blocks.problems(InvalidCommand([])),
    ],
    ids=[
        "help",
        "preview-one-huge-value",
        "preview-many-values",
        "task-status",
        "history",
        "refusal",
        "unavailable",
        "failed",
        "submitted",
        "looking-up",
        "form-unavailable",
        "no-problems",
    ],
)
def test_every_message_fits_slack_whatever_it_is_given(message: Message) -> None:
    """Every renderer keeps within Slack's limits, even for texts of 200 000 characters."""
    _assert_within_limits(message)


def test_a_message_cut_short_says_so() -> None:
    """A message with more than 50 blocks keeps 49 and ends saying the rest is left out."""
    message = blocks.preview({"body": {f"k{i}": "y" * 3000 for i in range(100)}})

    assert len(message.blocks) == 50
    assert "left out" in _texts(message)[-1]


def test_preview_is_a_code_block_of_the_request() -> None:
    """The preview shows the request as JSON and says nothing was sent."""
    message = blocks.preview({"query": {"export_size": "5"}, "body": {"status": "Running"}})

    shown = "\n".join(_texts(message))
    assert '"status": "Running"' in shown
    assert "Nothing was sent to HSS" in shown


@pytest.mark.parametrize(
    ("status", "expected"),
    [
        (TaskStatus("t", None, "running", None, None), "Task t is running"),
        (TaskStatus("t", "n", "success", "f", "out.xlsx"), "Task t is success, file out.xlsx"),
        (TaskStatus("t", None, "failure", None, None), "Task t is failure"),
    ],
)
def test_task_status(status: TaskStatus, expected: str) -> None:
    """A status lookup shows the state, and the file name once there is one."""
    assert blocks.task_status(status).text == expected


def test_history_lists_entries_newest_first_as_given() -> None:
    """History shows each entry's time, outcome, task and summary; empty history says so."""
    at = datetime(2024, 5, 1, 8, 0, tzinfo=UTC)
    entries = [
        AuditEntry(2, at, "T", "U", "C", "modal", None, "invalid", error="bad `cpu_limit`"),
        AuditEntry(
            1,
            at,
            "T",
            "U",
            "C",
            "slash",
            {"query": {}, "body": {"export_headers": ALL_HEADERS}},
            "submitted",
            task_id="t-1",
        ),
    ]

    shown = "\n".join(_texts(history_messages.history(entries)))

    assert shown.index("*invalid*") < shown.index("*submitted*")
    assert "2024-05-01 08:00 UTC · slash · *submitted* · task `t-1`" in shown
    assert "*Your last 2 entries in the audit log*" in shown
    assert history_messages.history([]).text == "Nothing of yours is in the audit log yet."


@pytest.mark.parametrize(
    ("source", "outcome", "approver", "shown"),
    [
        ("slash", "awaiting_approval", None, "slash · *waiting for approval* · "),
        ("slash", "approved", "U0BOB", "slash · *approved* by <@U0BOB> · "),
        ("slash", "denied_by_approver", "U0BOB", "slash · *denied* by <@U0BOB> · "),
        ("slash", "expired", None, "slash · *expired* · "),
        ("approval", "submitted", "U0BOB", "approval · *submitted* · approved by <@U0BOB> · "),
        ("approval", "denied", None, "approval · *click refused* · "),
        ("slash", "denied", None, "slash · *denied* · "),
    ],
)
def test_history_says_what_became_of_a_held_request_and_who_decided(
    source: Source, outcome: Outcome, approver: str | None, shown: str
) -> None:
    """A held request reads as waiting, a decided one names its approver, a refused click as one."""
    at = datetime(2024, 5, 1, 8, 0, tzinfo=UTC)
    entry = AuditEntry(1, at, "T", "U", "C", source, None, outcome, approver=approver)

    assert shown in "\n".join(_texts(history_messages.history([entry])))


def test_history_shows_times_in_the_zone_it_is_given() -> None:
    """In the App Home, history times are in the home's zone, named like its footer's."""
    at = datetime(2024, 5, 1, 8, 0, tzinfo=UTC)
    entry = AuditEntry(1, at, "T", "U", "C", "slash", None, "invalid")

    shown = "\n".join(_texts(history_messages.history([entry], "Asia/Shanghai")))

    assert "2024-05-01 16:00 CST · slash · *invalid*" in shown
    assert "UTC" not in shown
    assert "*Your last 1 entry in the audit log*" in shown


def test_refusal_and_internal_error_are_plain_and_honest() -> None:
    """A refusal shows its reason; an internal error gives the reference to quote."""
    assert blocks.refusal("Set ALLOWED_USER_IDS.").text == "Set ALLOWED_USER_IDS."
    assert "ref123" in blocks.internal_error("ref123").text


def test_every_header_key_is_named_in_help() -> None:
    """The help message covers the header keys users can pick."""
    shown = "\n".join(_texts(blocks.help_message(help_text())))

    assert all(key in shown for key in HEADER_KEYS)


# --- escaping: the notification text as well as the blocks ---------------------------------

PING = "<!channel>"


@dataclasses.dataclass(frozen=True)
class _Task:
    """A followed task with the attributes `task_messages.TaskFacts` reads."""

    task_id: str = PING
    user_id: str = "U1"
    enterprise_project_id: str | None = None
    request: dict[str, Any] | None = None
    hss_request_id: str | None = PING
    state: str = "failed"
    file_id: str | None = None
    file_name: str | None = PING
    file_size: int | None = 1
    sha256: str | None = None
    error: str | None = PING
    error_request_id: str | None = PING


def _every_text(message: Message) -> list[str]:
    return [message.text, *_texts(message)]


@pytest.mark.parametrize(
    "build",
    [
        lambda: blocks.problems(InvalidCommand([Problem("status", PING, "one of Running")])),
        lambda: blocks.problems(InvalidCommand([Problem(PING, "x", "a known key", PING)])),
        lambda: blocks.submitted(
            user_id="U1", record={"query": {}, "body": {"pod_name": PING}}, task_id=PING
        ),
        lambda: blocks.failed(HssError(PING, code=PING, request_id=PING)),
        lambda: blocks.task_status(TaskStatus(PING, PING, PING, None, PING)),
        lambda: blocks.looking_up(f"task {PING}"),
        lambda: blocks.refusal(f"not allowed in {PING}"),
        lambda: blocks.unavailable(f"look up task {PING}", BotError(PING)),
        lambda: blocks.internal_error(PING),
        lambda: blocks.preview({"body": {"pod_name": PING}}),
        lambda: history_messages.history(
            [
                AuditEntry(
                    1,
                    datetime(2024, 5, 1, tzinfo=UTC),
                    "T",
                    "U",
                    "C",
                    "slash",
                    {"query": {}, "body": {"cluster_name": PING}},
                    "failed",
                    task_id=PING,
                    error=PING,
                )
            ]
        ),
        lambda: task_messages.progress_message(_Task()),
        lambda: task_messages.progress_message(
            _Task(request={"query": {}, "body": {"pod_name": PING}}, state="done", error=None)
        ),
        lambda: task_messages.thread_notice(_Task()),
        lambda: task_messages.not_tracked(_Task(), BotError(PING)),
        lambda: task_messages.follow_up_here(
            blocks.submitted(user_id="U1", record={"query": {}, "body": {}}, task_id=PING), "C1"
        ),
    ],
    ids=[
        "problems-value",
        "problems-key-and-hint",
        "submitted",
        "failed",
        "task-status",
        "looking-up",
        "refusal",
        "unavailable",
        "internal-error",
        "preview",
        "history",
        "progress-without-request",
        "progress-done",
        "thread-notice",
        "not-tracked",
        "follow-up-here",
    ],
)
def test_user_and_hss_text_is_escaped_in_the_notification_text_and_the_blocks(
    build: Any,
) -> None:
    """`<!channel>` typed by a user (or written by HSS) pings no one: text and blocks escape it."""
    message = build()

    assert message is not None
    for text in _every_text(message):
        assert PING not in text
    assert any("&lt;!channel&gt;" in text for text in _every_text(message))


# --- the preview -----------------------------------------------------------------------------


def _described(pod_name: str) -> dict[str, Any]:
    return {
        "method": "POST",
        "url": "https://hss.example/v5/p/container/export-task?export_size=5",
        "query": {"export_size": "5"},
        "body": {"pod_name": pod_name, "status": "Running", "export_headers": ALL_HEADERS},
        "headers": {
            "Host": "hss.example",
            "Accept": "*/*",
            "Accept-Encoding": "gzip, deflate",
            "Connection": "keep-alive",
            "User-Agent": "python-httpx/0.28",
            "Content-Length": "1234",
            "Content-Type": "application/json",
            "X-Sdk-Date": "20240501T000000Z",
            "Authorization": "<redacted>",
        },
        "signed_headers": ["content-type", "host", "x-sdk-date"],
    }


def _code_text(message: Message) -> str:
    """Return the preview's code sections joined, unescaped as Slack shows them."""
    code = "".join(
        b["text"]["text"].removeprefix("```").removesuffix("```")
        for b in message.blocks
        if b["type"] == "section" and b["text"]["text"].startswith("```")
    )
    return code.replace("&lt;", "<").replace("&gt;", ">").replace("&amp;", "&")


def test_preview_of_values_slack_escapes_is_split_after_escaping_and_keeps_everything() -> None:
    """A pod_name of 512 `&` (2560 characters escaped) is shown whole, split within 3000."""
    message = blocks.preview(_described("&" * 512))

    _assert_within_limits(message)
    shown = _code_text(message)
    assert f'"pod_name": "{"&" * 512}"' in shown
    assert shown.rstrip().endswith("}")
    for block in message.blocks:
        if block["type"] == "section":
            text = block["text"]["text"]
            # no escaped entity is cut in two: every `&` starts a whole entity
            assert text.count("&") == text.count("&amp;") + text.count("&lt;") + text.count("&gt;")
    assert "left out" not in "\n".join(_texts(message))


def test_preview_reads_one_line_per_column_pair_without_transport_headers() -> None:
    """Each column pair is one line; Accept-Encoding, Connection, Content-Length are left out."""
    message = blocks.preview(_described("web"))

    shown = _code_text(message)
    lines = shown.splitlines()
    for key, name in ALL_HEADERS:
        assert any(line.strip().rstrip(",") == f'["{key}", "{name}"]' for line in lines)
    for transport in ("Accept-Encoding", "Connection", "Content-Length"):
        assert transport not in shown
    assert "Headers (signed: content-type, host, x-sdk-date):" in shown
    assert "X-Sdk-Date: 20240501T000000Z" in shown
    assert "Authorization: <redacted>" in shown
    assert lines[0] == "POST https://hss.example/v5/p/container/export-task?export_size=5"


def test_preview_too_long_for_one_message_says_how_much_is_left_out() -> None:
    """A preview beyond 50 blocks keeps the closing note and counts the characters left out."""
    message = blocks.preview({"body": {f"k{i}": "y" * 3000 for i in range(100)}})

    closing = message.blocks[-1]["elements"]
    assert "Nothing was sent to HSS" in closing[0]["text"]
    assert "characters) is left out" in closing[1]["text"]
