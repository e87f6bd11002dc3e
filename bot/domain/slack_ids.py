"""The shapes of Slack ids, for allow lists, approvers and per-profile lists: one rule.

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
SlackIdKind = IdKind

ANYONE: Final = "*"
_PREFIXES: Final[dict[IdKind, str]] = {"user": "UW", "channel": "CGD", "usergroup": "S"}
_SHOWN: Final[dict[IdKind, str]] = {
    "user": "a user id (U… or W…)",
    "channel": "a channel id (C…, G… or D…)",
    "usergroup": "a user group id (S…)",
}
# What a message tells the user each kind accepts.
ACCEPTED: Final[dict[IdKind, str]] = {
    "user": "user IDs like U012ABCDEF or W012ABCDEF, or *",
    "channel": "channel IDs like C012ABCDEF (G… private, D… direct message), or *",
    "usergroup": "user group IDs like S012ABCDEF, or *",
}
_BODY: Final = re.compile(r"[A-Z0-9]+")
_MAX_SHOWN: Final = 40

HOW_TO_FIND: Final = (
    "use Slack ids (a profile's ⋮ > Copy member ID; a channel's details), or * for anyone"
)


def is_allowed_entry(kind: IdKind, entry: str) -> bool:
    """Tell whether `entry` is `*` or a Slack id of `kind`: the one rule."""
    return entry == ANYONE or (entry[:1] in _PREFIXES[kind] and bool(_BODY.fullmatch(entry[1:])))


def bad_slack_ids(kind: IdKind, entries: Iterable[str]) -> list[str]:
    """Return the entries that are neither `*` nor a Slack id of `kind`, in their order."""
    return [e for e in entries if not is_allowed_entry(kind, e)]


def id_problems(setting: str, entries: Iterable[str], kind: IdKind) -> list[str]:
    """Return one problem per entry of `setting` that is not `*` nor an id of `kind`."""
    found = []
    for entry in bad_slack_ids(kind, entries):
        shown = entry if len(entry) <= _MAX_SHOWN else entry[: _MAX_SHOWN - 1] + "…"
        found.append(f"{setting}: `{shown}` is not {_SHOWN[kind]}")
    return found
