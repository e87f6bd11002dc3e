"""One pool of keep-alive connections to Slack per process, shared by every Web API client.

Without `session=`, slack_sdk's `AsyncWebClient` makes an aiohttp session for
each call and closes it after: a new TCP connection (against Slack, a TLS
handshake too) per `chat.postMessage`. Given a session, it uses it as long as
it is open and never closes it. What else changes then (slack_sdk 3.x,
`web/async_internal_utils._request_with_session`), and how it is met here:

- The session's timeout applies, not the client's `timeout` (slack_sdk only
  uses that for the sessions it makes itself). So `session(timeout)` gives one
  session per timeout (the app's 10 s, the prompt client's 2 s, the upload's),
  all over the same connector: one pool, each client its own bound.
- `proxy` and `ssl` still go with each request from the client's attributes, so
  `bot.adapters.proxy.proxy_for` still decides the Web API's proxy (NO_PROXY
  honoured). The sessions for it have `trust_env` off: aiohttp adds nothing of
  its own. (The upload's session has it on, as before: its URL is not the API's.)
- Retry handlers run as before. A connection Slack closed while it idled in the
  pool fails the next request on it with `ServerDisconnectedError` or
  `ClientOSError`, which `AsyncConnectionErrorRetryHandler` retries, on a new
  connection (aiohttp itself retries only idempotent methods, not these POSTs).
- A closed session is not used: slack_sdk falls back to a session per call. So
  a call after `aclose` (a straggler at shutdown) still goes out, unpooled.

The pool is aiohttp's `TCPConnector` with its defaults (100 connections at
most, an idle one kept 15 s), made in the running loop: by `build_runtime`,
once per process (each `WEB_CONCURRENCY` worker its own), closed last at shutdown.
"""

from __future__ import annotations

import weakref

import aiohttp


class SlackConnections:
    """A process's keep-alive connections to Slack, and the sessions that share them."""

    def __init__(self) -> None:
        # aiohttp binds the connector to the running loop (and raises outside one).
        self._connector = aiohttp.TCPConnector()
        self._sessions: dict[tuple[aiohttp.ClientTimeout, bool], aiohttp.ClientSession] = {}

    @property
    def closed(self) -> bool:
        """Tell whether `aclose` has run."""
        return self._connector.closed

    def session(
        self, timeout: float | aiohttp.ClientTimeout, *, trust_env: bool = False
    ) -> aiohttp.ClientSession:
        """Return the session over these connections that bounds each call by `timeout`.

        A number is a total in seconds, as slack_sdk's own sessions take it.
        `trust_env`: let aiohttp read HTTPS_PROXY/NO_PROXY itself (not for a
        slack_sdk client, whose proxy is set on the client).
        """
        if not isinstance(timeout, aiohttp.ClientTimeout):
            timeout = aiohttp.ClientTimeout(total=timeout)
        key = (timeout, trust_env)
        if (session := self._sessions.get(key)) is None:
            session = aiohttp.ClientSession(
                connector=self._connector,
                connector_owner=False,
                timeout=timeout,
                trust_env=trust_env,
            )
            self._sessions[key] = session
            _POOLS[session] = weakref.ref(self)
        return session

    async def aclose(self) -> None:
        """Close the sessions and every pooled connection."""
        for session in self._sessions.values():
            await session.close()
        self._sessions.clear()
        await self._connector.close()


def sibling(session: aiohttp.ClientSession | None, timeout: float) -> aiohttp.ClientSession | None:
    """Return a session over the same connections as `session`, bounding calls by `timeout`.

    None for None (the client then makes its own per call, as before); a session
    not made by `SlackConnections` is returned as it is (its own timeout).
    """
    if session is None:
        return None
    owner = _POOLS.get(session)
    pool = owner() if owner is not None else None
    if pool is None or pool.closed:
        return session
    return pool.session(timeout)


# Which pool made a session, for `sibling`; weak both ways, so neither outlives its users.
_POOLS: weakref.WeakKeyDictionary[aiohttp.ClientSession, weakref.ref[SlackConnections]] = (
    weakref.WeakKeyDictionary()
)
