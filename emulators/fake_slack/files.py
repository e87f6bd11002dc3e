"""Slack's external upload flow: files.getUploadURLExternal, the upload URL, the completion,
and files.info.

The upload URL is read as a stream (any size, hashed on the fly, bytes kept only if
asked); a completed upload is recorded in `files`, and `files.info` says where a file is
shared. `files.completeUploadExternal` refuses a user id, as Slack does.
"""

from __future__ import annotations

import hashlib
from typing import Any

from aiohttp import web

from emulators.fake_slack.records import UPLOAD_READ_CHUNK, UploadedFile, _Upload
from emulators.fake_slack.state import SlackState
from emulators.fake_slack.wire import _error, _is_user_id, _json_list, _ok


class FilesApi(SlackState):
    """files.getUploadURLExternal, the upload URL, files.completeUploadExternal, files.info."""

    async def _m_files_getUploadURLExternal(self, params: dict[str, Any]) -> web.Response:
        filename = str(params.get("filename") or "")
        try:
            length = int(params.get("length") or -1)
        except ValueError:
            length = -1
        if not filename or length < 0:
            return _error("invalid_arguments")
        file_id = f"F{next(self._ids):08d}"
        self._uploads[file_id] = _Upload(filename, length)
        return _ok(upload_url=f"{self.url}/upload/{file_id}", file_id=file_id)

    async def _m_files_completeUploadExternal(self, params: dict[str, Any]) -> web.Response:
        items = _json_list(params.get("files"))
        if not items:
            return _error("invalid_arguments")
        channel_id = params.get("channel_id")
        if channel_id and _is_user_id(str(channel_id)):
            # Slack: "input must match regex pattern: ^[CGDZ][A-Z0-9]{8,}$" (no user ids).
            return _error("invalid_arguments")
        if channel_id and (error := self._channel_error(str(channel_id))) is not None:
            return _error(error)
        done = []
        for item in items:
            upload = self._uploads.get(str(item.get("id")))
            if upload is None or upload.sha256 is None:
                return _error("file_not_found")
            if upload.size != upload.length:
                return _error("file_size_mismatch")
            # Every completion is recorded, so a bot sharing one file twice shows it.
            self.files.append(
                UploadedFile(
                    id=str(item["id"]),
                    filename=upload.filename,
                    title=item.get("title"),
                    size=upload.size,
                    sha256=upload.sha256,
                    channel_id=str(channel_id) if channel_id else None,
                    thread_ts=params.get("thread_ts"),
                    initial_comment=params.get("initial_comment"),
                    data=upload.data,
                )
            )
            done.append({"id": item["id"], "title": item.get("title"), "name": upload.filename})
        return _ok(files=done)

    async def _m_files_info(self, params: dict[str, Any]) -> web.Response:
        if not self.files_info:
            return _error("unknown_method", status=404)
        file_id = str(params.get("file") or "")
        upload = self._uploads.get(file_id)
        if upload is None:
            return _error("file_not_found")
        shares: dict[str, dict[str, list[dict[str, Any]]]] = {}
        for shared in self.files:
            if shared.id != file_id or not shared.channel_id:
                continue
            kind = "public" if shared.channel_id.startswith("C") else "private"
            share = {"thread_ts": shared.thread_ts} if shared.thread_ts else {}
            shares.setdefault(kind, {}).setdefault(shared.channel_id, []).append(share)
        file = {
            "id": file_id,
            "name": upload.filename,
            "size": upload.size,
            "channels": sorted(shares.get("public", {})),
            "groups": sorted(c for c in shares.get("private", {}) if not c.startswith("D")),
            "ims": sorted(c for c in shares.get("private", {}) if c.startswith("D")),
            "shares": shares,
        }
        return _ok(file=file)

    async def _upload(self, request: web.Request) -> web.Response:
        """Read the upload URL's body as a stream: any size, hashed, bytes kept if asked."""
        upload = self._uploads.get(request.match_info["file_id"])
        if upload is None:
            return web.Response(status=404, text="not found")
        digest, size, kept = hashlib.sha256(), 0, bytearray()
        async for chunk in request.content.iter_chunked(UPLOAD_READ_CHUNK):
            digest.update(chunk)
            size += len(chunk)
            if self.keep_bytes:
                kept += chunk
        upload.size, upload.sha256 = size, digest.hexdigest()
        upload.data = bytes(kept) if self.keep_bytes else None
        return web.Response(text=f"OK - {size}")
