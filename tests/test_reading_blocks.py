"""The thread message: valid for slack_sdk's models, within Slack's limits, file text escaped."""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime
from typing import Any

import pytest
from reading_support import openpyxl_xlsx
from slack_sdk.models.blocks import Block, ContextBlock, SectionBlock, TableBlock

from bot.domain.model import HEADER_KEYS
from bot.reading import (
    ClusterRisk,
    Digest,
    Summary,
    TopContainer,
    diff,
    read_export,
    render_blocks,
    render_no_summary,
    thread_message,
)
from bot.reading.digest import Entry

EVIL = "<!channel> & <https://evil.example|click>"


def _check(blocks: list[dict[str, Any]], text: str) -> list[Block]:
    """Parse every block with slack_sdk, validate it, and check Slack's message limits."""
    assert 0 < len(text) <= 40_000
    assert len(blocks) <= 50
    parsed = []
    for block in blocks:
        model = Block.parse(block)
        assert model is not None, block["type"]
        model.validate_json()
        assert model.to_dict() == block  # nothing dropped or unknown to the SDK
        parsed.append(model)
        if isinstance(model, SectionBlock):
            if model.text is not None:
                assert 0 < len(model.text.text) <= 3000
            assert len(model.fields or ()) <= 10
            assert all(len(f.text) <= 2000 for f in model.fields or ())
        if isinstance(model, ContextBlock):
            assert len(model.elements) <= 10
        if isinstance(model, TableBlock):
            assert len(model.rows) <= 100
            assert all(len(row) <= 20 for row in model.rows)
            assert all(cell["text"] for row in model.rows for cell in row)
            assert sum(len(cell["text"]) for row in model.rows for cell in row) <= 10_000
    assert sum(isinstance(m, TableBlock) for m in parsed) <= 1  # Slack takes one table a message
    dumped = json.dumps(blocks, ensure_ascii=False)
    assert not re.search(r"&(?!amp;|lt;|gt;)", dumped.replace("&amp;", ""))  # no broken escape
    return parsed


def _summary(clusters: int = 3, name: str = "web", top: int = 3) -> Summary:
    return Summary(
        rows=1234,
        export_size=1234,
        file_format="xlsx",
        columns=HEADER_KEYS,
        by_status=(("Running", 1200), (name, 34)),
        risky=400,
        not_risky=834,
        risky_unknown=0,
        risky_basis="risky",
        risk_sums=(("low_risk", 10), ("medium_risk", 5), ("high_risk", 3), ("fatal_risk", 1)),
        top=tuple(TopContainer(f"{name}-{i}", f"{name}:1", f"{name}-c", 2, i) for i in range(top)),
        clusters=tuple(ClusterRisk(f"{name}-{i}", 10, 20) for i in range(clusters)),
        created=(datetime(2026, 1, 1), datetime(2026, 2, 1)),
        unreadable=2,
        unreadable_example=f"low_risk {name!r} in row 3",
    )


def _digest(names: list[str], risk: int) -> Digest:
    entries = tuple(Entry((f"id-{n}",), n, (risk, 0, 0, 0)) for n in names)
    return Digest("container_id", len(names), len(names), ("low_risk",), (), entries)


def test_a_summary_with_a_diff_is_valid_block_kit() -> None:
    """Every block parses and validates with slack_sdk, with one table of the riskiest."""
    change = diff(_digest(["a", "b", "c"], 1), _digest(["b", "c", "d"], 2))
    message = render_blocks(
        _summary(), change, since=datetime(2026, 3, 1, tzinfo=UTC), by="U0ALICE"
    )
    parsed = _check(message.blocks, message.text)
    [table] = [m for m in parsed if isinstance(m, TableBlock)]
    assert [cell["text"] for cell in table.rows[0]] == [
        "Container",
        "Image",
        "Cluster",
        "Fatal",
        "High",
    ]
    assert [cell["text"] for cell in table.rows[1]] == ["web-0", "web:1", "web-c", "2", "0"]
    dumped = json.dumps(message.blocks)
    assert "<@U0ALICE> ran it" in dumped
    assert "<!date^1772323200^{date_short_pretty} at {time}|2026-03-01 00:00 UTC>" in dumped
    assert "1 new, 1 gone, 2 riskier, 0 less risky" in dumped
    assert ":warning: capped at 1,234 rows: narrow the filters for the rest" in dumped
    assert message.text.startswith("Export summary: 1,234 containers (xlsx)")


def test_many_clusters_and_long_hostile_names_stay_within_limits_and_escaped() -> None:
    """Long names and many clusters are clipped to Slack's limits; `<!channel>` pings nobody."""
    name = (EVIL + " ") * 40
    summary = _summary(clusters=10, name=name, top=10)
    many = [f"{name}{i}" for i in range(300)]
    change = diff(_digest(many[:150], 1), _digest(many[100:], 2))
    message = render_blocks(summary, change, since="an <b> export", by=EVIL)
    _check(message.blocks, message.text)
    dumped = json.dumps(message.blocks, ensure_ascii=False)
    assert "<!channel>" not in dumped
    assert "<https://evil" not in dumped
    assert "&lt;!channel&gt; &amp; &lt;https://evil.example|click&gt;" in dumped
    assert "and 140 more" in dumped  # 150 new, 10 listed


def test_a_summary_without_risk_columns_has_no_table_and_a_hint() -> None:
    """Without risk columns there is no table, and the note says which headers to use."""
    summary = Summary(
        rows=3, export_size=100_000, file_format="CSV (GB18030)", columns=("container_name",)
    )
    message = render_blocks(summary)
    parsed = _check(message.blocks, message.text)
    assert not any(isinstance(m, TableBlock) for m in parsed)
    assert "headers=container_name,image_name,cluster_name,risky" in json.dumps(message.blocks)


def test_a_diff_that_could_not_be_made_says_why() -> None:
    """Exports keyed differently are not compared, in one line."""
    names_digest = Digest("names", 1, 1, (), (), (Entry(("a", "p", "c"), "a", (0, 0, 0, 0)),))
    change = diff(_digest(["a"], 0), names_digest)
    message = render_blocks(_summary(), change)
    _check(message.blocks, message.text)
    assert "not compared, the earlier export matched containers by container_id" in json.dumps(
        message.blocks
    )


@pytest.mark.parametrize("reason", ["the file is empty", "unexpected column '<!here>'"])
def test_no_summary_is_one_escaped_line(reason: str) -> None:
    """A file without summary gets one context line saying why, escaped."""
    message = render_no_summary(reason)
    [block] = _check(message.blocks, message.text)
    assert isinstance(block, ContextBlock)
    assert message.text == f"No summary of this file: {reason}."
    assert "<!here>" not in json.dumps(message.blocks)


def test_the_thread_message_follows_the_report() -> None:
    """A read export gives its summary (and changes, given the last digest), else why not."""
    header = ["容器id", "容器名称", "高危风险"]
    old = read_export(openpyxl_xlsx([header, ["i1", "a", 1]]))
    new = read_export(openpyxl_xlsx([header, ["i1", "a", 2], ["i2", "b", 0]]))
    with_diff = thread_message(new, old.digest, since="yesterday", by="U0BOB")
    _check(with_diff.blocks, with_diff.text)
    assert "*Changed since yesterday, <@U0BOB> ran it*: 1 new, 0 gone, 1 riskier" in json.dumps(
        with_diff.blocks
    )
    assert "Changed" not in thread_message(new).text
    refused = thread_message(read_export(b""))
    assert refused.text == "No summary of this file: the file is empty."
