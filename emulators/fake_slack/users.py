"""usergroups.users.list and users.info (a user's time zone)."""

from __future__ import annotations

from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from aiohttp import web

from emulators.fake_slack.state import SlackState
from emulators.fake_slack.wire import _error, _ok


class UsersApi(SlackState):
    """usergroups.users.list from `usergroups`, users.info from `user_zones`."""

    async def _m_usergroups_users_list(self, params: dict[str, Any]) -> web.Response:
        group = str(params.get("usergroup") or "")
        if group not in self.usergroups:
            return _error("no_such_subteam")
        return _ok(users=list(self.usergroups[group]))

    async def _m_users_info(self, params: dict[str, Any]) -> web.Response:
        user = str(params.get("user") or "")
        if user not in self.user_zones:
            return _error("user_not_found")
        zone = self.user_zones[user]
        # Slack sends the zone's name, its label and its offset now, in seconds.
        offset = datetime.now(ZoneInfo(zone)).utcoffset() if zone else None
        return _ok(
            user={
                "id": user,
                "team_id": self.team_id,
                "tz": zone,
                "tz_label": zone,
                "tz_offset": int(offset.total_seconds()) if offset else 0,
            }
        )
