"""Which outbound proxy a URL goes through: HTTPS_PROXY / HTTP_PROXY, unless NO_PROXY matches.

httpx (IAM) and aiohttp with `trust_env` (the file upload) read these
variables themselves. slack_sdk reads HTTPS_PROXY/HTTP_PROXY but not NO_PROXY,
and httpx ignores them once given a transport (the HSS client's, on aiohttp),
so those clients (Web API, response URLs, Socket Mode, HSS) get the decision
made here, with the standard library's own reading of the variables.
"""

from __future__ import annotations

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
