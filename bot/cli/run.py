"""`hss-export-bot run`: not written yet."""

from __future__ import annotations

import argparse
from typing import Any


def register(sub: Any) -> None:
    """Add this subcommand to the parser."""
    parser: argparse.ArgumentParser = sub.add_parser("run", help="(not written yet)")
    parser.set_defaults(handler=lambda _args: 1)
