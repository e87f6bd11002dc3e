"""chat.* and response_urls: the messages the bot posts, updates and links to.

As in Slack, `chat.postMessage` to a user id posts in that user's DM with the app and
answers with the DM's `D…` id (`dm_with`); every message and response_url post is
checked with slack_sdk's Block Kit models and refused as Slack would.
"""

from __future__ import annotations

from typing import Any

from aiohttp import web

from emulators.fake_slack.records import Posted, ResponsePost
from emulators.fake_slack.state import SlackState
from emulators.fake_slack.wire import _error, _is_user_id, _json_list, _ok
from emulators.slack_models import message_problems


class ChatApi(SlackState):
    """chat.postMessage, chat.postEphemeral, chat.update, chat.getPermalink and response_urls."""

    async def _m_chat_postMessage(self, params: dict[str, Any]) -> web.Response:
        channel = str(params.get("channel") or "")
        if (error := self._channel_error(channel)) is not None:
            return _error(error)
        if _is_user_id(channel):
            channel = self.dm_with(channel)
        if not params.get("text") and not params.get("blocks"):
            return _error("no_text")
        blocks = _json_list(params.get("blocks"))
        if blocks is None:
            return _error("invalid_blocks")
        if problems := self._message_refused("chat.postMessage", params.get("text"), blocks):
            return _error("invalid_blocks", response_metadata={"messages": problems})
        posted = Posted(
            channel, params.get("text"), blocks, self._next_ts(), params.get("thread_ts")
        )
        self.messages.append(posted)
        return _ok(channel=channel, ts=posted.ts, message={"text": posted.text, "ts": posted.ts})

    async def _m_chat_postEphemeral(self, params: dict[str, Any]) -> web.Response:
        channel = str(params.get("channel") or "")
        if (error := self._channel_error(channel)) is not None:
            return _error(error)
        if not params.get("user"):
            return _error("user_not_in_channel")
        blocks = _json_list(params.get("blocks")) or []
        if problems := self._message_refused("chat.postEphemeral", params.get("text"), blocks):
            return _error("invalid_blocks", response_metadata={"messages": problems})
        posted = Posted(
            channel, params.get("text"), blocks, self._next_ts(), ephemeral_user=params["user"]
        )
        self.ephemerals.append(posted)
        return _ok(message_ts=posted.ts)

    async def _m_chat_update(self, params: dict[str, Any]) -> web.Response:
        blocks = _json_list(params.get("blocks"))
        if problems := self._message_refused("chat.update", params.get("text"), blocks):
            return _error("invalid_blocks", response_metadata={"messages": problems})
        for posted in self.messages:
            if posted.channel == params.get("channel") and posted.ts == params.get("ts"):
                posted.text = params.get("text", posted.text)
                posted.blocks = _json_list(params.get("blocks")) or posted.blocks
                return _ok(channel=posted.channel, ts=posted.ts, text=posted.text)
        return _error("message_not_found")

    async def _m_chat_getPermalink(self, params: dict[str, Any]) -> web.Response:
        channel, ts = str(params.get("channel") or ""), str(params.get("message_ts") or "")
        if not any(m.channel == channel and m.ts == ts for m in self.messages):
            return _error("message_not_found")
        link = f"{self.workspace_url.rstrip('/')}/archives/{channel}/p{ts.replace('.', '')}"
        return _ok(channel=channel, permalink=link)

    async def _response_url(self, request: web.Request) -> web.Response:
        hook = self._response_urls.get(request.match_info["key"])
        if hook is None or hook.uses_left <= 0:
            return web.Response(status=404, text="expired_url")
        if self.response_urls_broken:
            return web.Response(status=500, text="internal_error")
        try:
            body = await request.json()
        except ValueError:
            return web.Response(status=400, text="invalid_payload")
        if not isinstance(body, dict):
            return web.Response(status=400, text="invalid_payload")
        if self._refuse("response_url", message_problems(body)):
            return web.Response(status=400, text="invalid_blocks")
        hook.uses_left -= 1
        self.responses.append(ResponsePost(str(request.url), hook.channel, hook.user_id, body))
        return web.Response(text="ok")
