"""The shapes of the Slack IDs an allow list may hold, as one pure rule.

An allow list that names a user by handle (`@alice`) or a channel by name
(`#sec`) would silently match nothing, so such entries are reported at start.
Slack IDs are upper-case letters and digits behind a one-letter prefix that
says the kind: users `U…`/`W…` (Enterprise Grid), channels `C…`, private
channels `G…`, DMs `D…`, user groups `S…`. `*` means anyone, as in `ALLOWED_*`.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import Final, Literal

SlackIdKind = Literal["user", "channel", "usergroup"]

ANYONE: Final = "*"

_PREFIXES: Final[dict[SlackIdKind, str]] = {"user": "UW", "channel": "CGD", "usergroup": "S"}

# What the message tells the user each kind accepts.
ACCEPTED: Final[dict[SlackIdKind, str]] = {
    "user": "user IDs like U012ABCDEF or W012ABCDEF, or *",
    "channel": "channel IDs like C012ABCDEF (G… private, D… direct message), or *",
    "usergroup": "user group IDs like S012ABCDEF, or *",
}


def _pattern(kind: SlackIdKind) -> re.Pattern[str]:
    return re.compile(rf"[{_PREFIXES[kind]}][A-Z0-9]{{2,20}}")


def bad_slack_ids(kind: SlackIdKind, entries: Iterable[str]) -> list[str]:
    """Return the entries that are neither `*` nor a Slack ID of `kind`, in their order."""
    pattern = _pattern(kind)
    return [e for e in entries if e != ANYONE and pattern.fullmatch(e) is None]
