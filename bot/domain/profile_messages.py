"""Render `/hss-export profiles`: the HSS profiles a user may use, as Block Kit.

Pure, beside `bot.domain.blocks` (whose helpers and limits it uses): a
profile's name, region, project ids and channels, never a credential or the
name or value of an environment variable.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from bot.domain.blocks import SECTION_MAX, Message, _chunks, _message, _section, escape


@dataclass(frozen=True)
class ProfileLine:
    """What a user may know of one profile: never a credential or a variable's value."""

    name: str
    region: str
    project_id: str
    enterprise_project_id: str | None
    channels: tuple[str, ...]
    default: bool = False


def profiles(lines: Sequence[ProfileLine]) -> Message:
    """List the HSS profiles the caller may use, with where each is the default."""
    if not lines:
        text = "No HSS profile is open to you here; ask an admin."
        return _message(text, [_section(text)])
    rows = []
    for line in lines:
        where = ", ".join(f"<#{escape(c)}>" for c in line.channels)
        parts = [
            f"• *{escape(line.name)}*",
            f"region `{escape(line.region)}`",
            f"project `{escape(line.project_id)}`",
        ]
        if line.enterprise_project_id:
            parts.append(f"enterprise project `{escape(line.enterprise_project_id)}`")
        if where:
            parts.append(f"default in {where}")
        if line.default:
            parts.append("default elsewhere")
        rows.append(" · ".join(parts))
    head = "HSS profiles you may use (`profile=NAME` picks one)"
    blocks = [_section(f"*{head}*")]
    blocks += [_section(piece) for piece in _chunks("\n".join(rows), SECTION_MAX)]
    return _message(head, blocks)
