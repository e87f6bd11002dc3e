"""IAM token authentication: fetched once, shared, renewed before expiry and after a 401."""

from __future__ import annotations

import asyncio
import socket
from collections.abc import AsyncIterator, Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from pydantic import SecretStr

from bot.adapters.hss import HssClient
from bot.adapters.iam import IamTokenAuth
from bot.domain.errors import HssAuthError, HssUnavailable
from bot.domain.model import ExportBody, ExportRequest
from emulators.fake_hss import FakeHss, Task

REQUEST = ExportRequest(body=ExportBody(export_headers=[("container_name", "容器名称")]))


class Clock:
    """A clock the test moves by hand."""

    def __init__(self) -> None:
        self.now = datetime.now(UTC)

    def __call__(self) -> datetime:
        return self.now


async def no_sleep(seconds: float) -> None:
    """Return at once: these tests never wait for a retry."""


MakeClient = Callable[..., HssClient]


@pytest.fixture
async def make_client(fake_hss: FakeHss) -> AsyncIterator[MakeClient]:
    """Build HSS clients authenticating with IAM tokens from the fake, closed after the test."""
    clients: list[HssClient] = []

    def make(**auth_overrides: Any) -> HssClient:
        options: dict[str, Any] = {
            "domain": fake_hss.iam_domain,
            "user": fake_hss.iam_user,
            "password": SecretStr(fake_hss.iam_password),
            "project_id": fake_hss.project_id,
        }
        options.update(auth_overrides)
        iam_url = options.pop("iam_url", fake_hss.url)
        auth = IamTokenAuth(iam_url, **options)
        client = HssClient(fake_hss.url, fake_hss.project_id, auth, sleep=no_sleep)
        clients.append(client)
        return client

    yield make
    for client in clients:
        await client.aclose()


def assert_no_secret(error: BaseException, fake: FakeHss) -> None:
    """Assert the error's text (and its cause's) shows neither the password nor any token."""
    texts = [str(error), repr(error), str(error.__cause__), str(error.__context__)]
    for secret in [fake.iam_password, *fake.granted_tokens]:
        assert all(secret not in text for text in texts), secret


async def test_first_call_fetches_a_scoped_token_and_sends_it(
    fake_hss: FakeHss, make_client: MakeClient
) -> None:
    """The first call asks IAM for a project-scoped token, then sends it as X-Auth-Token."""
    await make_client().create_export_task(REQUEST)
    token_call, create_call = fake_hss.calls
    assert (token_call.op, token_call.method, token_call.path) == (
        "token",
        "POST",
        "/v3/auth/tokens",
    )
    assert token_call.status == 201
    assert token_call.body["auth"]["scope"] == {"project": {"id": fake_hss.project_id}}
    assert token_call.body["auth"]["identity"]["methods"] == ["password"]
    assert create_call.status == 200
    assert create_call.headers["x-auth-token"] == fake_hss.granted_tokens[0]
    assert "authorization" not in create_call.headers


async def test_token_is_cached_across_calls(fake_hss: FakeHss, make_client: MakeClient) -> None:
    """Several calls share one token: IAM is asked once."""
    client = make_client()
    task = await client.create_export_task(REQUEST)
    for _ in range(3):
        await client.get_export_task(task.task_id)
    assert len(fake_hss.calls_for("token")) == 1
    assert {c.headers["x-auth-token"] for c in fake_hss.calls if c.op != "token"} == {
        fake_hss.granted_tokens[0]
    }


async def test_a_401_renews_the_token_once_and_resends(
    fake_hss: FakeHss, make_client: MakeClient
) -> None:
    """A token HSS stopped accepting is renewed once; the same create is resent and succeeds."""
    client = make_client()
    await client.create_export_task(REQUEST)
    fake_hss.revoke_tokens()
    created = await client.create_export_task(REQUEST)
    assert [(c.op, c.status) for c in fake_hss.calls] == [
        ("token", 201),
        ("create", 200),
        ("create", 401),
        ("token", 201),
        ("create", 200),
    ]
    assert fake_hss.calls[-1].headers["x-auth-token"] == fake_hss.granted_tokens[1]
    assert created.task_id == "task-0002"


async def test_a_second_401_is_an_auth_error_not_a_loop(
    fake_hss: FakeHss, make_client: MakeClient
) -> None:
    """If HSS refuses the fresh token too, the caller gets HssAuthError after one renewal."""
    fake_hss.fail_next(
        401, body={"error_code": "APIG.0307", "error_msg": "token refused"}, times=2, op="create"
    )
    with pytest.raises(HssAuthError, match="token refused") as caught:
        await make_client().create_export_task(REQUEST)
    assert [c.op for c in fake_hss.calls] == ["token", "create", "token", "create"]
    assert caught.value.code == "APIG.0307"
    assert_no_secret(caught.value, fake_hss)


async def test_concurrent_callers_after_revocation_share_one_renewal(
    fake_hss: FakeHss, make_client: MakeClient
) -> None:
    """Twenty concurrent calls that all meet a 401 cause one renewal, and all succeed."""
    client = make_client()
    task = await client.create_export_task(REQUEST)
    fake_hss.revoke_tokens()
    results = await asyncio.gather(*(client.get_export_task(task.task_id) for _ in range(20)))
    assert len(results) == 20
    assert len(fake_hss.calls_for("token")) == 2
    assert len([c for c in fake_hss.calls_for("status") if c.status == 200]) == 20


async def test_concurrent_callers_with_an_expired_token_share_one_renewal(
    fake_hss: FakeHss, make_client: MakeClient
) -> None:
    """Twenty concurrent calls seeing the cached token expired fetch one new token together."""
    clock = Clock()
    client = make_client(clock=clock)
    task = await client.create_export_task(REQUEST)
    clock.now += timedelta(days=1)
    await asyncio.gather(*(client.get_export_task(task.task_id) for _ in range(20)))
    assert len(fake_hss.calls_for("token")) == 2
    assert all(c.status == 200 for c in fake_hss.calls_for("status"))


async def test_concurrent_first_calls_fetch_one_token(
    fake_hss: FakeHss, make_client: MakeClient
) -> None:
    """Twenty calls racing on a fresh client fetch a single token."""
    client = make_client()
    fake_hss.tasks["task-x"] = Task("task-x", 5, "success", "file-x", "x.xlsx", 1)
    await asyncio.gather(*(client.get_export_task("task-x") for _ in range(20)))
    assert len(fake_hss.calls_for("token")) == 1
    assert len(fake_hss.calls_for("status")) == 20


async def test_token_is_renewed_before_it_expires(
    fake_hss: FakeHss, make_client: MakeClient
) -> None:
    """Within the renewal margin of its expiry the token is replaced before HSS can refuse it."""
    fake_hss.token_ttl = timedelta(minutes=10)
    clock = Clock()
    client = make_client(clock=clock, renew_margin=timedelta(minutes=5))
    task = await client.create_export_task(REQUEST)
    clock.now += timedelta(minutes=4)
    await client.get_export_task(task.task_id)
    assert len(fake_hss.calls_for("token")) == 1
    clock.now += timedelta(minutes=2)  # 6 min in: less than the 5 min margin is left
    await client.get_export_task(task.task_id)
    assert len(fake_hss.calls_for("token")) == 2
    assert all(c.status != 401 for c in fake_hss.calls)
    assert fake_hss.calls[-1].headers["x-auth-token"] == fake_hss.granted_tokens[1]


@pytest.mark.parametrize(
    ("override", "text"),
    [
        ({"password": SecretStr("wrong-password-123")}, "The username or password is wrong"),
        ({"user": "nobody"}, "The username or password is wrong"),
        ({"project_id": "other-project"}, "The project is not accessible"),
    ],
)
async def test_iam_refusal_is_an_auth_error_without_the_password(
    fake_hss: FakeHss, make_client: MakeClient, override: dict[str, Any], text: str
) -> None:
    """IAM refusing the account: HssAuthError with its message and request id, no password."""
    with pytest.raises(HssAuthError, match=text) as caught:
        await make_client(**override).create_export_task(REQUEST)
    [token_call] = fake_hss.calls
    assert (caught.value.status, caught.value.request_id) == (401, token_call.request_id)
    assert "wrong-password-123" not in str(caught.value)
    assert_no_secret(caught.value, fake_hss)


async def test_iam_throttling_is_unavailability(fake_hss: FakeHss, make_client: MakeClient) -> None:
    """IAM answering 503 is HssUnavailable (try later), not a refused account; HSS is not called."""
    fake_hss.fail_next(503, op="token")
    with pytest.raises(HssUnavailable, match="IAM is unavailable") as caught:
        await make_client().create_export_task(REQUEST)
    assert [c.op for c in fake_hss.calls] == ["token"]
    assert caught.value.code == "HSS.503"


async def test_unreachable_iam_is_unavailable(fake_hss: FakeHss, make_client: MakeClient) -> None:
    """Nothing listening at IAM's address gives HssUnavailable naming IAM, without the password."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    with pytest.raises(HssUnavailable, match="could not reach IAM") as caught:
        await make_client(iam_url=f"http://127.0.0.1:{port}").create_export_task(REQUEST)
    assert_no_secret(caught.value, fake_hss)
    assert caught.value.__cause__ is None


@pytest.mark.parametrize(
    ("headers", "body"),
    [
        ({}, b'{"token": {"expires_at": "2099-01-01T00:00:00.000000Z"}}'),
        ({"X-Subject-Token": "tok-abc"}, b'{"token": {}}'),
        ({"X-Subject-Token": "tok-abc"}, b'{"token": {"expires_at": "tomorrow"}}'),
        ({"X-Subject-Token": "tok-abc"}, b"not json"),
    ],
    ids=["no token header", "no expiry", "bad expiry", "not JSON"],
)
async def test_unusable_iam_answer_is_an_auth_error(headers: dict[str, str], body: bytes) -> None:
    """An IAM 201 without a token or a readable expiry is refused, and the token not echoed."""

    def iam(request: httpx.Request) -> httpx.Response:
        return httpx.Response(201, headers={**headers, "X-Request-Id": "iam-rid"}, content=body)

    auth = IamTokenAuth(
        "https://iam.example",
        domain="d",
        user="u",
        password=SecretStr("pw-123456"),
        project_id="p",
        transport=httpx.MockTransport(iam),
    )
    with pytest.raises(HssAuthError, match="without a usable token") as caught:
        await auth.token()
    await auth.aclose()
    assert caught.value.request_id == "iam-rid"
    assert "tok-abc" not in str(caught.value)
    assert "pw-123456" not in str(caught.value)


def test_repr_names_the_account_but_not_the_password() -> None:
    """repr() and str() show the IAM endpoint and user, never the password."""
    auth = IamTokenAuth(
        "https://iam.example",
        domain="acme",
        user="svc-hss",
        password=SecretStr("pw-123456"),
        project_id="p",
    )
    for text in (repr(auth), str(auth)):
        assert "svc-hss" in text
        assert "pw-123456" not in text


def test_sync_clients_are_refused_plainly() -> None:
    """A sync httpx client cannot fetch tokens through this auth; it says so."""
    auth = IamTokenAuth(
        "https://iam.example", domain="d", user="u", password=SecretStr("pw"), project_id="p"
    )
    with (
        httpx.Client(transport=httpx.MockTransport(lambda r: httpx.Response(200))) as client,
        pytest.raises(RuntimeError, match="AsyncClient only"),
    ):
        client.get("https://hss.example/v5/p/export-task/t", auth=auth)


class FakeIam:
    """An IAM token endpoint behind httpx.MockTransport, granting tokens of a given lifetime."""

    def __init__(self, issued_at: datetime, lifetime: timedelta) -> None:
        self.issued_at, self.lifetime = issued_at, lifetime
        self.granted: list[str] = []

    def __call__(self, request: httpx.Request) -> httpx.Response:
        """Grant a new token stamped with IAM's own clock."""
        self.granted.append(f"tok-{len(self.granted) + 1}")
        stamp = "%Y-%m-%dT%H:%M:%S.%fZ"
        token = {
            "issued_at": self.issued_at.strftime(stamp),
            "expires_at": (self.issued_at + self.lifetime).strftime(stamp),
        }
        return httpx.Response(
            201, headers={"X-Subject-Token": self.granted[-1]}, json={"token": token}
        )


@pytest.mark.parametrize(
    ("iam_clock_offset", "lifetime", "calls_apart", "renewals"),
    [
        (timedelta(0), timedelta(hours=24), timedelta(hours=23, minutes=54), 1),
        (timedelta(0), timedelta(hours=24), timedelta(hours=23, minutes=56), 2),
        (-timedelta(days=3), timedelta(hours=24), timedelta(hours=1), 1),  # IAM's clock behind
        (timedelta(days=3), timedelta(hours=24), timedelta(hours=1), 1),  # IAM's clock ahead
        (timedelta(0), timedelta(minutes=4), timedelta(minutes=1), 1),  # shorter than the margin
        (timedelta(0), timedelta(minutes=4), timedelta(minutes=3), 2),  # past half its life
    ],
)
async def test_renewal_is_timed_by_the_lifetime_iam_grants(
    iam_clock_offset: timedelta, lifetime: timedelta, calls_apart: timedelta, renewals: int
) -> None:
    """A token serves until 5 min (at most half its life) before its end, whatever IAM's clock."""
    clock = Clock()
    iam = FakeIam(clock.now + iam_clock_offset, lifetime)
    auth = IamTokenAuth(
        "https://iam.example",
        domain="d",
        user="u",
        password=SecretStr("pw"),
        project_id="p",
        renew_margin=timedelta(minutes=5),
        transport=httpx.MockTransport(iam),
        clock=clock,
    )
    first = await auth.token()
    clock.now += calls_apart
    second = await auth.token()
    await auth.aclose()
    assert len(iam.granted) == renewals
    assert (first == second) is (renewals == 1)
