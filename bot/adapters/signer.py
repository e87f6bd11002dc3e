"""Sign HSS requests with AK/SK, as `SDK-HMAC-SHA256`, the way the official SDK does.

`AkSkAuth` is an `httpx.Auth` whose flow only sets headers and yields the
request: no I/O, so one instance serves sync and async clients, and each send
(including every retry) is signed afresh with the current time.

The algorithm follows `huaweicloudsdkcore.signer.signer.Signer` (3.1.219):

- canonical request = method, canonical URI (each path segment percent-decoded
  then encoded with `quote(safe="~")`, always ending in `/`), canonical query
  (pairs sorted by raw key then raw value, each encoded with `quote(safe="~")`),
  `name:value` lines of the signed headers, their `;`-joined names, and the hex
  SHA-256 of the body (the empty-string hash for no body);
- string to sign = `SDK-HMAC-SHA256\\n{X-Sdk-Date}\\n{sha256(canonical request)}`;
- signature = hex HMAC-SHA256(SK, string to sign).

Two deliberate choices:

- The query actually sent is rewritten to the canonical query, as the SDK sends
  it. httpx encodes a space as `+`, which a gateway may decode as `+` or as a
  space; sending `%20` leaves it nothing to guess.
- Only the headers that identify the call are signed (`content-type`, `host`,
  `x-project-id`, `x-sdk-date`, and `x-security-token` / `x-sdk-content-sha256`
  when present). Transport headers a proxy may rewrite (`Connection`,
  `Accept-Encoding`, `User-Agent`) stay unsigned; `SignedHeaders` tells the
  gateway exactly which ones were signed.
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Callable, Generator, Iterable, Mapping, Sequence
from datetime import UTC, datetime
from typing import Final
from urllib.parse import quote, unquote

import httpx

ALGORITHM: Final = "SDK-HMAC-SHA256"
DATE_FORMAT: Final = "%Y%m%dT%H%M%SZ"
EMPTY_BODY_SHA256: Final = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
UNSIGNED_PAYLOAD: Final = "UNSIGNED-PAYLOAD"

# Lower-case names of the headers signed when present (see the module docstring).
SIGNED_HEADER_NAMES: Final = (
    "content-type",
    "host",
    "x-project-id",
    "x-sdk-content-sha256",
    "x-sdk-date",
    "x-security-token",
)


def _utc_now() -> datetime:
    return datetime.now(UTC)


def _encode(text: str) -> str:
    return quote(text, safe="~")


def canonical_uri(path: str) -> str:
    """Return the canonical URI of a (possibly percent-encoded) path, ending in `/`."""
    uri = "/".join(_encode(segment) for segment in unquote(path).split("/"))
    return uri if uri.endswith("/") else uri + "/"


def canonical_query(pairs: Iterable[tuple[str, str]]) -> str:
    """Return the canonical query: pairs sorted on their raw text, then encoded."""
    return "&".join(f"{_encode(key)}={_encode(value)}" for key, value in sorted(pairs))


def payload_hash(body: bytes, headers: Mapping[str, str]) -> str:
    """Return the body digest the signature covers (`X-Sdk-Content-Sha256` wins if set)."""
    if not body:
        return EMPTY_BODY_SHA256
    return headers.get("x-sdk-content-sha256") or hashlib.sha256(body).hexdigest()


def canonical_request(  # noqa: PLR0913, PLR0917  the SDK-HMAC spec's six parts
    method: str,
    path: str,
    query: Iterable[tuple[str, str]],
    headers: Mapping[str, str],
    signed_headers: Sequence[str],
    body: bytes,
) -> str:
    """Return the canonical request; `headers` maps lower-case names to values."""
    header_lines = "".join(f"{name}:{headers[name].strip()}\n" for name in signed_headers)
    return "\n".join(
        [
            method.upper(),
            canonical_uri(path),
            canonical_query(query),
            header_lines,
            ";".join(signed_headers),
            payload_hash(body, headers),
        ]
    )


def string_to_sign(canonical: str, sdk_date: str) -> str:
    """Return the string to sign for a canonical request and its `X-Sdk-Date` value."""
    digest = hashlib.sha256(canonical.encode()).hexdigest()
    return f"{ALGORITHM}\n{sdk_date}\n{digest}"


def signature(sk: bytes, to_sign: str) -> str:
    """Return the hex HMAC-SHA256 of the string to sign under the secret key."""
    return hmac.new(sk, to_sign.encode(), hashlib.sha256).hexdigest()


class AkSkAuth(httpx.Auth):
    """Sign each request with an access key / secret key pair (no I/O)."""

    requires_request_body = True  # the body digest is signed, so httpx must load it first

    def __init__(
        self,
        ak: str,
        sk: str,
        project_id: str,
        security_token: str | None = None,
        clock: Callable[[], datetime] = _utc_now,
    ) -> None:
        if not ak or not sk:
            raise ValueError("AkSkAuth needs a non-empty AK and SK")
        self._ak = ak
        self._sk = sk.encode()
        self._project_id = project_id
        self._security_token = security_token
        self._clock = clock

    def __repr__(self) -> str:
        token = "set" if self._security_token else "unset"
        return f"AkSkAuth(project_id={self._project_id!r}, security_token={token})"

    __str__ = __repr__

    def auth_flow(self, request: httpx.Request) -> Generator[httpx.Request, httpx.Response, None]:
        """Set the SDK's headers and the Authorization header, then send once."""
        self.sign(request)
        yield request

    def sign(self, request: httpx.Request) -> None:
        """Sign `request` in place; its query is rewritten to the canonical form."""
        query = request.url.params.multi_items()
        if query:
            request.url = request.url.copy_with(query=canonical_query(query).encode("ascii"))

        headers = request.headers
        headers.pop("Authorization", None)
        content_type = headers.setdefault("Content-Type", "application/json")
        if not content_type.startswith(("application/json", "application/bson")):
            headers["X-Sdk-Content-Sha256"] = UNSIGNED_PAYLOAD
        headers["X-Project-Id"] = self._project_id
        if self._security_token:
            headers["X-Security-Token"] = self._security_token
        now = self._clock()
        if now.tzinfo is not None:
            now = now.astimezone(UTC)
        sdk_date = now.strftime(DATE_FORMAT)
        headers["X-Sdk-Date"] = sdk_date
        if "Host" not in headers:
            headers["Host"] = request.url.netloc.decode("ascii")

        lowered = {name.lower(): value for name, value in headers.items()}
        signed = sorted(name for name in SIGNED_HEADER_NAMES if name in lowered)
        path = request.url.raw_path.split(b"?", 1)[0].decode("ascii")
        canonical = canonical_request(request.method, path, query, lowered, signed, request.content)
        sig = signature(self._sk, string_to_sign(canonical, sdk_date))
        headers["Authorization"] = (
            f"{ALGORITHM} Access={self._ak}, SignedHeaders={';'.join(signed)}, Signature={sig}"
        )
