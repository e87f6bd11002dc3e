"""Serve the operations endpoints: `/healthz` (liveness), `/readyz` (readiness), `/metrics`.

`/healthz` says the process is alive and taking work; it answers 503 once the
process drains for shutdown. `/readyz` runs every readiness check (Slack
`auth.test` done, database reachable…) concurrently, each under its own
timeout, and answers 200 only when all pass. A check's result is reported by
name as `ok`, `failed`, `timeout` or the exception's class name: never its
message, which could carry a URL with a password.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import Final

from aiohttp import web

from bot.lifecycle import Lifecycle
from bot.metrics import Metrics

log = logging.getLogger(__name__)

DEFAULT_CHECK_TIMEOUT: Final = 2.0
HEALTHZ_PATH: Final = "/healthz"
READYZ_PATH: Final = "/readyz"
METRICS_PATH: Final = "/metrics"


@dataclass(frozen=True)
class ReadinessCheck:
    """One named readiness probe: passes unless it returns False, raises or times out."""

    name: str
    probe: Callable[[], Awaitable[bool | None]]
    timeout: float = DEFAULT_CHECK_TIMEOUT


async def run_check(check: ReadinessCheck) -> str:
    """Run one check and return `ok`, `failed`, `timeout` or the error's class name."""
    try:
        async with asyncio.timeout(check.timeout):
            passed = await check.probe()
    except TimeoutError:
        log.warning("readiness check timed out", extra={"check": check.name})
        return "timeout"
    except Exception as exc:  # any error means "not ready"; logged (redacted), not echoed
        log.warning("readiness check raised", extra={"check": check.name}, exc_info=exc)
        return f"error: {type(exc).__name__}"
    return "failed" if passed is False else "ok"


def ops_routes(
    checks: Sequence[ReadinessCheck],
    metrics: Metrics,
    lifecycle: Lifecycle,
    *,
    healthz: bool = True,
) -> list[web.RouteDef]:
    """Return GET `/healthz` (unless `healthz=False`), `/readyz` and `/metrics` route defs."""

    async def health_view(_request: web.Request) -> web.Response:
        if lifecycle.draining:
            return web.json_response({"status": "draining"}, status=503)
        return web.json_response({"status": "ok"})

    async def ready_view(_request: web.Request) -> web.Response:
        if lifecycle.draining:
            return web.json_response({"status": "draining"}, status=503)
        results = await asyncio.gather(*(run_check(c) for c in checks))
        report = {c.name: r for c, r in zip(checks, results, strict=True)}
        ready = all(r == "ok" for r in results)
        return web.json_response(
            {"status": "ready" if ready else "not ready", "checks": report},
            status=200 if ready else 503,
        )

    async def metrics_view(request: web.Request) -> web.Response:
        body, content_type = metrics.render(request.headers.get("Accept"))
        return web.Response(body=body, headers={"Content-Type": content_type})

    routes = [web.get(READYZ_PATH, ready_view), web.get(METRICS_PATH, metrics_view)]
    if healthz:
        routes.insert(0, web.get(HEALTHZ_PATH, health_view))
    return routes


def add_ops_routes(
    app: web.Application,
    checks: Sequence[ReadinessCheck],
    metrics: Metrics,
    lifecycle: Lifecycle,
) -> None:
    """Add GET `/healthz`, `/readyz` and `/metrics` to an aiohttp application."""
    app.add_routes(ops_routes(checks, metrics, lifecycle))


def create_ops_app(
    checks: Sequence[ReadinessCheck], metrics: Metrics, lifecycle: Lifecycle
) -> web.Application:
    """Return an aiohttp app with only the operations routes (for Socket Mode, or a side port)."""
    app = web.Application()
    add_ops_routes(app, checks, metrics, lifecycle)
    return app
