"""The HSS client against the fake HSS on loopback: what HSS saw, what the caller gets."""

from __future__ import annotations

import hashlib
import json
import resource
import socket
from collections.abc import AsyncIterator, Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from huaweicloudsdkcore.auth.credentials import BasicCredentials
from huaweicloudsdkcore.sdk_request import SdkRequest
from huaweicloudsdkcore.signer.signer import Signer
from pydantic import SecretStr

from bot.adapters.hss import HssClient, build_hss_client, retry_after_seconds
from bot.adapters.iam import IamTokenAuth
from bot.adapters.signer import AkSkAuth
from bot.domain.errors import (
    HssAuthError,
    HssError,
    HssOutcomeUnknown,
    HssUnavailable,
    SettingsError,
)
from bot.domain.model import ExportBody, ExportQuery, ExportRequest
from bot.settings import Settings
from emulators.fake_hss import FakeHss

REQUEST = ExportRequest(
    query=ExportQuery(export_size=500),
    body=ExportBody(
        cluster_name="生产 集群",
        risky=True,
        export_headers=[("container_name", "容器名称"), ("risky", "是否有安全风险")],
    ),
)


class Sleeps:
    """An injectable sleep that records how long the client asked to wait, and returns at once."""

    def __init__(self) -> None:
        self.seconds: list[float] = []

    async def __call__(self, seconds: float) -> None:
        self.seconds.append(seconds)


class FailFirst(httpx.AsyncBaseTransport):
    """A transport that raises a connect-phase error for the first calls, then really sends."""

    def __init__(self, error: type[httpx.TransportError], times: int) -> None:
        self._error = error
        self._left = times
        self._real = httpx.AsyncHTTPTransport()

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        """Raise the scripted error while any are left, else send for real."""
        if self._left > 0:
            self._left -= 1
            raise self._error("scripted", request=request)
        return await self._real.handle_async_request(request)

    async def aclose(self) -> None:
        """Close the real transport."""
        await self._real.aclose()


MakeClient = Callable[..., HssClient]


@pytest.fixture
def sleeps() -> Sleeps:
    """Record the client's retry waits instead of waiting."""
    return Sleeps()


@pytest.fixture
async def make_client(fake_hss: FakeHss, sleeps: Sleeps) -> AsyncIterator[MakeClient]:
    """Build AK/SK clients for the fake HSS (overrides allowed) and close them after the test."""
    clients: list[HssClient] = []

    def make(**overrides: Any) -> HssClient:
        options: dict[str, Any] = {
            "base_url": fake_hss.url,
            "project_id": fake_hss.project_id,
            "auth": AkSkAuth(fake_hss.ak, fake_hss.sk, fake_hss.project_id),
            "sleep": sleeps,
            "read_timeout": 5.0,
        }
        options.update(overrides)
        client = HssClient(**options)
        clients.append(client)
        return client

    yield make
    for client in clients:
        await client.aclose()


def secrets_of(fake: FakeHss) -> list[str]:
    """Return every secret the fake knows: keys, password and all tokens it granted."""
    return [fake.sk, fake.ak, fake.iam_password, *fake.granted_tokens]


def assert_no_secret(error: BaseException, fake: FakeHss) -> None:
    """Assert the error's text (and its cause's) shows none of the fake's secrets."""
    texts = [str(error), repr(error), str(error.__cause__), str(error.__context__)]
    for secret in secrets_of(fake):
        assert all(secret not in text for text in texts), secret


def closed_port() -> int:
    """Return a loopback port nothing listens on."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


# --- the happy path ----------------------------------------------------------------------


async def test_create_sends_signed_body_and_query_hss_accepts(
    fake_hss: FakeHss, make_client: MakeClient
) -> None:
    """A create reaches HSS signed, with the model's exact body and query; the task id returns."""
    client = make_client(default_enterprise_project_id="all_granted_eps")
    created = await client.create_export_task(REQUEST)

    [call] = fake_hss.calls
    assert (call.method, call.path, call.status) == (
        "POST",
        f"/v5/{fake_hss.project_id}/container/export-task",
        200,
    )
    assert call.query == {"export_size": "500", "enterprise_project_id": "all_granted_eps"}
    assert call.body == REQUEST.body_json()
    assert call.headers["content-type"] == "application/json"
    assert call.headers["authorization"].startswith(f"SDK-HMAC-SHA256 Access={fake_hss.ak}, ")
    assert created.task_id == "task-0001"
    assert created.request_id == call.request_id


@pytest.mark.parametrize(
    ("request_eps", "default_eps", "sent"),
    [
        (None, None, None),
        (None, "all_granted_eps", "all_granted_eps"),
        ("eps-1", "all_granted_eps", "eps-1"),
        ("eps-1", None, "eps-1"),
    ],
)
async def test_enterprise_project_falls_back_to_the_default(
    fake_hss: FakeHss,
    make_client: MakeClient,
    request_eps: str | None,
    default_eps: str | None,
    sent: str | None,
) -> None:
    """The request's enterprise project wins; else the configured default; else none is sent."""
    client = make_client(default_enterprise_project_id=default_eps)
    request = REQUEST.model_copy(update={"query": ExportQuery(enterprise_project_id=request_eps)})
    await client.create_export_task(request)
    assert fake_hss.calls[0].query.get("enterprise_project_id") == sent


async def test_status_follows_the_task_to_its_file(
    fake_hss: FakeHss, make_client: MakeClient
) -> None:
    """Status reads `running` until HSS is done, then `success` with the file's id and name."""
    fake_hss.polls_until_done = 2
    client = make_client()
    task = await client.create_export_task(REQUEST)
    states = [await client.get_export_task(task.task_id) for _ in range(3)]
    assert [s.task_status for s in states] == ["running", "running", "success"]
    assert states[-1].file_id == "file-task-0001"
    assert states[-1].file_name == "container-export-task-0001.xlsx"
    assert states[-1].request_id == fake_hss.calls[-1].request_id


async def test_status_reports_a_failed_task(fake_hss: FakeHss, make_client: MakeClient) -> None:
    """A task HSS failed reads `failure`, with no file."""
    fake_hss.polls_until_done, fake_hss.outcome = 0, "failure"
    client = make_client()
    task = await client.create_export_task(REQUEST)
    status = await client.get_export_task(task.task_id, enterprise_project_id="eps-1")
    assert (status.task_status, status.file_id) == ("failure", None)
    assert fake_hss.calls[-1].query == {"enterprise_project_id": "eps-1"}


async def test_download_streams_the_file_in_chunks(
    fake_hss: FakeHss, make_client: MakeClient
) -> None:
    """The file arrives in several chunks whose bytes are exactly the file HSS served."""
    fake_hss.polls_until_done, fake_hss.file_size = 0, 1024 * 1024 + 7
    client = make_client()
    task = await client.create_export_task(REQUEST)
    status = await client.get_export_task(task.task_id)
    assert status.file_id is not None
    digest, count, size = hashlib.sha256(), 0, 0
    async with client.download(status.file_id) as chunks:
        async for chunk in chunks:
            digest.update(chunk)
            count, size = count + 1, size + len(chunk)
    expected = hashlib.sha256(b"".join(FakeHss.file_chunks(status.file_id, fake_hss.file_size)))
    assert (size, digest.hexdigest()) == (fake_hss.file_size, expected.hexdigest())
    assert count > 1


async def test_download_of_200_mb_streams_without_holding_it(
    fake_hss: FakeHss, make_client: MakeClient
) -> None:
    """A 200 MB export streams through in small chunks; the process never holds it whole."""
    fake_hss.polls_until_done, fake_hss.file_size = 0, 200 * 1024 * 1024
    client = make_client(read_timeout=60.0)
    task = await client.create_export_task(REQUEST)
    status = await client.get_export_task(task.task_id)
    assert status.file_id is not None
    peak_before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss  # KiB on Linux
    size, largest = 0, 0
    async with client.download(status.file_id) as chunks:
        async for chunk in chunks:
            size, largest = size + len(chunk), max(largest, len(chunk))
    peak_growth_mib = (resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - peak_before) / 1024
    assert size == 200 * 1024 * 1024
    assert largest <= 1024 * 1024
    assert peak_growth_mib < 64


# --- the fake's own checks, which these tests lean on ------------------------------------------


async def test_fake_accepts_a_request_signed_by_the_official_sdk(fake_hss: FakeHss) -> None:
    """The fake's signature check agrees with the SDK: an SDK-signed create is accepted."""
    sdk_request = SdkRequest(
        method="POST",
        schema="http",
        host=fake_hss.url.removeprefix("http://"),
        resource_path=f"/v5/{fake_hss.project_id}/container/export-task",
        query_params=[("export_size", "10"), ("enterprise_project_id", "a b+c")],
        header_params={
            "Content-Type": "application/json",
            "X-Project-Id": fake_hss.project_id,
            "X-Sdk-Date": datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ"),
        },
        body=REQUEST.body_bytes(),
    )
    Signer(BasicCredentials(fake_hss.ak, fake_hss.sk, fake_hss.project_id)).sign(sdk_request)
    async with httpx.AsyncClient() as http:
        response = await http.post(
            sdk_request.url, headers=sdk_request.header_params, content=sdk_request.body
        )
    assert response.status_code == 200
    assert fake_hss.calls[0].query["enterprise_project_id"] == "a b+c"


@pytest.mark.parametrize(
    ("what", "auth_kwargs"),
    [
        ("wrong SK", {"sk": "not-the-secret"}),
        ("unknown AK", {"ak": "someone-else"}),
        ("clock 20 min slow", {"clock": lambda: datetime.now(UTC) - timedelta(minutes=20)}),
        ("clock 20 min fast", {"clock": lambda: datetime.now(UTC) + timedelta(minutes=20)}),
    ],
)
async def test_bad_signature_is_an_auth_error_with_hss_code(
    fake_hss: FakeHss, make_client: MakeClient, what: str, auth_kwargs: dict[str, Any]
) -> None:
    """A bad key or a skewed clock gives HssAuthError with APIG's code and HSS's request id."""
    kwargs: dict[str, Any] = {"ak": fake_hss.ak, "sk": fake_hss.sk, **auth_kwargs}
    auth = AkSkAuth(kwargs.pop("ak"), kwargs.pop("sk"), fake_hss.project_id, **kwargs)
    client = make_client(auth=auth)
    with pytest.raises(HssAuthError) as caught:
        await client.create_export_task(REQUEST)
    [call] = fake_hss.calls
    assert (caught.value.status, caught.value.code) == (401, "APIG.0301")
    assert caught.value.request_id == call.request_id
    assert call.request_id in str(caught.value)
    assert_no_secret(caught.value, fake_hss)
    assert "not-the-secret" not in str(caught.value)


@pytest.mark.parametrize(
    ("fields", "text"),
    [
        ({"export_headers": [("no_such_key", "X")]}, "unknown export_headers key no_such_key"),
        ({"export_headers": []}, "export_headers is required"),
        ({"export_headers": [("risky", "R")], "cluster_name": ""}, "invalid cluster_name"),
    ],
    ids=["unknown header key", "no headers", "empty cluster name"],
)
async def test_hss_validation_errors_reach_the_user(
    fake_hss: FakeHss, make_client: MakeClient, fields: dict[str, Any], text: str
) -> None:
    """A body HSS refuses (here one the model would not build) surfaces HSS's 400 and its text."""
    request = ExportRequest.model_construct(
        query=ExportQuery(), body=ExportBody.model_construct(**fields)
    )
    with pytest.raises(HssError) as caught:
        await make_client().create_export_task(request)
    assert type(caught.value) is HssError
    assert (caught.value.status, caught.value.code) == (400, "HSS.0001")
    assert text in str(caught.value)
    assert len(fake_hss.calls_for("create")) == 1


@pytest.mark.parametrize(
    ("client_token", "status"),
    [("sts-token-1", 200), (None, 401), ("sts-token-2", 401)],
    ids=["right token", "no token", "wrong token"],
)
async def test_temporary_credentials_send_and_sign_the_security_token(
    sleeps: Sleeps, client_token: str | None, status: int
) -> None:
    """Temporary AK/SK send and sign the security token; HSS refuses one missing or wrong."""
    errors: list[str] = []
    async with FakeHss(security_token="sts-token-1") as fake:
        auth = AkSkAuth(fake.ak, fake.sk, fake.project_id, security_token=client_token)
        client = HssClient(fake.url, fake.project_id, auth, sleep=sleeps)
        try:
            await client.create_export_task(REQUEST)
        except HssAuthError as exc:
            errors.append(str(exc))
        finally:
            await client.aclose()
        [call] = fake.calls
    assert call.status == status
    assert len(errors) == (status == 401)
    assert all("sts-token" not in text for text in errors)
    assert call.headers.get("x-security-token") == client_token


# --- retries ---------------------------------------------------------------------------------


async def test_throttled_create_waits_as_retry_after_says(
    fake_hss: FakeHss, make_client: MakeClient, sleeps: Sleeps
) -> None:
    """Two 429s with Retry-After: 2 make the client wait 2 s twice, then the create succeeds."""
    fake_hss.fail_next(429, headers={"Retry-After": "2"}, times=2, op="create")
    created = await make_client().create_export_task(REQUEST)
    assert sleeps.seconds == [2.0, 2.0]
    assert [c.status for c in fake_hss.calls_for("create")] == [429, 429, 200]
    assert created.task_id == "task-0001"


async def test_retry_after_beyond_the_cap_is_not_waited_out(
    fake_hss: FakeHss, make_client: MakeClient, sleeps: Sleeps
) -> None:
    """A Retry-After of an hour gives HssUnavailable at once, saying how long HSS asked for."""
    fake_hss.fail_next(429, headers={"Retry-After": "3600"}, op="create")
    with pytest.raises(HssUnavailable, match="asked to wait 3600 s") as caught:
        await make_client(max_retry_after=60.0).create_export_task(REQUEST)
    assert sleeps.seconds == []
    assert len(fake_hss.calls_for("create")) == 1
    assert caught.value.status == 429


async def test_throttling_that_never_ends_gives_up_after_max_attempts(
    fake_hss: FakeHss, make_client: MakeClient, sleeps: Sleeps
) -> None:
    """Endless 429s end in HssUnavailable after max_attempts, with HSS's code and request id."""
    fake_hss.fail_next(429, times=10, op="create")
    with pytest.raises(HssUnavailable, match="gave up after 3 attempts") as caught:
        await make_client(max_attempts=3).create_export_task(REQUEST)
    calls = fake_hss.calls_for("create")
    assert len(calls) == 3
    assert len(sleeps.seconds) == 2
    assert (caught.value.code, caught.value.request_id) == ("HSS.429", calls[-1].request_id)
    assert_no_secret(caught.value, fake_hss)


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("2", 2.0),
        ("0", 0.0),
        ("1.5", 1.5),
        ("Fri, 15 Aug 2025 09:30:35 GMT", 30.0),
        ("Fri, 15 Aug 2025 09:00:00 GMT", 0.0),  # already past: no wait
        ("-3", None),
        ("soon", None),
        ("", None),
        (None, None),
    ],
)
def test_retry_after_reads_seconds_and_http_dates(
    value: str | None, expected: float | None
) -> None:
    """Retry-After is read as seconds or an HTTP date; nonsense means 'use the backoff'."""
    now = datetime(2025, 8, 15, 9, 30, 5, tzinfo=UTC)
    assert retry_after_seconds(value, now) == expected


async def test_create_retries_a_503_with_jittered_backoff(
    fake_hss: FakeHss, make_client: MakeClient, sleeps: Sleeps
) -> None:
    """A 503 (HSS did not take the create) is retried after an exponential, jittered wait."""
    fake_hss.fail_next(503, times=2, op="create")
    await make_client(backoff_initial=0.5).create_export_task(REQUEST)
    assert len(fake_hss.calls_for("create")) == 3
    first, second = sleeps.seconds
    assert 0.5 <= first <= 1.0
    assert 1.0 <= second <= 1.5


@pytest.mark.parametrize("status", [502, 504])
async def test_create_is_not_resent_after_a_gateway_error(
    fake_hss: FakeHss, make_client: MakeClient, sleeps: Sleeps, status: int
) -> None:
    """A 502/504 on create may hide a created task: HssOutcomeUnknown, and HSS saw one create."""
    fake_hss.fail_next(status, op="create")
    with pytest.raises(HssOutcomeUnknown, match="check the console/task list") as caught:
        await make_client().create_export_task(REQUEST)
    assert len(fake_hss.calls_for("create")) == 1
    assert sleeps.seconds == []
    assert caught.value.status == status
    assert caught.value.request_id == fake_hss.calls[0].request_id


@pytest.mark.parametrize("status", [502, 503, 504])
async def test_status_is_retried_after_server_errors(
    fake_hss: FakeHss, make_client: MakeClient, sleeps: Sleeps, status: int
) -> None:
    """A status call is idempotent, so 502, 503 and 504 are all retried until it succeeds."""
    client = make_client()
    task = await client.create_export_task(REQUEST)
    fake_hss.fail_next(status, times=2, op="status")
    result = await client.get_export_task(task.task_id)
    assert result.task_status == "running"
    assert [c.status for c in fake_hss.calls_for("status")] == [status, status, 200]
    assert len(sleeps.seconds) == 2


@pytest.mark.parametrize("error", [httpx.ConnectError, httpx.ConnectTimeout, httpx.PoolTimeout])
async def test_create_is_retried_after_connect_phase_errors(
    fake_hss: FakeHss, make_client: MakeClient, sleeps: Sleeps, error: type[httpx.TransportError]
) -> None:
    """A create that never left (connect error/timeout, pool timeout) is retried; HSS sees one."""
    client = make_client(transport=FailFirst(error, times=2))
    created = await client.create_export_task(REQUEST)
    assert created.task_id == "task-0001"
    assert len(fake_hss.calls_for("create")) == 1
    assert len(sleeps.seconds) == 2


async def test_unreachable_hss_is_unavailable_after_max_attempts(
    make_client: MakeClient, sleeps: Sleeps, fake_hss: FakeHss
) -> None:
    """Nothing listening: HssUnavailable naming the connect error, after every attempt."""
    client = make_client(base_url=f"http://127.0.0.1:{closed_port()}", max_attempts=3)
    with pytest.raises(HssUnavailable, match="could not connect to HSS") as caught:
        await client.create_export_task(REQUEST)
    assert "gave up after 3 attempts" in str(caught.value)
    assert len(sleeps.seconds) == 2
    assert_no_secret(caught.value, fake_hss)


async def test_slow_create_within_the_read_timeout_is_waited_for(
    fake_hss: FakeHss, make_client: MakeClient, sleeps: Sleeps
) -> None:
    """A create HSS takes a while to answer, but within the read timeout, simply succeeds."""
    fake_hss.delay(0.3, op="create")
    created = await make_client(read_timeout=5.0).create_export_task(REQUEST)
    assert created.task_id == "task-0001"
    assert sleeps.seconds == []


async def test_create_read_timeout_is_outcome_unknown_and_not_resent(
    fake_hss: FakeHss, make_client: MakeClient, sleeps: Sleeps
) -> None:
    """A create HSS received but did not answer in time is not resent: HSS saw ONE create."""
    fake_hss.hang_next(op="create")
    with pytest.raises(HssOutcomeUnknown, match=r"ReadTimeout.*check the console") as caught:
        await make_client(read_timeout=0.3).create_export_task(REQUEST)
    assert len(fake_hss.calls_for("create")) == 1
    assert sleeps.seconds == []
    assert_no_secret(caught.value, fake_hss)


async def test_create_dropped_connection_is_outcome_unknown(
    fake_hss: FakeHss, make_client: MakeClient, sleeps: Sleeps
) -> None:
    """A connection HSS closed after receiving the create gives HssOutcomeUnknown, no resend."""
    fake_hss.drop_next(op="create")
    with pytest.raises(HssOutcomeUnknown, match="RemoteProtocolError"):
        await make_client().create_export_task(REQUEST)
    assert len(fake_hss.calls_for("create")) == 1
    assert sleeps.seconds == []


async def test_status_is_retried_after_a_read_timeout(
    fake_hss: FakeHss, make_client: MakeClient, sleeps: Sleeps
) -> None:
    """A status call that timed out reading is simply asked again."""
    client = make_client(read_timeout=0.3)
    task = await client.create_export_task(REQUEST)
    fake_hss.hang_next(op="status")
    status = await client.get_export_task(task.task_id)
    assert status.task_status == "running"
    assert len(fake_hss.calls_for("status")) == 2
    assert len(sleeps.seconds) == 1


async def test_download_start_is_retried(
    fake_hss: FakeHss, make_client: MakeClient, sleeps: Sleeps
) -> None:
    """A download refused with 503 or dropped before answering is started again."""
    fake_hss.polls_until_done = 0
    client = make_client()
    task = await client.create_export_task(REQUEST)
    status = await client.get_export_task(task.task_id)
    assert status.file_id is not None
    fake_hss.fail_next(503, op="download")
    fake_hss.drop_next(op="download")
    async with client.download(status.file_id) as chunks:
        size = sum([len(chunk) async for chunk in chunks])
    assert size == fake_hss.file_size
    assert [c.status for c in fake_hss.calls_for("download")] == [503, None, 200]
    assert len(sleeps.seconds) == 2


async def test_download_broken_mid_stream_is_unavailable() -> None:
    """A file whose stream breaks off raises HssUnavailable with HSS's request id."""

    async def broken() -> AsyncIterator[bytes]:
        yield b"x" * 10
        raise httpx.ReadError("connection reset")

    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(200, headers={"X-Request-Id": "rid-dl"}, content=broken())

    client = HssClient(
        "https://hss.example",
        "p",
        AkSkAuth("ak", "sk", "p"),
        transport=httpx.MockTransport(handler),
        sleep=Sleeps(),
    )
    received: list[bytes] = []

    async def fetch() -> None:
        async with client.download("f-1") as chunks:
            async for chunk in chunks:
                received.append(chunk)

    with pytest.raises(HssUnavailable, match="broke off") as caught:
        await fetch()
    await client.aclose()
    assert received == [b"x" * 10]
    assert caught.value.request_id == "rid-dl"


# --- error bodies ------------------------------------------------------------------------------

ERROR_BODIES: dict[str, tuple[int, bytes | dict[str, Any], type[HssError], str | None, str]] = {
    "error_code/error_msg": (
        400,
        {"error_code": "HSS.1001", "error_msg": "export_size too big"},
        HssError,
        "HSS.1001",
        "HSS rejected the call: export_size too big",
    ),
    "code/message": (
        400,
        {"code": "HSS.2002", "message": "bad enterprise project"},
        HssError,
        "HSS.2002",
        "bad enterprise project",
    ),
    "nested under error": (
        403,
        {"error": {"code": "APIG.0302", "message": "forbidden"}},
        HssAuthError,
        "APIG.0302",
        "HSS refused the service account: forbidden",
    ),
    "numeric code": (500, {"error_code": 1234, "error_msg": "boom"}, HssError, "1234", "boom"),
    "not JSON": (
        500,
        b"<html><body>Internal error</body></html>",
        HssError,
        None,
        "a non-JSON body of 40 bytes",
    ),
    "JSON but a list": (400, b'["what"]', HssError, None, "a non-JSON body of 8 bytes"),
    "empty body": (400, b"", HssError, None, "HSS rejected the call (HTTP 400"),
    "huge message with newlines": (
        400,
        {"error_code": "HSS.3", "error_msg": "line1\nline2 " + "x" * 50_000},
        HssError,
        "HSS.3",
        "line1 line2 xxx",
    ),
    "401": (401, {"error_code": "APIG.0301", "error_msg": "no"}, HssAuthError, "APIG.0301", "no"),
}


@pytest.mark.parametrize(
    ("status", "body", "error", "code", "text"), ERROR_BODIES.values(), ids=ERROR_BODIES.keys()
)
async def test_error_bodies_become_safe_hss_errors(
    fake_hss: FakeHss,
    make_client: MakeClient,
    sleeps: Sleeps,
    status: int,
    body: bytes | dict[str, Any],
    error: type[HssError],
    code: str | None,
    text: str,
) -> None:
    """Each shape of error body gives the right error class, code, request id and a short text."""
    fake_hss.fail_next(status, body=body, op="create")
    with pytest.raises(error) as caught:
        await make_client().create_export_task(REQUEST)
    assert type(caught.value) is error
    assert (caught.value.status, caught.value.code) == (status, code)
    assert caught.value.request_id == fake_hss.calls[0].request_id
    assert text in str(caught.value)
    assert len(str(caught.value)) < 400
    assert "\n" not in str(caught.value)
    assert len(fake_hss.calls_for("create")) == 1
    assert sleeps.seconds == []


@pytest.mark.parametrize(
    ("body", "text"),
    [
        (b"not json", "not a JSON object"),
        (b"[1, 2]", "not a JSON object"),
        (b'{"id": "task-1"}', "no task_id"),
        (b'{"task_id": ""}', "no task_id"),
        (b'{"task_id": 42}', "no task_id"),
    ],
)
async def test_malformed_create_answer_says_so(
    fake_hss: FakeHss, make_client: MakeClient, body: bytes, text: str
) -> None:
    """A 200 create answer without a task id is an error: HSS may have made a task we can't name."""
    fake_hss.fail_next(200, body=body, op="create")
    with pytest.raises(HssOutcomeUnknown, match=text) as caught:
        await make_client().create_export_task(REQUEST)
    assert caught.value.request_id == fake_hss.calls[0].request_id
    assert len(fake_hss.calls_for("create")) == 1


@pytest.mark.parametrize(
    ("body", "text"),
    [
        (b"<html>", "not a JSON object"),
        (b'{"task_status": "exploded"}', "unknown task_status \\(exploded\\)"),
        (b'{"task_id": "t"}', "unknown task_status \\(nothing\\)"),
    ],
)
async def test_malformed_status_answer_says_so(
    fake_hss: FakeHss, make_client: MakeClient, body: bytes, text: str
) -> None:
    """A status answer the client cannot read is an HssError saying what was wrong."""
    fake_hss.fail_next(200, body=body, op="status")
    with pytest.raises(HssError, match=text):
        await make_client().get_export_task("t")


# --- dry run and wiring ------------------------------------------------------------------


def refuse_network(request: httpx.Request) -> httpx.Response:
    """Fail the test if anything is sent."""
    raise AssertionError(f"dry run sent {request.method} {request.url}")


def test_describe_create_shows_the_signed_call_with_secrets_redacted() -> None:
    """The dry run shows method, URL, query, body and signed headers, with no key in it."""
    auth = AkSkAuth("AK-DRY-RUN", "SK-DRY-RUN", "proj", security_token="STS-DRY-RUN")
    client = HssClient(
        "https://hss.cn-north-4.myhuaweicloud.com",
        "proj",
        auth,
        default_enterprise_project_id="0",
        transport=httpx.MockTransport(refuse_network),
    )
    described = client.describe_create(REQUEST)
    assert described["method"] == "POST"
    assert described["url"] == (
        "https://hss.cn-north-4.myhuaweicloud.com/v5/proj/container/export-task"
        "?enterprise_project_id=0&export_size=500"
    )
    assert described["query"] == {"export_size": "500", "enterprise_project_id": "0"}
    assert described["body"] == REQUEST.body_json()
    headers = described["headers"]
    assert headers["Authorization"] == "<redacted>"
    assert headers["X-Security-Token"] == "<redacted>"
    assert headers["X-Project-Id"] == "proj"
    assert headers["Content-Type"] == "application/json"
    assert "X-Sdk-Date" in headers
    assert {"host", "x-sdk-date", "content-type"} <= set(described["signed_headers"])
    text = json.dumps(described, ensure_ascii=False)
    for secret in ("AK-DRY-RUN", "SK-DRY-RUN", "STS-DRY-RUN"):
        assert secret not in text


def test_describe_create_under_iam_says_the_token_comes_later() -> None:
    """Under an IAM token the dry run names where the token comes from, and fetches nothing."""
    auth = IamTokenAuth(
        "https://iam.example",
        domain="d",
        user="u",
        password=SecretStr("PASSWORD-DRY-RUN"),
        project_id="proj",
        transport=httpx.MockTransport(refuse_network),
    )
    client = HssClient("https://hss.example", "proj", auth)
    headers = client.describe_create(REQUEST)["headers"]
    assert headers["X-Auth-Token"] == "<redacted: fetched from IAM at send time>"
    assert "Authorization" not in headers
    assert auth.renewals == 0


def test_dry_run_without_any_credentials_shows_placeholders() -> None:
    """With no credentials or project, the dry run shows the call with `<project_id>` as is."""
    settings = Settings(_env_file=None)  # type: ignore[call-arg]
    client = build_hss_client(settings, allow_missing_credentials=True)
    described = client.describe_create(REQUEST)
    assert described["url"].startswith(
        "https://hss.cn-north-4.myhuaweicloud.com/v5/<project_id>/container/export-task?"
    )
    assert described["headers"]["X-Project-Id"] == "<project_id>"
    assert described["headers"]["Authorization"] == "<redacted>"


def test_building_without_credentials_names_what_is_missing() -> None:
    """Without allow_missing_credentials, missing settings are a SettingsError naming them."""
    with pytest.raises(SettingsError, match="HSS_PROJECT_ID is required"):
        build_hss_client(Settings(_env_file=None))  # type: ignore[call-arg]


async def test_settings_with_aksk_build_a_signing_client(fake_hss: FakeHss) -> None:
    """CLOUD_SDK_AK/SK settings give a client whose creates the fake accepts as signed."""
    settings = Settings(  # type: ignore[call-arg]
        _env_file=None,
        HSS_ENDPOINT=fake_hss.url,
        HSS_PROJECT_ID=fake_hss.project_id,
        HSS_ENTERPRISE_PROJECT_ID="all_granted_eps",
        CLOUD_SDK_AK=fake_hss.ak,
        CLOUD_SDK_SK=fake_hss.sk,
    )
    client = build_hss_client(settings)
    try:
        await client.create_export_task(REQUEST)
    finally:
        await client.aclose()
    [call] = fake_hss.calls
    assert call.status == 200
    assert "authorization" in call.headers
    assert call.query["enterprise_project_id"] == "all_granted_eps"
    assert fake_hss.sk not in repr(client)


async def test_settings_with_iam_user_build_a_token_client(fake_hss: FakeHss) -> None:
    """HSS_IAM_* settings give a client that fetches a token from IAM and sends it."""
    settings = Settings(  # type: ignore[call-arg]
        _env_file=None,
        HSS_ENDPOINT=fake_hss.url,
        HSS_IAM_ENDPOINT=fake_hss.url,
        HSS_PROJECT_ID=fake_hss.project_id,
        HSS_IAM_DOMAIN=fake_hss.iam_domain,
        HSS_IAM_USER=fake_hss.iam_user,
        HSS_IAM_PASSWORD=fake_hss.iam_password,
    )
    client = build_hss_client(settings)
    try:
        await client.create_export_task(REQUEST)
    finally:
        await client.aclose()
    assert [c.op for c in fake_hss.calls] == ["token", "create"]
    assert fake_hss.calls[1].headers["x-auth-token"] == fake_hss.granted_tokens[0]
    assert fake_hss.iam_password not in repr(client)
