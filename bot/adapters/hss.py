"""Talk to HSS (httpx on aiohttp): create a container export task, follow it, stream its file.

Every failure leaves here as one of the project's `HssError` classes, whose
text is safe to show: HSS's error code and message (clipped, one line), the
HTTP status and the `X-Request-Id` support asks for; never a credential, never
a raw body.

Retry policy (tenacity: at most `max_attempts` attempts, exponential backoff
with jitter between them, the sleep injectable). A create is not idempotent: a
second one would start a second export, so it is retried only when HSS cannot
have taken the first.

| what happened                                   | GET (status, download) | POST create        |
|-------------------------------------------------|------------------------|--------------------|
| connect error / connect timeout / pool timeout  | retry                  | retry              |
| 429 (Retry-After honoured: seconds or a date)   | retry                  | retry              |
| 503 (HSS says it did not take the call)         | retry                  | retry              |
| 502, 504 (a gateway; HSS may have taken it)     | retry                  | HssOutcomeUnknown  |
| read/write timeout, connection lost after send  | retry                  | HssOutcomeUnknown  |
| 401, 403                                        | HssAuthError           | HssAuthError       |
| any other 4xx/5xx                               | HssError               | HssError           |

Retries exhausted: `HssUnavailable` with the last status, code and request id.
A Retry-After longer than `max_retry_after` is not waited out: `HssUnavailable`
at once, saying how long HSS asked for. A 401 under an IAM token is renewed and
resent once by `IamTokenAuth` itself, below this policy.

The module is longer than 400 lines because the retry policy above is one piece
with the calls it governs; its pure half (`_classify`, `retry_after_seconds`)
could move to a module of its own when the client grows again.
"""

from __future__ import annotations

import asyncio
import email.utils
import json
import logging
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, Final
from urllib.parse import quote

import httpx
from pydantic import SecretStr
from tenacity import (
    AsyncRetrying,
    RetryCallState,
    retry_if_exception_type,
    wait_exponential,
    wait_random,
)

from bot.adapters.http_transport import HttpTransport
from bot.adapters.iam import IamTokenAuth, error_fields, safe_text
from bot.adapters.net import connect_failure
from bot.adapters.proxy import proxy_for
from bot.adapters.signer import AkSkAuth
from bot.domain.errors import (
    HssAuthError,
    HssError,
    HssOutcomeUnknown,
    HssUnavailable,
    SettingsError,
)
from bot.domain.model import ExportRequest
from bot.domain.types import CreatedTask, TaskState, TaskStatus
from bot.settings import Settings

if TYPE_CHECKING:
    from bot.ports import Hss

log = logging.getLogger(__name__)

USER_AGENT: Final = "hss-export-bot/0.1"
REDACTED: Final = "<redacted>"
IAM_TOKEN_PLACEHOLDER: Final = "<redacted: fetched from IAM at send time>"  # noqa: S105
PLACEHOLDER_AK: Final = "<AK>"
PLACEHOLDER_SK: Final = "<SK>"  # a dry-run placeholder, not a secret
PLACEHOLDER_PROJECT_ID: Final = "<project_id>"
_QUOTED_PLACEHOLDER: Final = quote(PLACEHOLDER_PROJECT_ID, safe="")
OUTCOME_UNKNOWN: Final = (
    "the request may have reached HSS; check the console/task list before retrying"
)

_SECRET_HEADERS: Final = frozenset({"authorization", "x-auth-token", "x-security-token"})
_TASK_STATES: Final[frozenset[str]] = frozenset({"running", "success", "failure"})
_ERROR_BODY_LIMIT: Final = 64 * 1024
# Calls in flight to HSS at once, by default (HSS_MAX_IN_FLIGHT), and the connections kept;
# a download is in flight until its file is read. It exists to keep a burst of commands from
# flooding HSS (which throttles): callers beyond it wait on a semaphore, in order, rather
# than in the HTTP client's pool (where the wait would count against the connect timeout).
MAX_CONNECTIONS: Final = 100
# Raised before anything was sent: always safe to try again.
_NOT_SENT: Final = (httpx.ConnectError, httpx.ConnectTimeout, httpx.PoolTimeout, httpx.ProxyError)
# Configuration mistakes on our side: trying again cannot help.
_OUR_FAULT: Final = (httpx.UnsupportedProtocol, httpx.LocalProtocolError)

Sleep = Callable[[float], Awaitable[None]]


class _Retryable(Exception):
    """One attempt failed in a way another attempt may fix."""

    def __init__(self, error: HssError, retry_after: float | None = None) -> None:
        super().__init__(str(error))
        self.error = error
        self.retry_after = retry_after


class HssClient:
    """The HSS export API under a service account (implements `bot.ports.Hss`)."""

    def __init__(  # noqa: PLR0913  one keyword per setting and test seam (retries, clock, transport)
        self,
        base_url: str,
        project_id: str,
        auth: httpx.Auth,
        *,
        default_enterprise_project_id: str | None = None,
        connect_timeout: float = 5.0,
        read_timeout: float = 30.0,
        max_attempts: int = 4,
        max_in_flight: int = MAX_CONNECTIONS,
        transport: httpx.AsyncBaseTransport | None = None,
        sleep: Sleep = asyncio.sleep,
        backoff_initial: float = 0.5,
        backoff_max: float = 10.0,
        max_retry_after: float = 60.0,
    ) -> None:
        self._base = base_url.rstrip("/") + "/v5/" + quote(project_id, safe="")
        self._auth = auth
        self._default_eps = default_enterprise_project_id
        self._max_attempts = max_attempts
        self._sleep = sleep
        # Exponential from backoff_initial, capped, plus up to backoff_initial of jitter.
        self._backoff = wait_exponential(multiplier=backoff_initial, max=backoff_max) + wait_random(
            0, backoff_initial
        )
        self._max_retry_after = max_retry_after
        self._slots = asyncio.Semaphore(max_in_flight)
        limits = httpx.Limits(
            max_connections=max_in_flight, max_keepalive_connections=max_in_flight
        )
        if transport is None:  # httpx ignores the environment's proxy once given a transport
            transport = HttpTransport(limits=limits, proxy=proxy_for(self._base))
        self._http = httpx.AsyncClient(
            auth=auth,
            timeout=httpx.Timeout(
                connect=connect_timeout, read=read_timeout, write=read_timeout, pool=connect_timeout
            ),
            transport=transport,
            limits=limits,
            headers={"User-Agent": USER_AGENT},
            follow_redirects=False,
        )

    def __repr__(self) -> str:
        return f"HssClient(base_url={self._base!r}, auth={self._auth!r})"

    # --- the three calls ---------------------------------------------------------------

    async def create_export_task(self, request: ExportRequest) -> CreatedTask:
        """Create a container export task; never resend it when HSS may have taken it."""
        response = await self._send(
            lambda: self._build_create(request), idempotent=False, operation="create_export_task"
        )
        request_id = response.headers.get("X-Request-Id")
        body = _json_object(response.content)
        task_id = body.get("task_id") if body is not None else None
        if not isinstance(task_id, str) or not task_id:
            what = "a body that is not a JSON object" if body is None else "no task_id"
            raise HssOutcomeUnknown(
                f"HSS accepted the create call but answered with {what}; {OUTCOME_UNKNOWN}",
                status=response.status_code,
                request_id=request_id,
            )
        return CreatedTask(task_id=task_id, request_id=request_id)

    async def get_export_task(
        self, task_id: str, enterprise_project_id: str | None = None
    ) -> TaskStatus:
        """Return the state of an export task."""
        path = "/export-task/" + quote(task_id, safe="")
        response = await self._send(
            lambda: self._build_get(path, enterprise_project_id),
            idempotent=True,
            operation="get_export_task",
        )
        request_id = response.headers.get("X-Request-Id")
        body = _json_object(response.content)
        if body is None:
            raise HssError(
                "HSS answered the task status call with a body that is not a JSON object",
                status=response.status_code,
                request_id=request_id,
            )
        state = body.get("task_status")
        if state not in _TASK_STATES:
            shown = safe_text(str(state), 40) if state is not None else "nothing"
            raise HssError(
                f"HSS answered an unknown task_status ({shown})",
                status=response.status_code,
                request_id=request_id,
            )
        state_: TaskState = state
        return TaskStatus(
            task_id=_str_or_none(body.get("task_id")) or task_id,
            task_name=_str_or_none(body.get("task_name")),
            task_status=state_,
            file_id=_str_or_none(body.get("file_id")),
            file_name=_str_or_none(body.get("file_name")),
            request_id=request_id,
        )

    @asynccontextmanager
    async def download(
        self, file_id: str, enterprise_project_id: str | None = None
    ) -> AsyncIterator[AsyncIterator[bytes]]:
        """Stream a file: `async with hss.download(file_id) as chunks: async for c in chunks`.

        The download is one of the `max_in_flight` calls until the block ends: another
        call made from inside the block waits for a free slot like any other.
        """
        path = "/download/" + quote(file_id, safe="")
        response = await self._send(
            lambda: self._build_get(path, enterprise_project_id),
            idempotent=True,
            stream=True,
            operation="download",
        )
        try:
            yield _chunks(response)
        finally:
            try:
                await response.aclose()
            finally:
                self._slots.release()  # a download is a call in flight until its file is read

    async def aclose(self) -> None:
        """Close the HTTP client and the auth's own client, if it has one."""
        await self._http.aclose()
        if isinstance(self._auth, IamTokenAuth):
            await self._auth.aclose()

    # --- dry run -----------------------------------------------------------------------

    def describe_create(self, request: ExportRequest) -> dict[str, Any]:
        """Return the create call as it would be sent, secrets redacted; no network."""
        http_request = self._build_create(request)
        if isinstance(self._auth, AkSkAuth):
            self._auth.sign(http_request)
        elif isinstance(self._auth, IamTokenAuth):
            http_request.headers["X-Auth-Token"] = IAM_TOKEN_PLACEHOLDER
        headers = {
            name.decode(): REDACTED
            if name.lower().decode() in _SECRET_HEADERS and value != IAM_TOKEN_PLACEHOLDER.encode()
            else value.decode()
            for name, value in http_request.headers.raw
        }
        # The AK/SK signature names the headers it covers; the names are not secret.
        signature = http_request.headers.get("Authorization", "")
        _, found, signed = signature.partition("SignedHeaders=")
        return {
            "method": http_request.method,
            # The placeholder as the X-Project-Id header shows it, not percent-encoded.
            "url": str(http_request.url).replace(_QUOTED_PLACEHOLDER, PLACEHOLDER_PROJECT_ID),
            "query": dict(http_request.url.params.multi_items()),
            "body": json.loads(http_request.content),
            "headers": headers,
            "signed_headers": signed.split(",")[0].strip().split(";") if found else [],
        }

    # --- requests ----------------------------------------------------------------------

    def _build_create(self, request: ExportRequest) -> httpx.Request:
        params = request.query_params()
        if "enterprise_project_id" not in params and self._default_eps:
            params["enterprise_project_id"] = self._default_eps
        return self._http.build_request(
            "POST",
            self._base + "/container/export-task",
            params=params,
            content=request.body_bytes(),
            headers={"Content-Type": "application/json"},
        )

    def _build_get(self, path: str, enterprise_project_id: str | None) -> httpx.Request:
        eps = enterprise_project_id or self._default_eps
        return self._http.build_request(
            "GET",
            self._base + path,
            params={"enterprise_project_id": eps} if eps else None,
            # The SDK sends this on every call, GETs included, and signs it.
            headers={"Content-Type": "application/json"},
        )

    async def _send(
        self,
        build: Callable[[], httpx.Request],
        *,
        idempotent: bool,
        stream: bool = False,
        operation: str,
    ) -> httpx.Response:
        """Send with retries; log one line for the call (httpx's own line is off by default)."""
        started = time.perf_counter()
        sample = build()  # for the log line: method and path (no query, no headers)
        call = f"{sample.method} {sample.url.path}"
        try:
            response = await self._send_retrying(build, idempotent=idempotent, stream=stream)
        except HssError as exc:
            log.warning(
                "hss call failed: %s",
                call,
                extra={
                    "operation": operation,
                    "status": exc.status,
                    "code": exc.code,
                    "hss_request_id": exc.request_id,
                    "latency_ms": round((time.perf_counter() - started) * 1000),
                    "error": exc.message,
                },
            )
            raise
        log.info(
            "hss call: %s",
            call,
            extra={
                "operation": operation,
                "status": response.status_code,
                "hss_request_id": response.headers.get("X-Request-Id"),
                "latency_ms": round((time.perf_counter() - started) * 1000),
            },
        )
        return response

    async def _send_retrying(
        self,
        build: Callable[[], httpx.Request],
        *,
        idempotent: bool,
        stream: bool,
    ) -> httpx.Response:
        """Send a freshly built request per attempt, retrying per the module's policy."""
        retrying = AsyncRetrying(
            stop=self._stop,
            wait=self._wait,
            retry=retry_if_exception_type(_Retryable),
            sleep=self._sleep,
            reraise=True,
        )
        try:
            async for attempt in retrying:
                with attempt:
                    return await self._attempt(build(), idempotent=idempotent, stream=stream)
        except _Retryable as exc:
            raise self._gave_up(exc, retrying.statistics.get("attempt_number", 1)) from None
        raise AssertionError("unreachable: tenacity either returns or raises")

    async def _attempt(
        self, request: httpx.Request, *, idempotent: bool, stream: bool
    ) -> httpx.Response:
        """One attempt, in a slot; a streamed answer returned keeps its slot (`download` frees it).

        No call waits in the HTTP client's pool, where the wait would count against
        the connect timeout: the slots are as many as the connections.
        """
        await self._slots.acquire()
        try:
            response = await self._attempt_in_slot(request, idempotent=idempotent, stream=stream)
        except BaseException:
            self._slots.release()
            raise
        if not stream:
            self._slots.release()
        return response

    async def _attempt_in_slot(
        self, request: httpx.Request, *, idempotent: bool, stream: bool
    ) -> httpx.Response:
        try:
            response = await self._http.send(request, stream=stream)
        except _NOT_SENT as exc:
            where = request.url.host + (f":{request.url.port}" if request.url.port else "")
            raise _Retryable(
                HssUnavailable(
                    f"could not connect to HSS at {where}: {connect_failure(exc)} "
                    f"({type(exc).__name__})"
                )
            ) from exc
        except _OUR_FAULT as exc:
            raise HssError(f"could not send the call to HSS ({type(exc).__name__})") from exc
        except httpx.TransportError as exc:
            name = type(exc).__name__
            if idempotent:
                raise _Retryable(HssUnavailable(f"HSS did not answer ({name})")) from exc
            raise HssOutcomeUnknown(f"HSS did not answer ({name}); {OUTCOME_UNKNOWN}") from exc
        if response.is_success:
            return response
        try:
            content = await _read_clipped(response)
        finally:
            await response.aclose()
        raise _classify(response, content, idempotent=idempotent)

    # --- tenacity hooks ------------------------------------------------------------------

    def _wait(self, state: RetryCallState) -> float:
        exc = state.outcome.exception() if state.outcome is not None else None
        if isinstance(exc, _Retryable) and exc.retry_after is not None:
            return min(exc.retry_after, self._max_retry_after)
        return float(self._backoff(state))

    def _stop(self, state: RetryCallState) -> bool:
        if state.attempt_number >= self._max_attempts:
            return True
        exc = state.outcome.exception() if state.outcome is not None else None
        return isinstance(exc, _Retryable) and self._too_long(exc.retry_after)

    def _too_long(self, retry_after: float | None) -> bool:
        return retry_after is not None and retry_after > self._max_retry_after

    def _gave_up(self, exc: _Retryable, attempts: int) -> HssUnavailable:
        error = exc.error
        if exc.retry_after is not None and self._too_long(exc.retry_after):
            why = f"{error.message}; HSS asked to wait {exc.retry_after:.0f} s before trying again"
        else:
            why = f"{error.message}; gave up after {attempts} attempt{'s' * (attempts != 1)}"
        return HssUnavailable(
            why, status=error.status, code=error.code, request_id=error.request_id
        )


def build_hss_client(
    settings: Settings,
    *,
    transport: httpx.AsyncBaseTransport | None = None,
    allow_missing_credentials: bool = False,
    sleep: Sleep = asyncio.sleep,
) -> HssClient:
    """Build the HSS client the settings describe: AK/SK signing, else an IAM token.

    With `allow_missing_credentials` (for `--dry-run`), missing credentials and
    project id are replaced by placeholders so the call's shape can be shown.
    """
    auth: httpx.Auth
    if not allow_missing_credentials and (problems := settings.problems(["hss"])):
        raise SettingsError(problems)
    ak, sk = settings.CLOUD_SDK_AK, settings.CLOUD_SDK_SK
    domain, user, password = (
        settings.HSS_IAM_DOMAIN,
        settings.HSS_IAM_USER,
        settings.HSS_IAM_PASSWORD,
    )
    project_id = settings.HSS_PROJECT_ID or PLACEHOLDER_PROJECT_ID
    if ak is not None and sk is not None:
        auth = aksk_auth(ak, sk, project_id, settings.CLOUD_SDK_SECURITY_TOKEN)
    elif not settings.uses_aksk and domain and user and password is not None:
        auth = IamTokenAuth(
            settings.iam_endpoint,
            domain=domain,
            user=user,
            password=password,
            project_id=project_id,
            timeout=hss_timeout(settings),
            transport=transport,
        )
    else:  # only reachable with allow_missing_credentials
        auth = AkSkAuth(PLACEHOLDER_AK, PLACEHOLDER_SK, project_id)
    return configured_client(
        settings,
        settings.hss_endpoint,
        project_id,
        auth,
        enterprise_project_id=settings.HSS_ENTERPRISE_PROJECT_ID,
        transport=transport,
        sleep=sleep,
    )


def aksk_auth(
    ak: SecretStr, sk: SecretStr, project_id: str, security_token: SecretStr | None
) -> AkSkAuth:
    """Sign with these keys (and the security token that goes with temporary ones)."""
    token = None if security_token is None else security_token.get_secret_value()
    return AkSkAuth(ak.get_secret_value(), sk.get_secret_value(), project_id, security_token=token)


def hss_timeout(settings: Settings) -> httpx.Timeout:
    """Return the HSS (and IAM) calls' timeout: HSS_READ_TIMEOUT, HSS_CONNECT_TIMEOUT to connect."""
    return httpx.Timeout(settings.HSS_READ_TIMEOUT, connect=settings.HSS_CONNECT_TIMEOUT)


def configured_client(  # noqa: PLR0913  keyword-only: the default project and test seams
    settings: Settings,
    endpoint: str,
    project_id: str,
    auth: httpx.Auth,
    *,
    enterprise_project_id: str | None,
    transport: httpx.AsyncBaseTransport | None = None,
    sleep: Sleep = asyncio.sleep,
) -> HssClient:
    """Build the client of one HSS account under the settings' timeouts, attempts and limit."""
    return HssClient(
        endpoint,
        project_id,
        auth,
        default_enterprise_project_id=enterprise_project_id,
        connect_timeout=settings.HSS_CONNECT_TIMEOUT,
        read_timeout=settings.HSS_READ_TIMEOUT,
        max_attempts=settings.HSS_MAX_ATTEMPTS,
        max_in_flight=settings.HSS_MAX_IN_FLIGHT,
        transport=transport,
        sleep=sleep,
    )


def retry_after_seconds(value: str | None, now: datetime) -> float | None:
    """Return the wait a Retry-After value asks for (seconds or an HTTP date), else None."""
    if value is None or not value.strip():
        return None
    value = value.strip()
    try:
        seconds = float(value)
    except ValueError:
        pass
    else:
        return seconds if seconds >= 0 else None
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return max(0.0, (when - now).total_seconds())


def _classify(response: httpx.Response, content: bytes, *, idempotent: bool) -> Exception:  # noqa: PLR0911  one error per HSS status family
    """Turn a non-2xx answer into the error to raise, or a `_Retryable` one."""
    status = response.status_code
    request_id = response.headers.get("X-Request-Id")
    code, message = error_fields(content)
    if message is None and code is None and content:
        message = f"a non-JSON body of {len(content)} bytes"

    def error(cls: type[HssError], summary: str) -> HssError:
        text = f"{summary}: {message}" if message else summary
        return cls(text, status=status, code=code, request_id=request_id)

    if status in (401, 403):
        return error(HssAuthError, "HSS refused the service account")
    if status == 429:
        wait = retry_after_seconds(response.headers.get("Retry-After"), datetime.now(UTC))
        return _Retryable(error(HssUnavailable, "HSS is throttling calls"), retry_after=wait)
    if status == 503:
        return _Retryable(error(HssUnavailable, "HSS is unavailable"))
    if status in (502, 504):
        if idempotent:
            return _Retryable(error(HssUnavailable, f"HSS's gateway answered {status}"))
        return error(HssOutcomeUnknown, f"HSS's gateway answered {status}; {OUTCOME_UNKNOWN}")
    if status >= 500:
        return error(HssError, "HSS failed the call")
    return error(HssError, "HSS rejected the call")


async def _read_clipped(response: httpx.Response) -> bytes:
    """Read at most `_ERROR_BODY_LIMIT` bytes of an error body (it may be streamed)."""
    content = b""
    try:
        async for chunk in response.aiter_bytes():
            content += chunk
            if len(content) >= _ERROR_BODY_LIMIT:
                break
    except httpx.HTTPError:
        pass  # the status already says what went wrong; the body is only detail
    return content[:_ERROR_BODY_LIMIT]


async def _chunks(response: httpx.Response) -> AsyncIterator[bytes]:
    """Yield the file's bytes as they arrive; a broken stream becomes `HssUnavailable`."""
    try:
        async for chunk in response.aiter_bytes():
            yield chunk
    except httpx.HTTPError as exc:
        raise HssUnavailable(
            f"the download from HSS broke off ({type(exc).__name__})",
            request_id=response.headers.get("X-Request-Id"),
        ) from exc


def _json_object(content: bytes) -> dict[str, Any] | None:
    try:
        body = json.loads(content)
    except ValueError:
        return None
    return body if isinstance(body, dict) else None


def _str_or_none(value: object) -> str | None:
    return value if isinstance(value, str) and value else None


if TYPE_CHECKING:

    def _implements_port(client: HssClient) -> Hss:
        return client
