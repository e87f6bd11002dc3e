"""Which outbound proxy a URL goes through: HTTPS_PROXY / HTTP_PROXY, unless NO_PROXY matches.

httpx (IAM) and aiohttp with `trust_env` (the file upload) read these
variables themselves. slack_sdk reads HTTPS_PROXY/HTTP_PROXY but not NO_PROXY,
and httpx ignores them once given a transport (the HSS client's, on aiohttp),
so those clients (Web API, response URLs, Socket Mode, HSS) get the decision
made here, with the standard library's own reading of the variables.
"""

from __future__ import annotations

import os
import urllib.request
from urllib.parse import urlsplit


def proxy_for(url: str) -> str | None:
    """Return the proxy URL for `url` from the environment, or None to connect directly."""
    proxies = urllib.request.getproxies_environment()
    parts = urlsplit(url)
    secure = parts.scheme in ("https", "wss")
    proxy = proxies.get("https") if secure else proxies.get("http")
    if secure and not proxy:
        proxy = proxies.get("http")  # slack_sdk's own fallback order
    if not proxy or not parts.hostname:
        return None
    host = parts.netloc.rsplit("@", 1)[-1]
    if urllib.request.proxy_bypass_environment(host, proxies):  # type: ignore[attr-defined]
        return None
    return proxy


# What aiohttp (the HSS client's transport) can go through: HTTP CONNECT, over TCP or TLS.
HSS_PROXY_SCHEMES = ("http", "https")


def hss_proxy_problem(url: str) -> str | None:
    """Say what is wrong with the proxy the environment gives `url` (an HSS endpoint), if any.

    Names the variable and the scheme it starts with, never its value (it may hold a password).
    """
    proxy = proxy_for(url)
    if proxy is None:
        return None
    scheme, found, _ = proxy.partition("://")
    if found and scheme.lower() in HSS_PROXY_SCHEMES:
        return None
    secure = urlsplit(url).scheme == "https"
    names = ("https_proxy", "HTTPS_PROXY", "http_proxy", "HTTP_PROXY")
    name = next(
        (n for n in (names if secure else names[2:]) if os.environ.get(n) == proxy),
        "HTTPS_PROXY" if secure else "HTTP_PROXY",
    )
    given = f"starts with {scheme}://" if found else "has no scheme"
    return (
        f"{name} {given}, which the HSS client cannot use: it accepts an http://host:port "
        "or https://host:port proxy (or NO_PROXY naming the HSS host, to connect directly)"
    )
