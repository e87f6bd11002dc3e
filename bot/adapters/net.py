"""Name why an outbound connection failed, for an operator: the host and the cause.

httpx's exception names (`ConnectError`) do not say whether DNS, a refused port,
TLS or a proxy is at fault; the cause is in the exception chain. Only our own
phrases are returned, never the library's text (it may quote a URL or a header).
"""

from __future__ import annotations

import socket
import ssl

import httpx


def connect_failure(exc: BaseException) -> str:
    """Return the cause of a failed connection in a few words (DNS, refused, TLS, proxy…)."""
    if isinstance(exc, httpx.ProxyError):
        return "the proxy refused or failed the connection"
    if isinstance(exc, httpx.ConnectTimeout):
        return "timed out connecting"
    if isinstance(exc, httpx.PoolTimeout):
        return "timed out waiting for a free connection"
    for cause in _chain(exc):
        if isinstance(cause, socket.gaierror):
            return "DNS lookup failed: the host name does not resolve"
        if isinstance(cause, ConnectionRefusedError):
            return "connection refused: nothing listens on that port"
        if isinstance(cause, ssl.SSLCertVerificationError):
            return "TLS failed: the server's certificate is not trusted"
        if isinstance(cause, ssl.SSLError):
            return "TLS handshake failed"
        if isinstance(cause, TimeoutError):
            return "timed out connecting"
    text = str(exc).lower()
    for needle, why in (
        ("name or service not known", "DNS lookup failed: the host name does not resolve"),
        ("temporary failure in name resolution", "DNS lookup failed (temporary)"),
        ("nodename nor servname", "DNS lookup failed: the host name does not resolve"),
        ("connection refused", "connection refused: nothing listens on that port"),
        ("certificate verify failed", "TLS failed: the server's certificate is not trusted"),
        ("ssl", "TLS handshake failed"),
        ("proxy", "the proxy refused or failed the connection"),
    ):
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
