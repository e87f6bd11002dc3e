"""Bad input end to end: whatever reaches the bot's HTTP endpoint, it answers cleanly.

Property tests (hypothesis) drive the real bot, wired by `build_runtime` and
served on loopback, with arbitrary slash text, arbitrary modal state, forged and
malformed requests. The bot runs on an event loop in a thread of its own for the
whole module, so each example is one request like Slack's, not a fresh process.
The parser's own properties (any text gives a command or `InvalidCommand`) are
in test_grammar.py; signature forgeries one by one in test_slack_app.py. Here the
properties are what Slack and the user see: an answer in time, never a 500,
never "something went wrong", a specific message or field errors, and nothing
sent to HSS or written to the audit log for a request that was refused.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import threading
import time
import urllib.parse
import uuid
from collections.abc import Callable, Coroutine, Iterator
from pathlib import Path
from typing import Any, TypeVar

import pytest
from e2e_harness import ALICE, EXPORTS, VALID, Bot, running_bot, wait_for
from hypothesis import HealthCheck, given, settings
from hypothesis import event as hypothesis_event
from hypothesis import strategies as st
from hypothesis.control import currently_in_test_context

from bot.domain.errors import InvalidCommand
from bot.domain.grammar import (
    FIELD_KEYS,
    Export,
    Form,
    Help,
    History,
    OpenModal,
    Preview,
    RequestDefaults,
    Status,
    parse_command,
)
from bot.domain.modal import ACTION_ID, BLOCK_IDS
from bot.entrypoints.web import MAX_BODY_BYTES
from emulators.fake_hss import FakeHss
from emulators.fake_slack import Delivery, OpenedView, SignedRequest, sign

T = TypeVar("T")
INTERNAL_ERROR = "Something went wrong on our side"
EXAMPLES = settings(
    max_examples=120,
    deadline=None,
    derandomize=True,  # the same examples in every CI run; failures replay exactly
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)


class BotThread:
    """The bot and its fakes on an event loop of their own, for synchronous hypothesis tests."""

    def __init__(self, tmp_path: Path, **overrides: Any) -> None:
        self._tmp_path = tmp_path
        self._overrides = overrides
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, daemon=True)
        self._stack = contextlib.AsyncExitStack()
        self.bot: Bot

    def run(self, coro: Coroutine[Any, Any, T], timeout: float = 30.0) -> T:
        """Run a coroutine on the bot's loop and return its result."""
        return asyncio.run_coroutine_threadsafe(coro, self._loop).result(timeout)

    def call(self, fn: Callable[[], T]) -> T:
        """Call a plain function on the bot's loop (the fakes are not thread-safe)."""

        async def call() -> T:
            return fn()

        return self.run(call())

    def __enter__(self) -> BotThread:
        self._thread.start()

        async def start() -> Bot:
            hss = await self._stack.enter_async_context(FakeHss())
            bot = running_bot(self._tmp_path, hss, **self._overrides)
            return await self._stack.enter_async_context(bot)

        self.bot = self.run(start())
        return self

    def __exit__(self, *_exc: object) -> None:
        try:
            self.run(self._stack.aclose())
        finally:
            self._loop.call_soon_threadsafe(self._loop.stop)
            self._thread.join(10)
            self._loop.close()


@pytest.fixture(scope="module")
def running(tmp_path_factory: pytest.TempPathFactory) -> Iterator[BotThread]:
    """Run one bot for the whole module (examples are independent requests).

    The task tracker is left idle (first poll in an hour): its file deliveries would only
    add Slack and HSS traffic that the "nothing happened" checks would have to tell apart.
    """
    path = tmp_path_factory.mktemp("bad-input")
    with BotThread(path, TASK_POLL_INITIAL_SECONDS=3600, TASK_POLL_MAX_SECONDS=3600) as thread:
        yield thread


def deliver(running: BotThread, build: Callable[[], SignedRequest]) -> Delivery:
    """Build a request (on the bot's loop, where the fakes live), send it as Slack would,
    and wait until its post-ack work is done."""

    async def go() -> Delivery:
        delivery = await running.bot.send(build())
        await running.bot.settle()
        return delivery

    return running.run(go())


def slash(running: BotThread, text: str, **kwargs: Any) -> Callable[[], SignedRequest]:
    """Return a builder of the signed request for `/hss-export <text>` by Alice in #exports."""
    return lambda: running.bot.slack.slash_command(
        text, user_id=ALICE, channel_id=EXPORTS, **kwargs
    )


def shown(delivery: Delivery) -> str:
    """Return every text in an ack's JSON (message text, block texts, field errors), joined."""
    found: list[str] = []

    def walk(node: Any) -> None:
        if isinstance(node, str):
            found.append(node)
        elif isinstance(node, dict):
            for value in node.values():
                walk(value)
        elif isinstance(node, list):
            for item in node:
                walk(item)

    walk(delivery.json)
    return "\n".join(found)


def footprint(running: BotThread) -> tuple[int, int, int, int]:
    """Return what a request leaves behind: HSS calls, audit entries, Slack calls, replies."""

    async def go() -> tuple[int, int, int, int]:
        bot = running.bot
        entries = len(await bot.entries())
        return len(bot.hss.calls), entries, len(bot.slack.calls), len(bot.slack.responses)

    return running.run(go())


# --- arbitrary slash text ------------------------------------------------------------------

KEYS = st.sampled_from([*FIELD_KEYS, "help", "preview", "form", "status", "history", ""])
QUOTES = st.sampled_from(['"', "'", "“", "”", "‘", "’", "\\"])
VALUES = st.one_of(
    st.text(max_size=30),
    st.sampled_from(["running", "cce", "yes", "2024-05-01", "100m", "2Gi", "container_id,status"]),
    st.builds(lambda q, v: q + v, QUOTES, st.text(max_size=20)),  # an unbalanced quote
)
PAIRS = st.lists(
    st.builds(
        lambda k, sep, v: f"{k}{sep}{v}", KEYS, st.sampled_from(["=", "==", " = ", ""]), VALUES
    ),
    max_size=10,
).map(" ".join)


def ten_kilobytes(unit: str) -> str:
    """Repeat `unit` to 10 kB of UTF-8 (not 10 k characters: Slack counts the body in bytes)."""
    return (unit * 10_240).encode()[:10_240].decode(errors="ignore")


CONTROL = st.text(alphabet=st.characters(categories=["Cc", "Cf", "Zl", "Zp", "Co"]), max_size=40)
# Values each key accepts, so that whole valid commands come up often too.
GOOD_VALUES = {
    "cluster_container": ["yes", "no"],
    "cluster_type": ["cce", "CCE", "self_built_idc"],
    "cluster_name": ["prod", '"prod cluster"', "生产"],
    "container_name": ["nginx", "'web 1'"],
    "pod_name": ["web-0", '"web 1"'],
    "image_name": ["nginx:1.25"],
    "status": ["running", "Waiting", "isolated"],
    "risky": ["yes", "no", "true"],
    "cpu_limit": ["500m", "2000m"],
    "memory_limit": ["512Mi", "2Gi"],
    "created_after": ["2024-05-01", "2024-05-01T10:00"],
    "created_before": ["2025-01-01"],
    "headers": ["container_id,status", "all"],
    "export_size": ["1", "500", "100000"],
    "enterprise_project_id": ["0", "all_granted_eps"],
}
GOOD_PAIRS = st.lists(
    st.sampled_from(sorted(GOOD_VALUES)).flatmap(
        lambda k: st.sampled_from(GOOD_VALUES[k]).map(lambda v: f"{k}={v}")
    ),
    min_size=1,
    max_size=6,
    unique_by=lambda pair: pair.split("=")[0],
).map(" ".join)
COMMANDS = st.one_of(
    GOOD_PAIRS,
    GOOD_PAIRS.map("preview ".__add__),
    GOOD_PAIRS.map("form ".__add__),
    st.sampled_from(["help", "history", "HELP", "", "   ", "status task-0001", "status"]),
    st.builds(lambda p, q: f"{p} {q}", GOOD_PAIRS, PAIRS),  # valid, then anything
)
SLASH_TEXTS = st.sampled_from(
    [
        *[COMMANDS] * 4,  # weighted: about a third of the examples are well-formed commands
        st.text(max_size=200),  # any Unicode
        PAIRS,
        st.builds(lambda a, c, b: a + c + b, PAIRS, CONTROL, PAIRS),  # control characters inside
        st.builds(lambda n: "=" * n, st.integers(1, 6000)),  # = storms
        st.builds(lambda k, n: f"{k}=" + "=" * n, KEYS, st.integers(1, 3000)),
        st.builds(ten_kilobytes, st.text(min_size=1, max_size=5)),
        st.builds(lambda p, q: f"{p} pod_name={q}web 1", PAIRS, QUOTES),  # unbalanced quotes
    ]
).flatmap(lambda strategy: strategy)


def expected_words(text: str) -> list[str]:
    """Say what the ack must show for this text, from the pure parser's reading of it."""
    try:
        command = parse_command(text, RequestDefaults(header_lang="en"))
    except InvalidCommand as error:
        # How many problems, and the first one by its key (long lists are cut after ten).
        count = len(error.problems)
        head = f"I could not run that command: {count} problem{'s' if count != 1 else ''}"
        return [head, f"`{error.problems[0].key}`"]
    match command:
        case Export():
            return ["Export requested"]
        case Preview():
            return ["Preview", "Nothing was sent to HSS"]
        case Help():
            return ["/hss-export", *(f"`{key}`" for key in FIELD_KEYS)]
        case Status() | History():
            return ["Looking up"]
        case OpenModal() | Form():
            return []  # the form opens; the ack is empty
    raise AssertionError(f"unexpected command {command!r}")


@EXAMPLES
@given(text=SLASH_TEXTS)
def test_any_slash_text_gets_a_specific_answer_in_time(running: BotThread, text: str) -> None:
    """Any text: 200 within Slack's 3 s, the specific answer the grammar calls for, never a bug."""
    bot = running.bot
    creates, views = len(bot.hss.calls_for("create")), len(bot.slack.views)
    request = running.call(slash(running, text))

    delivery = deliver(running, lambda: request)

    if len(request.body) > MAX_BODY_BYTES:  # percent-encoded, 10 kB of CJK is ~90 kB
        event("slash: body over the limit")
        assert delivery.status == 413
        return
    assert delivery.status == 200
    assert not delivery.timed_out
    answer = shown(delivery)
    assert INTERNAL_ERROR not in answer
    words = expected_words(text)
    event(f"slash: {words[0] if words else 'form opens'}"[:40])
    for word in words:
        assert word.lower() in answer.lower(), word
    new_creates = bot.hss.calls_for("create")[creates:]
    if words == ["Export requested"]:
        # Whatever the grammar accepts, HSS's own validation accepts too.
        assert [c.status for c in new_creates] == [200]
    else:
        assert new_creates == []
    if not words:
        assert len(bot.slack.views) == views + 1  # any prefill still builds a valid form


# --- arbitrary modal state -----------------------------------------------------------------

JSON_VALUES = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=40),
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=8), inner, max_size=3)
    ),
    max_leaves=8,
)
HUGE = st.builds(
    lambda c, n: c * n, st.sampled_from(["x", "é", "9", " ", "\n", "="]), st.integers(300, 6000)
)
ANY_TEXT = st.one_of(
    st.text(max_size=60),
    st.sampled_from(["nginx", "500m", "2Gi", "100", "0", "-1", "1e9", "Running", "cce", "yes"]),
    HUGE,
)


def typed_action(kind: str) -> st.SearchStrategy[dict[str, Any]]:
    """What Slack's client puts in the state for an element of this kind, with any content."""
    option = st.builds(
        lambda v: {"text": {"type": "plain_text", "text": "x"}, "value": v}, ANY_TEXT
    )
    match kind:
        case "plain_text_input" | "number_input":
            content = st.fixed_dictionaries({"value": st.none() | ANY_TEXT})
        case "static_select" | "radio_buttons":
            content = st.fixed_dictionaries({"selected_option": st.none() | option})
        case "multi_static_select" | "checkboxes":
            content = st.fixed_dictionaries({"selected_options": st.lists(option, max_size=20)})
        case "datetimepicker":
            content = st.fixed_dictionaries({"selected_date_time": st.none() | st.integers()})
        case _:
            content = st.fixed_dictionaries({"selected_date": st.none() | ANY_TEXT})
    return content.map(lambda c: {"type": kind, **c})


def form_states(view: dict[str, Any]) -> st.SearchStrategy[dict[str, Any]]:
    """States Slack could send for this form: any inputs left out, any values in the rest."""
    inputs = {b["block_id"]: b["element"]["type"] for b in view["blocks"] if b["type"] == "input"}
    return st.fixed_dictionaries(
        {},
        optional={
            block: typed_action(kind).map(lambda a: {ACTION_ID: a})
            for block, kind in inputs.items()
        },
    )


ELEMENT_TYPES = st.sampled_from(
    ["plain_text_input", "number_input", "static_select", "multi_static_select", "datepicker",
     "datetimepicker", "conversations_select"]
)  # fmt: skip
OPTION = st.fixed_dictionaries({}, optional={"value": JSON_VALUES | HUGE, "text": JSON_VALUES})
WRONG_ACTIONS = st.fixed_dictionaries(
    {"type": ELEMENT_TYPES | JSON_VALUES},
    optional={
        "value": JSON_VALUES | HUGE,
        "selected_option": OPTION | JSON_VALUES,
        "selected_options": st.lists(OPTION | JSON_VALUES, max_size=4) | JSON_VALUES,
        "selected_date": JSON_VALUES | HUGE,
        "selected_date_time": st.floats() | JSON_VALUES,
    },
)
WRONG_STATES = JSON_VALUES | st.dictionaries(
    st.sampled_from(BLOCK_IDS) | st.text(max_size=10),
    st.dictionaries(
        st.just(ACTION_ID) | st.text(max_size=5), WRONG_ACTIONS | JSON_VALUES, max_size=2
    )
    | JSON_VALUES,
    max_size=len(BLOCK_IDS) + 2,
)


@pytest.fixture(scope="module")
def form(running: BotThread) -> OpenedView:
    """Open the export form once, as `/hss-export` with no text does."""
    delivery = deliver(running, slash(running, ""))
    assert delivery.status == 200
    return running.bot.slack.view()


def submission(running: BotThread, form: OpenedView, values: Any) -> Callable[[], SignedRequest]:
    """Return a builder of a signed view_submission of the form with `values` as its state."""
    return lambda: _submission(running, form, values)


NO_STATE = object()  # `_submission(..., state=NO_STATE)`: a view without its state at all


def _submission(
    running: BotThread, form: OpenedView, values: Any, *, state: Any = None
) -> SignedRequest:
    slack = running.bot.slack
    view = {
        **form.view,
        "id": form.id,
        "hash": uuid.uuid4().hex[:12],  # a new submission each time, not a double submit
        "team_id": slack.team_id,
        "state": {"values": values} if state is None else state,
    }
    if state is NO_STATE:
        del view["state"]
    payload = {
        "type": "view_submission",
        "team": {"id": slack.team_id, "domain": "fake"},
        "user": {"id": ALICE, "username": "alice", "team_id": slack.team_id},
        "api_app_id": "A0FAKE",
        "trigger_id": "13345224609.738474920.8088930838d88f008e0",
        "view": view,
    }
    body = urllib.parse.urlencode({"payload": json.dumps(payload)}).encode()
    return SignedRequest(body, sign(slack.signing_secret, body, int(time.time())))


def event(label: str) -> None:
    """Label this example in hypothesis' statistics (a no-op outside a hypothesis test)."""
    if currently_in_test_context():
        hypothesis_event(label)


def check_form_answer(
    running: BotThread, form: OpenedView, values: Any, *, state: Any = None
) -> None:
    """Submit `values` as the form's state; assert field errors, or a closed form and an export."""
    bot = running.bot
    request = _submission(running, form, values, state=state)
    creates = len(bot.hss.calls_for("create"))

    delivery = deliver(running, lambda: request)

    if len(request.body) > MAX_BODY_BYTES:
        event("form: body over the limit")
        assert delivery.status == 413
        return
    assert delivery.status == 200
    assert not delivery.timed_out
    assert INTERNAL_ERROR not in shown(delivery)
    answer = delivery.json
    event(f"form: {answer.get('response_action') or 'closed'}")
    new_creates = bot.hss.calls_for("create")[creates:]
    if answer.get("response_action") == "errors":
        errors = answer["errors"]
        assert errors
        assert set(errors) <= set(BLOCK_IDS)
        assert all(isinstance(text, str) and 0 < len(text) <= 2000 for text in errors.values())
        assert new_creates == []
    else:
        assert answer == {}  # the form closed: the export runs
        assert [c.status for c in new_creates] == [200]


@EXAMPLES
@given(data=st.data())
def test_any_form_values_get_field_errors_or_run(
    running: BotThread, form: OpenedView, data: st.DataObject
) -> None:
    """Any values in the form (inputs left out, huge text, any option): field errors or export."""
    check_form_answer(running, form, data.draw(form_states(form.view)))


@EXAMPLES
@given(values=WRONG_STATES)
def test_form_state_of_the_wrong_shape_gets_field_errors(
    running: BotThread, form: OpenedView, values: Any
) -> None:
    """State Slack would never send (wrong types, unknown blocks): field errors, never a bug."""
    check_form_answer(running, form, values)


@pytest.mark.parametrize(
    "state",
    [NO_STATE, [], "values", {"no_values": {}}],
    ids=["missing", "a-list", "a-string", "without-values"],
)
def test_form_without_its_state_gets_an_answer(
    running: BotThread, form: OpenedView, state: Any
) -> None:
    """A submission whose view has no state object: field errors or an export, never a bug."""
    check_form_answer(running, form, None, state=state)


# --- forged, replayed, malformed and oversized requests -----------------------------------

HEADER_TEXT = st.text(alphabet=st.characters(min_codepoint=32, max_codepoint=126), max_size=80)
BODIES = st.one_of(
    st.binary(max_size=300),
    st.dictionaries(st.text(max_size=10), st.text(max_size=30), max_size=6).map(
        lambda d: urllib.parse.urlencode(d).encode()
    ),
    JSON_VALUES.map(lambda v: b"payload=" + urllib.parse.quote(json.dumps(v)).encode()),
)


@EXAMPLES
@given(
    body=BODIES,
    timestamp=st.none() | HEADER_TEXT | st.integers(-(10**12), 10**12).map(str),
    signature=st.none()
    | HEADER_TEXT
    | st.text(alphabet="0123456789abcdef", min_size=64, max_size=64).map("v0=".__add__),
)
def test_forged_requests_are_refused_and_nothing_runs(
    running: BotThread, body: bytes, timestamp: str | None, signature: str | None
) -> None:
    """Any unsigned or mis-signed request: 401 (or 400 if unreadable), and nothing happens."""
    headers = {"X-Slack-Request-Timestamp": timestamp, "X-Slack-Signature": signature}
    request = SignedRequest(body, {k: v for k, v in headers.items() if v is not None})
    before = footprint(running)

    delivery = deliver(running, lambda: request)

    event(f"forged: {delivery.status}")
    assert delivery.status in (400, 401)
    assert footprint(running) == before


COMMAND_FIELDS = st.fixed_dictionaries(
    {"command": st.sampled_from(["/hss-export", "/other", ""])},
    optional={
        "text": st.text(max_size=30),
        "user_id": st.text(max_size=12),
        "channel_id": st.text(max_size=12),
        "team_id": st.text(max_size=12),
        "trigger_id": st.text(max_size=12),
        "response_url": st.text(max_size=30),
    },
).map(lambda d: urllib.parse.urlencode(d).encode())


@EXAMPLES
@given(body=BODIES | COMMAND_FIELDS)
def test_signed_garbage_is_never_a_server_error(running: BotThread, body: bytes) -> None:
    """A correctly signed body Slack would never send: 400 or 404, or an honest answer; no 500."""
    request = SignedRequest(body, sign(running.bot.slack.signing_secret, body, int(time.time())))

    delivery = deliver(running, lambda: request)

    event(f"signed garbage: {delivery.status}")
    assert delivery.status in (200, 400, 404)
    assert not delivery.timed_out


def test_replayed_requests_run_once_and_stale_ones_not_at_all(running: BotThread) -> None:
    """A captured request replayed at once runs once; replayed after 5 minutes it gets 401."""
    bot = running.bot
    creates, posts = len(bot.hss.calls_for("create")), len(bot.slack.messages)
    captured = running.call(slash(running, VALID))
    stale = running.call(slash(running, VALID, timestamp=int(time.time()) - 5 * 60 - 5))

    answers = [deliver(running, lambda: captured) for _ in range(3)]
    refused = deliver(running, lambda: stale)

    assert [a.status for a in answers] == [200, 200, 200]
    assert refused.status == 401
    running.run(wait_for(lambda: len(bot.slack.messages) == posts + 1))
    assert len(bot.hss.calls_for("create")) == creates + 1


@pytest.mark.parametrize("kind", ["slash", "form"])
def test_oversized_bodies_are_refused_before_anything_runs(
    running: BotThread, form: OpenedView, kind: str
) -> None:
    """A body over the limit is refused with 413 before Bolt sees it: nothing runs."""
    big = "x" * (MAX_BODY_BYTES + 1)
    if kind == "slash":
        build = slash(running, f"pod_name={big}")
    else:
        state = {"pod_name": {ACTION_ID: {"type": "plain_text_input", "value": big}}}
        build = submission(running, form, state)
    before = footprint(running)

    delivery = deliver(running, build)

    assert delivery.status == 413
    assert footprint(running)[:2] == before[:2]  # no HSS call, no audit entry
