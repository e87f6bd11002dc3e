"""Read exports off the event loop: in one worker process, one file at a time.

Why a process and not a thread (figures in docs/benchmarks.md): python-calamine
loads the whole sheet at once, about 200 MB at peak for 100,000 rows, which a
thread would add to the bot's own RSS (the budget is 150 MB), and in a thread
the parse also competes with the event loop for the GIL. A worker process
keeps both away from the bot; the file goes to it as a path (or bytes) and only
the small `Report` comes back.

The pool is `ProcessPoolExecutor(max_workers=1, max_tasks_per_child=1)` on a
`spawn` context (no copy of the bot's sockets, threads or event loop): each
file gets a fresh worker, which costs about 0.3 s and gives the memory back to
the system when the file is read (a long-lived worker kept growing, 207 then
234 then 250 MB over three files). Jobs are
serialized by a lock, so a job's `timeout` counts its own work, not the queue.
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


class SummaryWorker:
    """A single worker process that turns export files into `Report`s."""

    def __init__(
        self,
        *,
        timeout: float = DEFAULT_TIMEOUT_SECONDS,
        limits: ReadLimits | None = None,
        start_method: str = "spawn",
    ) -> None:
        self.timeout = timeout
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
                return await asyncio.wait_for(job, self.timeout)
            except TimeoutError:
                self._discard_pool()
                reason = f"reading the file took longer than {self.timeout:g} s"
                return Report(None, None, reason, self.timeout)
            except BrokenProcessPool:
                self._discard_pool()
                return Report(None, None, "the reader process died on this file (out of memory?)")

    async def aclose(self) -> None:
        """Stop the worker, abandoning a job still running."""
        self._discard_pool()

    def _ensure_pool(self) -> ProcessPoolExecutor:
        if self._pool is None:
            self._pool = ProcessPoolExecutor(
                max_workers=1,
                mp_context=self._context,
                max_tasks_per_child=1,
                initializer=_lower_priority,
            )
        return self._pool

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
) -> Report:
    """Run in the worker: read the file, and say how much memory and CPU reading it took."""
    started = time.process_time()
    report = read_export(source, expected, export_size=export_size, limits=limits)
    return replace(report, peak_rss=peak_rss(), cpu_seconds=time.process_time() - started)


def peak_rss() -> int | None:
    """Return this process's peak resident set size in bytes (None where unknown)."""
    if sys.platform == "win32":
        return None
    import resource  # POSIX only, hence imported here

    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return peak if sys.platform == "darwin" else peak * 1024  # Linux counts KiB
