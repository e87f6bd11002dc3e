"""The `hss-export-bot` command line: one subcommand module each, registered here."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable, Sequence

from bot.cli import audit, download, export, profiles, run, summarize
from bot.domain.errors import BotError

Handler = Callable[[argparse.Namespace], int]


def build_parser() -> argparse.ArgumentParser:
    """Build the parser with every subcommand."""
    parser = argparse.ArgumentParser(
        prog="hss-export-bot",
        description="Export Huawei Cloud HSS container inventories from Slack or a terminal.",
    )
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for module in (run, export, audit, download, profiles, summarize):
        module.register(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; a `BotError` is printed as its message, not a traceback."""
    args = build_parser().parse_args(argv)
    handler: Handler = args.handler
    try:
        return handler(args)
    except BotError as exc:
        print(f"error: {exc.user_message()}", file=sys.stderr)
        return 2
    except OSError as exc:
        # A file the user named could not be read or written (a missing folder, no space).
        where = f": {exc.filename}" if exc.filename else ""
        print(f"error: {exc.strerror or type(exc).__name__}{where}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130
