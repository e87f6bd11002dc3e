"""Summarize a 100,000-row, 16-column xlsx: how fast, how much memory, and is the loop free?

    .venv/bin/python bench/bench_summary.py                 # everything, 100,000 rows
    .venv/bin/python bench/bench_summary.py --rows 20000 --runs 1 --skip-compare

What it does (figures, not a test: nothing is asserted):

1. writes the file in a child process with xlsxwriter (the fake HSS's writer,
   not the reader's library): realistic rows from `emulators.export_files`,
   all 16 columns under the documentation's Chinese names;
2. in this process, with an event loop ticking every 10 ms, summarizes it
   `--runs` times through `SummaryWorker` (a spawned worker process; the first
   run includes starting it) and prints wall time, rows/s, the loop's lag
   (p99 and max: what an ack arriving meanwhile would wait), this process's
   peak RSS and the worker's;
3. for comparison, each in a fresh child process: the same summary in a
   thread of the event loop's process (`asyncio.to_thread`), and the bare row
   reading of python-calamine and of openpyxl (read-only mode).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

MB = 1024 * 1024


def _peak_rss() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KiB on Linux -> MB


def generate(path: Path, rows: int) -> None:
    """Write the benchmark's xlsx (run in a child process, so its memory is not ours)."""
    from bot.domain.model import default_headers
    from emulators.export_files import population, xlsx_bytes

    containers = population(seed=2026, step=0, size=rows)
    headers = [list(pair) for pair in default_headers("zh")]
    path.write_bytes(xlsx_bytes(headers, [c.row() for c in containers]))


async def _with_ticker(work: Callable[[], Awaitable[Any]]) -> tuple[Any, float, list[float]]:
    """Run `work` while a task measures how late a 10 ms sleep wakes up (the loop's lag)."""
    lags: list[float] = []
    stop = asyncio.Event()

    async def tick() -> None:
        while not stop.is_set():
            started = time.perf_counter()
            await asyncio.sleep(0.01)
            lags.append(time.perf_counter() - started - 0.01)

    ticker = asyncio.create_task(tick())
    started = time.perf_counter()
    result = await work()
    wall = time.perf_counter() - started
    stop.set()
    await ticker
    return result, wall, lags


def _lag_text(lags: list[float]) -> str:
    ordered = sorted(lags)
    p99 = ordered[min(len(ordered) - 1, int(len(ordered) * 0.99))]
    return f"loop lag p99 {p99 * 1000:.0f} ms, max {ordered[-1] * 1000:.0f} ms"


async def bench_worker(path: Path, runs: int) -> list[dict[str, Any]]:
    """Summarize through the worker process `runs` times; return one figure set per run."""
    from bot.reading import SummaryWorker

    worker = SummaryWorker(timeout=120)
    before = _peak_rss()
    results = []
    try:
        for run in range(runs):
            report, wall, lags = await _with_ticker(lambda: worker.summarize(path))
            assert report.summary is not None, report.reason
            figures = {
                "run": run + 1,
                "wall_s": wall,
                "read_s": report.seconds,
                "cpu_s": report.cpu_seconds,
                "rows": report.summary.rows,
                "rows_per_s": report.summary.rows / wall,
                "lag": _lag_text(lags),
                "parent_peak_rss_mb": _peak_rss(),
                "parent_rss_before_mb": before,
                "worker_peak_rss_mb": (report.peak_rss or 0) / MB,
            }
            results.append(figures)
            print(
                f"  worker run {run + 1}: {wall:.2f} s wall ({report.seconds:.2f} s reading, "
                f"{report.cpu_seconds or 0:.2f} s CPU), "
                f"{figures['rows_per_s']:,.0f} rows/s; {figures['lag']}; parent peak RSS "
                f"{figures['parent_peak_rss_mb']:.0f} MB (before: {before:.0f} MB), worker "
                f"peak RSS {figures['worker_peak_rss_mb']:.0f} MB"
            )
    finally:
        await worker.aclose()
    return results


def child(mode: str, path: Path) -> dict[str, Any]:
    """Run one comparison in this (child) process and return its figures."""
    if mode == "thread":
        from bot.reading import read_export

        async def main() -> tuple[Any, float, list[float]]:
            return await _with_ticker(lambda: asyncio.to_thread(read_export, path))

        report, wall, lags = asyncio.run(main())
        rows = report.summary.rows
        return {"wall_s": wall, "rows": rows, "lag": _lag_text(lags), "peak_rss_mb": _peak_rss()}
    started = time.perf_counter()
    count = 0
    if mode == "calamine":
        import python_calamine

        book = python_calamine.CalamineWorkbook.from_path(str(path))
        for _ in book.get_sheet_by_index(0).iter_rows():
            count += 1
    elif mode == "openpyxl":
        import openpyxl

        book = openpyxl.load_workbook(path, read_only=True, data_only=True)
        for _ in book.worksheets[0].iter_rows(values_only=True):
            count += 1
    wall = time.perf_counter() - started
    return {"wall_s": wall, "rows": count - 1, "peak_rss_mb": _peak_rss()}


def _run_child(mode: str, path: Path) -> dict[str, Any]:
    out = subprocess.run(
        [sys.executable, __file__, "--child", mode, str(path)],
        capture_output=True,
        text=True,
        check=True,
    )
    return json.loads(out.stdout.strip().splitlines()[-1])


def main() -> int:
    """Run the benchmark and print its figures."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--rows", type=int, default=100_000)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--file", type=Path, help="reuse (or keep) the generated xlsx here")
    parser.add_argument("--skip-compare", action="store_true", help="no thread/library runs")
    parser.add_argument("--generate", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--child", nargs=2, metavar=("MODE", "PATH"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.generate:
        generate(args.generate, args.rows)
        return 0
    if args.child:
        print(json.dumps(child(args.child[0], Path(args.child[1]))))
        return 0

    with tempfile.TemporaryDirectory() as scratch:
        path = args.file or Path(scratch) / "export.xlsx"
        if not path.exists():
            started = time.perf_counter()
            subprocess.run(
                [sys.executable, __file__, "--generate", str(path), "--rows", str(args.rows)],
                check=True,
            )
            print(f"wrote {path} in {time.perf_counter() - started:.1f} s (xlsxwriter)")
        print(f"file: {path.stat().st_size / MB:.1f} MB, {args.rows:,} rows x 16 columns")
        print(f"machine: {os.cpu_count()} CPUs, load average {os.getloadavg()[0]:.2f} (before)")
        results = asyncio.run(bench_worker(path, args.runs))
        walls = [r["wall_s"] for r in results]
        print(
            f"worker: median {statistics.median(walls):.2f} s wall over {len(walls)} runs, "
            f"{args.rows / statistics.median(walls):,.0f} rows/s; load average now "
            f"{os.getloadavg()[0]:.2f}"
        )
        if not args.skip_compare:
            for mode in ("thread", "calamine", "openpyxl"):
                figures = _run_child(mode, path)
                rate = figures["rows"] / figures["wall_s"]
                lag = f"; {figures['lag']}" if "lag" in figures else ""
                print(
                    f"{mode:>9}: {figures['wall_s']:.2f} s, {rate:,.0f} rows/s, "
                    f"peak RSS {figures['peak_rss_mb']:.0f} MB{lag}"
                )
    return 0


if __name__ == "__main__":
    sys.exit(main())
