"""Name why an outbound connection failed, for an operator: the host and the cause.

httpx's exception names (`ConnectError`) do not say whether DNS, a refused port,
TLS or a proxy is at fault; the cause is in the exception chain. Only our own
phrases are returned, never the library's text (it may quote a URL or a header).
"""

from __future__ import annotations

import socket
import ssl
from typing import Final

import httpx

# The exception itself first (httpx names proxy and timeout failures), then its causes.
_BY_TYPE: Final[tuple[tuple[type[BaseException], str], ...]] = (
    (httpx.ProxyError, "the proxy refused or failed the connection"),
    (httpx.ConnectTimeout, "timed out connecting"),
    (httpx.PoolTimeout, "timed out waiting for a free connection"),
)
_BY_CAUSE: Final[tuple[tuple[type[BaseException], str], ...]] = (
    (socket.gaierror, "DNS lookup failed: the host name does not resolve"),
    (ConnectionRefusedError, "connection refused: nothing listens on that port"),
    (ssl.SSLCertVerificationError, "TLS failed: the server's certificate is not trusted"),
    (ssl.SSLError, "TLS handshake failed"),
    (TimeoutError, "timed out connecting"),
)
# Last resort, when only the message tells (a library that wraps the cause as text).
_BY_TEXT: Final = (
    ("name or service not known", "DNS lookup failed: the host name does not resolve"),
    ("temporary failure in name resolution", "DNS lookup failed (temporary)"),
    ("nodename nor servname", "DNS lookup failed: the host name does not resolve"),
    ("connection refused", "connection refused: nothing listens on that port"),
    ("certificate verify failed", "TLS failed: the server's certificate is not trusted"),
    ("ssl", "TLS handshake failed"),
    ("proxy", "the proxy refused or failed the connection"),
)


def connect_failure(exc: BaseException) -> str:
    """Return the cause of a failed connection in a few words (DNS, refused, TLS, proxy…)."""
    for kind, why in _BY_TYPE:
        if isinstance(exc, kind):
            return why
    for cause in _chain(exc):
        for kind, why in _BY_CAUSE:
            if isinstance(cause, kind):
                return why
    text = str(exc).lower()
    for needle, why in _BY_TEXT:
        if needle in text:
            return why
    return f"could not connect ({type(exc).__name__})"


def _chain(exc: BaseException) -> list[BaseException]:
    seen: list[BaseException] = []
    current: BaseException | None = exc
    while current is not None and current not in seen and len(seen) < 10:
        seen.append(current)
        current = current.__cause__ or current.__context__
    return seen
