"""AK/SK signing: the same request signed by `AkSkAuth` and by the official SDK agrees."""

from __future__ import annotations

import hashlib
import json
import string
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta, timezone
from urllib.parse import quote

import httpx
import pytest
from huaweicloudsdkcore.auth.credentials import BasicCredentials
from huaweicloudsdkcore.sdk_request import SdkRequest
from huaweicloudsdkcore.signer.signer import Signer
from hypothesis import given, settings
from hypothesis import strategies as st

from bot.adapters.signer import AkSkAuth, canonical_request

AK = "AKFIXEDEXAMPLE0001"
SK = "sk-fixed-Example-Secret-0001"
PROJECT = "0123456789abcdef0123456789abcdef"
SIGNED_AT = datetime(2025, 8, 15, 9, 30, 5, tzinfo=UTC)
HOST = "hss.cn-north-4.myhuaweicloud.com"


@dataclass(frozen=True)
class Case:
    """One request, described independently of httpx and of the SDK."""

    method: str
    host: str
    segments: tuple[str, ...]
    query: tuple[tuple[str, str], ...]
    body: bytes
    security_token: str | None = None
    ak: str = AK
    sk: str = SK
    project_id: str = PROJECT

    @property
    def resource_path(self) -> str:
        """Return the path as the SDK builds it from path parameters."""
        return "/" + "/".join(quote(segment, safe="") for segment in self.segments)


def sign_with_auth(case: Case, when: datetime = SIGNED_AT) -> httpx.Request:
    """Sign the case with `AkSkAuth` through httpx's own auth flow."""
    request = httpx.Request(
        case.method,
        f"https://{case.host}{case.resource_path}",
        params=list(case.query),
        content=case.body,
    )
    auth = AkSkAuth(case.ak, case.sk, case.project_id, case.security_token, clock=lambda: when)
    flow = auth.sync_auth_flow(request)
    signed = next(flow)
    flow.close()
    return signed


def sign_with_sdk(case: Case, when: datetime = SIGNED_AT) -> SdkRequest:
    """Sign the case with the SDK's `Signer`, with the headers its client sends."""
    headers = {
        "Content-Type": "application/json",
        "X-Project-Id": case.project_id,
        "X-Sdk-Date": when.strftime("%Y%m%dT%H%M%SZ"),
    }
    if case.security_token is not None:
        headers["X-Security-Token"] = case.security_token
    request = SdkRequest(
        method=case.method,
        schema="https",
        host=case.host,
        resource_path=case.resource_path,
        query_params=list(case.query),
        header_params=headers,
        body=case.body,
    )
    return Signer(BasicCredentials(case.ak, case.sk, case.project_id)).sign(request)


def assert_same_signature(case: Case) -> None:
    """Assert both signers produce the same Authorization and send the same path and query."""
    ours = sign_with_auth(case)
    theirs = sign_with_sdk(case)
    assert ours.headers["Authorization"] == theirs.header_params["Authorization"]
    assert ours.url.raw_path.decode() == theirs.uri


# --- property: any request -----------------------------------------------------------------

# A few characters that stress encoding and sorting ('~' is unreserved, '+' and ' ' are
# encoded differently by form encoding, 'A' < '_' < 'a' < 'é' < '中' by code point), then
# anything at all.
tricky = st.text(alphabet="aAz_~-. +=&/?%#é中😀", max_size=4)
anything = st.text(max_size=8)
# "." and ".." are left out: httpx (like every URL library) resolves them before sending,
# and the gateway signs the path it receives, so they cannot appear on the wire.
segment = st.one_of(tricky, anything).filter(lambda s: s not in {".", ".."})
json_body = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(), inner, max_size=3),
    max_leaves=8,
).map(lambda value: json.dumps(value, ensure_ascii=False).encode())
ascii_token = st.text(alphabet=string.ascii_letters + string.digits + "+/=-_", min_size=1)

cases = st.builds(
    Case,
    method=st.sampled_from(["GET", "POST", "PUT", "DELETE", "PATCH"]),
    host=st.sampled_from([HOST, "127.0.0.1:8443", "localhost"]),
    segments=st.lists(segment, min_size=1, max_size=4).map(tuple),
    query=st.lists(
        st.tuples(st.one_of(tricky, anything).filter(bool), st.one_of(tricky, anything)),
        max_size=5,
    ).map(tuple),
    body=st.one_of(st.just(b""), json_body, st.binary(max_size=32)),
    security_token=st.none() | ascii_token,
    ak=st.text(alphabet=string.ascii_uppercase + string.digits, min_size=1, max_size=20),
    sk=st.text(min_size=1, max_size=40),
)


@settings(max_examples=300, derandomize=True, deadline=None)
@given(cases)
def test_any_request_signs_exactly_like_the_sdk(case: Case) -> None:
    """Any method, path, query, body and token gives the SDK's Authorization and URI."""
    assert_same_signature(case)


# --- table: known cases --------------------------------------------------------------------

CREATE_BODY = json.dumps(
    {"cluster_name": "生产 集群", "export_headers": [["container_name", "容器名称"]]},
    ensure_ascii=False,
    separators=(",", ":"),
).encode()

KNOWN = {
    "create with query and Chinese body": Case(
        "POST",
        HOST,
        ("v5", PROJECT, "container", "export-task"),
        (("export_size", "100"), ("enterprise_project_id", "all_granted_eps")),
        CREATE_BODY,
    ),
    "status, no query, no body": Case("GET", HOST, ("v5", PROJECT, "export-task", "t-1"), (), b""),
    "temporary credentials": Case(
        "GET", HOST, ("v5", PROJECT, "download", "f-1"), (), b"", security_token="sts-token+/="
    ),
    "spaces, plus and tilde in the query": Case(
        "GET", HOST, ("v5",), (("q", "a b+c~d"), ("p", "1+1=2")), b""
    ),
    "repeated keys sort by value": Case(
        "GET", HOST, ("v5",), (("k", "b"), ("k", "a"), ("K", "z"), ("k_", "0")), b""
    ),
    "sorted on the raw text, not the encoded one": Case(
        "GET", HOST, ("v5",), (("é", "1"), ("~", "2"), ("a", "é"), ("a", "~")), b""
    ),
    "empty values": Case("GET", HOST, ("v5",), (("empty", ""), ("a", "")), b""),
    "non-ASCII path and query": Case(
        "GET", HOST, ("v5", "容器", "naïve file"), (("名称", "值 ü"),), b""
    ),
    "reserved characters in a path segment": Case("GET", HOST, ("v5", "a/b?c#d%e"), (), b""),
    "host with a port": Case("POST", "127.0.0.1:8443", ("v5", "x"), (), b"{}"),
}


@pytest.mark.parametrize("case", KNOWN.values(), ids=KNOWN.keys())
def test_known_requests_sign_exactly_like_the_sdk(case: Case) -> None:
    """Each known tricky request gives the SDK's Authorization and URI."""
    assert_same_signature(case)


def test_create_call_canonical_request_reads_as_documented() -> None:
    """The canonical request of a create call is the six documented parts, in order."""
    signed = sign_with_auth(KNOWN["create with query and Chinese body"])
    headers = dict(signed.headers.items())
    names = ["content-type", "host", "x-project-id", "x-sdk-date"]
    text = canonical_request(
        "POST",
        f"/v5/{PROJECT}/container/export-task",
        [("export_size", "100"), ("enterprise_project_id", "all_granted_eps")],
        headers,
        names,
        CREATE_BODY,
    )
    assert text == "\n".join(
        [
            "POST",
            f"/v5/{PROJECT}/container/export-task/",
            "enterprise_project_id=all_granted_eps&export_size=100",
            "content-type:application/json\n"
            f"host:{HOST}\n"
            f"x-project-id:{PROJECT}\n"
            "x-sdk-date:20250815T093005Z\n",
            "content-type;host;x-project-id;x-sdk-date",
            hashlib.sha256(CREATE_BODY).hexdigest(),
        ]
    )


def test_signed_headers_are_the_ones_the_sdk_sends() -> None:
    """The signer sets Content-Type, X-Project-Id, X-Sdk-Date and signs exactly those plus Host."""
    signed = sign_with_auth(KNOWN["temporary credentials"])
    assert signed.headers["Content-Type"] == "application/json"
    assert signed.headers["X-Project-Id"] == PROJECT
    assert signed.headers["X-Sdk-Date"] == "20250815T093005Z"
    assert signed.headers["X-Security-Token"] == "sts-token+/="
    assert (
        "SignedHeaders=content-type;host;x-project-id;x-sdk-date;x-security-token,"
        in (signed.headers["Authorization"])
    )


def test_time_is_taken_in_utc_from_an_aware_clock() -> None:
    """A clock in another time zone signs the same instant as UTC."""
    case = KNOWN["status, no query, no body"]
    tokyo = SIGNED_AT.astimezone(timezone(timedelta(hours=9)))
    assert (
        sign_with_auth(case, tokyo).headers["Authorization"]
        == sign_with_auth(case).headers["Authorization"]
    )


# --- as an httpx.Auth --------------------------------------------------------------------


def test_each_send_is_signed_afresh_with_the_clock() -> None:
    """Two sends of one client carry their own X-Sdk-Date and a matching new signature."""
    seen: list[httpx.Headers] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request.headers)
        return httpx.Response(200)

    times = iter([SIGNED_AT, SIGNED_AT + timedelta(seconds=1)])
    auth = AkSkAuth(AK, SK, PROJECT, clock=lambda: next(times))
    with httpx.Client(transport=httpx.MockTransport(handler), auth=auth) as client:
        client.get(f"https://{HOST}/v5/x")
        client.get(f"https://{HOST}/v5/x")
    assert [h["X-Sdk-Date"] for h in seen] == ["20250815T093005Z", "20250815T093006Z"]
    assert seen[0]["Authorization"] != seen[1]["Authorization"]


async def test_serves_async_clients_too() -> None:
    """An AsyncClient sends the same signature as the SDK computes for the request."""
    seen: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(200)

    case = KNOWN["create with query and Chinese body"]
    auth = AkSkAuth(AK, SK, PROJECT, clock=lambda: SIGNED_AT)
    async with httpx.AsyncClient(transport=httpx.MockTransport(handler), auth=auth) as client:
        await client.post(
            f"https://{HOST}{case.resource_path}", params=list(case.query), content=case.body
        )
    assert seen[0].headers["Authorization"] == sign_with_sdk(case).header_params["Authorization"]


# --- secrets -------------------------------------------------------------------------------


def test_repr_and_str_never_show_the_keys() -> None:
    """Neither repr() nor str() of the signer shows the AK, the SK or the security token."""
    auth = AkSkAuth(AK, SK, PROJECT, security_token="sts-secret-token")
    for text in (repr(auth), str(auth), f"{auth}", repr([auth])):
        assert AK not in text
        assert SK not in text
        assert "sts-secret-token" not in text
        assert PROJECT in text


@pytest.mark.parametrize(("ak", "sk"), [("", SK), (AK, "")], ids=["no AK", "no SK"])
def test_missing_key_error_names_no_key(ak: str, sk: str) -> None:
    """Refusing an empty AK or SK says so without echoing the other key."""
    with pytest.raises(ValueError, match="non-empty AK and SK") as caught:
        AkSkAuth(ak, sk, PROJECT)
    assert AK not in str(caught.value)
    assert SK not in str(caught.value)
