"""Authenticate HSS calls with a project-scoped IAM token (header `X-Auth-Token`).

`IamTokenAuth` fetches a token from `POST {iam}/v3/auth/tokens` (password
method, project scope), caches it, renews it `renew_margin` before it expires,
and, when HSS still answers 401, renews once and retries that request once.
Concurrent callers share one renewal: the first takes an `asyncio.Lock`, the
others wait on it and reuse the token it got.

Unlike the AK/SK signer this flow needs I/O, so it overrides `async_auth_flow`
and has its own `httpx.AsyncClient` for IAM. A separate client because IAM is a
different service: its own endpoint and timeouts, none of HSS's headers or
retries, and the lock is held around one plain awaited call rather than across
a request yielded back into the HSS client's flow. It works with async clients
only.

Renewal is timed on the bot's own clock from the lifetime IAM grants
(`expires_at - issued_at`), so a clock skewed against IAM's does no harm.

The password leaves its `SecretStr` only while the request body is built; no
message, repr or exception carries it or a token.
IAM answers are mapped to `HssAuthError` (refused: 4xx, or no usable token) or
`HssUnavailable` (unreachable, throttled, 5xx), with IAM's error code and
request id.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncGenerator, Callable, Generator
from datetime import UTC, datetime, timedelta

import httpx
from pydantic import SecretStr

from bot.adapters.net import connect_failure
from bot.domain.errors import HssAuthError, HssError, HssUnavailable


def _utc_now() -> datetime:
    return datetime.now(UTC)


class IamTokenAuth(httpx.Auth):
    """Send a cached project-scoped IAM token; renew it before expiry and once after a 401."""

    def __init__(  # noqa: PLR0913  the token client's keyword settings and test seams
        self,
        iam_url: str,
        *,
        domain: str,
        user: str,
        password: SecretStr,
        project_id: str,
        renew_margin: timedelta = timedelta(minutes=5),
        timeout: httpx.Timeout | None = None,
        transport: httpx.AsyncBaseTransport | None = None,
        clock: Callable[[], datetime] = _utc_now,
    ) -> None:
        self._url = iam_url.rstrip("/") + "/v3/auth/tokens"
        self._domain = domain
        self._user = user
        self._password = password
        self._project_id = project_id
        self._margin = renew_margin
        self._timeout = timeout or httpx.Timeout(10.0)
        self._transport = transport
        self._clock = clock
        self._client: httpx.AsyncClient | None = None
        self._lock = asyncio.Lock()  # binds to the running loop on first use
        self._token: str | None = None
        self._renew_at: datetime | None = None
        self.renewals = 0  # how many tokens were fetched; tests and metrics read it

    def __repr__(self) -> str:
        return f"IamTokenAuth(iam_url={self._url!r}, domain={self._domain!r}, user={self._user!r})"

    __str__ = __repr__

    def sync_auth_flow(
        self, request: httpx.Request
    ) -> Generator[httpx.Request, httpx.Response, None]:
        """Refuse: fetching a token is I/O, and this auth serves async clients only."""
        raise RuntimeError("IamTokenAuth works with httpx.AsyncClient only")

    async def async_auth_flow(
        self, request: httpx.Request
    ) -> AsyncGenerator[httpx.Request, httpx.Response]:
        """Send with the cached token; on a 401 renew it once and resend once."""
        token = await self.token()
        request.headers["X-Auth-Token"] = token
        response = yield request
        if response.status_code == 401:
            request.headers["X-Auth-Token"] = await self._renew(stale=token)
            yield request

    async def token(self) -> str:
        """Return a token valid for at least the renewal margin, fetching one if needed."""
        if self._token is not None and self._fresh():
            return self._token
        return await self._renew(stale=self._token)

    async def aclose(self) -> None:
        """Close the IAM client."""
        if self._client is not None:
            await self._client.aclose()
            self._client = None

    def _fresh(self) -> bool:
        return self._renew_at is not None and self._clock() < self._renew_at

    async def _renew(self, *, stale: str | None) -> str:
        async with self._lock:
            # Another caller renewed while this one waited for the lock: use its token.
            if self._token is not None and self._token != stale:
                return self._token
            self._token, self._renew_at = await self._fetch()
            self.renewals += 1
            return self._token

    async def _fetch(self) -> tuple[str, datetime]:
        if self._client is None:
            self._client = httpx.AsyncClient(timeout=self._timeout, transport=self._transport)
        try:
            response = await self._client.post(
                self._url,
                content=self._request_body(),
                headers={"Content-Type": "application/json;charset=utf8"},
            )
        except httpx.HTTPError as exc:
            # `from None`: the failed request object holds the password in its body.
            host = httpx.URL(self._url).host
            raise HssUnavailable(
                f"could not reach IAM at {host} to get a token ({connect_failure(exc)})"
            ) from None
        request_id = response.headers.get("X-Request-Id") or response.headers.get("X-IAM-Trace-Id")
        if response.status_code not in (200, 201):
            raise _iam_error(response, request_id)
        token = response.headers.get("X-Subject-Token")
        lifetime = _lifetime(response.content)
        if not token or lifetime is None or lifetime <= timedelta(0):
            raise HssAuthError(
                "IAM answered without a usable token (no X-Subject-Token or token.expires_at)",
                status=response.status_code,
                request_id=request_id,
            )
        # Renewal time on our own clock: IAM's lifetime counted from now, so a skewed
        # clock neither keeps a dead token nor renews a good one on every call. A
        # short-lived token is renewed at half its life at the latest.
        return token, self._clock() + lifetime - min(self._margin, lifetime / 2)

    def _request_body(self) -> bytes:
        body = {
            "auth": {
                "identity": {
                    "methods": ["password"],
                    "password": {
                        "user": {
                            "name": self._user,
                            "password": self._password.get_secret_value(),
                            "domain": {"name": self._domain},
                        }
                    },
                },
                "scope": {"project": {"id": self._project_id}},
            }
        }
        return json.dumps(body, ensure_ascii=False).encode()


def _lifetime(content: bytes) -> timedelta | None:
    """Return how long the token lives: `expires_at - issued_at` (or from now, without it)."""
    try:
        token = json.loads(content)["token"]
        expires_at = _aware(datetime.fromisoformat(token["expires_at"]))
        issued = token.get("issued_at")
        issued_at = _aware(datetime.fromisoformat(issued)) if issued else datetime.now(UTC)
    except (ValueError, KeyError, TypeError, AttributeError):
        return None
    return expires_at - issued_at


def _aware(when: datetime) -> datetime:
    return when if when.tzinfo is not None else when.replace(tzinfo=UTC)


def _iam_error(response: httpx.Response, request_id: str | None) -> HssError:
    code, message = error_fields(response.content)
    status = response.status_code
    cls = HssUnavailable if status == 429 or status >= 500 else HssAuthError
    verb = "is unavailable" if cls is HssUnavailable else "refused the service account"
    text = f"IAM {verb}" + (f": {message}" if message else "")
    return cls(text, status=status, code=code, request_id=request_id)


def error_fields(content: bytes) -> tuple[str | None, str | None]:
    """Return the error code and message of an error body, clipped; `None` where absent.

    Huawei Cloud services answer `{"error_code", "error_msg"}`, some `{"code",
    "message"}`, and IAM (Keystone) nests them under `"error"`. HSS uses the same
    shapes, so the HSS client reads its errors with this too.
    """
    try:
        body = json.loads(content)
    except ValueError:
        return None, None
    if not isinstance(body, dict):
        return None, None
    inner = body.get("error")
    source = inner if isinstance(inner, dict) else body
    code = source.get("error_code", source.get("code"))
    message = source.get("error_msg", source.get("message"))
    return (
        None if code is None or isinstance(code, dict | list) else safe_text(str(code), 40),
        None if message is None or isinstance(message, dict | list) else safe_text(str(message)),
    )


def safe_text(text: str, limit: int = 200) -> str:
    """Return `text` on one line, without control characters, clipped to `limit`."""
    text = " ".join("".join(ch if ch.isprintable() else " " for ch in text).split())
    return text if len(text) <= limit else text[: limit - 1] + "…"
