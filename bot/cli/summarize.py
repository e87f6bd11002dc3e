"""`hss-export-bot summarize FILE [--headers …] [--against OLD_FILE]`: the thread's summary, here.

Reads an export file the way the bot does (format from the content, columns
mapped by name, bad files refused in one line) and prints the same summary the
thread gets; with `--against` an earlier export of the same filters, also what
changed. `--headers` takes the slash command's `headers=` value (`all`, or keys
each optionally `key:Display Name`), parsed by the command grammar itself; a key
given without a name matches its Chinese or its English default name. Without
`--headers`, the documentation's Chinese names and the bot's English names are
recognized.

Exit status: 0 summarized; 2 the file (or OLD_FILE) gives no summary, or bad arguments.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from bot.domain.grammar import RequestDefaults, build_request
from bot.domain.model import EXPORT_SIZE_MAX
from bot.reading import Expected, diff, read_export, render_text
from bot.reading.errors import UnreadableExport


def register(sub: Any) -> None:
    """Add `summarize` to the parser."""
    parser: argparse.ArgumentParser = sub.add_parser(
        "summarize",
        help="summarize an exported file as the bot does in the thread",
        description="Print the summary of an HSS container export (xlsx, CSV or a zip of one).",
    )
    parser.add_argument("file", metavar="FILE", help="the exported file")
    parser.add_argument(
        "--headers",
        metavar="HEADERS",
        help="the export's headers= value: `all`, or keys, each optionally `key:Display Name`",
    )
    parser.add_argument(
        "--against",
        metavar="OLD_FILE",
        help="an earlier export with the same filters: also print what changed since",
    )
    parser.add_argument(
        "--export-size",
        metavar="N",
        type=_export_size,
        help=f"the export_size the export asked for (default {EXPORT_SIZE_MAX}, the API's)",
    )
    parser.set_defaults(handler=_run)


def _export_size(raw: str) -> int:
    if not raw.isdigit() or not 1 <= int(raw) <= EXPORT_SIZE_MAX:
        raise argparse.ArgumentTypeError(f"a whole number from 1 to {EXPORT_SIZE_MAX}")
    return int(raw)


def expected_from_headers(raw: str) -> Expected:
    """Parse a `headers=` value with the command grammar; a bare key accepts both default names."""
    both = [
        build_request({"headers": raw}, RequestDefaults(header_lang=lang)).body.export_headers
        for lang in ("zh", "en")
    ]
    return Expected.from_choices(
        [
            (key, tuple(dict.fromkeys((zh_name, en_name))))
            for (key, zh_name), (_, en_name) in zip(both[0], both[1], strict=True)
        ]
    )


def _run(args: argparse.Namespace) -> int:
    try:
        expected = expected_from_headers(args.headers) if args.headers is not None else None
    except UnreadableExport as exc:
        print(f"error: --headers: {exc}", file=sys.stderr)
        return 2
    report = read_export(Path(args.file), expected, export_size=args.export_size)
    if report.summary is None:
        print(f"error: no summary of {args.file}: {report.reason}", file=sys.stderr)
        return 2
    changes = None
    if args.against is not None:
        earlier = read_export(Path(args.against), expected)
        if earlier.digest is None:
            print(f"error: no summary of {args.against}: {earlier.reason}", file=sys.stderr)
            return 2
        assert report.digest is not None  # a summary always comes with its digest
        changes = diff(earlier.digest, report.digest)
    print(render_text(report.summary, changes, since=args.against))
    return 0
