"""The shapes of Slack ids, for allow lists (and, later, approvers and per-profile lists).

Slack ids are an upper-case letter naming the kind, then upper-case letters and
digits: users `U…`/`W…` (W: Enterprise Grid), channels `C…`, private channels
`G…`, direct messages `D…`, user groups `S…`. A list may also hold `*` (anyone).
A name (`alice`) or a mention (`@bob`, `<@U1>`) matches nobody, so it is refused
with the setting and the entry named, instead of silently refusing the person.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import Final, Literal

IdKind = Literal["user", "channel", "usergroup"]

ANYONE: Final = "*"
_PREFIXES: Final[dict[IdKind, str]] = {"user": "UW", "channel": "CGD", "usergroup": "S"}
_SHOWN: Final[dict[IdKind, str]] = {
    "user": "a user id (U… or W…)",
    "channel": "a channel id (C…, G… or D…)",
    "usergroup": "a user group id (S…)",
}
_BODY: Final = re.compile(r"[A-Z0-9]+")
_MAX_SHOWN: Final = 40


def id_problems(setting: str, entries: Iterable[str], kind: IdKind) -> list[str]:
    """Return one problem per entry of `setting` that is not `*` nor an id of `kind`."""
    found = []
    prefixes = _PREFIXES[kind]
    for entry in entries:
        if entry == ANYONE:
            continue
        if entry[:1] in prefixes and _BODY.fullmatch(entry[1:]):
            continue
        shown = entry if len(entry) <= _MAX_SHOWN else entry[: _MAX_SHOWN - 1] + "…"
        found.append(f"{setting}: `{shown}` is not {_SHOWN[kind]}")
    return found


HOW_TO_FIND: Final = (
    "use Slack ids (a profile's ⋮ > Copy member ID; a channel's details), or * for anyone"
)
