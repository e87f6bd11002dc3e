"""How the fake's Web API reads a call and answers it: parameters, token, `ok`/`error` JSON."""

from __future__ import annotations

import json
from typing import Any

from aiohttp import web


async def _params(request: web.Request) -> dict[str, Any]:
    """Merge query string, form and JSON body, as Slack accepts all three."""
    params: dict[str, Any] = dict(request.query)
    if request.content_type == "application/json":
        body = await request.json()
        if isinstance(body, dict):
            params.update(body)
    elif request.can_read_body:
        params.update(dict(await request.post()))
    return params


def _is_user_id(channel: str) -> bool:
    """Tell whether a channel argument is a user id (`U…`, or `W…` on Enterprise Grid)."""
    return channel[:1] in ("U", "W")


def _bearer(request: web.Request) -> str | None:
    header = request.headers.get("Authorization", "")
    return header[7:] if header.startswith("Bearer ") else None


def _json_list(value: Any) -> list[Any] | None:
    if value is None:
        return []
    if isinstance(value, str):
        try:
            value = json.loads(value)
        except ValueError:
            return None
    return value if isinstance(value, list) else None


def _ok(**data: Any) -> web.Response:
    return web.json_response({"ok": True, **data})


def _error(
    error: str, *, status: int = 200, headers: dict[str, str] | None = None, **data: Any
) -> web.Response:
    return web.json_response({"ok": False, "error": error, **data}, status=status, headers=headers)
