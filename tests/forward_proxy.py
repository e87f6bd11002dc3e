"""A small forwarding HTTP proxy on 127.0.0.1, recording what passes through it.

It serves what a corporate proxy does for the bot: absolute-form requests for
plain HTTP (`GET http://host:port/path HTTP/1.1`, the form clients use with a
proxy for the loopback fakes) and `CONNECT host:port` tunnels (HTTPS, WSS). Each
connection carries one request (the proxy answers `Connection: close`), except
a WebSocket upgrade, which is piped both ways until either side closes.
"""

from __future__ import annotations

import asyncio
import contextlib
from dataclasses import dataclass, field
from urllib.parse import urlsplit


@dataclass
class ForwardProxy:
    """Run with `async with ForwardProxy() as proxy:`; `proxy.seen` lists `METHOD url` lines."""

    seen: list[str] = field(default_factory=list)
    port: int = 0
    _server: asyncio.Server | None = None

    @property
    def url(self) -> str:
        """Return the proxy's URL, for HTTP_PROXY / HTTPS_PROXY."""
        return f"http://127.0.0.1:{self.port}"

    async def __aenter__(self) -> ForwardProxy:
        self._server = await asyncio.start_server(self._client, "127.0.0.1", 0)
        self.port = self._server.sockets[0].getsockname()[1]
        return self

    async def __aexit__(self, *_exc: object) -> None:
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()

    async def _client(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            head = await reader.readuntil(b"\r\n\r\n")
        except (asyncio.IncompleteReadError, asyncio.LimitOverrunError, ConnectionError):
            writer.close()
            return
        request_line, *header_lines = head.decode("latin-1").split("\r\n")
        method, target, version = request_line.split(" ", 2)
        self.seen.append(f"{method} {target}")
        if method == "CONNECT":
            host, _, port = target.rpartition(":")
            upstream_reader, upstream_writer = await asyncio.open_connection(host, int(port))
            writer.write(b"HTTP/1.1 200 Connection established\r\n\r\n")
            await writer.drain()
            await _pipe_both(reader, writer, upstream_reader, upstream_writer)
            return
        url = urlsplit(target)
        path = url.path + (f"?{url.query}" if url.query else "")
        headers = [h for h in header_lines if h and not h.lower().startswith("proxy-")]
        upgrade = any(h.lower().startswith("upgrade:") for h in headers)
        if not upgrade:
            headers = [
                h for h in headers if not h.lower().startswith(("connection:", "keep-alive:"))
            ]
            headers.append("Connection: close")
        upstream_reader, upstream_writer = await asyncio.open_connection(
            url.hostname, url.port or 80
        )
        lines = [f"{method} {path or '/'} {version}", *headers]
        upstream_writer.write(("".join(f"{line}\r\n" for line in lines) + "\r\n").encode("latin-1"))
        await _pipe_both(reader, writer, upstream_reader, upstream_writer)


async def _pipe_both(
    client_reader: asyncio.StreamReader,
    client_writer: asyncio.StreamWriter,
    upstream_reader: asyncio.StreamReader,
    upstream_writer: asyncio.StreamWriter,
) -> None:
    async def pipe(source: asyncio.StreamReader, sink: asyncio.StreamWriter) -> None:
        with contextlib.suppress(ConnectionError):
            while chunk := await source.read(65536):
                sink.write(chunk)
                await sink.drain()
        with contextlib.suppress(ConnectionError, OSError):
            sink.close()

    await asyncio.gather(pipe(client_reader, upstream_writer), pipe(upstream_reader, client_writer))
