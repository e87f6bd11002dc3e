"""The async entry point reads in a worker process and always answers with a Report."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from reading_support import names

from bot.reading import Expected, SummaryWorker, read_export, tables
from bot.reading.worker import RECYCLE_RSS_BYTES
from emulators.export_files import export_rows, population, write_file

HEADERS = names("zh", ["container_id", "container_name", "status", "risky", "fatal_risk"])


@pytest.fixture
async def worker() -> AsyncIterator[SummaryWorker]:
    """A summary worker, stopped after the test."""
    summaries = SummaryWorker(timeout=60)
    yield summaries
    await summaries.aclose()


def _export(tmp_path: Path) -> Path:
    rows = export_rows(population(seed=3, step=0, size=50), {}, {})
    name, content = write_file("xlsx", HEADERS, rows, "export")
    path = tmp_path / name
    path.write_bytes(content)
    return path


async def test_the_worker_reads_in_another_process(
    worker: SummaryWorker, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The result equals an in-process read, though this process's reader is broken."""
    path = _export(tmp_path)
    expected = read_export(path, Expected.from_export_headers(HEADERS))

    def broken(*_: object) -> None:
        raise AssertionError("the parse ran in the bot's own process")

    monkeypatch.setattr(tables, "rows", broken)
    report = await worker.summarize(path, Expected.from_export_headers(HEADERS))
    assert report.summary == expected.summary
    assert report.digest == expected.digest
    assert report.peak_rss is not None
    assert report.peak_rss > 0
    assert report.cpu_seconds is not None


async def test_bytes_and_bad_files_come_back_as_reasons(worker: SummaryWorker) -> None:
    """A bad file through the worker is a Report with its reason, never an exception."""
    report = await worker.summarize(b"PK\x03\x04 not really a zip")
    assert report.summary is None
    assert report.reason is not None
    assert report.reason.startswith("the zip is corrupt")


async def test_a_read_over_its_time_gives_a_reason_and_the_next_read_works(
    tmp_path: Path,
) -> None:
    """A job past its timeout is abandoned with a reason; a fresh worker takes the next."""
    path = _export(tmp_path)
    impatient = SummaryWorker(timeout=0.001)  # not even time to start the worker process
    try:
        report = await impatient.summarize(path)
        assert report.reason == "reading the file took longer than 0.001 s"
        impatient.timeout = 60
        again = await impatient.summarize(path, Expected.from_export_headers(HEADERS))
        assert again.summary is not None
        assert again.summary.rows == 50
    finally:
        await impatient.aclose()


async def test_small_files_share_one_reader_and_a_grown_one_is_replaced(tmp_path: Path) -> None:
    """Starting a reader costs more than reading a small file: it is kept until it grows.

    Past `recycle_rss` it is retired after its file and the next file gets a fresh one.
    """
    path = _export(tmp_path)
    reader = SummaryWorker(timeout=60)
    seen = []
    try:
        for recycle_rss in (RECYCLE_RSS_BYTES, RECYCLE_RSS_BYTES, 1, RECYCLE_RSS_BYTES):
            reader.recycle_rss = recycle_rss  # 1: the reader has "grown", retired after the file
            assert (await reader.summarize(path)).summary is not None
            seen.append(reader.reader_pids)
    finally:
        await reader.aclose()
    first, second, retired, fresh = seen
    assert len(first) == 1
    assert second == first  # the second file, the same process
    assert retired == frozenset()  # the grown one is let go once its file is read
    assert len(fresh) == 1
    assert fresh != first
