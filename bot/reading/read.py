"""Read an export end to end: bytes in, a summary and a digest out, or one line why not.

This is what the worker process runs and what the CLI calls directly. It never
raises for a bad file: every way a file can fail becomes `Report.reason`, one
line for the thread ("no summary: …"); the file itself is delivered regardless.
"""

from __future__ import annotations

import os
import time
from dataclasses import dataclass
from pathlib import Path

from bot.reading import tables
from bot.reading.columns import Expected, locate
from bot.reading.detect import ReadLimits, detect, megabytes
from bot.reading.digest import DIGEST_CONTAINERS, Digest, DigestBuilder
from bot.reading.errors import UnreadableExport
from bot.reading.records import RowReader, batches
from bot.reading.summary import Summary, SummaryBuilder


@dataclass(frozen=True)
class Report:
    """The outcome of reading one export: a summary and digest, or the reason there is none."""

    summary: Summary | None
    digest: Digest | None
    reason: str | None = None  # one line, set exactly when there is no summary
    seconds: float = 0.0  # time spent reading
    peak_rss: int | None = None  # peak RSS in bytes of the process that read (set by the worker)
    cpu_seconds: float | None = None  # CPU time the worker spent (set by the worker)

    @property
    def ok(self) -> bool:
        """Tell whether the file was summarized."""
        return self.summary is not None


def read_export(
    source: bytes | os.PathLike[str],
    expected: Expected | None = None,
    *,
    export_size: int | None = None,
    limits: ReadLimits | None = None,
    digest_limit: int = DIGEST_CONTAINERS,
) -> Report:
    """Summarize an export given as bytes or a path; never raise for a bad file.

    `expected` is the request's `export_headers` (`Expected.from_export_headers`);
    without it the documentation's Chinese and the bot's English names are
    recognized. `export_size` is what the request asked for (the API's 100,000
    when None), to tell whether the export was capped.
    """
    started = time.perf_counter()
    try:
        data = _load(source, limits or ReadLimits())
        summary, digest = _read(data, expected, export_size, limits, digest_limit)
    except UnreadableExport as exc:
        return Report(None, None, str(exc), time.perf_counter() - started)
    except (KeyboardInterrupt, SystemExit):
        raise
    except BaseException as exc:  # noqa: BLE001 - a file that breaks the reader (even a Rust panic) must not cost the delivery
        reason = f"the file could not be read (the reader failed: {type(exc).__name__})"
        return Report(None, None, reason, time.perf_counter() - started)
    return Report(summary, digest, None, time.perf_counter() - started)


def _load(source: bytes | os.PathLike[str], limits: ReadLimits) -> bytes:
    if isinstance(source, bytes):
        return source
    path = Path(source)
    try:
        size = path.stat().st_size
        if size > limits.max_file_bytes:
            raise UnreadableExport(
                f"the file is {megabytes(size)}; the bot summarizes files up to "
                f"{megabytes(limits.max_file_bytes)}"
            )
        return path.read_bytes()
    except OSError as exc:
        raise UnreadableExport(f"the file could not be opened ({exc.strerror})") from None


def _read(
    data: bytes,
    expected: Expected | None,
    export_size: int | None,
    limits: ReadLimits | None,
    digest_limit: int,
) -> tuple[Summary, Digest]:
    payload = detect(data, limits)
    rows = tables.rows(payload)
    columns = locate(rows, expected or Expected.defaults())
    reader = RowReader(columns)
    summary = SummaryBuilder(columns, export_size, payload.describe())
    digest = DigestBuilder(columns, digest_limit)
    for batch in batches(rows):
        for container in reader.read(batch):
            summary.add(container)
            digest.add(container)
    if summary.rows == 0:
        raise UnreadableExport("the export has a header row and no containers")
    return summary.finish(reader), digest.finish()
