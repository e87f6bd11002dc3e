"""Logs are JSON lines with a request id and no secrets; the metrics carry the agreed names."""

from __future__ import annotations

import asyncio
import io
import json
import logging
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import httpx
import pytest
import structlog

from bot.domain.errors import HssError, HssUnavailable
from bot.metrics import create_metrics
from bot.observability import (
    SECRETS,
    configure_from_settings,
    configure_logging,
    correlation,
    current_request_id,
    get_logger,
    is_secret_key,
    register_secret,
    register_settings_secrets,
)
from bot.settings import Settings

AK = "AKLOGSENTINEL0000001"
SK = "SKLOGSENTINEL000000000000000000000000002"
BOT_TOKEN = "xoxb-1234-5678-LOGSENTINEL3"
APP_TOKEN = "xapp-1-A0123-456-LOGSENTINEL4"
SIGNING_SECRET = "SIGNLOGSENTINEL0000000000000005"
IAM_PASSWORD = "IAMLOGSENTINEL-pass-6"
DB_PASSWORD = "DBLOGSENTINEL-7"
IAM_TOKEN = "MII" + "LOGSENTINEL8" * 10
SIGNATURE = "ab12" * 16
ALL_SECRETS = (AK, SK, BOT_TOKEN, APP_TOKEN, SIGNING_SECRET, IAM_PASSWORD, DB_PASSWORD)
HMAC_HEADER = (
    f"SDK-HMAC-SHA256 Access={AK}, SignedHeaders=content-type;host;x-sdk-date, "
    f"Signature={SIGNATURE}"
)


@dataclass
class Captured:
    """What the configured logging wrote."""

    stream: io.StringIO

    @property
    def text(self) -> str:
        """Return everything written so far."""
        return self.stream.getvalue()

    def lines(self) -> list[dict[str, Any]]:
        """Return every line, parsed as JSON."""
        return [json.loads(line) for line in self.text.splitlines() if line.strip()]


@pytest.fixture(autouse=True)
def restore_logging() -> Iterator[None]:
    """Put logging, structlog and the secret registry back as they were after each test."""
    root, httpcore = logging.getLogger(), logging.getLogger("httpcore")
    httpx_logger = logging.getLogger("httpx")
    handlers, level, httpcore_level = list(root.handlers), root.level, httpcore.level
    httpx_level = httpx_logger.level
    yield
    for handler in root.handlers:
        if handler not in handlers:
            root.removeHandler(handler)
    root.setLevel(level)
    httpcore.setLevel(httpcore_level)
    httpx_logger.setLevel(httpx_level)
    logging.captureWarnings(False)
    structlog.reset_defaults()
    SECRETS.clear()


@pytest.fixture
def logs() -> Captured:
    """Configure JSON logging at DEBUG into a buffer."""
    stream = io.StringIO()
    configure_logging("DEBUG", "json", stream=stream)
    return Captured(stream)


@pytest.fixture
def configured_secrets() -> None:
    """Register the secrets of a full Settings, as the app does at start."""
    register_secret(None)  # ignored, as an unset secret is
    settings = Settings(
        _env_file=None,  # type: ignore[call-arg]
        CLOUD_SDK_AK=AK,
        CLOUD_SDK_SK=SK,
        SLACK_BOT_TOKEN=BOT_TOKEN,
        SLACK_APP_TOKEN=APP_TOKEN,
        SLACK_SIGNING_SECRET=SIGNING_SECRET,
        HSS_IAM_PASSWORD=IAM_PASSWORD,
        AUDIT_DB_URL=f"postgresql+asyncpg://bot:{DB_PASSWORD}@db:5432/audit",
    )
    register_settings_secrets(settings)


def test_structlog_and_stdlib_lines_are_json(logs: Captured) -> None:
    """Both our log calls and a library's stdlib call come out as one JSON object a line."""
    get_logger("bot.test").info("export submitted", task_id="t-1")
    logging.getLogger("slack_bolt.App").warning("library says %s", "hello")

    first, second = logs.lines()
    assert first["event"] == "export submitted"
    assert first["task_id"] == "t-1"
    assert first["level"] == "info"
    assert first["logger"] == "bot.test"
    assert first["timestamp"].endswith("Z")
    assert second["event"] == "library says hello"
    assert second["level"] == "warning"
    assert second["logger"] == "slack_bolt.App"


def test_stdlib_extra_fields_are_kept(logs: Captured) -> None:
    """Fields passed as stdlib `extra=` (as the service does) appear in the line."""
    logging.getLogger("bot.usecases.export").error(
        "audit outcome not recorded", extra={"audit_entry": 7}
    )
    (line,) = logs.lines()
    assert line["audit_entry"] == 7


def test_request_id_ties_lines_together(logs: Captured) -> None:
    """Inside `correlation`, our lines and libraries' carry the request id; after it, none do."""
    with correlation(request_id="req-abc", user_id="U1") as rid:
        assert rid == "req-abc"
        assert current_request_id() == "req-abc"
        get_logger("bot.listeners").info("command received")
        # httpx's own per-request line is off at INFO (the HSS client logs its own): a
        # library still logging at INFO is Bolt.
        logging.getLogger("slack_bolt.App").info("Unhandled request: POST https://hss.example/v5")
    get_logger("bot.listeners").info("later")

    inside_ours, inside_library, after = logs.lines()
    assert inside_ours["request_id"] == "req-abc"
    assert inside_ours["user_id"] == "U1"
    assert inside_library["request_id"] == "req-abc"
    assert "request_id" not in after
    assert current_request_id() is None


async def test_request_id_follows_into_tasks(logs: Captured) -> None:
    """A task started inside `correlation` (an HSS call, an audit write) keeps the request id."""

    async def hss_call() -> str | None:
        await asyncio.sleep(0)
        logging.getLogger("bot.adapters.hss").info("calling HSS")
        return current_request_id()

    with correlation() as rid:
        task = asyncio.create_task(hss_call())
    assert await task == rid
    assert len(rid) == 32
    (line,) = [x for x in logs.lines() if x["logger"] == "bot.adapters.hss"]
    assert line["request_id"] == rid


def _log_exception(message: str) -> None:
    try:
        raise RuntimeError(message)
    except RuntimeError:
        get_logger("bot.test").exception("call failed")


def _log_stdlib_exception(message: str) -> None:
    try:
        raise ConnectionError(message)
    except ConnectionError:
        logging.getLogger("aiohttp.client").exception("library failed")


@dataclass
class _Credentials:
    user: str
    secret: str


LEAKS: list[tuple[str, Callable[[], None]]] = [
    ("token key", lambda: get_logger().info("visible", token=BOT_TOKEN)),
    ("sk and ak keys", lambda: get_logger().info("visible", sk=SK, CLOUD_SDK_AK=AK)),
    (
        "nested headers and passwords",
        lambda: get_logger().info(
            "visible",
            request={
                "headers": {"Authorization": HMAC_HEADER, "X-Auth-Token": IAM_TOKEN},
                "users": [{"name": "bot", "password": IAM_PASSWORD}],
            },
        ),
    ),
    (
        "httpx headers",
        lambda: get_logger().info(
            "visible", headers=httpx.Headers({"Authorization": f"Bearer {BOT_TOKEN}"})
        ),
    ),
    ("slack token in text", lambda: get_logger().info(f"visible: calling with {BOT_TOKEN}")),
    ("app token in text", lambda: get_logger().info("visible", note=f"socket {APP_TOKEN} open")),
    ("hmac header in text", lambda: get_logger().info(f"visible: Authorization: {HMAC_HEADER}")),
    ("iam token in text", lambda: get_logger().info(f"visible: X-Subject-Token {IAM_TOKEN}")),
    ("registered sk in text", lambda: get_logger().info(f"visible: loaded {SK}")),
    ("registered secret, other key", lambda: get_logger().info("visible", detail=SIGNING_SECRET)),
    ("db url", lambda: get_logger().info(f"visible postgresql://bot:{DB_PASSWORD}@db/audit")),
    ("object repr", lambda: get_logger().info("visible", creds=_Credentials("bot", SK))),
    ("exception message", lambda: _log_exception(f"visible: refused {AK}:{SK} {BOT_TOKEN}")),
    (
        "stdlib positional args",
        lambda: logging.getLogger("slack_sdk.web").debug(
            "visible: headers %s", {"Authorization": f"Bearer {BOT_TOKEN}"}
        ),
    ),
    (
        "stdlib extra",
        lambda: logging.getLogger("bot.x").info("visible", extra={"password": IAM_PASSWORD}),
    ),
    ("stdlib exception", lambda: _log_stdlib_exception(f"visible {SIGNING_SECRET} {DB_PASSWORD}")),
]


@pytest.mark.parametrize(("case", "leak"), LEAKS, ids=[case for case, _ in LEAKS])
@pytest.mark.usefixtures("configured_secrets")
def test_secrets_never_reach_the_output(
    logs: Captured, case: str, leak: Callable[[], None]
) -> None:
    """Whatever carries a secret (key, nesting, text, exception, library line), output masks it."""
    leak()
    output = logs.text
    assert "visible" in output, case  # the line itself was written
    assert "[REDACTED]" in output, case
    for secret in (*ALL_SECRETS, IAM_TOKEN, SIGNATURE):
        assert secret not in output, (case, secret)
    logs.lines()  # still valid JSON after masking


def test_console_format_is_redacted_too() -> None:
    """The console renderer (for a terminal) gets the same redaction as JSON."""
    stream = io.StringIO()
    configure_logging("INFO", "console", stream=stream)
    get_logger("bot.test").info(f"visible {BOT_TOKEN}", password=IAM_PASSWORD)
    assert "visible" in stream.getvalue()
    assert BOT_TOKEN not in stream.getvalue()
    assert IAM_PASSWORD not in stream.getvalue()


@pytest.mark.parametrize(
    ("key", "secret"),
    [
        ("token", True),
        ("SLACK_BOT_TOKEN", True),
        ("X-Auth-Token", True),
        ("x-security-token", True),
        ("Authorization", True),
        ("sk", True),
        ("CLOUD_SDK_AK", True),
        ("signing_secret", True),
        ("password", True),
        ("Set-Cookie", True),
        ("signature", True),
        ("access_key", True),
        ("request_id", False),
        ("hss_request_id", False),
        ("task_id", False),
        ("file_id", False),
        ("dedupe_key", False),
        ("key", False),
        ("skip", False),
        ("task_status", False),
        ("audit_entry", False),
    ],
)
def test_secret_keys_are_recognised(key: str, secret: bool) -> None:
    """Secret-looking keys are masked; the ids an operator needs are not."""
    assert is_secret_key(key) is secret


def test_settings_configure_level_and_secrets() -> None:
    """`configure_from_settings` applies LOG_LEVEL and masks that Settings' secrets."""
    stream = io.StringIO()
    settings = Settings(
        _env_file=None,  # type: ignore[call-arg]
        LOG_LEVEL="WARNING",
        CLOUD_SDK_AK=AK,
        CLOUD_SDK_SK=SK,
    )
    configure_from_settings(settings, stream=stream)
    get_logger("bot.test").info("hidden by level")
    logging.getLogger("lib").warning("shown: %s", SK)
    (line,) = [json.loads(x) for x in stream.getvalue().splitlines()]
    assert line["event"] == "shown: [REDACTED]"


METRIC_NAMES = (
    "bot_commands_total",
    "bot_ack_seconds",
    "bot_hss_request_seconds",
    "bot_hss_errors_total",
    "bot_tasks_in_flight",
    "bot_deliveries_total",
)


def test_metric_names_are_rendered() -> None:
    """Every agreed metric shows in the exposition, with the samples recorded."""
    metrics = create_metrics()
    metrics.commands.labels("submitted").inc()
    metrics.ack_seconds.observe(0.2)
    metrics.tasks_in_flight.set(3)
    metrics.deliveries.labels("delivered").inc()
    with pytest.raises(HssUnavailable), metrics.time_hss("create_export_task"):
        raise HssUnavailable("HSS unreachable", status=503)
    with pytest.raises(HssError), metrics.time_hss("get_export_task"):
        raise HssError("bad", status=400, code="HSS.1001")

    body, content_type = metrics.render()
    text = body.decode()
    assert content_type.startswith("text/plain")
    for name in METRIC_NAMES:
        assert f"# TYPE {name.removesuffix('_total')}" in text, name
    assert 'bot_commands_total{outcome="submitted"} 1.0' in text
    assert 'bot_commands_total{outcome="denied"} 0.0' in text
    assert "bot_ack_seconds_count 1.0" in text
    assert "bot_tasks_in_flight 3.0" in text
    assert 'bot_deliveries_total{result="delivered"} 1.0' in text
    assert (
        'bot_hss_request_seconds_count{operation="create_export_task",profile="default"} 1.0'
        in text
    )
    assert (
        'bot_hss_errors_total{code="HTTP 503",operation="create_export_task",profile="default"} 1.0'
        in text
    )
    assert (
        'bot_hss_errors_total{code="HSS.1001",operation="get_export_task",profile="default"} 1.0'
        in text
    )
    assert "process_" in text


def test_metrics_registries_are_independent() -> None:
    """Two apps (or tests) in one process get separate counters, without a clash."""
    first, second = create_metrics(), create_metrics()
    first.commands.labels("failed").inc()
    assert 'bot_commands_total{outcome="failed"} 0.0' in second.render()[0].decode()


def test_metrics_speak_openmetrics_when_asked() -> None:
    """A scraper asking for OpenMetrics gets it."""
    _, content_type = create_metrics().render("application/openmetrics-text; version=1.0.0")
    assert content_type.startswith("application/openmetrics-text")
