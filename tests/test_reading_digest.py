"""Digests: compact, versioned, stable JSON; and the exact changes between two exports."""

from __future__ import annotations

import json
from typing import Any

import pytest
from reading_support import openpyxl_xlsx

from bot.reading import Digest, DigestError, diff, read_export, render_text
from bot.reading.digest import DIGEST_VERSION

ID_HEADER = [
    "容器id",
    "容器名称",
    "所属POD",
    "所属集群",
    "低危风险",
    "中危风险",
    "高危风险",
    "致命风险",
]
BEFORE: list[list[Any]] = [
    ["id1", "a", "a-pod", "prod", 0, 0, 0, 0],
    ["id2", "b", "b-pod", "prod", 1, 0, 0, 0],
    ["id3", "c", "c-pod", "prod", 0, 0, 1, 0],
    ["id4", "d", "d-pod", "edge", 5, 5, 0, 1],
    ["id5", "e", "e-pod", "edge", 0, 0, 0, 0],
]
AFTER: list[list[Any]] = [
    ["id1", "a", "a-pod", "prod", 0, 0, 0, 0],  # unchanged
    ["id2", "b", "b-pod", "prod", 0, 0, 0, 0],  # low 1 -> 0: less risky
    ["id3", "c", "c-pod", "prod", 0, 0, 2, 0],  # high 1 -> 2: riskier
    ["id4", "d", "d-pod", "edge", 9, 9, 9, 0],  # fatal 1 -> 0 outweighs the rest: less risky
    ["id6", "f", "f-pod", "prod", 0, 1, 0, 0],  # new; id5 is gone
]


def _digest(header: list[str], rows: list[list[Any]], **kw: Any) -> Digest:
    report = read_export(openpyxl_xlsx([header, *rows]), **kw)
    assert report.digest is not None, report.reason
    return report.digest


def _without_ids(rows: list[list[Any]]) -> list[list[Any]]:
    return [row[1:] for row in rows]


@pytest.mark.parametrize(
    ("header", "shape", "identity"),
    [(ID_HEADER, lambda rows: rows, "container_id"), (ID_HEADER[1:], _without_ids, "names")],
)
def test_diff_of_a_constructed_pair_is_exact(header: list[str], shape: Any, identity: str) -> None:
    """New, gone, riskier and less risky containers are exactly those that changed."""
    change = diff(_digest(header, shape(BEFORE)), _digest(header, shape(AFTER)))
    assert change.identity == identity
    assert [e.name for e in change.new] == ["f"]
    assert [e.name for e in change.gone] == ["e"]
    assert [(c.before.risks, c.after.risks) for c in change.up] == [((0, 0, 1, 0), (0, 0, 2, 0))]
    assert [c.after.name for c in change.down] == ["d", "b"]  # riskiest first
    assert change.unchanged == 1
    assert change.sums == (
        ("low_risk", 6, 9),
        ("medium_risk", 5, 10),
        ("high_risk", 1, 11),
        ("fatal_risk", 1, 0),
    )
    assert not change.partial


def test_the_text_says_how_containers_were_matched() -> None:
    """Without container_id the diff matches by names, and says so."""
    before, after = (
        _digest(ID_HEADER[1:], _without_ids(BEFORE)),
        _digest(ID_HEADER[1:], _without_ids(AFTER)),
    )
    summary = read_export(openpyxl_xlsx([ID_HEADER[1:], *_without_ids(AFTER)])).summary
    assert summary is not None
    text = render_text(summary, diff(before, after), since="before.xlsx", by="alice")
    assert "Changed since before.xlsx, alice ran it: 1 new, 1 gone, 1 riskier, 2 less risky" in text
    assert "gone: e (pod e-pod, edge)" in text
    assert "riskier: c (pod c-pod, prod) (high 1→2)" in text
    assert "matched by container, pod and cluster name (no container_id)" in text


def test_without_risk_columns_in_both_no_risk_change_is_claimed() -> None:
    """One export lacks the risk columns: the tally counts no riskier/less risky, it says so."""
    names = ID_HEADER[:4]
    before = _digest(ID_HEADER, BEFORE)
    after = _digest(names, [row[:4] for row in AFTER])
    change = diff(before, after)
    assert change.comparable
    assert change.compared == ()
    summary = read_export(openpyxl_xlsx([names, *[row[:4] for row in AFTER]])).summary
    assert summary is not None
    text = render_text(summary, change, since="before.xlsx", by="alice")
    assert (
        "Changed since before.xlsx, alice ran it: 1 new, 1 gone, 4 in both "
        "(risks not compared: no risk column is in both exports)"
    ) in text
    assert "riskier" not in text
    assert "less risky" not in text
    assert "unchanged" not in text


def test_digests_keyed_differently_are_not_compared() -> None:
    """A container_id digest and a names digest cannot be matched: the diff says why."""
    change = diff(_digest(ID_HEADER, BEFORE), _digest(ID_HEADER[1:], _without_ids(AFTER)))
    assert not change.comparable
    assert change.reason == (
        "the earlier export matched containers by container_id, this one by container, pod "
        "and cluster name"
    )


def test_without_a_key_column_nothing_is_compared() -> None:
    """No container_id and no container_name: the diff asks for container_id."""
    header = ["状态", "低危风险"]
    change = diff(_digest(header, [["Running", 1]]), _digest(header, [["Running", 2]]))
    assert change.reason is not None
    assert "add container_id to `headers=`" in change.reason


def test_json_is_versioned_stable_and_round_trips() -> None:
    """The stored text has `v: 1`, is the same for the same export, and reads back equal."""
    first, again = _digest(ID_HEADER, BEFORE), _digest(ID_HEADER, BEFORE)
    assert first.to_json() == again.to_json()
    raw = json.loads(first.to_json())
    assert raw["v"] == DIGEST_VERSION
    assert raw["entries"][0] == [["id4"], "d", 5, 5, 0, 1]  # riskiest first
    assert Digest.from_json(first.to_json()) == first


@pytest.mark.parametrize(
    ("text", "says"),
    [
        ('{"v": 2}', "a digest of version 2, not 1"),
        ('{"v": 1}', "a malformed digest (KeyError)"),
        ("[]", "a malformed digest (AttributeError)"),
        ("not json", "a malformed digest (JSONDecodeError)"),
    ],
)
def test_unreadable_digests_are_refused(text: str, says: str) -> None:
    """A digest of another version, or damaged, is refused rather than misread."""
    with pytest.raises(DigestError, match=says.replace("(", r"\(").replace(")", r"\)")):
        Digest.from_json(text)


def test_a_large_export_keeps_its_riskiest_containers_and_says_so() -> None:
    """Over the cap, the digest keeps the riskiest, and the diff is marked partial."""
    digest = _digest(ID_HEADER, BEFORE, digest_limit=2)
    assert (digest.containers, [e.key for e in digest.entries]) == (5, [("id4",), ("id3",)])
    assert digest.truncated
    change = diff(digest, _digest(ID_HEADER, AFTER, digest_limit=2))
    assert change.partial
    summary = read_export(openpyxl_xlsx([ID_HEADER, *AFTER])).summary
    assert summary is not None
    assert "only the riskiest containers of a large export are compared" in render_text(
        summary, change
    )


def test_rows_sharing_a_key_are_merged_and_counted() -> None:
    """Two rows with one container_id add their risks into one entry."""
    rows = [["id1", "a", "p", "c", 1, 0, 0, 0], ["id1", "a", "p", "c", 2, 0, 1, 0]]
    digest = _digest(ID_HEADER, rows)
    assert (digest.merged, [e.risks for e in digest.entries]) == (1, [(3, 0, 1, 0)])


def test_rows_without_a_key_are_counted_not_kept() -> None:
    """A row with no container_id cannot be followed from export to export."""
    digest = _digest(ID_HEADER, [["", "a", "p", "c", 1, 0, 0, 0], *BEFORE])
    assert (digest.unkeyed, digest.containers) == (1, 5)
