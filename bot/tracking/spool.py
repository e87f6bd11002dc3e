"""Stream an exported file from HSS to a temporary file on disk, hashing it on the way.

Memory stays flat: at most `SPOOL_FLUSH_BYTES` are buffered, and hashing and
writing run in a worker thread, off the event loop. A disk that refuses (full,
unwritable) raises `SpoolFailed`, which the delivery step retries.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import logging
import os
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final, TypeVar

from bot.domain.errors import SpoolFailed
from bot.ports import Hss

log = logging.getLogger(__name__)

T = TypeVar("T")

SPOOL_FLUSH_BYTES: Final = 1024 * 1024  # write the download to disk a mebibyte at a time


@dataclass(frozen=True)
class Spooled:
    """A downloaded file on local disk: where, how big, its SHA-256."""

    path: Path
    size: int
    sha256: str


async def download_to_disk(
    hss: Hss,
    file_id: str,
    enterprise_project_id: str | None,
    *,
    limit: int,
    spool_dir: Path | None,
) -> Spooled | None:
    """Download a file to a temporary file; None (nothing kept) if it exceeds `limit` bytes."""
    spool = await on_disk(_Spool, spool_dir)
    kept = False
    try:
        pending = bytearray()
        async with hss.download(file_id, enterprise_project_id) as chunks:
            async for chunk in chunks:
                if spool.size + len(pending) + len(chunk) > limit:
                    return None
                pending += chunk
                if len(pending) >= SPOOL_FLUSH_BYTES:
                    await on_disk(spool.write, bytes(pending))
                    pending.clear()
        await on_disk(spool.write, bytes(pending))
        await on_disk(spool.close)
        kept = True
        return Spooled(spool.path, spool.size, spool.digest.hexdigest())
    finally:
        if not kept:
            await asyncio.to_thread(spool.discard)


def remove(path: Path) -> None:
    """Delete a spooled file; a failure is logged, never raised (the step's outcome stands)."""
    try:
        path.unlink(missing_ok=True)
    except OSError as exc:
        log.warning("spool file not removed", extra={"path": str(path), "error": exc.strerror})


async def on_disk(fn: Callable[..., T], *args: Any) -> T:
    """Run a disk operation in a worker thread; an `OSError` becomes a `SpoolFailed`."""
    try:
        return await asyncio.to_thread(fn, *args)
    except OSError as exc:
        reason = exc.strerror or type(exc).__name__
        raise SpoolFailed(f"the download could not be written to disk ({reason})") from exc


class _Spool:
    """A temporary file that hashes what is written to it (used from a worker thread)."""

    def __init__(self, spool_dir: Path | None) -> None:
        fd, name = tempfile.mkstemp(prefix="hss-export-", suffix=".part", dir=spool_dir)
        self.path = Path(name)
        self._file = os.fdopen(fd, "wb")
        self.digest = hashlib.sha256()
        self.size = 0

    def write(self, data: bytes) -> None:
        self.digest.update(data)
        self._file.write(data)
        self.size += len(data)

    def close(self) -> None:
        self._file.close()

    def discard(self) -> None:
        with contextlib.suppress(OSError):  # a failed flush on close: the file goes anyway
            self._file.close()
        remove(self.path)
