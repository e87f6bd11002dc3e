"""httpx over aiohttp for the HSS client: httpx's API (requests, `httpx.Auth`), aiohttp's cost.

httpx's own transport (httpcore on anyio) costs several times the CPU per call
of aiohttp's client at the bot's concurrency (bench/bench_hss_client.py): its
pool rescans every queued request against every connection on each event and
asks anyio for the running library at every step. `httpx_aiohttp`'s transport
sends an `httpx.Request` (headers, body bytes) through an
`aiohttp.ClientSession`; this subclass sends it itself, for what follows.

- The request-target on the wire is the one the AK/SK signer canonicalized:
  the URL goes to aiohttp as already encoded (`yarl.URL(..., encoded=True)`).
  Given text, aiohttp re-parses it and decodes `%21 %2A %27 %28 %29` (and, in
  the path, `$ & , : ; = @`), so the server would check the signature against
  bytes that were not signed.
- Errors mean what httpx's do, which the HSS client's retry policy relies on.
  The package maps every `aiohttp.ClientConnectionError` to `ConnectTimeout`,
  including a server that closed the connection after reading the request
  (`ServerDisconnectedError`): a create HSS may have taken would look unsent
  and be sent again. Here only errors raised before a byte of the request left
  are connect-phase errors (`ConnectError`, `ConnectTimeout`, `ProxyError`);
  anything later, or not known to be earlier, is a read/protocol error, as
  httpx reports a stale or dropped connection.
- A body delimited only by the connection's close (no Content-Length, not
  chunked) is complete only if the connection closed cleanly: aiohttp ends
  such a body without error when the connection is reset, so a cut file
  would look whole. Here that is a `ReadError`, as httpcore reports it.
- The httpx error never chains aiohttp's exception, whose repr carries the
  request's headers (Authorization, X-Auth-Token, Proxy-Authorization); it
  chains only the operating system's error under it (DNS, refused, TLS),
  which `bot.adapters.net.connect_failure` names.
- aiohttp's own resend of an idempotent request whose connection broke is
  off: the HSS client's retry policy decides every attempt (HSS_MAX_ATTEMPTS).
  The switch is a session attribute aiohttp declares (3.11+, not documented):
  building the transport fails at once if an aiohttp lacks it.
- The proxy is decided once, by `bot.adapters.proxy.proxy_for` (HTTPS_PROXY /
  HTTP_PROXY unless NO_PROXY names the host), since httpx ignores the
  environment's proxies once given a transport; the session does not trust the
  environment itself (that would also read ~/.netrc on every call). Its
  credentials go as a Proxy-Authorization header, as httpcore sends them
  (aiohttp's `proxy_auth` is deprecated).
- No cookie jar: httpx keeps the client's cookies; aiohttp's would add its own.

TLS is verified with httpx's own context (certifi, or SSL_CERT_FILE /
SSL_CERT_DIR). Timeouts: httpx's connect becomes aiohttp's `sock_connect`, read
its `sock_read`, pool its `connect` (waiting for a connection and opening it);
aiohttp has no write timeout. The HSS client never waits in this pool: its own
semaphore admits no more calls than there are connections.
"""

from __future__ import annotations

import asyncio
import base64
from collections.abc import AsyncIterator
from typing import Final

import aiohttp
import httpx
import yarl
from aiohttp.client_proto import ResponseHandler
from httpx_aiohttp import AiohttpTransport

CHUNK_SIZE: Final = 64 * 1024
# The session attribute that turns off aiohttp's own resend (aio-libs/aiohttp#9396, 3.11.0).
_RETRY_SWITCH: Final = "_retry_connection"

# Raised before the request was written: the connection (or the proxy's) never opened.
_BEFORE_SENDING: tuple[tuple[type[BaseException], type[httpx.TransportError]], ...] = (
    (aiohttp.ClientProxyConnectionError, httpx.ProxyError),
    (aiohttp.ClientHttpProxyError, httpx.ProxyError),  # the proxy refused the CONNECT
    (aiohttp.ConnectionTimeoutError, httpx.ConnectTimeout),  # pool wait or connect
    (aiohttp.ClientConnectorError, httpx.ConnectError),  # DNS, refused, TLS
)
# Raised once the request may have left: the server may have acted on it.
_AFTER_SENDING: tuple[tuple[type[BaseException], type[httpx.TransportError]], ...] = (
    (aiohttp.SocketTimeoutError, httpx.ReadTimeout),
    (aiohttp.ServerTimeoutError, httpx.ReadTimeout),
    (aiohttp.ServerDisconnectedError, httpx.RemoteProtocolError),
    (aiohttp.ClientPayloadError, httpx.ReadError),
    (aiohttp.ClientResponseError, httpx.RemoteProtocolError),  # a malformed answer
    (aiohttp.ClientOSError, httpx.ReadError),  # reset, broken pipe
    (aiohttp.ClientConnectionError, httpx.ReadError),
    (aiohttp.ClientError, httpx.RemoteProtocolError),
)
_OURS: tuple[tuple[type[BaseException], type[httpx.TransportError]], ...] = (
    (aiohttp.InvalidURL, httpx.UnsupportedProtocol),
)
_NO_BODY_STATUS: Final = frozenset({204, 304})


def check_aiohttp() -> None:
    """Fail loudly if this aiohttp lacks what the transport relies on (an undocumented switch)."""
    if _RETRY_SWITCH not in aiohttp.ClientSession.ATTRS:
        raise RuntimeError(
            f"aiohttp {aiohttp.__version__} has no ClientSession.{_RETRY_SWITCH}: it would "
            "resend a GET whose connection broke, beyond HSS_MAX_ATTEMPTS; install aiohttp>=3.12.7"
        )
    if not isinstance(getattr(ResponseHandler, "closed", None), property):
        raise RuntimeError(
            f"aiohttp {aiohttp.__version__} does not tell how a connection closed "
            "(ResponseHandler.closed): a download cut by a reset would look complete; "
            "install aiohttp>=3.12.7"
        )


def httpx_error(exc: BaseException, request: httpx.Request) -> httpx.TransportError | None:
    """Return the httpx error that says what `exc` (aiohttp's) means, or None if not aiohttp's.

    Its cause is the operating system's error under `exc`, if any, never aiohttp's
    exception itself (whose repr may carry the request's or the proxy's credentials).
    """
    for kind, mapped in (*_OURS, *_BEFORE_SENDING, *_AFTER_SENDING):
        if isinstance(exc, kind):
            error = mapped(f"{type(exc).__name__}: {exc}", request=request)
            error.__cause__ = _os_cause(exc)
            error.__suppress_context__ = True
            return error
    return None


def _os_cause(exc: BaseException) -> BaseException | None:
    """Return the first error under `exc` that is not aiohttp's (an OSError, ssl's), or None."""
    current = exc.__cause__ or exc.__context__
    for _ in range(10):
        if current is None or not type(current).__module__.startswith("aiohttp"):
            return current
        current = current.__cause__ or current.__context__
    return None


def _mapped(exc: BaseException, request: httpx.Request) -> BaseException:
    """Return the httpx error for `exc` (raw aiohttp, or as the package mapped it), else `exc`."""
    cause = exc.__cause__ if isinstance(exc, httpx.TransportError) else exc
    error = httpx_error(cause, request) if cause is not None else None
    return exc if error is None else error


def _ends_with_close(response: aiohttp.ClientResponse, method: str) -> bool:
    """Tell whether the body is delimited only by the connection's close (RFC 9112 6.3, 8)."""
    if method == "HEAD" or response.status < 200 or response.status in _NO_BODY_STATUS:
        return False
    headers = response.headers
    chunked = "chunked" in headers.get("Transfer-Encoding", "").lower()
    return "Content-Length" not in headers and not chunked


def _retrieve(closed: asyncio.Future[None]) -> None:
    """Mark the close's error as seen (asyncio logs one nobody retrieved)."""
    if not closed.cancelled():
        closed.exception()


class _Stream(httpx.AsyncByteStream):
    """The response body, its errors mapped; a body ended by a lost connection is an error."""

    def __init__(self, response: aiohttp.ClientResponse, request: httpx.Request) -> None:
        self._response = response
        self._request = request
        self._ends_with_close = _ends_with_close(response, request.method)
        self._closed: asyncio.Future[None] | None = None
        connection = response.connection
        if self._ends_with_close and connection is not None and connection.protocol is not None:
            # Watched from the headers on; None if the connection was already lost (unknown how).
            self._closed = connection.protocol.closed
            if self._closed is not None:
                self._closed.add_done_callback(_retrieve)

    async def __aiter__(self) -> AsyncIterator[bytes]:
        chunks = self._response.content.iter_chunked(CHUNK_SIZE)
        while True:
            failure: BaseException | None = None
            try:
                chunk = await anext(chunks)
            except StopAsyncIteration:
                break
            except aiohttp.ClientError as exc:
                failure = _mapped(exc, self._request)
            if failure is not None:
                raise failure  # outside the except: no link to aiohttp's exception
            yield chunk
        if self._ends_with_close and not self._closed_cleanly():
            raise httpx.ReadError(
                "the body ended with the connection, which did not close cleanly",
                request=self._request,
            )

    def _closed_cleanly(self) -> bool:
        closed = self._closed
        return closed is not None and closed.done() and closed.exception() is None

    async def aclose(self) -> None:
        failure: BaseException | None = None
        try:
            await self._response.__aexit__(None, None, None)
        except aiohttp.ClientError as exc:
            failure = _mapped(exc, self._request)
        if failure is not None:
            raise failure


class HttpTransport(AiohttpTransport):
    """`httpx_aiohttp.AiohttpTransport` sending the signed URL as is, errors as httpx's."""

    def __init__(self, *, limits: httpx.Limits, proxy: str | None) -> None:
        check_aiohttp()
        super().__init__(
            limits=limits,
            proxy=httpx.Proxy(proxy) if proxy else None,
            client=self._new_session,
        )

    def _new_session(self) -> aiohttp.ClientSession:
        """Build the session on first use (it binds to the running loop)."""
        connector = aiohttp.TCPConnector(
            limit=self.limits.max_connections or 0,
            keepalive_timeout=self.limits.keepalive_expiry,
            ssl=self.ssl_context,
        )
        session = aiohttp.ClientSession(
            connector=connector, cookie_jar=aiohttp.DummyCookieJar(), trust_env=False
        )
        # aiohttp resends a GET at once, once, when its connection breaks; the HSS client's
        # policy (HSS_MAX_ATTEMPTS, backoff) is the only one that resends (check_aiohttp).
        setattr(session, _RETRY_SWITCH, False)
        return session

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        """Send through aiohttp; errors as httpx names them, the body's included."""
        failure: BaseException | None = None
        try:
            response = await self._send(request)
        except (httpx.TransportError, aiohttp.ClientError) as exc:
            failure = _mapped(exc, request)
            if failure is exc:
                raise
        if failure is not None:
            raise failure  # outside the except: no link to aiohttp's exception
        extensions: dict[str, bytes] = {"http_version": b"HTTP/1.1"}
        if response.reason:
            extensions["reason_phrase"] = response.reason.encode()
        return httpx.Response(
            status_code=response.status,
            headers=response.raw_headers,
            stream=_Stream(response, request),
            request=request,
            extensions=extensions,
        )

    async def _send(self, request: httpx.Request) -> aiohttp.ClientResponse:
        if not isinstance(self.client, aiohttp.ClientSession):
            self.client = self.get_client()
        timeout = request.extensions.get("timeout", {})
        proxy = self.proxy
        headers, proxy_headers = _with_proxy_credentials(request, proxy)
        # The HSS client's requests are built whole (bytes), never streamed.
        content = request.content or None
        return await self.client.request(
            method=request.method,
            # As signed: aiohttp would otherwise decode %21 %2A %27 %28 %29 and more.
            url=yarl.URL(str(request.url), encoded=True),
            headers=headers,
            data=content,
            allow_redirects=False,
            auto_decompress=False,
            compress=False,
            timeout=aiohttp.ClientTimeout(
                sock_connect=timeout.get("connect"),
                sock_read=timeout.get("read"),
                connect=timeout.get("pool"),
            ),
            server_hostname=request.extensions.get("sni_hostname"),
            proxy=str(proxy.url) if proxy else None,
            proxy_headers=proxy_headers,
        ).__aenter__()


def _with_proxy_credentials(
    request: httpx.Request, proxy: httpx.Proxy | None
) -> tuple[httpx.Headers, dict[str, str] | None]:
    """Return the request's headers and the proxy's, Proxy-Authorization where the proxy reads it.

    On the CONNECT for an https URL, on the request itself for an http one (sent to the
    proxy whole), as httpcore does; aiohttp's `proxy_auth` is deprecated (gone in 4.0).
    """
    if proxy is None:
        return request.headers, None
    proxy_headers = dict(proxy.headers.items())
    if proxy.auth is None:
        return request.headers, proxy_headers
    user, password = proxy.auth
    token = base64.b64encode(f"{user}:{password}".encode()).decode("ascii")
    if request.url.scheme == "https":
        proxy_headers["Proxy-Authorization"] = f"Basic {token}"
        return request.headers, proxy_headers
    headers = request.headers.copy()
    headers["Proxy-Authorization"] = f"Basic {token}"
    return headers, proxy_headers
