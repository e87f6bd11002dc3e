"""The slash grammar: commands, quoting, every field rule, and problems listed all at once."""

from __future__ import annotations

import shlex
from typing import Any

import pytest
from grammar_support import clock, export, only_problem, parse, problems
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bot.domain.errors import InvalidCommand
from bot.domain.grammar import (
    FIELD_HELP,
    FIELD_KEYS,
    MAX_TEXT_CHARS,
    TEXT_KEY,
    Command,
    Export,
    Form,
    Help,
    History,
    OpenModal,
    Preview,
    RequestDefaults,
    Status,
    build_request,
    help_text,
    parse_tokens,
)
from bot.domain.grammar.words import split_words
from bot.domain.model import HEADER_KEYS, HEADER_NAMES, ExportRequest, default_headers

NOW_MS = 1717243200000
MAY_1_MS = 1714521600000  # 2024-05-01T00:00:00Z
MAY_2_MS = MAY_1_MS + 86_400_000


def sent(text: str) -> dict[str, Any]:
    """Return the body fields sent for `text`, headers left out."""
    body = export(text).body_json()
    del body["export_headers"]
    return body


# --- Commands --------------------------------------------------------------------------

REQUEST = ExportRequest.model_validate(
    {"body": {"export_headers": default_headers("zh")}}, strict=False
)


@pytest.mark.parametrize(
    ("text", "command"),
    [
        pytest.param("", OpenModal(), id="empty"),
        pytest.param("   \t ", OpenModal(), id="blank"),
        pytest.param("help", Help(), id="help"),
        pytest.param("HELP", Help(), id="help-case"),
        pytest.param("history", History(), id="history"),
        pytest.param("status 7f3a-01.b_c~", Status("7f3a-01.b_c~"), id="status"),
        pytest.param(
            "status t-1 enterprise_project_id=ep-1", Status("t-1", "ep-1"), id="status-in-project"
        ),
        pytest.param(
            "status enterprise_project_id=ALL_GRANTED_EPS t-1",
            Status("t-1", "all_granted_eps"),
            id="status-all-projects-first",
        ),
        pytest.param("preview", Preview(REQUEST), id="preview-bare"),
        pytest.param("headers=all", Export(REQUEST), id="export-everything"),
        pytest.param(
            "form status=runing pod_name='web 1'",
            Form({"status": "runing", "pod_name": "web 1"}),
            id="form-keeps-raw-values",
        ),
        pytest.param("form", Form({}), id="form-empty"),
    ],
)
def test_command_words(text: str, command: Command) -> None:
    """Each command word gives its command; a form keeps values raw for the modal."""
    assert parse(text) == command


def test_preview_carries_the_same_request_as_export() -> None:
    """`preview …` builds exactly the request `…` alone would send."""
    text = "status=running risky=yes created_after=2024-05-01"
    preview = parse("preview " + text)
    assert isinstance(preview, Preview)
    assert preview.request == export(text)


@pytest.mark.parametrize(
    ("text", "key", "hint"),
    [
        pytest.param("help me", "help", None, id="help-args"),
        pytest.param("history 5", "history", None, id="history-args"),
        pytest.param("status", "status", None, id="status-no-id"),
        pytest.param("status a b", "status", None, id="status-two-ids"),
        pytest.param("status a/b", "status", None, id="status-slash"),
        pytest.param("status running", "status", "status=Running", id="status-state-word"),
        pytest.param("status risky=true", "status", "status=…", id="status-with-pair"),
        pytest.param("status enterprise_project_id=ep-1", "status", None, id="status-project-only"),
        pytest.param(
            "status t-1 enterprise_project_id=",
            "enterprise_project_id",
            "leave the key out",
            id="status-empty-project",
        ),
        pytest.param(
            "status t-1 enterprise_project_id=all",
            "enterprise_project_id",
            "all_granted_eps",
            id="status-project-typo",
        ),
        pytest.param(
            "status t-1 enterprise_project_id=a enterprise_project_id=b",
            "enterprise_project_id",
            "keep one",
            id="status-two-projects",
        ),
        pytest.param(
            "status t-1 risky=true", "status", "enterprise_project_id=…", id="status-other-pair"
        ),
        pytest.param("form Status=x", "Status", "`status`", id="form-key-case"),
        pytest.param("form pod_name=", "pod_name", "leave the key out", id="form-empty-value"),
        pytest.param("form bogus", TEXT_KEY, None, id="form-bare-word"),
        pytest.param("form flavour=", "flavour", None, id="form-unknown-empty"),
        pytest.param("hlep", TEXT_KEY, "`help`", id="command-typo"),
        pytest.param("risky=true history", TEXT_KEY, "must come first", id="command-not-first"),
    ],
)
def test_command_problems(text: str, key: str, hint: str | None) -> None:
    """Misused command words are refused with the key they concern and a useful hint."""
    problem = only_problem(text)
    assert problem.key == key
    if hint is not None:
        assert problem.hint is not None
        assert hint in problem.hint


# --- Quoting ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "pod_name"),
    [
        pytest.param('pod_name="web 1"', "web 1", id="double"),
        pytest.param("pod_name='web 1'", "web 1", id="single"),
        pytest.param('"pod_name=web 1"', "web 1", id="whole-token"),
        pytest.param("pod_name=“web 1”", "web 1", id="smart-double"),
        pytest.param("pod_name=‘web 1’", "web 1", id="smart-single"),
        pytest.param(r"pod_name=web\ 1", "web 1", id="backslash-space"),
        pytest.param('pod_name="O\'Brien"', "O'Brien", id="apostrophe-in-double"),
        pytest.param("pod_name=a=b=c", "a=b=c", id="equals-in-value"),
        pytest.param("pod_name=#1", "#1", id="hash-is-not-a-comment"),
        pytest.param("pod_name=网页-1", "网页-1", id="non-ascii"),
        pytest.param('pod_name=" web 1 "', " web 1 ", id="names-kept-exactly"),
    ],
)
def test_quoting(text: str, pod_name: str) -> None:
    """Values follow POSIX shell quoting, Slack's curly quotes included; `=` may be in a value."""
    assert sent(text) == {"pod_name": pod_name}


@pytest.mark.parametrize(
    ("text", "pod_name"),
    [
        pytest.param("  pod_name=web-1  ", "web-1", id="blanks-around"),
        pytest.param("pod_name=web-1\t\r\ncluster_type=cce", "web-1", id="tab-and-newline"),
        pytest.param("pod_name=web\u00a01", "web\u00a01", id="no-break-space-is-in-the-word"),
        pytest.param("pod_name=web\\ 1 cluster_type=cce", "web 1", id="escape-among-plain-words"),
    ],
)
def test_words_are_split_on_shell_blanks_only(text: str, pod_name: str) -> None:
    """Spaces, tabs and line breaks separate words (a pasted command too); nothing else does."""
    assert sent(text)["pod_name"] == pod_name


@given(st.text(alphabet=" \t\r\n\u00a0\u000bab=#é-", max_size=20))
def test_unquoted_text_is_split_as_a_posix_shell_would(text: str) -> None:
    """Text without quotes or backslashes is split where POSIX shell quoting splits it."""
    lexer = shlex.shlex(text, posix=True)
    lexer.whitespace_split = True
    lexer.commenters = ""
    assert split_words(text) == list(lexer)


@pytest.mark.parametrize(
    "text",
    [
        pytest.param('pod_name="web 1', id="open-double"),
        pytest.param("pod_name=don't", id="apostrophe"),
        pytest.param("pod_name=“web 1", id="open-smart"),
        pytest.param("pod_name=web\\", id="trailing-backslash"),
        pytest.param('status=running pod_name="x risky=maybe', id="with-other-problems"),
    ],
)
def test_unbalanced_quotes_are_one_clear_problem(text: str) -> None:
    """Unbalanced quotes give one problem on the text, saying how to quote, never a crash."""
    problem = only_problem(text)
    assert problem.key == TEXT_KEY
    assert "quote" in problem.accepted


def test_argv_words_are_taken_as_they_are() -> None:
    """A command line's words (shell already unquoted them) are not unquoted a second time."""
    command = parse_tokens(["preview", "pod_name=O’Brien “1”", "image_name=a'b"], clock=clock)
    assert isinstance(command, Preview)
    assert command.request.body_json()["pod_name"] == "O’Brien “1”"
    assert command.request.body_json()["image_name"] == "a'b"


# --- Enums and booleans ----------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("status=running", {"status": "Running"}),
        ("status=RUNNING", {"status": "Running"}),
        ("status=Paused", {"status": "Paused"}),
        ("status=isolated", {"status": "Isolated"}),
        ("cluster_type=CCE", {"cluster_type": "cce"}),
        ("cluster_type=Self_Built_IDC", {"cluster_type": "self_built_idc"}),
        ("cluster_type=aws", {"cluster_type": "aws"}),
    ],
    ids=lambda v: v if isinstance(v, str) else "",
)
def test_enums_take_any_case_and_go_in_api_spelling(text: str, expected: dict[str, str]) -> None:
    """Enum values match in any letter case and are sent as the API spells them."""
    assert sent(text) == expected


@pytest.mark.parametrize(
    ("text", "suggestion"),
    [
        ("status=runing", "`Running`"),
        ("status=terminate", "`Terminated`"),
        ("cluster_type=aliyun", "`ali`"),
        ("cluster_type=self-built-hw", "`self_built_hw`"),
        ("cluster_type=tencnet", "`tencent`"),
    ],
    ids=lambda v: v if "=" in v else "",
)
def test_enum_near_misses_suggest_the_value(text: str, suggestion: str) -> None:
    """A near-miss enum value is refused with "did you mean" the right spelling."""
    problem = only_problem(text)
    assert problem.key == text.partition("=")[0]
    assert problem.hint is not None
    assert suggestion in problem.hint


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("true", True),
        ("TRUE", True),
        ("yes", True),
        ("Yes", True),
        ("false", False),
        ("False", False),
        ("no", False),
        ("NO", False),
    ],
)
@pytest.mark.parametrize("key", ["risky", "cluster_container"])
def test_booleans(key: str, value: str, expected: bool) -> None:
    """true/false/yes/no in any case become JSON booleans."""
    assert sent(f"{key}={value}") == {key: expected}


@pytest.mark.parametrize(
    ("value", "hint"),
    [("1", "`true`"), ("0", "`false`"), ("on", "`true`"), ("ture", "`true`"), ("maybe", None)],
)
def test_bad_booleans_are_refused(value: str, hint: str | None) -> None:
    """Anything but true/false/yes/no is refused, with a suggestion when one is obvious."""
    problem = only_problem(f"risky={value}")
    assert (problem.key, problem.given) == ("risky", value)
    assert problem.hint == (None if hint is None else f"did you mean {hint}?")


# --- Dates -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    "value",
    [
        pytest.param("2024-05-01", id="date"),
        pytest.param("2024-05-01T00:00:00Z", id="iso-z"),
        pytest.param("2024-05-01T08:00:00+08:00", id="iso-offset"),
        pytest.param("2024-05-01T00:00:00", id="iso-naive-is-utc"),
        pytest.param('"2024-05-01 00:00"', id="iso-space-quoted"),
        pytest.param("2024-05-01T00:00:00.000+00:00", id="iso-millis"),
        pytest.param(str(MAY_1_MS), id="epoch-ms"),
    ],
)
def test_created_after_in_each_format(value: str) -> None:
    """created_after takes a date (UTC midnight), ISO-8601 or epoch ms; alone it runs to now."""
    assert sent(f"created_after={value}") == {
        "create_time": {"start_time": MAY_1_MS, "end_time": NOW_MS}
    }


@pytest.mark.parametrize(
    "value",
    [
        pytest.param("2024-05-02", id="date"),
        pytest.param("2024-05-02T08:00:00+08:00", id="iso-offset"),
        pytest.param(str(MAY_2_MS), id="epoch-ms"),
    ],
)
def test_created_before_is_exclusive_and_alone_starts_at_zero(value: str) -> None:
    """created_before excludes its instant (end = it - 1 ms); alone the window starts at 0."""
    assert sent(f"created_before={value}") == {
        "create_time": {"start_time": 0, "end_time": MAY_2_MS - 1}
    }


def test_one_day_window() -> None:
    """created_after=D created_before=D+1 is exactly day D, UTC."""
    assert sent("created_after=2024-05-01 created_before=2024-05-02") == {
        "create_time": {"start_time": MAY_1_MS, "end_time": MAY_2_MS - 1}
    }


def test_created_after_zero_means_from_the_beginning() -> None:
    """created_after=0 is allowed and means since 1970."""
    assert sent("created_after=0") == {"create_time": {"start_time": 0, "end_time": NOW_MS}}


@pytest.mark.parametrize(
    ("text", "key", "hint"),
    [
        pytest.param("created_after=2024-13-01", "created_after", None, id="no-such-month"),
        pytest.param("created_after=2024-02-30", "created_after", None, id="no-such-day"),
        pytest.param("created_after=2024/05/01", "created_after", "2024-05-01", id="slashes"),
        pytest.param("created_after=1714521600", "created_after", "1714521600000", id="seconds"),
        pytest.param("created_after=yesterday", "created_after", None, id="words"),
        pytest.param("created_after=-5", "created_after", None, id="negative"),
        pytest.param("created_after=1969-12-31", "created_after", "1970", id="before-1970"),
        pytest.param("created_after=99999999999999999", "created_after", "9999", id="too-far"),
        pytest.param("created_before=0", "created_before", "1970", id="before-zero"),
        pytest.param(
            "created_after=2024-05-02 created_before=2024-05-01",
            "created_after",
            "created_before",
            id="reversed",
        ),
        pytest.param(
            "created_after=2024-05-01 created_before=2024-05-01",
            "created_after",
            "created_before",
            id="empty-window",
        ),
        pytest.param("created_after=2024-07-01", "created_after", "created_before", id="future"),
    ],
)
def test_bad_dates(text: str, key: str, hint: str | None) -> None:
    """Impossible, ambiguous or reversed times are refused on the key concerned."""
    problem = only_problem(text)
    assert problem.key == key
    if hint is not None:
        assert hint in f"{problem.accepted} {problem.hint}"


def test_reversed_window_names_both_keys() -> None:
    """A window that ends before it starts names both keys in its one problem."""
    text = str(only_problem("created_after=2024-05-02 created_before=2024-05-01"))
    assert "created_after" in text
    assert "created_before" in text


# --- Limits, sizes, names --------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("cpu_limit=100m", {"cpu_limit": "100m"}),
        ("cpu_limit=0m", {"cpu_limit": "0m"}),
        ("memory_limit=300Mi", {"memory_limit": "300Mi"}),
        ("memory_limit=300mi", {"memory_limit": "300Mi"}),
        ("memory_limit=2GI", {"memory_limit": "2Gi"}),
        ("memory_limit=2gi", {"memory_limit": "2Gi"}),
        ("export_size=1", {}),
        ("export_size=100000", {}),
    ],
    ids=lambda v: v if isinstance(v, str) else "",
)
def test_limits_are_normalised(text: str, expected: dict[str, str]) -> None:
    """Memory units are normalised to Mi/Gi; CPU stays in lower-case millicores."""
    assert sent(text) == expected


@pytest.mark.parametrize(
    ("text", "hint"),
    [
        ("cpu_limit=100M", "`100m`"),
        ("cpu_limit=0.5", "`500m`"),
        ("cpu_limit=2", "`2000m`"),
        ("cpu_limit=100mc", None),
        ("cpu_limit=" + "9" * 64 + "m", "too many"),
        ("memory_limit=300MB", "`300Mi`"),
        ("memory_limit=2G", "`2Gi`"),
        ("memory_limit=300Ki", None),
        ("memory_limit=300", None),
        ("export_size=0", "100000"),
        ("export_size=100001", "100000"),
        ("export_size=10k", "`10000`"),
        ("export_size=1.5", "digits"),
        ("export_size=-3", "digits"),
        ("export_size=١٢", "digits"),
    ],
    ids=lambda v: v[:30] if isinstance(v, str) and "=" in v else "",
)
def test_bad_limits_and_sizes(text: str, hint: str | None) -> None:
    """Wrong units or out-of-range sizes are refused, with the fix when it is obvious."""
    problem = only_problem(text)
    assert problem.key == text.partition("=")[0]
    assert problem.accepted == FIELD_HELP[problem.key]
    if hint is None:
        assert problem.hint is None
    else:
        assert problem.hint is not None
        assert hint in problem.hint


def test_export_size_goes_in_the_query() -> None:
    """export_size is a query parameter, sent as given."""
    assert export("export_size=007").query_params() == {"export_size": "7"}


NAME_CASES = [
    pytest.param(key, length, length <= limit, id=f"{key}-{length}")
    for key, limit in {
        "cluster_name": 255,
        "container_name": 255,
        "image_name": 255,
        "pod_name": 512,
    }.items()
    for length in (1, 255, 256, 512, 513)
]


@pytest.mark.parametrize(("key", "length", "ok"), NAME_CASES)
def test_name_lengths(key: str, length: int, ok: bool) -> None:
    """Names take the page's lengths (1-255, pod_name 1-512), in characters."""
    fields = {key: "名" * length}
    if ok:
        assert build_request(fields, clock=clock).body_json()[key] == "名" * length
    else:
        with pytest.raises(InvalidCommand) as caught:
            build_request(fields, clock=clock)
        assert [p.key for p in caught.value.problems] == [key]


@pytest.mark.parametrize("value", ["a\nb", "a\x00b", "tab\there", "\x7f"])
def test_control_characters_in_names_are_refused(value: str) -> None:
    """Newlines, NULs and other control characters never reach HSS in a name."""
    with pytest.raises(InvalidCommand) as caught:
        build_request({"container_name": value}, clock=clock)
    assert [p.key for p in caught.value.problems] == ["container_name"]


# --- Enterprise project and defaults ---------------------------------------------------


@pytest.mark.parametrize(
    ("text", "defaults", "query"),
    [
        pytest.param("", RequestDefaults(), {}, id="none"),
        pytest.param(
            "",
            RequestDefaults(enterprise_project_id="ep-1"),
            {"enterprise_project_id": "ep-1"},
            id="default",
        ),
        pytest.param(
            "enterprise_project_id=ep-2",
            RequestDefaults(enterprise_project_id="ep-1"),
            {"enterprise_project_id": "ep-2"},
            id="given-wins",
        ),
        pytest.param(
            "enterprise_project_id=all_granted_eps",
            RequestDefaults(),
            {"enterprise_project_id": "all_granted_eps"},
            id="all",
        ),
        pytest.param(
            "enterprise_project_id=ALL_GRANTED_EPS",
            RequestDefaults(),
            {"enterprise_project_id": "all_granted_eps"},
            id="all-case",
        ),
        pytest.param(
            "enterprise_project_id=0", RequestDefaults(), {"enterprise_project_id": "0"}, id="zero"
        ),
        pytest.param(
            "enterprise_project_id=" + "e" * 256,
            RequestDefaults(),
            {"enterprise_project_id": "e" * 256},
            id="256",
        ),
    ],
)
def test_enterprise_project(text: str, defaults: RequestDefaults, query: dict[str, str]) -> None:
    """The enterprise project comes from the text, else the defaults, else is left out."""
    fields = dict(token.split("=", 1) for token in text.split())
    assert build_request(fields, defaults, clock=clock).query_params() == query


@pytest.mark.parametrize(
    ("value", "hint"),
    [("e" * 257, "too many"), ("all", "all_granted_eps"), ("all_granted_ep", "all_granted_eps")],
    ids=["257", "all", "typo"],
)
def test_bad_enterprise_project(value: str, hint: str) -> None:
    """Over-long ids and near misses of all_granted_eps are refused."""
    problem = only_problem(f"enterprise_project_id={value}")
    assert problem.key == "enterprise_project_id"
    assert problem.hint is not None
    assert hint in problem.hint


# --- Headers ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "lang", "headers"),
    [
        pytest.param("", "zh", default_headers("zh"), id="absent-zh"),
        pytest.param("", "en", default_headers("en"), id="absent-en"),
        pytest.param("headers=all", "en", default_headers("en"), id="all"),
        pytest.param("headers=ALL", "zh", default_headers("zh"), id="all-case"),
        pytest.param(
            "headers=status,risky",
            "zh",
            [["status", "状态"], ["risky", "是否有安全风险"]],
            id="keys-zh",
        ),
        pytest.param(
            "headers=risky,status",
            "en",
            [["risky", "Security risk"], ["status", "Status"]],
            id="keys-en-order",
        ),
        pytest.param(
            'headers="status:Container state, risky:Risky?"',
            "zh",
            [["status", "Container state"], ["risky", "Risky?"]],
            id="named",
        ),
        pytest.param(
            "headers=STATUS:状态,pod_name",
            "en",
            [["status", "状态"], ["pod_name", "Pod"]],
            id="mixed",
        ),
        pytest.param(
            "headers=create_time:When:UTC", "en", [["create_time", "When:UTC"]], id="colon-in-name"
        ),
    ],
)
def test_headers(text: str, lang: str, headers: list[list[str]]) -> None:
    """Headers: all 16 by default in the chosen language, or the keys given, named or not."""
    request = export(text or "headers=all", RequestDefaults(header_lang=lang))  # type: ignore[arg-type]
    expected = [list(pair) for pair in headers]
    assert request.body_json()["export_headers"] == expected


def test_default_headers_are_the_sixteen_documented_ones() -> None:
    """Without `headers`, every one of the 16 keys goes, with the page's Chinese names."""
    sent_headers = export("status=running").body_json()["export_headers"]
    assert [key for key, _ in sent_headers] == list(HEADER_KEYS)
    assert [name for _, name in sent_headers] == [HEADER_NAMES[k]["zh"] for k in HEADER_KEYS]


@pytest.mark.parametrize(
    ("value", "givens", "hint"),
    [
        pytest.param("status,stauts", ["stauts"], "`status`", id="typo"),
        pytest.param("created_at", ["created_at"], "`create_time`", id="alias"),
        pytest.param("bogus", ["bogus"], None, id="unknown"),
        pytest.param("status,risky,status", ["status"], None, id="duplicate"),
        pytest.param("status,,risky", ["status,,risky"], None, id="empty-item"),
        pytest.param("status,", ["status,"], None, id="trailing-comma"),
        pytest.param("all,status", ["all"], None, id="all-and-more"),
        pytest.param("status:", ["status:"], None, id="empty-name"),
        pytest.param("podname,stauts", ["podname", "stauts"], None, id="two-unknown"),
    ],
)
def test_bad_headers(value: str, givens: list[str], hint: str | None) -> None:
    """Unknown, repeated or empty header items are each a problem on `headers`."""
    found = problems(f"headers={value}")
    assert [p.key for p in found] == ["headers"] * len(givens)
    assert [p.given for p in found] == givens
    if hint is not None:
        assert found[0].hint is not None
        assert hint in found[0].hint


# --- Keys ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "key", "suggestion"),
    [
        pytest.param("Status=running", "Status", "lower-case: did you mean `status`", id="case"),
        pytest.param("stauts=running", "stauts", "`status`", id="typo"),
        pytest.param("cluster-type=cce", "cluster-type", "`cluster_type`", id="dash"),
        pytest.param("cluster=prod", "cluster", "`cluster_name`", id="alias"),
        pytest.param("size=5", "size", "`export_size`", id="alias-size"),
        pytest.param("export_headers=all", "export_headers", "`headers`", id="api-name"),
        pytest.param("ｓｔａｔｕｓ=running", "ｓｔａｔｕｓ", "`status`", id="fullwidth"),
        pytest.param("flavour=red", "flavour", None, id="unknown"),
    ],
)
def test_unknown_keys_are_never_dropped(text: str, key: str, suggestion: str | None) -> None:
    """An unknown key is a problem of its own, with "did you mean" when one is close."""
    problem = only_problem(text)
    assert problem.key == key
    if suggestion is None:
        assert problem.hint is None
        assert all(k in problem.accepted for k in FIELD_KEYS)
    else:
        assert problem.hint is not None
        assert suggestion in problem.hint


def test_duplicate_keys_are_a_problem_showing_every_value() -> None:
    """A key given twice is refused, not last-one-wins, and the user sees both values."""
    problem = only_problem("status=running risky=true status=paused")
    assert problem.key == "status"
    assert problem.given == "status=running status=paused"


@pytest.mark.parametrize("text", ["status=", 'pod_name=""', "headers=''"])
def test_empty_values_are_problems(text: str) -> None:
    """`key=` with nothing is refused: leave the key out to leave it unset."""
    problem = only_problem(text)
    assert problem.key == text.partition("=")[0]
    assert problem.given == ""


@pytest.mark.parametrize(
    ("text", "hint"),
    [
        pytest.param("running", "`status=Running`", id="state"),
        pytest.param("cce", "`cluster_type=cce`", id="cluster-type"),
        pytest.param("risky=true pod_name", "`pod_name=<value>`", id="key-alone"),
        pytest.param("risky=true true", "`risky=true`", id="boolean"),
        pytest.param("=running", None, id="no-key"),
        pytest.param("risky=true web 1", None, id="unquoted-space"),
    ],
)
def test_words_without_equals_are_problems(text: str, hint: str | None) -> None:
    """A word without `=` (not a leading command) is a problem on the text, with a guess."""
    found = problems(text)
    assert {p.key for p in found} == {TEXT_KEY}
    if hint is not None:
        assert found[0].hint is not None
        assert hint in found[0].hint


def test_every_problem_is_reported_at_once() -> None:
    """One text with many mistakes reports all of them, not just the first."""
    text = (
        "Status=running runing cluster_type=k8s risky=maybe cpu_limit=1 "
        "memory_limit=1MB headers=stauts export_size=0 pod_name= colour=red "
        "created_after=2024-05-02 created_before=2024-05-01 image_name=a image_name=b"
    )
    assert sorted(p.key for p in problems(text)) == sorted(
        [
            "Status",
            TEXT_KEY,
            "cluster_type",
            "risky",
            "cpu_limit",
            "memory_limit",
            "headers",
            "export_size",
            "pod_name",
            "colour",
            "created_after",
            "image_name",
        ]
    )


def test_text_length_is_limited() -> None:
    """Text longer than the limit is refused with one problem; at the limit it is parsed."""
    padded = "status=running" + " " * (MAX_TEXT_CHARS - len("status=running"))
    assert sent(padded) == {"status": "Running"}
    problem = only_problem(padded + " ")
    assert problem.key == TEXT_KEY
    assert str(MAX_TEXT_CHARS) in problem.accepted
    assert problem.given is not None
    assert len(problem.given) <= 100


# --- Shared path for the modal -----------------------------------------------------------

BAD_VALUE = {
    "cluster_container": "maybe",
    "cluster_type": "k8s",
    "cluster_name": "x" * 256,
    "container_name": "x" * 256,
    "pod_name": "x" * 513,
    "image_name": "x" * 256,
    "status": "gone",
    "risky": "perhaps",
    "cpu_limit": "1 core",
    "memory_limit": "1TB",
    "created_after": "soon",
    "created_before": "later",
    "headers": "nope",
    "export_size": "many",
    "enterprise_project_id": "x" * 257,
}


def test_every_field_has_help_and_a_bad_value_case() -> None:
    """FIELD_KEYS, FIELD_HELP and this table cover the same 15 keys."""
    assert set(FIELD_KEYS) == set(FIELD_HELP) == set(BAD_VALUE)
    assert len(FIELD_KEYS) == 15


def test_modal_fields_get_problems_keyed_by_field() -> None:
    """Each bad modal field yields a problem whose key is the field (the modal's block_id)."""
    with pytest.raises(InvalidCommand) as caught:
        build_request(BAD_VALUE, clock=clock)
    assert sorted(p.key for p in caught.value.problems) == sorted(FIELD_KEYS)


def test_modal_and_slash_build_the_same_request() -> None:
    """The same values typed or filled in give the same request."""
    fields = {
        "status": "running",
        "pod_name": "web 1",
        "created_after": "2024-05-01",
        "headers": "status:State,risky",
        "export_size": "10",
    }
    text = "status=running 'pod_name=web 1' created_after=2024-05-01 "
    text += "headers=status:State,risky export_size=10"
    defaults = RequestDefaults(header_lang="en", enterprise_project_id="ep")
    assert build_request(fields, defaults, clock=clock) == export(text, defaults)


def test_build_request_refuses_unknown_and_empty_fields() -> None:
    """The modal path refuses unknown keys and empty strings too."""
    with pytest.raises(InvalidCommand) as caught:
        build_request({"podname": "x", "status": ""}, clock=clock)
    assert sorted(p.key for p in caught.value.problems) == ["podname", "status"]


def test_created_only_before_and_clock_default_is_real_time() -> None:
    """Without an injected clock, a lone created_after runs to the real present."""
    request = build_request({"created_after": "2024-05-01"})
    window = request.body_json()["create_time"]
    assert window["start_time"] == MAY_1_MS
    assert window["end_time"] >= NOW_MS


# --- Help ------------------------------------------------------------------------------


def test_help_text_lists_every_key_and_examples() -> None:
    """Help names every key with what it accepts, and shows examples with the command name."""
    text = help_text("/hss-export")
    for key in FIELD_KEYS:
        assert f"`{key}`: {FIELD_HELP[key]}" in text
    assert "`/hss-export status=running risky=true`" in text
    assert "preview" in text
    assert "status <task_id>" in text


def test_help_examples_parse() -> None:
    """Every example in the help text is accepted by the parser."""
    examples = [
        line.split("`")[1].removeprefix("/hss-export ")
        for line in help_text("/hss-export").splitlines()
        if line.startswith("• `/hss-export")
    ]
    assert len(examples) >= 4
    for example in examples:
        assert isinstance(parse(example), Export | Preview)


# --- Never anything but InvalidCommand -------------------------------------------------

KEYISH = st.sampled_from([*FIELD_KEYS, "Status", "form", "help", "status", "preview", ""])
VALUEISH = st.one_of(
    st.text(max_size=40),
    st.sampled_from(
        [
            "running",
            "2024-05-01",
            "1714521600000",
            "99999999999999999999999",
            "1e400",
            "all",
            "status:x,risky",
            "100m",
            "2gi",
            "9" * 5000,
            "NaN",
            "0.5",
            "'",
            '"',
            "“",
            "\\",
            "=",
        ]
    ),
)
PAIR = st.builds(
    lambda k, sep, v: f"{k}{sep}{v}", KEYISH, st.sampled_from(["=", "", "=="]), VALUEISH
)
TEXTS = st.one_of(
    st.text(),
    st.text(alphabet=st.sampled_from(list("=\"'“”‘’\\ \t\n#a1:,")), max_size=200),
    st.lists(PAIR, max_size=12).map(" ".join),
    st.builds(lambda n: "=" * n, st.integers(0, 5000)),
    st.builds(lambda s, n: s * n, st.text(min_size=1, max_size=3), st.integers(1000, 4000)),
)


def assert_well_formed(error: InvalidCommand) -> None:
    """Every problem names a key and reads as a non-empty message."""
    assert error.problems
    for problem in error.problems:
        assert problem.key
        assert str(problem)
        assert problem.accepted


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(TEXTS)
def test_any_text_gives_a_command_or_invalid_command(text: str) -> None:
    """Whatever is typed, the parser returns a command or raises InvalidCommand, nothing else."""
    try:
        parse(text)
    except InvalidCommand as error:
        assert_well_formed(error)


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.dictionaries(KEYISH | st.text(max_size=10), VALUEISH, max_size=16))
def test_any_fields_give_a_request_or_invalid_command(fields: dict[str, str]) -> None:
    """Whatever the modal sends, build_request returns a request or raises InvalidCommand."""
    try:
        build_request(fields, RequestDefaults(header_lang="en"), clock=clock)
    except InvalidCommand as error:
        assert_well_formed(error)


def test_ten_kilobytes_of_text_is_one_problem() -> None:
    """10 kB of text is refused quickly with a single length problem."""
    assert only_problem("status=running " * 700).key == TEXT_KEY


def test_terminal_help_leaves_out_slack_only_commands() -> None:
    """The terminal's help shows --dry-run and no form, status or history forms."""
    text = help_text("hss-export-bot export", slack=False)
    assert "--dry-run" in text
    assert "history" not in text
    assert "form key" not in text
    assert "status <task_id>" not in text
    assert all(f"`{key}`" in text for key in FIELD_KEYS)


# --- the small ones: impossible dates, two values, the API page's Chinese names --------------


@pytest.mark.parametrize(
    ("value", "words"),
    [
        ("2026-02-30", "that date does not exist: February 2026 has 28 days"),
        ("2024-02-30T08:00:00", "that date does not exist: February 2024 has 29 days"),
        ("2026-04-31", "April 2026 has 30 days"),
        ("2026-13-01", "there is no month 13"),
    ],
)
def test_a_date_that_does_not_exist_is_named_so(value: str, words: str) -> None:
    """`created_after=2026-02-30` says the date does not exist, not only the accepted formats."""
    problem = only_problem(f"created_after={value}")

    assert problem.key == "created_after"
    assert problem.hint is not None
    assert words in problem.hint


@pytest.mark.parametrize(
    ("text", "words"),
    [
        ("status=running,waiting", "`status=Running` then `status=Waiting`"),
        ("status=Running|Paused", "`status=Running` then `status=Paused`"),
        ("cluster_type=cce,aws", "`cluster_type=cce` then `cluster_type=aws`"),
    ],
)
def test_two_values_of_one_key_say_one_is_accepted_and_how_to_run_two(
    text: str, words: str
) -> None:
    """`status=running,waiting` says one value per export, and to run one export per value."""
    problem = only_problem(text)

    assert problem.hint is not None
    assert "one value per export" in problem.hint
    assert words in problem.hint


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("status=运行中", {"status": "Running"}),
        ("status=等待", {"status": "Waiting"}),
        ("status=终止", {"status": "Terminated"}),
        ("status=已隔离", {"status": "Isolated"}),
        ("status=已暂停", {"status": "Paused"}),
        ("cluster_type=CCE集群", {"cluster_type": "cce"}),
        ("cluster_type=cce集群", {"cluster_type": "cce"}),
        ("cluster_type=华为云自建集群", {"cluster_type": "self_built_hw"}),
        ("cluster_type=IDC自建集群", {"cluster_type": "self_built_idc"}),
    ],
)
def test_the_api_pages_chinese_names_are_synonyms(text: str, expected: dict[str, str]) -> None:
    """The Chinese labels of the API page's status and cluster_type values send the API value."""
    assert sent(text) == expected


def test_a_bare_chinese_status_suggests_the_key() -> None:
    """`运行中` alone suggests `status=Running`, as `running` alone does."""
    assert only_problem("运行中").hint == "did you mean `status=Running`?"


def test_help_and_field_help_name_the_chinese_synonyms() -> None:
    """`help` says the Chinese names work, and lists them beside the API values."""
    text = help_text()

    assert "`status=运行中` is `status=Running`" in text
    assert "运行中 (Running)" in FIELD_HELP["status"]
    assert "CCE集群 (cce)" in FIELD_HELP["cluster_type"]
