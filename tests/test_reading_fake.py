"""The fake HSS serves real exports: the requested columns, seeded rows that change per export."""

from __future__ import annotations

import csv
import io
import zipfile
from collections.abc import AsyncIterator
from typing import Any

import openpyxl
import pytest

from bot.adapters.hss import HssClient
from bot.adapters.signer import AkSkAuth
from bot.domain.model import ClusterType, ContainerStatus, ExportBody, ExportQuery, ExportRequest
from bot.reading import Expected, Report, diff, read_export
from emulators.export_files import FileFormat
from emulators.fake_hss import FakeHss, Task

HEADERS = [
    ("container_id", "容器id"),
    ("container_name", "Box"),
    ("status", "状态"),
    ("risky", "是否有安全风险"),
    ("cluster_name", "所属集群"),
    ("high_risk", "高危风险"),
    ("fatal_risk", "致命风险"),
]


def _request(**body: Any) -> ExportRequest:
    size = body.pop("export_size", None)
    return ExportRequest(
        query=ExportQuery(export_size=size), body=ExportBody(export_headers=HEADERS, **body)
    )


@pytest.fixture(params=["xlsx", "csv", "zip"])
async def fake(request: pytest.FixtureRequest) -> AsyncIterator[FakeHss]:
    """A fake HSS writing real export files in each format."""
    file_format: FileFormat = request.param
    async with FakeHss(file_format=file_format, polls_until_done=0) as hss:
        yield hss


async def _export(hss: FakeHss, request: ExportRequest) -> tuple[Task, bytes]:
    client = HssClient(hss.url, hss.project_id, AkSkAuth(hss.ak, hss.sk, hss.project_id))
    try:
        created = await client.create_export_task(request)
        status = await client.get_export_task(created.task_id)
        assert status.file_id is not None
        async with client.download(status.file_id) as chunks:
            content = b"".join([chunk async for chunk in chunks])
    finally:
        await client.aclose()
    return hss.tasks[created.task_id], content


def _header_row(content: bytes) -> list[str]:
    """Read the header row with other readers than the bot's."""
    if content.startswith(b"PK"):
        archive = zipfile.ZipFile(io.BytesIO(content))
        if "[Content_Types].xml" not in archive.namelist():
            [inner] = archive.namelist()
            return _header_row(archive.read(inner))
        sheet = openpyxl.load_workbook(io.BytesIO(content), read_only=True).worksheets[0]
        return [str(cell) for cell in next(sheet.iter_rows(values_only=True))]
    return next(csv.reader(io.StringIO(content.decode("gb18030"))))


def _read(content: bytes, size: int | None = None) -> Report:
    report = read_export(content, Expected.from_export_headers(HEADERS), export_size=size)
    assert report.summary is not None, report.reason
    return report


async def test_the_file_has_exactly_the_requested_columns(fake: FakeHss) -> None:
    """The header row is the request's display names, in its order, in every format."""
    task, content = await _export(fake, _request())
    assert _header_row(content) == [name for _, name in HEADERS]
    assert task.file_size == len(content)
    suffix = {"xlsx": ".xlsx", "csv": ".csv", "zip": ".zip"}[fake.file_format]
    assert task.file_name == f"container-export-{task.task_id}{suffix}"


async def test_the_summary_counts_what_the_fake_wrote(fake: FakeHss) -> None:
    """Rows, risky split and risk sums of the summary equal the rows the fake kept."""
    task, content = await _export(fake, _request())
    summary = _read(content).summary
    assert summary is not None
    assert summary.rows == len(task.rows) == fake.population_size
    assert summary.risky == sum(1 for r in task.rows if r["risky"])
    assert summary.risk_sums == (
        ("high_risk", sum(r["high_risk"] for r in task.rows)),
        ("fatal_risk", sum(r["fatal_risk"] for r in task.rows)),
    )


async def test_cheap_filters_and_export_size_are_honoured(fake: FakeHss) -> None:
    """status, risky and cluster_type filter the rows; export_size caps them."""
    task, content = await _export(
        fake, _request(status=ContainerStatus.RUNNING, risky=True, cluster_type=ClusterType.CCE)
    )
    assert task.rows
    assert all(
        (r["status"], r["risky"], r["cluster_type"]) == ("Running", True, "cce") for r in task.rows
    )
    assert _read(content).summary.rows == len(task.rows)  # type: ignore[union-attr]
    capped, content = await _export(fake, _request(export_size=7))
    summary = _read(content, 7).summary
    assert summary is not None
    assert (len(capped.rows), summary.rows, summary.capped) == (7, 7, True)


async def test_a_second_export_changes_exactly_as_the_rows_did(fake: FakeHss) -> None:
    """Between two exports some containers are new, some gone, some riskier or less risky."""
    first, old = await _export(fake, _request())
    second, new = await _export(fake, _request())
    change = diff(_read(old).digest, _read(new).digest)  # type: ignore[arg-type]
    before = {r["container_id"]: r for r in first.rows}
    after = {r["container_id"]: r for r in second.rows}

    def severity(row: dict[str, Any]) -> tuple[int, int]:
        return (row["fatal_risk"], row["high_risk"])

    both = before.keys() & after.keys()
    assert {e.key[0] for e in change.new} == after.keys() - before.keys()
    assert {e.key[0] for e in change.gone} == before.keys() - after.keys()
    assert {c.after.key[0] for c in change.up} == {
        k for k in both if severity(after[k]) > severity(before[k])
    }
    assert {c.after.key[0] for c in change.down} == {
        k for k in both if severity(after[k]) < severity(before[k])
    }
    assert change.new
    assert change.gone
    assert change.up or change.down


async def test_the_same_export_number_gives_the_same_rows() -> None:
    """Rows are seeded per export number: two fakes with one seed write the same files."""
    contents = []
    for _ in range(2):
        async with FakeHss(file_format="csv", polls_until_done=0, seed=99) as hss:
            contents.append((await _export(hss, _request()))[1])
    assert contents[0] == contents[1]
