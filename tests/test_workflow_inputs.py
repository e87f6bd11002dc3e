"""A Workflow step's inputs read into the slash grammar's fields (`bot.domain.workflow`)."""

from __future__ import annotations

from typing import Any

import pytest

from bot.domain.errors import InvalidCommand
from bot.domain.grammar import build_request
from bot.domain.workflow import read_inputs

WHO = {"user_id": "U0ALICE", "channel_id": "C0EXPORTS"}


@pytest.mark.parametrize(
    ("given", "fields"),
    [
        (
            {"risky": True, "cluster_container": False},
            {"risky": "true", "cluster_container": "false"},
        ),
        ({"export_size": 500}, {"export_size": "500"}),
        ({"status": "", "pod_name": None, "filters": ""}, {}),
        (
            {"filters": 'pod_name="web 1" status=running'},
            {"pod_name": "web 1", "status": "running"},
        ),
        ({"filters": "status=running", "risky": True}, {"status": "running", "risky": "true"}),
    ],
)
def test_inputs_become_the_grammars_raw_fields(
    given: dict[str, Any], fields: dict[str, str]
) -> None:
    """Booleans read as true/false, numbers as digits, empty inputs as unset, `filters` as text."""
    read = read_inputs({**WHO, **given})

    assert (read.fields, read.problems) == (fields, [])
    assert (read.user_id, read.channel_id) == ("U0ALICE", "C0EXPORTS")


def test_a_key_in_filters_and_its_own_input_is_one_problem_with_both_values() -> None:
    """`status` given in `filters` and as its own input is named once, showing both."""
    read = read_inputs({**WHO, "filters": "status=running", "status": "waiting"})

    (problem,) = read.problems
    assert problem.key == "status"
    assert problem.given == "filters: status=running; input status: waiting"
    assert problem.accepted == "each key at most once"


def test_a_key_twice_inside_filters_is_the_slash_grammars_problem() -> None:
    """Inside `filters`, a key typed twice is refused as in the slash command."""
    (problem,) = read_inputs({**WHO, "filters": "status=running status=waiting"}).problems

    assert (problem.key, problem.accepted) == ("status", "each key at most once")


@pytest.mark.parametrize(
    ("given", "key", "hint"),
    [
        ({"channel_id": "C0EXPORTS"}, "user_id", "Person who used this workflow"),
        (
            {"user_id": "alice", "channel_id": "C0EXPORTS"},
            "user_id",
            "Person who used this workflow",
        ),
        ({"user_id": "U0ALICE"}, "channel_id", "pick the channel"),
        ({"user_id": "U0ALICE", "channel_id": "#exports"}, "channel_id", "pick the channel"),
    ],
)
def test_missing_or_malformed_identity_is_named(given: dict[str, Any], key: str, hint: str) -> None:
    """A step without a user id or channel id input says which one, and how to set it."""
    read = read_inputs(given)

    assert not read.identified
    (problem,) = read.problems
    assert problem.key == key
    assert problem.hint is not None
    assert hint in problem.hint


def test_unknown_input_is_named_by_the_grammar_with_a_suggestion() -> None:
    """An input the grammar does not know reaches the grammar's key check, with "did you mean"."""
    read = read_inputs({**WHO, "filters": "stauts=running"})

    with pytest.raises(InvalidCommand, match="did you mean `status`") as refused:
        build_request(read.fields)
    assert "stauts" in str(refused.value)


def test_filters_that_are_not_text_are_a_problem() -> None:
    """A `filters` input that is not text (a malformed event) is refused, not guessed."""
    (problem,) = read_inputs({**WHO, "filters": ["status=running"]}).problems

    assert problem.key == "filters"
