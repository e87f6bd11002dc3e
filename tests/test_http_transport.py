"""The HSS client on aiohttp: what it sends on the wire, and which failures it resends.

A raw TCP server stands in for HSS where FakeHss cannot misbehave the way a
network does: it records every request it read in full, then answers, closes,
resets the connection, or breaks off the answer's body.
"""

from __future__ import annotations

import asyncio
import base64
import io
import json
import logging
import socket
import struct
import traceback
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Literal
from urllib.parse import parse_qsl, urlsplit

import aiohttp
import httpx
import pytest
import yarl
from aiohttp.client_reqrep import ConnectionKey, RequestInfo
from huaweicloudsdkcore.auth.credentials import BasicCredentials
from huaweicloudsdkcore.sdk_request import SdkRequest
from huaweicloudsdkcore.signer.signer import Signer
from multidict import CIMultiDict, CIMultiDictProxy

from bot.adapters.hss import _NOT_SENT, USER_AGENT, HssClient
from bot.adapters.http_transport import httpx_error
from bot.adapters.signer import AkSkAuth
from bot.domain.errors import HssError, HssOutcomeUnknown, HssUnavailable
from bot.domain.model import ExportBody, ExportQuery, ExportRequest
from bot.observability import configure_logging

AK, SK, PROJECT = "AKWIREMARKER00000001", "SKWIREMARKER-secret-0000000000000001", "wire-project"
PROXY_PASSWORD = "PROXYPASSWORDMARKER"
SIGNED_AT = datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)
REQUEST = ExportRequest(
    query=ExportQuery(export_size=500),
    body=ExportBody(risky=True, export_headers=[("container_name", "容器名称")]),
)
Behaviour = Literal[
    "answer",
    "close",
    "reset",
    "short_body",
    "garbage",
    "file_then_fin",
    "file_then_rst",
    "hold_file",
]
FILE = b"file-bytes-" * 10_000


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
    release: asyncio.Event = field(default_factory=asyncio.Event)  # "hold_file": send the rest

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
                if not await self.act(writer, request):
                    return
        except (asyncio.IncompleteReadError, ConnectionError):
            return
        finally:
            writer.close()

    async def act(self, writer: asyncio.StreamWriter, request: Received) -> bool:
        """Answer, or fail the way `behaviour` says; return whether the connection lives on."""
        body = json.dumps({"task_id": "task-wire-1", "task_status": "running"}).encode()
        head = b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nX-Request-Id: rid-1\r\n"
        if "/download/" in request.line and self.behaviour != "answer":
            return await self.send_file(writer)
        if self.behaviour in ("answer", "hold_file"):
            writer.write(head + b"Content-Length: %d\r\n\r\n" % len(body) + body)
            await writer.drain()
            return True
        if self.behaviour == "short_body":
            writer.write(head + b"Content-Length: %d\r\n\r\n" % (len(body) + 100) + body)
            await writer.drain()
        elif self.behaviour == "garbage":
            writer.write(b"HTTP/1.1 2x0 Garbage\r\nBad Header\r\n\r\n")
            await writer.drain()
        elif self.behaviour == "reset":
            _reset_on_close(writer)
        return False

    async def send_file(self, writer: asyncio.StreamWriter) -> bool:
        """Send FILE: delimited by the connection's close (FIN or RST), or held half-way."""
        head = b"HTTP/1.1 200 OK\r\nContent-Type: application/octet-stream\r\n"
        if self.behaviour == "hold_file":
            half = len(FILE) // 2
            writer.write(head + b"Content-Length: %d\r\n\r\n" % len(FILE) + FILE[:half])
            await writer.drain()
            await self.release.wait()
            writer.write(FILE[half:])
            await writer.drain()
            return True
        writer.write(head + b"Connection: close\r\n\r\n" + FILE)  # no length: until the close
        await writer.drain()
        if self.behaviour == "file_then_rst":
            await asyncio.sleep(0.05)  # let the bytes reach the client before the reset
            _reset_on_close(writer)
        return False


def _reset_on_close(writer: asyncio.StreamWriter) -> None:
    """Make closing send RST instead of FIN: a connection reset by peer."""
    sock = writer.get_extra_info("socket")
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))


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


def _client(url: str, *, max_attempts: int = 3, **options: Any) -> HssClient:
    auth = AkSkAuth(AK, SK, PROJECT, clock=lambda: SIGNED_AT)
    return HssClient(url, PROJECT, auth, sleep=_no_sleep, max_attempts=max_attempts, **options)


def _sdk_signature(wire: Received, host: str) -> str:
    """The Authorization header the official SDK computes for the request as received."""
    method, target, _ = wire.line.split(" ")
    parts = urlsplit(target)
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
    signed: str = Signer(BasicCredentials(AK, SK, PROJECT)).sign(sdk).header_params["Authorization"]
    return signed


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
    assert (method, parts.path) == ("POST", f"/v5/{PROJECT}/container/export-task")
    assert wire.header("Authorization") == [_sdk_signature(wire, host)]


async def test_the_signed_request_target_is_sent_byte_for_byte(raw_hss: RawHss) -> None:
    """A GET with a query and odd characters goes out encoded exactly as it was signed."""
    client = _client(raw_hss.url)
    try:
        await client.get_export_task(
            "a b+c~d%2F!*'()$&,:;=@e", enterprise_project_id="x y+z!*'()%;=&"
        )
    finally:
        await client.aclose()
    [wire] = raw_hss.received
    # Each path segment and query value percent-encoded but for unreserved characters
    # (the SDK's canonical form): aiohttp left to itself sends ! * ' ( ) $ , : ; = @ bare.
    assert wire.line == (
        f"GET /v5/{PROJECT}/export-task/a%20b%2Bc~d%252F%21%2A%27%28%29%24%26%2C%3A%3B%3D%40e"
        "?enterprise_project_id=x%20y%2Bz%21%2A%27%28%29%25%3B%3D%26 HTTP/1.1"
    )
    assert wire.header("Authorization") == [
        _sdk_signature(wire, raw_hss.url.removeprefix("http://"))
    ]


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


CONNECTION = ConnectionKey("hss.example", 443, True, True, None, None, None)
PROXY_CONNECT = RequestInfo(
    yarl.URL("http://proxy.example:3128"), "CONNECT", CIMultiDictProxy(CIMultiDict())
)


@pytest.mark.parametrize(
    ("error", "sent"),
    [
        (aiohttp.ConnectionTimeoutError(), False),
        (aiohttp.ClientConnectorError(CONNECTION, ConnectionRefusedError(111, "refused")), False),
        (aiohttp.ClientProxyConnectionError(CONNECTION, ConnectionRefusedError(111, "")), False),
        (aiohttp.ClientHttpProxyError(PROXY_CONNECT, (), status=403), False),
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


async def _download(client: HssClient) -> bytes:
    async with client.download("file-1") as chunks:
        return b"".join([chunk async for chunk in chunks])


async def test_a_file_ended_by_a_clean_close_is_delivered_whole(raw_hss: RawHss) -> None:
    """No Content-Length, not chunked: the file is what came before the connection's FIN."""
    raw_hss.behaviour = "file_then_fin"
    client = _client(raw_hss.url, max_attempts=1)
    try:
        assert await _download(client) == FILE
    finally:
        await client.aclose()


async def test_a_file_ended_by_a_reset_is_never_delivered_as_complete(raw_hss: RawHss) -> None:
    """The same file cut by a connection reset: the download broke off, retried, then failed."""
    raw_hss.behaviour = "file_then_rst"
    client = _client(raw_hss.url, max_attempts=2)
    try:
        with pytest.raises(HssUnavailable, match="HSS"):
            await _download(client)
    finally:
        await client.aclose()


async def test_a_status_call_waits_for_a_download_to_free_the_connection(
    raw_hss: RawHss,
) -> None:
    """HSS_MAX_IN_FLIGHT=1: a status call during a download is answered after it, not failed.

    A download is a call in flight until its file is read; waiting in aiohttp's pool
    instead would count against the connect timeout (0.05 s here, twice) and fail as
    "timed out connecting": the second's wait gives that failure ample time to happen.
    """
    raw_hss.behaviour = "hold_file"
    client = _client(raw_hss.url, max_attempts=2, max_in_flight=1, connect_timeout=0.05)
    try:
        async with client.download("file-1") as chunks:
            status = asyncio.create_task(client.get_export_task("task-wire-1"))
            await asyncio.wait({status}, timeout=1.0)
            raw_hss.release.set()
            assert b"".join([chunk async for chunk in chunks]) == FILE
        assert (await status).task_status == "running"
    finally:
        await client.aclose()


def _chain(exc: BaseException) -> list[BaseException]:
    """Every exception linked to `exc`, as causes or as contexts."""
    seen: list[BaseException] = []
    pending = [exc]
    while pending:
        current = pending.pop()
        if any(current is known for known in seen):
            continue
        seen.append(current)
        pending += [e for e in (current.__cause__, current.__context__) if e is not None]
    return seen


PROXY_HEADS: list[str] = []


async def _refuse_connect(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    """A proxy that wants other credentials: 407 to the CONNECT (or the request); heads kept."""
    PROXY_HEADS.append((await reader.readuntil(b"\r\n\r\n")).decode("latin-1"))
    writer.write(b"HTTP/1.1 407 Proxy Authentication Required\r\nContent-Length: 0\r\n\r\n")
    await writer.drain()
    writer.close()


@pytest.mark.parametrize("through", ["hss", "proxy"])
async def test_no_credential_in_any_linked_exception_or_the_log(
    raw_hss: RawHss, monkeypatch: pytest.MonkeyPatch, through: str
) -> None:
    """A garbled answer, or a proxy refusing the CONNECT: no header or password anywhere.

    aiohttp's exceptions carry the request's headers (Authorization, or the CONNECT's
    Proxy-Authorization) in their repr; none of them may be linked to what is raised.
    A refused CONNECT sent nothing to HSS: HssUnavailable, never HssOutcomeUnknown.
    """
    buffer = io.StringIO()
    configure_logging("INFO", "json", stream=buffer)
    raw_hss.behaviour = "garbage"
    url = raw_hss.url
    proxy = await asyncio.start_server(_refuse_connect, "127.0.0.1", 0)
    if through == "proxy":
        port = proxy.sockets[0].getsockname()[1]
        for name in ("NO_PROXY", "no_proxy", "https_proxy"):
            monkeypatch.delenv(name, raising=False)
        monkeypatch.setenv("HTTPS_PROXY", f"http://proxyuser:{PROXY_PASSWORD}@127.0.0.1:{port}")
        url = "https://hss.invalid"
    client = _client(url, max_attempts=1)
    try:
        with pytest.raises(HssError) as caught:
            await client.create_export_task(REQUEST)
    finally:
        await client.aclose()
        proxy.close()
    expected = HssUnavailable if through == "proxy" else HssOutcomeUnknown
    assert type(caught.value) is expected
    logging.getLogger("test").error("the call failed", exc_info=caught.value)
    texts = [repr(e) for e in _chain(caught.value)] + [str(e) for e in _chain(caught.value)]
    texts += ["".join(traceback.format_exception(caught.value)), buffer.getvalue()]
    for secret in ("Signature=", AK, SK, PROXY_PASSWORD, "cHJveHl1c2Vy"):  # base64 of the user
        assert not [text for text in texts if secret in text], secret
    assert len(_chain(caught.value)) >= 2  # the httpx error is still linked


def test_an_aiohttp_without_the_resend_switch_fails_at_startup(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Without `_retry_connection`, aiohttp would resend GETs beyond HSS_MAX_ATTEMPTS: refuse."""
    attrs = aiohttp.ClientSession.ATTRS - {"_retry_connection"}
    monkeypatch.setattr(aiohttp.ClientSession, "ATTRS", attrs)
    with pytest.raises(RuntimeError, match=r"_retry_connection.*aiohttp>=3\.12\.7"):
        _client("http://127.0.0.1:9")


@pytest.mark.filterwarnings("error::DeprecationWarning")  # aiohttp's proxy_auth is
@pytest.mark.parametrize("scheme", ["https", "http"])
async def test_the_proxy_gets_its_credentials_where_it_reads_them(
    monkeypatch: pytest.MonkeyPatch, scheme: str
) -> None:
    """HTTPS_PROXY / HTTP_PROXY with user:password: Proxy-Authorization on the CONNECT (https)
    or on the request the proxy forwards (http), as httpcore sends it; no deprecated API."""
    PROXY_HEADS.clear()
    proxy = await asyncio.start_server(_refuse_connect, "127.0.0.1", 0)
    port = proxy.sockets[0].getsockname()[1]
    for name in ("NO_PROXY", "no_proxy", "https_proxy", "http_proxy"):
        monkeypatch.delenv(name, raising=False)
    for name in ("HTTPS_PROXY", "HTTP_PROXY"):
        monkeypatch.setenv(name, f"http://proxyuser:{PROXY_PASSWORD}@127.0.0.1:{port}")
    client = _client(f"{scheme}://hss.invalid", max_attempts=1)
    try:
        with pytest.raises(HssError):
            await client.get_export_task("task-1")
    finally:
        await client.aclose()
        proxy.close()
    [head] = PROXY_HEADS
    expected = "CONNECT hss.invalid:443 " if scheme == "https" else "GET http://hss.invalid/v5/"
    assert head.startswith(expected)
    token = base64.b64encode(f"proxyuser:{PROXY_PASSWORD}".encode()).decode()
    assert f"Proxy-Authorization: Basic {token}\r\n".lower() in head.lower()
