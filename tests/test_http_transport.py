"""The HSS client on aiohttp: what it sends on the wire, and which failures it resends.

A raw TCP server stands in for HSS where FakeHss cannot misbehave the way a
network does: it records every request it read in full, then answers, closes,
resets the connection, or breaks off the answer's body.
"""

from __future__ import annotations

import asyncio
import json
import socket
import struct
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Literal
from urllib.parse import parse_qsl, urlsplit

import aiohttp
import httpx
import pytest
from huaweicloudsdkcore.auth.credentials import BasicCredentials
from huaweicloudsdkcore.sdk_request import SdkRequest
from huaweicloudsdkcore.signer.signer import Signer

from bot.adapters.hss import _NOT_SENT, USER_AGENT, HssClient
from bot.adapters.http_transport import httpx_error
from bot.adapters.signer import AkSkAuth
from bot.domain.errors import HssOutcomeUnknown, HssUnavailable
from bot.domain.model import ExportBody, ExportQuery, ExportRequest

AK, SK, PROJECT = "AKWIREMARKER00000001", "SKWIREMARKER-secret-0000000000000001", "wire-project"
SIGNED_AT = datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)
REQUEST = ExportRequest(
    query=ExportQuery(export_size=500),
    body=ExportBody(risky=True, export_headers=[("container_name", "容器名称")]),
)
Behaviour = Literal["answer", "close", "reset", "short_body"]


@dataclass
class Received:
    """One request as it arrived: request line, header lines in order, body bytes."""

    line: str
    headers: list[tuple[str, str]]
    body: bytes

    def header(self, name: str) -> list[str]:
        """Return every value of a header (names compared case-insensitively)."""
        return [value for key, value in self.headers if key.lower() == name.lower()]


@dataclass
class RawHss:
    """A TCP server that reads whole HTTP/1.1 requests, then does `behaviour`."""

    behaviour: Behaviour = "answer"
    received: list[Received] = field(default_factory=list)
    url: str = ""

    async def handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        """Serve one connection: read requests and act on each."""
        try:
            while True:
                head = await reader.readuntil(b"\r\n\r\n")
                line, *lines = head.decode("latin-1").split("\r\n")[:-2]
                headers = [(k.strip(), v.strip()) for k, _, v in (x.partition(":") for x in lines)]
                length = sum(int(v) for k, v in headers if k.lower() == "content-length")
                request = Received(line, headers, await reader.readexactly(length))
                self.received.append(request)
                if not await self.act(writer):
                    return
        except (asyncio.IncompleteReadError, ConnectionError):
            return
        finally:
            writer.close()

    async def act(self, writer: asyncio.StreamWriter) -> bool:
        """Answer, or fail the way `behaviour` says; return whether the connection lives on."""
        body = json.dumps({"task_id": "task-wire-1", "task_status": "running"}).encode()
        head = b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nX-Request-Id: rid-1\r\n"
        if self.behaviour == "answer":
            writer.write(head + b"Content-Length: %d\r\n\r\n" % len(body) + body)
            await writer.drain()
            return True
        if self.behaviour == "short_body":
            writer.write(head + b"Content-Length: %d\r\n\r\n" % (len(body) + 100) + body)
            await writer.drain()
        elif self.behaviour == "reset":  # RST instead of FIN: a connection reset by peer
            sock = writer.get_extra_info("socket")
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        return False


@pytest.fixture
async def raw_hss() -> AsyncIterator[RawHss]:
    """A raw HSS on loopback."""
    raw = RawHss()
    server = await asyncio.start_server(raw.handle, "127.0.0.1", 0)
    raw.url = f"http://127.0.0.1:{server.sockets[0].getsockname()[1]}"
    async with server:
        yield raw
        server.close()


async def _no_sleep(_seconds: float) -> None:
    return None


def _client(url: str, *, max_attempts: int = 3) -> HssClient:
    auth = AkSkAuth(AK, SK, PROJECT, clock=lambda: SIGNED_AT)
    return HssClient(url, PROJECT, auth, sleep=_no_sleep, max_attempts=max_attempts)


async def test_the_signed_create_is_what_goes_on_the_wire(raw_hss: RawHss) -> None:
    """The bytes aiohttp sends carry the signature the official SDK computes for them."""
    client = _client(raw_hss.url)
    try:
        created = await client.create_export_task(REQUEST)
    finally:
        await client.aclose()
    assert created.task_id == "task-wire-1"
    [wire] = raw_hss.received
    method, target, _ = wire.line.split(" ")
    parts = urlsplit(target)
    host = raw_hss.url.removeprefix("http://")
    assert wire.header("Host") == [host]
    assert wire.header("Content-Type") == ["application/json"]
    assert wire.header("Content-Length") == [str(len(REQUEST.body_bytes()))]
    assert wire.header("User-Agent") == [USER_AGENT]
    assert wire.header("Cookie") == []
    assert wire.body == REQUEST.body_bytes()
    sdk = SdkRequest(
        method=method,
        schema="http",
        host=host,
        resource_path=parts.path,
        query_params=parse_qsl(parts.query),
        header_params={
            "Content-Type": wire.header("Content-Type")[0],
            "X-Project-Id": wire.header("X-Project-Id")[0],
            "X-Sdk-Date": wire.header("X-Sdk-Date")[0],
        },
        body=wire.body,
    )
    signed = Signer(BasicCredentials(AK, SK, PROJECT)).sign(sdk)
    assert wire.header("Authorization") == [signed.header_params["Authorization"]]


@pytest.mark.parametrize("behaviour", ["close", "reset", "short_body"])
async def test_a_create_hss_read_then_lost_is_never_resent(
    raw_hss: RawHss, behaviour: Behaviour
) -> None:
    """HSS read the create, then the connection closed, reset or broke mid-answer: sent once."""
    raw_hss.behaviour = behaviour
    client = _client(raw_hss.url)
    try:
        with pytest.raises(HssOutcomeUnknown, match="check the console") as caught:
            await client.create_export_task(REQUEST)
    finally:
        await client.aclose()
    assert len(raw_hss.received) == 1
    assert SK not in str(caught.value)
    assert AK not in str(caught.value)


async def test_a_status_call_lost_is_resent_only_by_the_retry_policy(raw_hss: RawHss) -> None:
    """A dropped GET is asked again per HSS_MAX_ATTEMPTS, with no extra resend below it."""
    raw_hss.behaviour = "close"
    client = _client(raw_hss.url, max_attempts=2)
    try:
        with pytest.raises(HssUnavailable, match="gave up after 2 attempts"):
            await client.get_export_task("task-wire-1")
    finally:
        await client.aclose()
    assert len(raw_hss.received) == 2


@pytest.mark.parametrize(
    ("error", "sent"),
    [
        (aiohttp.ConnectionTimeoutError(), False),
        (aiohttp.ServerDisconnectedError(), True),
        (aiohttp.ClientOSError(104, "Connection reset by peer"), True),
        (aiohttp.ClientConnectionError(), True),
        (aiohttp.ClientPayloadError("Response payload is not completed"), True),
        (aiohttp.SocketTimeoutError(), True),
    ],
    ids=lambda value: type(value).__name__ if isinstance(value, Exception) else str(value),
)
def test_only_connect_phase_errors_count_as_unsent(error: Exception, sent: bool) -> None:
    """An aiohttp error is unsent (safe to resend a create) only if raised before sending."""
    request = httpx.Request("POST", "http://hss.example/v5/p/container/export-task")
    mapped = httpx_error(error, request)
    assert isinstance(mapped, httpx.TransportError)
    assert isinstance(mapped, _NOT_SENT) is not sent
