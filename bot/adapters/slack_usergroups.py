"""Read Slack user groups' members for access checks: fast, cached, never in the way of an ack.

Access is decided before a command is acked, and Slack drops a command that is
not acked within 3 seconds. So the lookup goes through a client with no retry
handlers (the app's own client sleeps out Retry-After and retries, which can
take longer than Slack waits), each lookup is bounded, members are kept for
`ttl`, the last answer stands in for a while past it when Slack is slow or
failing, and a Retry-After is honoured by not asking again before it is over.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable, Iterable
from typing import Any, Final

from slack_sdk.errors import SlackApiError
from slack_sdk.web.async_client import AsyncWebClient

from bot.adapters.slack_http import sibling
from bot.adapters.slack_web import SLACK_FAILURES, error_of
from bot.domain.errors import DirectoryUnavailable

log = logging.getLogger(__name__)

LOOKUP_SECONDS: Final = 0.8  # under the access decision's own bound, so a stale answer can serve
PROMPT_CLIENT_SECONDS: Final = 2  # aiohttp's bound on one call of the prompt client
TTL_SECONDS: Final = 300.0
STALE_SECONDS: Final = 3600.0  # how long past its ttl an answer may stand in for a failed lookup
# Slack error codes that say "try again later", as opposed to a setup that is wrong.
_PASSING_ERRORS: Final = frozenset(
    {"ratelimited", "internal_error", "fatal_error", "service_unavailable", "request_timeout"}
)


def prompt_client(client: AsyncWebClient) -> AsyncWebClient:
    """Return a client like `client` (token, API URL, proxy, TLS) that fails fast, never retrying.

    For the calls made before an ack (user groups, views.open): a retry that
    sleeps out Retry-After would outlast Slack's 3 seconds. It shares `client`'s
    keep-alive connections, through a session of its own bound (`slack_http.sibling`).
    """
    return AsyncWebClient(
        token=client.token,
        base_url=client.base_url,
        timeout=PROMPT_CLIENT_SECONDS,
        ssl=client.ssl,
        proxy=client.proxy,
        session=sibling(client.session, PROMPT_CLIENT_SECONDS),
        retry_handlers=[],
    )


class SlackUsergroups:
    """`UsergroupDirectory` over `usergroups.users.list`: cached, bounded, stale-tolerant."""

    def __init__(
        self,
        client: Any,
        *,
        ttl: float = TTL_SECONDS,
        stale_for: float = STALE_SECONDS,
        timeout: float = LOOKUP_SECONDS,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        # `client` is a slack_sdk AsyncWebClient (best without retry handlers: `prompt_client`).
        self._client = client
        self._ttl = ttl
        self._stale_for = stale_for
        self._timeout = timeout
        self._clock = clock
        self._cache: dict[str, tuple[float, frozenset[str]]] = {}  # group -> (read at, members)
        self._quiet_until: dict[str, float] = {}  # group -> no call before (Slack's Retry-After)
        self._lookups: dict[str, asyncio.Task[frozenset[str]]] = {}  # group -> lookup running

    async def members(self, usergroup_id: str) -> frozenset[str]:
        """Return the group's members: fresh from the cache, else from Slack within `timeout`.

        When Slack fails for a while (slow, rate limited, down), the last answer
        read within `ttl + stale_for` is returned instead; with none, or when
        Slack says the setup is wrong (no such group, missing scope), raise
        `DirectoryUnavailable`.
        """
        fresh = self._cached(usergroup_id, self._ttl)
        if fresh is not None:
            return fresh
        try:
            # The lookup goes on past the timeout (shielded): when Slack is merely slow, its
            # answer still lands in the cache, so the next command is decided from it.
            return await asyncio.wait_for(asyncio.shield(self._lookup(usergroup_id)), self._timeout)
        except TimeoutError:
            failure = DirectoryUnavailable("timeout", passing=True)
        except DirectoryUnavailable as exc:
            failure = exc
        stale = self._cached(usergroup_id, self._ttl + self._stale_for)
        if failure.passing and stale is not None:
            log.warning(
                "user group lookup failed; using the last answer",
                extra={"usergroup": usergroup_id, "error": failure.why},
            )
            return stale
        raise failure

    def _lookup(self, usergroup_id: str) -> asyncio.Task[frozenset[str]]:
        # One lookup per group at a time: a burst of commands costs one API call.
        running = self._lookups.get(usergroup_id)
        if running is None or running.done():
            running = asyncio.create_task(
                self._read(usergroup_id), name=f"usergroup-{usergroup_id}"
            )
            self._lookups[usergroup_id] = running
            running.add_done_callback(_retrieve)
        return running

    async def _read(self, usergroup_id: str) -> frozenset[str]:
        fresh = self._cached(usergroup_id, self._ttl)
        if fresh is not None:
            return fresh
        if self._clock() < self._quiet_until.get(usergroup_id, float("-inf")):
            raise DirectoryUnavailable("ratelimited", passing=True)
        try:
            response = await self._client.usergroups_users_list(usergroup=usergroup_id)
        except SlackApiError as exc:
            raise self._refused(usergroup_id, exc) from exc
        except SLACK_FAILURES as exc:
            raise DirectoryUnavailable(error_of(exc), passing=True) from exc
        users: Iterable[str] = response.get("users") or ()
        members = frozenset(users)
        self._cache[usergroup_id] = (self._clock(), members)
        return members

    def _refused(self, usergroup_id: str, exc: SlackApiError) -> DirectoryUnavailable:
        why = error_of(exc)
        status = getattr(exc.response, "status_code", None)
        if status == 429:
            headers = getattr(exc.response, "headers", None) or {}
            try:
                wait = float(headers.get("Retry-After", 1))
            except ValueError:
                wait = 1.0
            self._quiet_until[usergroup_id] = self._clock() + wait
        passing = why in _PASSING_ERRORS or status == 429 or (status or 0) >= 500
        return DirectoryUnavailable(why, passing=passing)

    def _cached(self, usergroup_id: str, max_age: float) -> frozenset[str] | None:
        hit = self._cache.get(usergroup_id)
        if hit is not None and self._clock() < hit[0] + max_age:
            return hit[1]
        return None


def _retrieve(task: asyncio.Task[frozenset[str]]) -> None:
    # A lookup nobody waited for to the end: its failure is reported by the next caller.
    if not task.cancelled():
        task.exception()
