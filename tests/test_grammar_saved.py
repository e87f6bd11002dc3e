"""The saved-export words of the slash grammar (issue 15): `save`, `run`, `saved`, `forget`."""

from __future__ import annotations

import pytest
from grammar_support import parse, refused

from bot.domain.errors import InvalidCommand
from bot.domain.grammar import (
    Forget,
    Run,
    Save,
    SavedList,
    export_from_fields,
    help_text,
    parse_command,
)
from bot.domain.saved_messages import fields_text


@pytest.mark.parametrize(
    ("text", "command"),
    [
        pytest.param(
            "save weekly status=running risky=yes",
            Save("weekly", {"status": "running", "risky": "yes"}),
            id="save",
        ),
        pytest.param(
            'save web-1 pod_name="web 1"', Save("web-1", {"pod_name": "web 1"}), id="quoted"
        ),
        pytest.param("save everything", Save("everything", {}), id="no-filters"),
        pytest.param("run weekly", Run("weekly"), id="run"),
        pytest.param(
            "run weekly status=waiting", Run("weekly", {"status": "waiting"}), id="override"
        ),
        pytest.param("run weekly confirm=yes", Run("weekly", confirmed=True), id="confirmed"),
        pytest.param("saved", SavedList(), id="saved"),
        pytest.param("SAVED", SavedList(), id="command-word-any-case"),
        pytest.param("forget weekly", Forget("weekly"), id="forget"),
    ],
)
def test_saved_export_commands_parse(text: str, command: object) -> None:
    """Each command word gives its command, with NAME and the raw fields as typed."""
    assert parse(text) == command


def test_save_keeps_values_raw_for_the_run_to_parse() -> None:
    """`save` keeps `status=running` as typed (not `Running`): each run parses it anew."""
    parsed = parse("save weekly status=运行中 created_after=2026-01-01")
    assert isinstance(parsed, Save)
    assert parsed.fields == {"status": "运行中", "created_after": "2026-01-01"}


@pytest.mark.parametrize(
    ("text", "key", "words"),
    [
        pytest.param(
            "save status=running", "name", "the name comes right after `save`", id="no-name"
        ),
        pytest.param("save Weekly", "name", "names are lower-case: `weekly`", id="upper-case"),
        pytest.param("save a.b", "name", "1–32 lower-case letters", id="bad-character"),
        pytest.param("save " + "x" * 33, "name", "1–32", id="too-long"),
        pytest.param("save w confirm=yes", "confirm", "`run w confirm=yes`", id="confirm-at-save"),
        pytest.param("save w risky", "text", "`risky=<value>`", id="bare-word"),
        pytest.param("run", "name", "the name comes right after `run`", id="run-no-name"),
        pytest.param("run w stauts=running", "stauts", "did you mean `status`?", id="typo-key"),
        pytest.param("run w status=", "status", "leave the key out", id="empty"),
        pytest.param("run w confirm=maybe", "confirm", "`yes`", id="bad-confirm"),
        pytest.param("saved weekly", "saved", "nothing after `saved`", id="saved-args"),
        pytest.param("forget", "name", "right after `forget`", id="forget-no-name"),
        pytest.param("forget a b", "forget", "only a NAME", id="forget-two"),
    ],
)
def test_problems_name_the_field_and_what_it_accepts(text: str, key: str, words: str) -> None:
    """Every mistake is a problem on its key, saying what is accepted; never an exception."""
    refusal = refused(text)
    assert key in {p.key for p in refusal.problems}
    assert words in str(refusal)


def test_a_leading_state_is_not_taken_for_a_command() -> None:
    """`running` is `status=Running`, not a misspelt `run`; `paused` is not `saved`."""
    for word, state in (("running", "Running"), ("paused", "Paused")):
        assert f"`status={state}`" in str(refused(word))


def test_export_from_fields_reads_confirm_as_the_slash_command_does() -> None:
    """The fields of a run build the same request a typed export builds."""
    typed = parse_command("status=running risky=yes confirm=yes")
    built = export_from_fields({"status": "running", "risky": "yes", "confirm": "yes"})
    assert built == typed
    with pytest.raises(InvalidCommand, match="`status`: got 'sleeping'"):
        export_from_fields({"status": "sleeping"})


def test_fields_text_can_be_typed_back() -> None:
    """What `saved` shows is words `save` reads back to the same fields."""
    fields = {"risky": "yes", "pod_name": "web 1", "image_name": 'say "hi"', "status": "running"}
    shown = fields_text(fields)
    assert shown.startswith("pod_name=")  # the grammar's order
    parsed = parse(f"save again {shown}")
    assert isinstance(parsed, Save)
    assert parsed.fields == fields


def test_help_lists_the_saved_export_commands() -> None:
    """`help` tells how to save, run, list and forget."""
    text = help_text()
    for words in ("save NAME key=value", "run NAME [key=value …]", "saved`", "forget NAME"):
        assert words in text
