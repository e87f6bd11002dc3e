"""`hss-export-bot audit`: not written yet."""

from __future__ import annotations

import argparse
from typing import Any


def register(sub: Any) -> None:
    """Add this subcommand to the parser."""
    parser: argparse.ArgumentParser = sub.add_parser("audit", help="(not written yet)")
    parser.set_defaults(handler=lambda _args: 1)
