"""`hss-export-bot audit list|verify|export|prune`: read, check and export the audit log.

Reads `AUDIT_DB_URL` (or `--db URL`) and never creates a log: pointing at the
wrong database is an error, not a new empty log that verifies. `verify --file`
reads no database at all: it checks a copy taken off the box with `export`.
"""

from __future__ import annotations

import argparse
import asyncio
import csv
import json
import sys
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Final

from bot.adapters.audit_store import SqlAuditLog, VerifyResult, entry_as_json, open_audit_log
from bot.adapters.audit_verify import verify_file
from bot.domain.errors import AuditUnavailable
from bot.domain.types import AuditEntry
from bot.profiles import LEGACY_NAME
from bot.settings import load_settings

Action = Callable[[SqlAuditLog, argparse.Namespace], Awaitable[int]]


def register(sub: Any) -> None:
    """Add `audit` and its actions to the parser."""
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument(
        "--db",
        metavar="URL",
        help="audit database URL (default: AUDIT_DB_URL from the environment)",
    )
    parser: argparse.ArgumentParser = sub.add_parser(
        "audit", help="list, verify, export or prune the audit log"
    )
    actions = parser.add_subparsers(dest="audit_action", required=True, metavar="ACTION")

    listing = actions.add_parser("list", parents=[common], help="show entries, oldest first")
    listing.add_argument("--json", action="store_true", help="one JSON object per line")
    listing.add_argument("--profile", metavar="NAME", help="only requests sent to this HSS profile")
    _add_filters(listing)
    listing.add_argument("--limit", type=_positive, metavar="N", help="only the latest N entries")
    listing.set_defaults(handler=_runner(_list))

    verify = actions.add_parser(
        "verify", parents=[common], help="check the hash chain; exit 1 naming the first break"
    )
    verify.add_argument(
        "--file",
        type=Path,
        metavar="EXPORT.csv",
        help="verify a file written by `audit export --csv` on its own (no database)",
    )
    verify.set_defaults(handler=_verify_handler)

    export = actions.add_parser(
        "export", parents=[common], help="write every entry as CSV, with its chain records"
    )
    export.add_argument("--csv", action="store_true", help="CSV format (the only one; default)")
    export.add_argument("--output", "-o", type=Path, metavar="FILE", help="default: stdout")
    _add_filters(export)
    export.set_defaults(handler=_runner(_export))

    prune = actions.add_parser(
        "prune", parents=[common], help="delete old records, keeping the chain verifiable"
    )
    prune.add_argument(
        "--older-than-days",
        type=_positive,
        metavar="DAYS",
        help="default: AUDIT_RETENTION_DAYS",
    )
    prune.set_defaults(handler=_runner(_prune))


def _add_filters(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--user",
        metavar="USER_ID",
        help="only this Slack user's entries: those they asked for, and those they "
        "approved or denied as an approver",
    )
    parser.add_argument(
        "--since", type=_since, metavar="DATE", help="only entries at or after DATE (UTC)"
    )


def _runner(action: Action) -> Callable[[argparse.Namespace], int]:
    def handler(args: argparse.Namespace) -> int:
        return asyncio.run(_with_log(action, args))

    return handler


_WHERE_HINT = (
    "give --db sqlite:///path/to/audit.db (or postgresql://…) or set AUDIT_DB_URL; "
    "the demo's log is sqlite:///./data/demo/audit.db"
)


async def _with_log(action: Action, args: argparse.Namespace) -> int:
    url = args.db or load_settings(uses=("audit",)).AUDIT_DB_URL
    try:
        log = await open_audit_log(url, create=False)
    except AuditUnavailable as exc:  # without --db, say where to point it
        raise (exc if args.db else AuditUnavailable(f"{exc}; {_WHERE_HINT}")) from None
    try:
        return await action(log, args)
    finally:
        await log.aclose()


def profile_of(entry: AuditEntry) -> str | None:
    """Return the HSS profile of an entry's request; one recorded before profiles went to
    the only account there was, `default`. None: the entry holds no request."""
    if entry.request is None:
        return None
    return entry.request.profile or LEGACY_NAME


async def _list(log: SqlAuditLog, args: argparse.Namespace) -> int:
    # With --profile, the latest N of that profile's entries: filter first, then keep N.
    limit = None if args.profile else args.limit
    entries = await log.list_entries(
        user=args.user, since=args.since, limit=limit, approver_too=True
    )
    if args.profile:
        entries = [e for e in entries if profile_of(e) == args.profile]
        entries = entries[-args.limit :] if args.limit else entries
    if args.json:
        for entry in entries:
            shown = entry_as_json(entry) | {"profile": profile_of(entry)}
            print(json.dumps(shown, ensure_ascii=False))
    else:
        print(render_table(entries))
        if entries:
            print(ids_footer(len(entries)))
    return 0


def _verify_handler(args: argparse.Namespace) -> int:
    if args.file is None:
        return _runner(_verify)(args)
    if args.db is not None:
        print("error: --file verifies an export on its own; drop --db", file=sys.stderr)
        return 2
    try:
        result = verify_file(args.file)
    except OSError as exc:
        print(f"error: cannot read {args.file}: {exc.strerror or exc}", file=sys.stderr)
        return 2
    except (UnicodeDecodeError, csv.Error) as exc:
        print(f"error: {args.file} is not a CSV export ({exc})", file=sys.stderr)
        return 2
    return _report(result)


async def _verify(log: SqlAuditLog, _args: argparse.Namespace) -> int:
    return _report(await log.verify())


def _report(result: VerifyResult) -> int:
    print(result, file=sys.stdout if result.ok else sys.stderr)
    return 0 if result.ok else 1


async def _export(log: SqlAuditLog, args: argparse.Namespace) -> int:
    if args.output is None:
        count = await log.export_csv(
            sys.stdout, user=args.user, since=args.since, approver_too=True
        )
    else:
        with args.output.open("w", encoding="utf-8", newline="") as stream:
            count = await log.export_csv(
                stream, user=args.user, since=args.since, approver_too=True
            )
    print(f"exported {count} entries", file=sys.stderr)
    return 0


async def _prune(log: SqlAuditLog, args: argparse.Namespace) -> int:
    days = args.older_than_days
    if days is None:
        days = load_settings(uses=("audit",)).AUDIT_RETENTION_DAYS
    if days is None:
        print("nothing to do: AUDIT_RETENTION_DAYS is unset (keep forever)", file=sys.stderr)
        return 0
    removed = await log.prune(days)
    print(f"removed {removed} records older than {days} days; the chain still verifies")
    return 0


def render_table(entries: list[AuditEntry]) -> str:
    """Render entries as an aligned text table, one line each."""
    header = ("ID", "AT (UTC)", "USER", "CHANNEL", "SOURCE", "OUTCOME", "TASK", "DETAIL")
    rows = [header] + [
        (
            str(e.id),
            e.at.strftime("%Y-%m-%d %H:%M:%S"),
            e.user_id,
            e.channel_id,
            e.source,
            e.outcome,
            e.task_id or "-",
            _detail(e),
        )
        for e in entries
    ]
    widths = [max(len(row[i]) for row in rows) for i in range(len(header) - 1)]
    lines = [
        "  ".join([*(cell.ljust(width) for cell, width in zip(row, widths, strict=False)), row[-1]])
        for row in rows
    ]
    if not entries:
        lines.append("(no entries)")
    return "\n".join(line.rstrip() for line in lines)


def ids_footer(count: int) -> str:
    """Say what an entry ID is, so gaps between IDs are not read as removed entries."""
    plural = "entry" if count == 1 else "entries"
    return (
        f"{count} {plural}. An ID is the record number of the command in the hash chain; "
        "its outcome and delivery records take the numbers in between, so IDs have gaps "
        "(`audit verify` checks that no record is missing)."
    )


# A held entry that did not run: its approver field names who refused it, not who approved.
_DECIDED_NOT: Final = frozenset({"denied_by_approver", "expired"})


def _detail(entry: AuditEntry) -> str:
    parts = []
    if entry.saved_export:
        parts.append(f"saved export {entry.saved_export}")
    if entry.schedule:
        parts.append(f"schedule {entry.schedule}")
    if entry.detail:
        parts.append(entry.detail)
    if entry.approver:
        verb = "approved by" if entry.outcome not in _DECIDED_NOT else "decided by"
        parts.append(f"{verb} {entry.approver}")
    if entry.error:
        parts.append(entry.error)
    if entry.delivery:
        if "file_name" in entry.delivery:
            parts.append(f"file {entry.delivery['file_name']}")
        if "error" in entry.delivery:
            parts.append(f"delivery failed: {entry.delivery['error']}")
    text = "; ".join(parts) or "-"
    return text if len(text) <= 80 else text[:79] + "…"


def _since(text: str) -> datetime:
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"expected a date like 2026-01-31 or 2026-01-31T12:00Z, got {text!r}"
        ) from None
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def _positive(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        value = 0
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected a whole number of at least 1, got {text!r}")
    return value
