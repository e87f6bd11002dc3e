"""The export form, pure: its blocks, its state read back as raw fields, errors placed on fields."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

import pytest

from bot.domain.errors import InvalidCommand, Problem
from bot.domain.grammar import FIELD_HELP, FIELD_KEYS, RequestDefaults, build_request
from bot.domain.modal import (
    ACTION_ID,
    BLOCK_IDS,
    FormContext,
    build_view,
    check_prefill,
    errors_by_block,
    fields_from_state,
)
from bot.domain.model import HEADER_KEYS, MAX_LENGTHS
from emulators.slack_models import view_problems

NOW = datetime(2024, 6, 15, 12, 0, tzinfo=UTC)


def _elements(view: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {b["block_id"]: b["element"] for b in view["blocks"] if b["type"] == "input"}


def _option(value: str) -> dict[str, Any]:
    return {"text": {"type": "plain_text", "text": value}, "value": value}


def test_every_request_field_has_one_input_whose_block_id_is_its_key() -> None:
    """The form asks for exactly the grammar's fields, each once, block_id = field key."""
    view = build_view(FormContext("C1"))
    block_ids = [b["block_id"] for b in view["blocks"] if b["type"] == "input"]

    assert sorted(block_ids) == sorted(FIELD_KEYS)
    assert len(set(block_ids)) == len(block_ids)
    assert set(BLOCK_IDS) == set(FIELD_KEYS)


def test_inputs_have_the_element_each_field_calls_for() -> None:
    """Selects, yes/no/any choices, pickers, number input and a 16-way multi-select."""
    kinds = {key: e["type"] for key, e in _elements(build_view(FormContext("C1"))).items()}

    assert kinds["cluster_type"] == kinds["status"] == "static_select"
    status = _elements(build_view(FormContext("C1")))["status"]
    assert [o["value"] for o in status["options"]][:2] == ["any", "Running"]
    assert kinds["cluster_container"] == kinds["risky"] == "radio_buttons"
    assert kinds["created_after"] == kinds["created_before"] == "datetimepicker"
    assert kinds["export_size"] == "number_input"
    assert kinds["headers"] == "multi_static_select"
    for key in ("cluster_name", "container_name", "pod_name", "image_name", "cpu_limit"):
        assert kinds[key] == "plain_text_input"


def test_headers_offer_all_sixteen_columns_all_preselected_in_the_chosen_language() -> None:
    """The column picker lists the 16 keys, all selected, labelled in HSS_EXPORT_HEADER_LANG."""
    headers = _elements(build_view(FormContext("C1"), header_lang="en"))["headers"]

    assert [o["value"] for o in headers["options"]] == list(HEADER_KEYS)
    assert headers["initial_options"] == headers["options"]
    assert headers["options"][0]["text"]["text"] == "container_id · Container ID"


@pytest.mark.parametrize(
    ("prefill", "key", "attribute", "expected"),
    [
        ({"status": "running"}, "status", "initial_option", "Running"),
        ({"cluster_type": "CCE"}, "cluster_type", "initial_option", "cce"),
        ({"risky": "true"}, "risky", "initial_option", "yes"),
        ({"cluster_container": "no"}, "cluster_container", "initial_option", "no"),
        ({}, "risky", "initial_option", "any"),
        ({"pod_name": "web 1"}, "pod_name", "initial_value", "web 1"),
        ({"export_size": "500"}, "export_size", "initial_value", "500"),
        ({"created_after": "2024-05-01"}, "created_after", "initial_date_time", 1714521600),
        (
            {"created_before": "2024-05-01T08:00:00+08:00"},
            "created_before",
            "initial_date_time",
            1714521600,
        ),
        ({"created_after": "1714521600000"}, "created_after", "initial_date_time", 1714521600),
    ],
)
def test_prefill_sets_initial_values(
    prefill: dict[str, str], key: str, attribute: str, expected: object
) -> None:
    """`form k=v` values become the inputs' initial values."""
    element = _elements(build_view(FormContext("C1"), prefill=prefill))[key]
    value = element[attribute]

    assert (value["value"] if isinstance(value, dict) else value) == expected


@pytest.mark.parametrize(
    ("prefill", "expected"),
    [
        ("container_id:ID,status", ["container_id", "status"]),
        ("nonsense", list(HEADER_KEYS)),
    ],
)
def test_prefilled_headers_select_those_columns(prefill: str, expected: list[str]) -> None:
    """Prefilled header keys are preselected; unknown ones leave all 16 selected."""
    headers = _elements(build_view(FormContext("C1"), prefill={"headers": prefill}))["headers"]

    assert [o["value"] for o in headers["initial_options"]] == expected


def test_unreadable_prefilled_time_leaves_the_picker_empty() -> None:
    """A prefill that is not a time opens an empty picker rather than a wrong one."""
    element = _elements(build_view(FormContext("C1"), prefill={"created_after": "last week"}))

    assert "initial_date_time" not in element["created_after"]


@pytest.mark.parametrize(
    ("action", "expected"),
    [
        ({"type": "static_select", "selected_option": _option("cce")}, "cce"),
        ({"type": "static_select", "selected_option": None}, None),
        ({"type": "radio_buttons", "selected_option": _option("yes")}, "yes"),
        ({"type": "radio_buttons", "selected_option": _option("any")}, None),
        ({"type": "plain_text_input", "value": "  prod  "}, "prod"),
        ({"type": "plain_text_input", "value": "   "}, None),
        ({"type": "plain_text_input", "value": None}, None),
        ({"type": "number_input", "value": "500"}, "500"),
        ({"type": "datetimepicker", "selected_date_time": 1714521600}, "1714521600000"),
        ({"type": "datetimepicker", "selected_date_time": None}, None),
        ({"type": "datepicker", "selected_date": "2024-05-01"}, "2024-05-01"),
        (
            {"type": "multi_static_select", "selected_options": [_option("a"), _option("b")]},
            "a,b",
        ),
        ({"type": "multi_static_select", "selected_options": []}, ""),
    ],
)
def test_state_becomes_the_raw_strings_the_grammar_reads(
    action: dict[str, Any], expected: str | None
) -> None:
    """Each element's state turns into the slash grammar's raw text, or is left out."""
    fields = fields_from_state({"cluster_name": {"value": action}})

    assert fields.get("cluster_name") == expected


def test_state_of_unknown_blocks_is_ignored() -> None:
    """Only the form's own block_ids are read."""
    state = {"surprise": {"value": {"type": "plain_text_input", "value": "x"}}}

    assert fields_from_state(state) == {}


def test_errors_land_on_their_blocks_every_problem_kept() -> None:
    """Problems become one message per block_id; none is dropped."""
    problems = [
        Problem("cpu_limit", "2", "digits then m", "if that is cores, write `2000m`"),
        Problem("cpu_limit", "2", "at most 64 characters"),
        Problem("create_time", None, "start_time must not be after end_time"),
        Problem("text", "what", "key=value pairs"),
    ]

    errors = errors_by_block(problems)

    assert set(errors) == {"cpu_limit", "created_after", BLOCK_IDS[0]}
    assert "2000m" in errors["cpu_limit"]
    assert "at most 64 characters" in errors["cpu_limit"]
    assert "`text`" in errors[BLOCK_IDS[0]]


@pytest.mark.parametrize(
    "fields",
    [
        {"cpu_limit": "2 cores", "memory_limit": "lots"},
        {"created_after": "1717200000000", "created_before": "1714521600000"},
        {"headers": ""},
        {"export_size": "0", "status": "asleep"},
    ],
)
def test_grammar_problems_on_form_fields_map_onto_existing_blocks(fields: dict[str, str]) -> None:
    """Whatever build_request rejects in form input is shown on an input of the form."""
    with pytest.raises(InvalidCommand) as caught:
        build_request(fields, RequestDefaults())

    errors = errors_by_block(caught.value.problems)

    assert errors
    assert set(errors) <= set(fields) | {"created_after"}


@pytest.mark.parametrize(
    ("context", "metadata"),
    [
        (
            FormContext("C1", "https://hooks.slack.com/x"),
            '{"c":"C1","r":"https://hooks.slack.com/x"}',
        ),
        (FormContext("C1"), '{"c":"C1"}'),
    ],
)
def test_context_travels_in_private_metadata(context: FormContext, metadata: str) -> None:
    """Channel and response_url go out in private_metadata and come back the same."""
    assert context.dump() == metadata
    assert FormContext.load(metadata) == context
    assert build_view(context)["private_metadata"] == metadata


@pytest.mark.parametrize("metadata", ["", "not json", "[]", '{"r": "x"}', '{"c": 5}'])
def test_foreign_private_metadata_is_not_trusted(metadata: str) -> None:
    """Metadata that is not the form's own reads as None."""
    assert FormContext.load(metadata) is None


def test_oversized_response_url_is_left_out_of_the_metadata() -> None:
    """A response_url that would overflow Slack's 3000 characters is dropped, the channel kept."""
    context = FormContext("C1", "https://x/" + "a" * 3000)

    assert FormContext.load(context.dump()) == FormContext("C1")


# --- the time window, as the grammar reads it -------------------------------------------


def test_time_inputs_say_what_the_grammar_does_with_them() -> None:
    """`created_after` is inclusive and `created_before` exclusive, in the form as in FIELD_HELP."""
    view = build_view(FormContext("C1"))
    inputs = {b["block_id"]: b for b in view["blocks"] if b["type"] == "input"}

    for key, word, label in (
        ("created_after", "inclusive", "Created at or after"),
        ("created_before", "exclusive", "Created before"),
    ):
        assert f"({word})" in FIELD_HELP[key]
        assert inputs[key]["label"]["text"] == label
        assert word in inputs[key]["hint"]["text"].lower()
    assert "both ends" not in json.dumps(view)  # either end alone is accepted


def test_a_picked_before_time_is_left_out_of_the_window() -> None:
    """Picking 00:00 as `created_before` ends the window 1 ms earlier, as its label says."""
    state = {
        "created_before": {"value": {"type": "datetimepicker", "selected_date_time": 1714521600}}
    }

    request = build_request(fields_from_state(state), RequestDefaults(), clock=lambda: NOW)

    assert request.body.create_time is not None
    assert (request.body.create_time.start_time, request.body.create_time.end_time) == (
        0,
        1714521600000 - 1,
    )


# --- prefill from `form key=value …` ----------------------------------------------------


@pytest.mark.parametrize(
    ("typed", "shown", "noted"),
    [
        (
            {"status": "running", "created_after": "2024-05-01", "headers": "container_id"},
            {"status": "running", "created_after": "2024-05-01", "headers": "container_id"},
            [],
        ),
        ({"risky": "true", "enterprise_project_id": "ALL_GRANTED_EPS"}, None, []),
        ({"status": "sleeping", "risky": "yes"}, {"risky": "yes"}, ["`status`: got 'sleeping'"]),
        ({"export_size": "0"}, {}, ["`export_size`: got '0'"]),
        ({"risky": "1"}, {}, ["`risky`: got '1'", "did you mean `true`?"]),
        ({"created_after": "last week"}, {}, ["`created_after`: got 'last week'"]),
        ({"pod_name": "p" * 600}, {}, ["`pod_name`", "88 too many"]),
        (
            {"created_after": "2024-06-01", "created_before": "2024-05-01"},
            {"created_before": "2024-05-01"},
            ["swap"],
        ),
        ({"headers": "container_name:Name"}, None, ["`headers=container_name:Name`", "names"]),
        ({"headers": "status,container_id"}, None, ["`headers=status,container_id`", "order"]),
        ({"created_after": "1714521600123"}, None, ["`created_after=1714521600123`", "exactly"]),
        ({"pod_name": " web "}, None, ["`pod_name= web `", "exactly"]),
    ],
    ids=[
        "all-shown",
        "spelt-differently",
        "invalid-dropped",
        "out-of-range",
        "grammar-refuses-what-the-form-would-guess",
        "unreadable-time",
        "too-long-for-the-input",
        "window-backwards",
        "custom-column-names",
        "column-order",
        "milliseconds",
        "padded-name",
    ],
)
def test_prefill_keeps_what_the_form_shows_and_notes_the_rest(
    typed: dict[str, str], shown: dict[str, str] | None, noted: list[str]
) -> None:
    """Refused values are left out with the grammar's reason; inexact ones are kept, with a note."""
    prefill = check_prefill(typed, clock=lambda: NOW)

    assert prefill.values == (typed if shown is None else shown)
    text = "\n".join(prefill.notes)
    assert bool(prefill.notes) is bool(noted)
    for words in noted:
        assert words in text


def test_untouched_prefilled_form_sends_what_the_command_would() -> None:
    """Whatever `check_prefill` keeps without a note, the untouched form submits unchanged."""
    typed = {
        "cluster_type": "CCE",
        "status": "running",
        "cluster_container": "no",
        "risky": "yes",
        "cluster_name": "prod",
        "cpu_limit": "500m",
        "memory_limit": "2gi",
        "created_after": "2024-05-01T08:00:00+08:00",
        "created_before": "2024-06-01",
        "export_size": "50",
        "headers": "container_id,status",
        "enterprise_project_id": "ep-1",
    }
    prefill = check_prefill(typed, clock=lambda: NOW)
    view = build_view(FormContext("C1"), prefill=prefill.values)

    submitted = fields_from_state(_untouched_state(view))

    assert prefill.notes == []
    defaults = RequestDefaults()
    assert build_request(submitted, defaults, clock=lambda: NOW) == build_request(
        typed, defaults, clock=lambda: NOW
    )


def test_notes_open_the_form_escaped_and_within_slacks_limits() -> None:
    """Notes are one section above the inputs, user text escaped, at most 3000 characters."""
    view = build_view(FormContext("C1"), notes=["`pod_name=<!channel>`: too long", "x" * 5000])

    notice = view["blocks"][1]
    assert notice["type"] == "section"
    assert "&lt;!channel&gt;" in notice["text"]["text"]
    assert len(notice["text"]["text"]) <= 3000
    assert view["blocks"][2]["type"] == "input"


def _untouched_state(view: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """Return view.state.values as Slack sends them when no input was touched."""
    state: dict[str, dict[str, Any]] = {}
    for block in view["blocks"]:
        if block["type"] != "input":
            continue
        element = block["element"]
        action: dict[str, Any] = {"type": element["type"]}
        if "initial_option" in element:
            action["selected_option"] = element["initial_option"]
        if "initial_options" in element:
            action["selected_options"] = element["initial_options"]
        if "initial_value" in element:
            action["value"] = element["initial_value"]
        if "initial_date_time" in element:
            action["selected_date_time"] = element["initial_date_time"]
        state[block["block_id"]] = {"value": action}
    return state


@pytest.mark.parametrize(
    ("block", "action"),
    [
        ("headers", {"type": "checkboxes", "selected_options": 7}),
        ("created_before", {"type": "datetimepicker", "selected_date_time": "soon"}),
        ("headers", {"type": "multi_static_select", "selected_options": [["container_id"]]}),
    ],
    ids=["options-not-a-list", "time-not-a-number", "option-not-an-object"],
)
def test_state_of_the_wrong_shape_is_a_problem_on_its_field(
    block: str, action: dict[str, object]
) -> None:
    """A submission Slack would never send is refused on the field it corrupts, not raised."""
    with pytest.raises(InvalidCommand) as caught:
        fields_from_state({block: {ACTION_ID: action}})
    assert [p.key for p in caught.value.problems] == [block]


# --- one rule for each: the form reads values with the grammar's parsers ---------------------


@pytest.mark.parametrize("value", ["1", "y", "on", "0", "n", "off"])
def test_the_form_preselects_yes_or_no_only_for_the_grammars_spellings(value: str) -> None:
    """`risky=1` is refused by the grammar, so the form does not preselect Yes for it either."""
    element = _elements(build_view(FormContext("C1"), prefill={"risky": value}))["risky"]

    assert element["initial_option"]["value"] == "any"
    with pytest.raises(InvalidCommand):
        build_request({"risky": value})


@pytest.mark.parametrize(
    ("key", "typed", "chosen"),
    [("status", "运行中", "Running"), ("cluster_type", "CCE集群", "cce")],
)
def test_the_form_reads_the_chinese_synonyms_as_the_grammar_does(
    key: str, typed: str, chosen: str
) -> None:
    """A prefilled Chinese label preselects its API value, with no note."""
    prefill = check_prefill({key: typed}, clock=lambda: NOW)
    element = _elements(build_view(FormContext("C1"), prefill=prefill.values))[key]

    assert element["initial_option"]["value"] == chosen
    assert prefill.notes == []


def test_text_inputs_take_the_models_length_limits() -> None:
    """Each text input's max_length is the model's limit, which the grammar enforces too."""
    elements = _elements(build_view(FormContext("C1")))

    for key, limit in MAX_LENGTHS.items():
        assert elements[key]["max_length"] == limit
        assert f"{limit}" in FIELD_HELP[key]


def test_a_time_beyond_the_picker_is_left_empty_and_named() -> None:
    """`created_before=2300-01-01` (11-digit seconds) leaves the picker empty, saying why."""
    prefill = check_prefill({"created_before": "2300-01-01"}, clock=lambda: NOW)
    element = _elements(build_view(FormContext("C1"), prefill=prefill.values))["created_before"]

    assert "initial_date_time" not in element
    assert len(prefill.notes) == 1
    assert prefill.notes[0].startswith("`created_before=2300-01-01`")
    assert "2286-11-20" in prefill.notes[0]


def test_every_view_the_form_builds_is_valid_for_slack_sdk() -> None:
    """The form, prefilled at the picker's edges, passes slack_sdk's own View validation."""
    for created_before in ("9999999999000", "10000000000000", "2300-01-01", "1970-01-02"):
        view = build_view(FormContext("C1"), prefill={"created_before": created_before})
        assert view_problems(view) == [], created_before
