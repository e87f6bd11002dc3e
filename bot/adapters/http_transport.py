"""httpx over aiohttp for the HSS client: httpx's API (requests, `httpx.Auth`), aiohttp's cost.

httpx's own transport (httpcore on anyio) costs several times the CPU per call
of aiohttp's client at the bot's concurrency (bench/bench_hss_client.py): its
pool rescans every queued request against every connection on each event and
asks anyio for the running library at every step. `httpx_aiohttp`'s transport
sends the same `httpx.Request` (headers, body bytes, so the AK/SK signature is
the one checked on the wire) through an `aiohttp.ClientSession`.

What this module adds to the published transport:

- Errors mean what httpx's do, which the HSS client's retry policy relies on.
  The package maps every `aiohttp.ClientConnectionError` to `ConnectTimeout`,
  including a server that closed the connection after reading the request
  (`ServerDisconnectedError`): a create HSS may have taken would look unsent
  and be sent again. Here only errors raised before a byte of the request left
  are connect-phase errors (`ConnectError`, `ConnectTimeout`, `ProxyError`);
  anything later, or not known to be earlier, is a read/protocol error, as
  httpx reports a stale or dropped connection.
- aiohttp's own resend of an idempotent request whose connection broke is
  off: the HSS client's retry policy decides every attempt (HSS_MAX_ATTEMPTS).
- The proxy is decided once, by `bot.adapters.proxy.proxy_for` (HTTPS_PROXY /
  HTTP_PROXY unless NO_PROXY names the host), since httpx ignores the
  environment's proxies once given a transport; the session does not trust the
  environment itself (that would also read ~/.netrc on every call).
- No cookie jar: httpx keeps the client's cookies; aiohttp's would add its own.

TLS is verified with httpx's own context (certifi, or SSL_CERT_FILE /
SSL_CERT_DIR). Timeouts: httpx's connect becomes aiohttp's `sock_connect`, read
its `sock_read`, pool its `connect` (waiting for a connection and opening it);
aiohttp has no write timeout. Exception texts are aiohttp's (host, port, OS
error), which carry no header: the signature and tokens never reach them.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Iterator

import aiohttp
import httpx
from httpx_aiohttp import AiohttpTransport

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


def httpx_error(exc: BaseException, request: httpx.Request) -> httpx.TransportError | None:
    """Return the httpx error that says what `exc` (aiohttp's) means, or None if not aiohttp's."""
    for kind, mapped in (*_OURS, *_BEFORE_SENDING, *_AFTER_SENDING):
        if isinstance(exc, kind):
            return mapped(f"{type(exc).__name__}: {exc}", request=request)
    return None


@contextlib.contextmanager
def _mapped(request: httpx.Request) -> Iterator[None]:
    """Turn aiohttp's errors (raw, or as the package mapped them) into the right httpx ones."""
    try:
        yield
    except (httpx.TransportError, aiohttp.ClientError) as exc:
        cause = exc.__cause__ if isinstance(exc, httpx.TransportError) else exc
        error = httpx_error(cause, request) if cause is not None else None
        if error is None:
            raise
        raise error from cause


class _Stream(httpx.AsyncByteStream):
    """The response body, its errors mapped."""

    def __init__(self, inner: httpx.AsyncByteStream, request: httpx.Request) -> None:
        self._inner = inner
        self._request = request

    async def __aiter__(self) -> AsyncIterator[bytes]:
        with _mapped(self._request):
            async for chunk in self._inner:
                yield chunk

    async def aclose(self) -> None:
        with _mapped(self._request):
            await self._inner.aclose()


class HttpTransport(AiohttpTransport):
    """`httpx_aiohttp.AiohttpTransport` with httpx's meaning of errors and an explicit proxy."""

    def __init__(self, *, limits: httpx.Limits, proxy: str | None) -> None:
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
        # policy (HSS_MAX_ATTEMPTS, backoff) is the only one that resends. No public switch:
        # tests/test_hss_client.py and test_download_cli.py fail if this stops working.
        session._retry_connection = False
        return session

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        """Send through aiohttp; errors as httpx names them, the body's included."""
        with _mapped(request):
            response = await super().handle_async_request(request)
        assert isinstance(response.stream, httpx.AsyncByteStream)
        response.stream = _Stream(response.stream, request)
        return response
