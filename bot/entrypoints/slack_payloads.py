"""Read who sent a Slack payload, and from which workspace: the one path to an `Actor`.

Slack puts the same facts in different places per payload type and install:

- slash commands: `team_id`, `user_id`, `channel_id` (form fields);
- interactivity (view submissions, block actions, shortcuts): `team.id`,
  `user.id`, `user.team_id`, `channel.id` or `container.channel_id`; with an
  org-wide (Enterprise Grid) install, `team` is null and the workspace is only
  in `user.team_id` (or `view.team_id`), the org in `enterprise.id`;
- events: `team_id` at the top, `event.user`, `event.channel`.

The lookup order mirrors Bolt's own extraction (`extract_team_id`,
`extract_enterprise_id` and `extract_user_id` in
`slack_bolt/request/internals.py`, bolt-python 1.30), with one deliberate
difference: an `Actor` is who asked, so the workspace is the user's, never the
installation's (`authorizations`, or `view.app_installed_team_id` of a modal
opened from a Slack Connect channel). When a payload names no workspace at all,
the org's id stands in, so the audit entry still says where the command came from.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from bot.domain.types import Actor, Source


def actor_from(
    payload: Mapping[str, Any], source: Source, *, channel_id: str | None = None
) -> Actor:
    """Return who sent `payload` and where; `channel_id` names the channel when Slack does not.

    A view submission carries no channel (the form keeps it in its metadata);
    raise ValueError when no user or no channel can be found.
    """
    user = user_of(payload)
    channel = channel_id or channel_of(payload)
    if not user or not channel:
        raise ValueError("the Slack payload names no user or no channel")
    return Actor(team_of(payload), user, channel, source)


def team_of(payload: Mapping[str, Any]) -> str:
    """Return the sender's workspace (`T…`), else the org (`E…`) if only that is known, else ''."""
    team = payload.get("team")
    if isinstance(team, str) and team:
        return team
    if isinstance(team, Mapping) and team.get("id"):
        return str(team["id"])
    for holder in (payload, payload.get("user"), payload.get("view")):
        if isinstance(holder, Mapping) and holder.get("team_id"):
            return str(holder["team_id"])
    event = payload.get("event")
    if isinstance(event, Mapping) and (found := team_of(event)):
        return found
    return enterprise_of(payload)


def enterprise_of(payload: Mapping[str, Any]) -> str:
    """Return the Enterprise Grid org (`E…`) the payload comes from, or '' outside one."""
    org = payload.get("enterprise")
    if isinstance(org, str) and org:
        return org
    if isinstance(org, Mapping) and org.get("id"):
        return str(org["id"])
    team = payload.get("team")
    for holder in (payload, team if isinstance(team, Mapping) else None):
        if holder is not None and holder.get("enterprise_id"):
            return str(holder["enterprise_id"])
    return ""


def clicked(payload: Mapping[str, Any]) -> tuple[str, str]:
    """Return the clicked button's action id and value, as Slack sent them ('' if none)."""
    actions = payload.get("actions") or [{}]
    return str(actions[0].get("action_id") or ""), str(actions[0].get("value") or "")


def user_of(payload: Mapping[str, Any]) -> str:
    """Return the id of the user who sent the payload, or ''."""
    user = payload.get("user")
    if isinstance(user, str):
        return user
    if isinstance(user, Mapping) and user.get("id"):
        return str(user["id"])
    if payload.get("user_id"):
        return str(payload["user_id"])
    event = payload.get("event")
    return user_of(event) if isinstance(event, Mapping) else ""


def channel_of(payload: Mapping[str, Any]) -> str:
    """Return the channel the payload was sent from, or '' (view submissions, global shortcuts)."""
    channel = payload.get("channel")
    if isinstance(channel, str) and channel:
        return channel
    if isinstance(channel, Mapping) and channel.get("id"):
        return str(channel["id"])
    for holder in (payload, payload.get("container")):
        if isinstance(holder, Mapping) and holder.get("channel_id"):
            return str(holder["channel_id"])
    event = payload.get("event")
    return channel_of(event) if isinstance(event, Mapping) else ""
