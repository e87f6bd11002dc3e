"""The bot's Prometheus metrics, in a registry of their own (one per app, so tests never clash)."""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Final

from prometheus_client import (
    CollectorRegistry,
    Counter,
    Gauge,
    GCCollector,
    Histogram,
    PlatformCollector,
    ProcessCollector,
)
from prometheus_client.exposition import choose_encoder

from bot.domain.errors import HssError

# Every outcome a command can have, exported at zero from the start so alerts see a series.
COMMAND_OUTCOMES: Final = ("submitted", "failed", "duplicate", "invalid", "denied", "draining")


@dataclass(frozen=True)
class Metrics:
    """The bot's Prometheus metrics, in their own registry (one per app, so tests never clash)."""

    registry: CollectorRegistry
    commands: Counter  # bot_commands_total{outcome}
    ack_seconds: Histogram  # bot_ack_seconds
    hss_request_seconds: Histogram  # bot_hss_request_seconds{operation,profile}
    hss_errors: Counter  # bot_hss_errors_total{operation,code,profile}
    tasks_in_flight: Gauge  # bot_tasks_in_flight
    deliveries: Counter  # bot_deliveries_total{result}

    def render(self, accept: str | None = None) -> tuple[bytes, str]:
        """Return the exposition body and its content type (OpenMetrics if `accept` asks)."""
        encoder, content_type = choose_encoder(accept or "")
        return encoder(self.registry), content_type

    @contextmanager
    def time_hss(self, operation: str, profile: str = "default") -> Iterator[None]:
        """Time one HSS call of a profile; count an `HssError` (or any error) under its code."""
        start = time.perf_counter()
        try:
            yield
        except HssError as exc:
            self.hss_errors.labels(operation, hss_error_code(exc), profile).inc()
            raise
        except Exception as exc:
            self.hss_errors.labels(operation, type(exc).__name__, profile).inc()
            raise
        finally:
            elapsed = time.perf_counter() - start
            self.hss_request_seconds.labels(operation, profile).observe(elapsed)


def hss_error_code(exc: HssError) -> str:
    """Return the label for an HSS error: its HSS code, else `HTTP <status>`, else its kind."""
    if exc.code:
        return exc.code
    if exc.status:
        return f"HTTP {exc.status}"
    return type(exc).__name__


def create_metrics(*, process_collectors: bool = True) -> Metrics:
    """Build the metrics in a new registry (with process and Python runtime collectors)."""
    registry = CollectorRegistry(auto_describe=True)
    if process_collectors:
        ProcessCollector(registry=registry)
        PlatformCollector(registry=registry)
        GCCollector(registry=registry)
    metrics = Metrics(
        registry=registry,
        commands=Counter(
            "bot_commands",
            "Slash commands and modal submissions, by outcome.",
            ["outcome"],
            registry=registry,
        ),
        ack_seconds=Histogram(
            "bot_ack_seconds",
            "Time from receiving a Slack request to acknowledging it (Slack allows 3 s).",
            buckets=(0.05, 0.1, 0.25, 0.5, 1.0, 2.0, 3.0, 5.0),
            registry=registry,
        ),
        hss_request_seconds=Histogram(
            "bot_hss_request_seconds",
            "HSS call latency, retries included, by operation and profile.",
            ["operation", "profile"],
            buckets=(0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0),
            registry=registry,
        ),
        hss_errors=Counter(
            "bot_hss_errors",
            "HSS calls that failed, by operation, HSS error code (or HTTP status) and profile.",
            ["operation", "code", "profile"],
            registry=registry,
        ),
        tasks_in_flight=Gauge(
            "bot_tasks_in_flight",
            "Export tasks being followed until their file is delivered.",
            registry=registry,
        ),
        deliveries=Counter(
            "bot_deliveries",
            "Export files delivered to Slack (or not), by result.",
            ["result"],
            registry=registry,
        ),
    )
    for outcome in COMMAND_OUTCOMES:
        metrics.commands.labels(outcome)
    return metrics
