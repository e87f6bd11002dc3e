"""Read exports off the event loop: in one worker process, one file at a time.

Why a process and not a thread (figures in docs/benchmarks.md): python-calamine
loads the whole sheet at once, about 200 MB at peak for 100,000 rows, which a
thread would add to the bot's own RSS (the budget is 150 MB), and in a thread
the parse also competes with the event loop for the GIL. A worker process
keeps both away from the bot; the file goes to it as a path (or bytes) and only
the small `Report` comes back.

The pool is `ProcessPoolExecutor(max_workers=1)` on a `spawn` context (no
copy of the bot's sockets, threads or event loop). A worker is kept for the
next file until its RSS after a file passes `recycle_rss` (100 MB; not the peak,
which Linux carries over from the bot through `exec`): then it is retired
and the next file gets a fresh one, which gives the memory back to the system
(a long-lived worker reading 100,000-row files kept growing, 207 then 234 then
250 MB over three). Small files, the usual case, share one worker: starting a
worker costs about 0.3-0.5 s of CPU, far more than reading a small file
(docs/benchmarks.md). Jobs are serialized by a lock, so a job's `timeout`
counts its own work, not the queue.
A job over its timeout, or a worker that died (killed for memory, crashed), gives
a `Report` with a reason, and the next job gets a fresh worker.
"""

from __future__ import annotations

import asyncio
import contextlib
import multiprocessing
import os
import sys
import time
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from dataclasses import replace
from typing import Final

from bot.reading.columns import Expected
from bot.reading.detect import ReadLimits
from bot.reading.read import Report, read_export

DEFAULT_TIMEOUT_SECONDS: Final = 60.0
# A worker whose peak RSS passed this is retired after its file (a fresh one reads the next).
RECYCLE_RSS_BYTES: Final = 100 * 2**20


class SummaryWorker:
    """A single worker process that turns export files into `Report`s."""

    def __init__(
        self,
        *,
        timeout: float = DEFAULT_TIMEOUT_SECONDS,
        limits: ReadLimits | None = None,
        start_method: str = "spawn",
        recycle_rss: int = RECYCLE_RSS_BYTES,
    ) -> None:
        self.timeout = timeout
        self.recycle_rss = recycle_rss
        self.limits = limits or ReadLimits()
        self._context = multiprocessing.get_context(start_method)
        self._pool: ProcessPoolExecutor | None = None
        self._lock = asyncio.Lock()

    async def summarize(
        self,
        source: bytes | os.PathLike[str],
        expected: Expected | None = None,
        *,
        export_size: int | None = None,
    ) -> Report:
        """Read one export in the worker; never raise for a bad file or a failed worker."""
        async with self._lock:
            pool = self._ensure_pool()
            loop = asyncio.get_running_loop()
            job = loop.run_in_executor(pool, _work, source, expected, export_size, self.limits)
            try:
                report, rss = await asyncio.wait_for(job, self.timeout)
            except TimeoutError:
                self._discard_pool()
                reason = f"reading the file took longer than {self.timeout:g} s"
                return Report(None, None, reason, self.timeout)
            except BrokenProcessPool:
                self._discard_pool()
                return Report(None, None, "the reader process died on this file (out of memory?)")
            if rss is None or rss > self.recycle_rss:
                self._retire_pool()
            return report

    @property
    def reader_pids(self) -> frozenset[int]:
        """Return the pids of the reader processes this worker holds now (at most one)."""
        processes = (getattr(self._pool, "_processes", None) or {}) if self._pool else {}
        return frozenset(int(pid) for pid in processes)

    async def aclose(self) -> None:
        """Stop the worker, abandoning a job still running."""
        self._discard_pool()

    def _ensure_pool(self) -> ProcessPoolExecutor:
        if self._pool is None:
            self._pool = ProcessPoolExecutor(
                max_workers=1, mp_context=self._context, initializer=_lower_priority
            )
        return self._pool

    def _retire_pool(self) -> None:
        """Let the idle worker exit (its memory goes back); the next job starts a fresh one."""
        pool, self._pool = self._pool, None
        if pool is not None:
            pool.shutdown(wait=False)

    def _discard_pool(self) -> None:
        pool, self._pool = self._pool, None
        if pool is None:
            return
        terminate = getattr(pool, "terminate_workers", None)  # Python 3.14+
        if terminate is not None:
            terminate()
        else:  # 3.11-3.13 offer no public way to stop a running job: end its process
            for process in list((getattr(pool, "_processes", None) or {}).values()):
                process.terminate()
        pool.shutdown(wait=False, cancel_futures=True)


WORKER_NICENESS: Final = 10


def _lower_priority() -> None:
    """Run in the worker: yield the CPU to the bot, so acks are not queued behind a parse.

    On a busy machine the parse otherwise takes a core the bot's event loop
    needs (figures in docs/benchmarks.md, "Acks while the bot summarizes").
    """
    if hasattr(os, "nice"):
        with contextlib.suppress(OSError):
            os.nice(WORKER_NICENESS)


def _work(
    source: bytes | os.PathLike[str],
    expected: Expected | None,
    export_size: int | None,
    limits: ReadLimits,
) -> tuple[Report, int | None]:
    """Run in the worker: read the file, say how much memory and CPU reading it took.

    Also return the worker's RSS now: what it keeps for the next file.
    """
    started = time.process_time()
    report = read_export(source, expected, export_size=export_size, limits=limits)
    cpu = time.process_time() - started
    return replace(report, peak_rss=peak_rss(), cpu_seconds=cpu), current_rss()


def current_rss() -> int | None:
    """Return this process's resident set size now, in bytes (None where unknown: not Linux)."""
    try:
        with open("/proc/self/statm", encoding="ascii") as statm:
            return int(statm.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")
    except (OSError, ValueError, IndexError):
        return None


def peak_rss() -> int | None:
    """Return this process's peak resident set size in bytes (None where unknown)."""
    if sys.platform == "win32":
        return None
    import resource  # POSIX only, hence imported here

    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return peak if sys.platform == "darwin" else peak * 1024  # Linux counts KiB
