"""`hss-export-bot download TASK_ID [-o FILE]`: fetch a finished export task's file from HSS.

For operators, and for files the bot did not upload to Slack (too large, or
the bot gave up waiting). It asks HSS for the task's state, then streams the
file to disk under HSS's file name (or `-o FILE`; `-o -` writes to stdout),
hashing it as it goes. The file appears only when complete: bytes go to a
temporary file beside it, renamed at the end, and an existing file is kept
unless `--force`.

Exit status: 0 saved; 2 the task failed, HSS refused, or the file exists;
75 (EX_TEMPFAIL) the task is still running, try again later.
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import os
import sys
import tempfile
from collections.abc import AsyncIterator
from pathlib import Path
from typing import IO, Any, Final

import httpx

from bot.adapters.hss import HssClient, build_hss_client
from bot.cli.profile_choice import profile_client
from bot.domain.errors import InvalidCommand, NothingToDownload, WouldOverwrite
from bot.settings import Settings, load_settings
from bot.tracking.model import safe_file_name

EX_TEMPFAIL: Final = 75
FLUSH_BYTES: Final = 1024 * 1024


def register(sub: Any) -> None:
    """Add `download` to the parser."""
    parser: argparse.ArgumentParser = sub.add_parser(
        "download",
        help="download the file of a finished export task",
        description=(
            "Stream an export task's file from HSS. Exit 75 if the task is still running."
        ),
    )
    parser.add_argument("task_id", help="the task id the bot posted")
    parser.add_argument(
        "-o",
        "--output",
        metavar="FILE",
        help="where to write (default: HSS's file name in the current directory; - for stdout)",
    )
    parser.add_argument(
        "--enterprise-project-id",
        metavar="ID",
        help="the task's enterprise project (default: HSS_ENTERPRISE_PROJECT_ID)",
    )
    parser.add_argument("--force", action="store_true", help="overwrite an existing file")
    parser.add_argument(
        "--profile",
        metavar="NAME",
        help="the HSS profile the task was created under (default: HSS_DEFAULT_PROFILE, "
        "the only one, or `default`)",
    )
    parser.set_defaults(handler=_run)


def _run(args: argparse.Namespace) -> int:
    settings = load_settings(["hss"], uses=("hss",))
    return asyncio.run(
        download(
            settings,
            args.task_id,
            output=args.output,
            enterprise_project_id=args.enterprise_project_id,
            force=args.force,
            profile=args.profile,
        )
    )


async def download(
    settings: Settings,
    task_id: str,
    *,
    output: str | None = None,
    enterprise_project_id: str | None = None,
    force: bool = False,
    transport: httpx.AsyncBaseTransport | None = None,
    profile: str | None = None,
) -> int:
    """Fetch a finished task's file; return the exit status (see the module docstring).

    With `profile` or a profiles file, the task is asked of that profile's account.
    """
    hss: HssClient
    if profile is None and settings.HSS_PROFILES_FILE is None:
        hss = build_hss_client(settings, transport=transport)
    else:
        try:
            hss, _ = profile_client(settings, profile, transport=transport)
        except InvalidCommand as exc:
            print(f"error: {exc}", file=sys.stderr)
            return 2
    try:
        status = await hss.get_export_task(task_id, enterprise_project_id)
        where = f" (HSS request id {status.request_id})" if status.request_id else ""
        if status.task_status == "running":
            print(
                f"task {task_id} is still running at HSS{where}; try again later",
                file=sys.stderr,
            )
            return EX_TEMPFAIL
        if status.task_status == "failure":
            raise NothingToDownload(f"task {task_id} failed at HSS{where}: there is no file")
        if not status.file_id:
            raise NothingToDownload(f"HSS says task {task_id} succeeded but names no file{where}")
        name = safe_file_name(status.file_name, task_id)
        async with hss.download(status.file_id, enterprise_project_id) as chunks:
            if output == "-":
                size, sha256 = await _copy(chunks, sys.stdout.buffer)
                print(f"wrote {name} to stdout ({size} bytes, sha256 {sha256})", file=sys.stderr)
                return 0
            target = Path(output) if output else Path(name)
            if target.exists() and not force:
                raise WouldOverwrite(f"{target} exists; use --force to overwrite or -o FILE")
            size, sha256 = await _save(chunks, target)
    finally:
        await hss.aclose()
    print(f"saved {target} ({size} bytes, sha256 {sha256})")
    return 0


async def _save(chunks: AsyncIterator[bytes], target: Path) -> tuple[int, str]:
    """Write the stream to a temporary file beside `target`, then rename it into place."""
    fd, temp = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".part", dir=target.parent)
    try:
        with os.fdopen(fd, "wb") as spool:
            result = await _copy(chunks, spool)
        await asyncio.to_thread(os.replace, temp, target)
    except BaseException:
        await asyncio.to_thread(Path(temp).unlink, missing_ok=True)
        raise
    return result


async def _copy(chunks: AsyncIterator[bytes], sink: IO[bytes]) -> tuple[int, str]:
    """Copy the stream to `sink` a mebibyte at a time, off the event loop; return size, sha256."""
    digest = hashlib.sha256()
    size = 0
    pending = bytearray()
    async for chunk in chunks:
        pending += chunk
        if len(pending) >= FLUSH_BYTES:
            size += await asyncio.to_thread(_write, sink, digest, bytes(pending))
            pending.clear()
    size += await asyncio.to_thread(_write, sink, digest, bytes(pending))
    await asyncio.to_thread(sink.flush)
    return size, digest.hexdigest()


def _write(sink: IO[bytes], digest: hashlib._Hash, data: bytes) -> int:
    digest.update(data)
    sink.write(data)
    return len(data)
