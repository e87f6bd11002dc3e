"""`/healthz`, `/readyz` and `/metrics`, served by a real aiohttp server on loopback."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence

import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer

from bot.health import ReadinessCheck, add_ops_routes, ops_routes
from bot.lifecycle import Lifecycle
from bot.metrics import create_metrics

DB_PASSWORD = "HEALTHSENTINEL-db-password"

Serve = Callable[[Sequence[ReadinessCheck]], Awaitable[TestClient[web.Request, web.Application]]]


async def _passes() -> bool:
    return True


async def _returns_none() -> None:
    return None


async def _says_no() -> bool:
    return False


async def _db_down() -> bool:
    raise ConnectionRefusedError(f"postgresql://bot:{DB_PASSWORD}@db:5432/audit refused")


async def _hangs() -> bool:
    await asyncio.sleep(30)
    return True


@pytest.fixture
def lifecycle() -> Lifecycle:
    """A lifecycle that is not draining yet."""
    return Lifecycle()


@pytest.fixture
async def serve(lifecycle: Lifecycle) -> AsyncIterator[Serve]:
    """Start an app with the ops routes and the given checks on 127.0.0.1; close it after."""
    clients: list[TestClient[web.Request, web.Application]] = []
    metrics = create_metrics()
    metrics.commands.labels("submitted").inc()

    async def start(checks: Sequence[ReadinessCheck]) -> TestClient[web.Request, web.Application]:
        app = web.Application()
        add_ops_routes(app, checks, metrics, lifecycle)
        client = TestClient(TestServer(app, host="127.0.0.1", port=0))
        await client.start_server()
        clients.append(client)
        return client

    yield start
    for client in clients:
        await client.close()


async def test_healthz_is_ok_while_running(serve: Serve) -> None:
    """A running process answers /healthz 200 with status ok."""
    client = await serve([])
    response = await client.get("/healthz")
    assert response.status == 200
    assert await response.json() == {"status": "ok"}


async def test_healthz_and_readyz_fail_while_draining(serve: Serve, lifecycle: Lifecycle) -> None:
    """Once shutdown begins, /healthz and /readyz answer 503 so no new work is routed here."""
    client = await serve([ReadinessCheck("db", _passes)])
    lifecycle.begin_drain()
    health = await client.get("/healthz")
    ready = await client.get("/readyz")
    assert (health.status, await health.json()) == (503, {"status": "draining"})
    assert ready.status == 503
    assert (await ready.json())["status"] == "draining"


async def test_readyz_passes_when_every_check_passes(serve: Serve) -> None:
    """All checks passing (True or None) gives 200 and each check by name."""
    client = await serve(
        [ReadinessCheck("slack_auth", _passes), ReadinessCheck("db", _returns_none)]
    )
    response = await client.get("/readyz")
    assert response.status == 200
    assert await response.json() == {
        "status": "ready",
        "checks": {"slack_auth": "ok", "db": "ok"},
    }


@pytest.mark.parametrize(
    ("failing", "result"),
    [
        pytest.param(ReadinessCheck("slack_auth", _says_no), "failed", id="returns-false"),
        pytest.param(ReadinessCheck("db", _db_down), "error: ConnectionRefusedError", id="raises"),
        pytest.param(ReadinessCheck("db", _hangs, timeout=0.2), "timeout", id="times-out"),
    ],
)
async def test_readyz_names_the_failing_check(
    serve: Serve, failing: ReadinessCheck, result: str
) -> None:
    """One failing check gives 503, names that check and its result, and shows no secret."""
    client = await serve([ReadinessCheck("other", _passes), failing])
    started = time.monotonic()
    response = await client.get("/readyz")
    body = await response.text()
    assert response.status == 503
    assert await response.json() == {
        "status": "not ready",
        "checks": {"other": "ok", failing.name: result},
    }
    assert DB_PASSWORD not in body
    assert time.monotonic() - started < 10  # a hanging check is cut at its timeout


async def test_metrics_endpoint_serves_prometheus_text(serve: Serve) -> None:
    """/metrics serves the Prometheus text format with the bot's metric names."""
    client = await serve([])
    response = await client.get("/metrics")
    text = await response.text()
    assert response.status == 200
    assert response.headers["Content-Type"].startswith("text/plain; version=")
    assert 'bot_commands_total{outcome="submitted"} 1.0' in text
    for name in (
        "bot_ack_seconds",
        "bot_hss_request_seconds",
        "bot_hss_errors_total",
        "bot_tasks_in_flight",
        "bot_deliveries_total",
    ):
        assert f"# TYPE {name.removesuffix('_total')}" in text


async def test_ops_routes_fit_an_app_that_serves_its_own_healthz(lifecycle: Lifecycle) -> None:
    """`ops_routes(healthz=False)` adds /readyz and /metrics beside an existing /healthz."""

    async def own_healthz(_request: web.Request) -> web.Response:
        return web.Response(text="own")

    app = web.Application()
    app.add_routes(
        [
            web.get("/healthz", own_healthz),
            *ops_routes(
                [ReadinessCheck("db", _passes)], create_metrics(), lifecycle, healthz=False
            ),
        ]
    )
    async with TestClient(TestServer(app, host="127.0.0.1", port=0)) as client:
        assert await (await client.get("/healthz")).text() == "own"
        assert (await client.get("/readyz")).status == 200
        assert (await client.get("/metrics")).status == 200
