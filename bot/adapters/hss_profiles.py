"""One HSS client per profile, built once at start and looked up by name.

Each client has its own endpoint, project id and signer (AK/SK or IAM token),
so a request bound to one profile is signed with that profile's keys only: a
secret of one profile never travels on another's request. `HssProfiles`
implements the `Hss` port by sending a create to the client of the request's
profile; the calls that follow a task (`get_export_task`, `download`) go to
the client of the task's profile through `for_profile`.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Mapping
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from typing import TYPE_CHECKING, Any, Final

import httpx

from bot.adapters.hss import HssClient, Sleep, aksk_auth, configured_client, hss_timeout
from bot.adapters.iam import IamTokenAuth
from bot.domain.errors import HssError
from bot.domain.model import ExportRequest
from bot.domain.types import CreatedTask, TaskStatus
from bot.metrics import Metrics
from bot.profiles import LEGACY_NAME
from bot.profiles.model import AkSk, Profile, Profiles
from bot.settings import Settings

if TYPE_CHECKING:
    from bot.ports import Hss

UNKNOWN_PROFILE: Final = "this bot has no HSS profile {name!r} (it may have been removed)"


class InstrumentedHss:
    """Time and count every HSS call of one profile.

    The metrics are `bot_hss_request_seconds` and `bot_hss_errors_total`, labelled by profile.
    """

    def __init__(self, inner: HssClient, metrics: Metrics, profile: str = "default") -> None:
        self.inner = inner
        self._metrics = metrics
        self.profile = profile

    async def create_export_task(self, request: ExportRequest) -> CreatedTask:
        """Create an export task (see `HssClient`)."""
        with self._metrics.time_hss("create_export_task", self.profile):
            return await self.inner.create_export_task(request)

    async def get_export_task(
        self, task_id: str, enterprise_project_id: str | None = None
    ) -> TaskStatus:
        """Read a task's state (see `HssClient`)."""
        with self._metrics.time_hss("get_export_task", self.profile):
            return await self.inner.get_export_task(task_id, enterprise_project_id)

    def download(
        self, file_id: str, enterprise_project_id: str | None = None
    ) -> AbstractAsyncContextManager[AsyncIterator[bytes]]:
        """Stream an exported file (timed until the stream opens)."""
        return self._timed_download(file_id, enterprise_project_id)

    @asynccontextmanager
    async def _timed_download(
        self, file_id: str, enterprise_project_id: str | None
    ) -> AsyncIterator[AsyncIterator[bytes]]:
        async with contextlib.AsyncExitStack() as stack:
            with self._metrics.time_hss("download", self.profile):
                download = self.inner.download(file_id, enterprise_project_id)
                chunks = await stack.enter_async_context(download)
            yield chunks

    def describe_create(self, request: ExportRequest) -> dict[str, Any]:
        """Describe the signed create call, secrets redacted (for `preview`)."""
        return self.inner.describe_create(request)

    async def aclose(self) -> None:
        """Release connections."""
        await self.inner.aclose()


def build_profile_client(
    profile: Profile,
    settings: Settings,
    *,
    transport: httpx.AsyncBaseTransport | None = None,
    sleep: Sleep = asyncio.sleep,
) -> HssClient:
    """Build the HSS client of one profile: its endpoint, project id and credentials only."""
    auth: httpx.Auth
    credentials = profile.credentials
    if isinstance(credentials, AkSk):
        auth = aksk_auth(
            credentials.ak, credentials.sk, profile.project_id, credentials.security_token
        )
    else:
        auth = IamTokenAuth(
            profile.iam_endpoint,
            domain=credentials.domain,
            user=credentials.user,
            password=credentials.password,
            project_id=profile.project_id,
            timeout=hss_timeout(settings),
            transport=transport,
        )
    return configured_client(
        settings,
        profile.endpoint,
        profile.project_id,
        auth,
        enterprise_project_id=profile.enterprise_project_id,
        transport=transport,
        sleep=sleep,
    )


class HssProfiles:
    """The HSS clients by profile name (implements `bot.ports.Hss` and `HssDirectory`).

    `fallback` serves what names no profile: a request not bound to one and a
    task stored before profiles existed (its profile column is empty); it is
    the legacy profile `default` when there is one, else the default profile.
    """

    def __init__(self, clients: Mapping[str, Hss], fallback: str | None) -> None:
        self._clients = dict(clients)
        self._fallback = fallback

    @property
    def names(self) -> tuple[str, ...]:
        """Return the profile names served."""
        return tuple(self._clients)

    def for_profile(self, name: str | None) -> Hss:
        """Return the client of profile `name` (None: the fallback); raise `HssError` if none."""
        chosen = name if name is not None else self._fallback
        if chosen is None and len(self._clients) == 1:
            chosen = next(iter(self._clients))
        client = self._clients.get(chosen) if chosen is not None else None
        if client is None:
            raise HssError(UNKNOWN_PROFILE.format(name=chosen))
        return client

    async def create_export_task(self, request: ExportRequest) -> CreatedTask:
        """Create the task with the client of the request's profile."""
        return await self.for_profile(request.profile).create_export_task(request)

    async def get_export_task(
        self, task_id: str, enterprise_project_id: str | None = None
    ) -> TaskStatus:
        """Read a task's state under the fallback profile (see `for_profile` for others)."""
        return await self.for_profile(None).get_export_task(task_id, enterprise_project_id)

    def download(
        self, file_id: str, enterprise_project_id: str | None = None
    ) -> AbstractAsyncContextManager[AsyncIterator[bytes]]:
        """Stream a file under the fallback profile (see `for_profile` for others)."""
        return self.for_profile(None).download(file_id, enterprise_project_id)

    def describe_create(self, request: ExportRequest) -> dict[str, Any]:
        """Describe the signed create call of the request's profile, secrets redacted."""
        client = self.for_profile(request.profile)
        describe = getattr(client, "describe_create", None)
        if describe is None:
            return {"query": request.query_params(), "body": request.body_json()}
        described: dict[str, Any] = describe(request)
        return described

    async def aclose(self) -> None:
        """Release every client's connections."""
        for client in self._clients.values():
            with contextlib.suppress(Exception):
                await client.aclose()


def fallback_name(profiles: Profiles) -> str | None:
    """Return the profile serving requests and tasks that name none."""
    if profiles.get(LEGACY_NAME) is not None:
        return LEGACY_NAME
    return profiles.default_name
