"""The summary's numbers equal what the generator wrote, within what the columns allow."""

from __future__ import annotations

from collections import Counter
from datetime import datetime
from typing import Any

import pytest
from reading_support import csv_file, names, openpyxl_xlsx

from bot.domain.model import HEADER_KEYS
from bot.reading import Expected, Summary, read_export, render_text
from emulators.export_files import FileFormat, Row, export_rows, population, write_file

RISKS = ("low_risk", "medium_risk", "high_risk", "fatal_risk")


def _rows(size: int = 60, step: int = 0) -> list[Row]:
    return export_rows(population(seed=7, step=step, size=size), {}, {})


def _summarize(
    rows: list[Row], keys: tuple[str, ...], lang: str = "zh", fmt: FileFormat = "xlsx", **kw: Any
) -> Summary:
    headers = names(lang, keys)
    _, data = write_file(fmt, headers, rows, "export")
    report = read_export(data, Expected.from_export_headers(headers), **kw)
    assert report.summary is not None, report.reason
    return report.summary


def _oracle(rows: list[Row]) -> dict[str, Any]:
    """Compute, straight from the written rows, what the summary must say."""
    risky = [r for r in rows if r["risky"]]
    ranked = sorted(
        ((r["fatal_risk"], r["high_risk"], -i, r) for i, r in enumerate(rows)),
        key=lambda item: item[:3],
        reverse=True,
    )
    top = [
        (r["container_name"], r["image_name"], r["cluster_name"], fatal, high)
        for fatal, high, _, r in ranked
        if fatal or high
    ][:10]
    everyone = Counter(r["cluster_name"] for r in rows)
    clusters = Counter(r["cluster_name"] for r in risky)
    return {
        "by_status": sorted(
            Counter(r["status"] for r in rows).items(), key=lambda s: (-s[1], s[0])
        ),
        "risky": (len(risky), len(rows) - len(risky)),
        "sums": [(k, sum(r[k] for r in rows)) for k in RISKS],
        "top": top,
        "clusters": sorted(
            ((c, n, everyone[c]) for c, n in clusters.items()), key=lambda c: (-c[1], -c[2], c[0])
        )[:10],
        "created": (min(r["create_time"] for r in rows), max(r["create_time"] for r in rows)),
    }


@pytest.mark.parametrize("fmt", ["xlsx", "csv", "zip"])
@pytest.mark.parametrize("lang", ["zh", "en"])
def test_summary_matches_the_rows_written(fmt: FileFormat, lang: str) -> None:
    """Counts by status, risky split, risk sums, top ten and risky clusters equal the rows'."""
    rows = _rows()
    summary = _summarize(rows, HEADER_KEYS, lang, fmt)
    want = _oracle(rows)
    assert summary.rows == len(rows)
    assert list(summary.by_status or ()) == want["by_status"]
    assert (summary.risky, summary.not_risky, summary.risky_unknown) == (*want["risky"], 0)
    assert summary.risky_basis == "risky"
    assert list(summary.risk_sums or ()) == want["sums"]
    assert [(t.container, t.image, t.cluster, t.fatal, t.high) for t in summary.top or ()] == want[
        "top"
    ]
    assert [(c.cluster, c.risky, c.containers) for c in summary.clusters or ()] == want["clusters"]
    assert summary.created == want["created"]
    assert not summary.capped
    assert summary.unreadable == 0
    # English names and values are all ASCII: valid UTF-8, and read as such.
    csv_format = "CSV (GB18030)" if lang == "zh" else "CSV (UTF-8)"
    expected_format = {"xlsx": "xlsx", "csv": csv_format, "zip": "xlsx in a zip"}[fmt]
    assert summary.file_format == expected_format


def test_an_export_that_hit_export_size_says_it_was_capped() -> None:
    """Rows equal to the requested export_size mean more may exist: the summary says so."""
    rows = export_rows(population(seed=7, step=0, size=60), {}, {"export_size": "25"})
    summary = _summarize(rows, HEADER_KEYS, export_size=25)
    assert (summary.rows, summary.capped) == (25, True)
    assert "capped at 25 rows: narrow the filters for the rest" in render_text(summary)
    assert not _summarize(rows, HEADER_KEYS, export_size=26).capped


def test_without_risk_columns_the_summary_says_which_headers_to_add() -> None:
    """Only what the columns allow: no risk sums, no top list, and a `headers=` to use."""
    summary = _summarize(_rows(), ("container_name", "status"))
    assert (summary.risk_sums, summary.top, summary.clusters, summary.risky) == (None,) * 4
    suggested = (
        "container_name,image_name,cluster_name,status,risky,low_risk,medium_risk,high_risk,"
        "fatal_risk"
    )
    assert summary.suggested_headers() == suggested
    assert f"headers={suggested}" in render_text(summary)


def test_risk_counts_alone_decide_who_is_risky_and_say_so() -> None:
    """Without a `risky` column, a container with any risk counted is risky, said in the text."""
    rows = _rows()
    summary = _summarize(rows, ("container_name", "cluster_name", *RISKS))
    assert summary.risky_basis == "counts"
    assert summary.risky == sum(1 for r in rows if any(r[k] for k in RISKS))
    assert "(from the risk counts)" in render_text(summary)


def test_a_file_whose_risks_are_all_zero_has_an_empty_top_list() -> None:
    """Risk columns without a single fatal or high risk give "none", not a missing list."""
    rows = [r | {"high_risk": 0, "fatal_risk": 0} for r in _rows()]
    summary = _summarize(rows, ("container_name", "high_risk", "fatal_risk"))
    assert summary.top == ()
    assert "No container has fatal or high risks." in render_text(summary)


def test_unreadable_values_are_counted_and_left_out() -> None:
    """A bad cell costs only itself: counted, its first example quoted, sums without it."""
    header = ["容器名称", "低危风险", "是否有安全风险"]
    data = openpyxl_xlsx([header, ["a", 3, "是"], ["b", "many", "否"], ["c", 2, "perhaps"]])
    report = read_export(data)
    assert report.summary is not None
    assert report.summary.unreadable == 2
    assert report.summary.unreadable_example == "low_risk 'many' in row 2"
    assert report.summary.risk_sums == (("low_risk", 5),)
    assert (report.summary.risky, report.summary.not_risky, report.summary.risky_unknown) == (
        1,
        1,
        1,
    )
    assert "2 values could not be read" in render_text(report.summary)


def test_blank_rows_are_not_containers() -> None:
    """Empty rows between and after the data are skipped."""
    data = csv_file([["容器名称", "状态"], ["a", "Running"], [], ["", ""], ["b", "running"], []])
    report = read_export(data)
    assert report.summary is not None
    assert (report.summary.rows, report.summary.by_status) == (2, (("Running", 2),))


@pytest.mark.parametrize(
    ("rows", "reason"),
    [
        ([["容器名称", "状态"]], "the export has a header row and no containers"),
        ([], "the file is empty"),
    ],
)
def test_zero_rows_give_no_summary(rows: list[list[str]], reason: str) -> None:
    """A header without containers, or nothing at all, gives the reason instead of a summary."""
    report = read_export(csv_file(rows))
    assert (report.summary, report.reason) == (None, reason)


def test_an_empty_sheet_gives_no_summary() -> None:
    """An xlsx with nothing in its sheet says so."""
    assert read_export(openpyxl_xlsx([])).reason == "the sheet is empty"


def test_top_lists_keep_ten_and_clusters_ten() -> None:
    """A large export still lists only the ten riskiest containers and ten clusters."""
    header = ["容器名称", "所属集群", "高危风险", "致命风险"]
    rows: list[list[Any]] = [[f"c{i}", f"cluster-{i % 15}", i % 4, i % 3] for i in range(300)]
    report = read_export(openpyxl_xlsx([header, *rows]))
    assert report.summary is not None
    top = report.summary.top or ()
    assert len(top) == 10
    assert [(t.fatal, t.high) for t in top] == [(2, 3)] * 10
    assert [t.container for t in top][:2] == ["c11", "c23"]  # file order on ties
    assert len(report.summary.clusters or ()) == 10


def test_times_from_text_cells_make_the_created_range() -> None:
    """Creation times written as text still give the oldest and newest."""
    data = csv_file(
        [["容器名称", "创建时间"], ["a", "2026-02-01 10:00:00"], ["b", "1767225600000"]]
    )
    report = read_export(data)
    assert report.summary is not None
    assert report.summary.created == (datetime(2026, 1, 1), datetime(2026, 2, 1, 10))
