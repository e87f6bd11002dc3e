"""`hss-export-bot download TASK_ID [-o FILE]`: fetch a finished export task's file from HSS.

For operators, and for files the bot did not upload to Slack (too large, or
the bot gave up waiting). It asks HSS for the task's state, then streams the
file to disk under HSS's file name (or `-o FILE`; `-o -` writes to stdout),
hashing it as it goes. The file appears only when complete: bytes go to a
temporary file beside it, renamed at the end, and an existing file is kept
unless `--force`.

With a profiles file and no `--profile`, the task is asked of the profile it
was created under, and in its enterprise project, as the audit log
(`AUDIT_DB_URL`) recorded them (the lookup `status` uses); a task the log does
not know goes to `HSS_DEFAULT_PROFILE` or the only profile.

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

from bot.adapters.audit_store import open_audit_log
from bot.adapters.hss import HssClient, build_hss_client
from bot.adapters.hss_profiles import fallback_name
from bot.cli.profile_choice import profile_client
from bot.domain.errors import (
    AuditUnavailable,
    InvalidCommand,
    NothingToDownload,
    Problem,
    WouldOverwrite,
)
from bot.domain.types import StoredRequest
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
        help="the task's enterprise project (default: the one the audit log recorded, "
        "else the profile's or HSS_ENTERPRISE_PROJECT_ID)",
    )
    parser.add_argument("--force", action="store_true", help="overwrite an existing file")
    parser.add_argument(
        "--profile",
        metavar="NAME",
        help="the HSS profile the task was created under (default: the one the audit log "
        "recorded, else HSS_DEFAULT_PROFILE, the only one, or `default`)",
    )
    parser.set_defaults(handler=_run)


def _run(args: argparse.Namespace) -> int:
    settings = load_settings(["hss"], uses=("hss", "audit"))
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


async def download(  # noqa: PLR0913  the command line's options, one argument each
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

    With `profile` or a profiles file, the task is asked of that profile's account:
    the one named, else the one the audit log says the task was created under.
    """
    if profile is None and settings.HSS_PROFILES_FILE is None:
        hss = build_hss_client(settings, transport=transport)
    else:
        try:
            hss, enterprise_project_id = await _profile_client(
                settings, task_id, profile, enterprise_project_id, transport
            )
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


async def _profile_client(
    settings: Settings,
    task_id: str,
    profile: str | None,
    enterprise_project_id: str | None,
    transport: httpx.AsyncBaseTransport | None,
) -> tuple[HssClient, str | None]:
    """Return the client of the task's profile, and the enterprise project to ask in.

    The profile named, else the task's per the audit log (and its project, unless
    one is given), else the default; raise `InvalidCommand` when none can be chosen.
    """
    if profile is None:
        origin = await _origin(settings, task_id)
        if origin is None and fallback_name(settings.profiles) is None:
            names = ", ".join(settings.profiles.names)
            hint = (
                f"task {task_id} is not in the audit log (AUDIT_DB_URL), so the profile it was "
                "created under is unknown, and there is no default profile (HSS_DEFAULT_PROFILE)"
            )
            raise InvalidCommand([Problem("--profile", None, f"one of {names}", hint)])
        if origin is not None:
            profile = origin.profile
            if enterprise_project_id is None:
                enterprise_project_id = origin.enterprise_project_id
    hss, chosen = profile_client(settings, profile, transport=transport)
    print(f"asking profile {chosen.name} for task {task_id}", file=sys.stderr)
    return hss, enterprise_project_id


async def _origin(settings: Settings, task_id: str) -> StoredRequest | None:
    """Return the request the audit log recorded for the task (its profile, its project).

    None when the log does not know the task or cannot be read: the task may have
    been created elsewhere, and the default profile is then the honest guess.
    """
    try:
        audit = await open_audit_log(settings.AUDIT_DB_URL, create=False)
    except AuditUnavailable:
        return None
    try:
        entry = await audit.entry_for_task(task_id)
    except AuditUnavailable:
        return None
    finally:
        await audit.aclose()
    return None if entry is None else entry.request


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
