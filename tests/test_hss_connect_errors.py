"""HSS connection failures name the host and the cause; every call logs one line of ours."""

from __future__ import annotations

import logging
import socket

import pytest

from bot.adapters.hss import HssClient
from bot.adapters.signer import AkSkAuth
from bot.domain.errors import HssUnavailable
from bot.domain.model import ExportBody, ExportQuery, ExportRequest
from emulators.fake_hss import FakeHss

REQUEST = ExportRequest(
    query=ExportQuery(),
    body=ExportBody(risky=True, export_headers=[("container_name", "容器名称")]),
)
AK, SK = "AKCONNECTMARKER", "SKCONNECTMARKER0123456789"


async def _no_sleep(_seconds: float) -> None:
    return None


def _client(base_url: str, project_id: str = "p1") -> HssClient:
    return HssClient(
        base_url,
        project_id,
        AkSkAuth(AK, SK, project_id),
        sleep=_no_sleep,
        max_attempts=1,
        connect_timeout=5.0,
    )


def _closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.mark.parametrize(
    ("url", "host", "cause"),
    [
        pytest.param(None, "127.0.0.1:", "connection refused", id="refused"),
        pytest.param(
            "http://no-such-host.invalid", "no-such-host.invalid", "DNS lookup failed", id="dns"
        ),
    ],
)
async def test_connect_errors_name_host_and_cause(url: str | None, host: str, cause: str) -> None:
    """Refused and DNS failures say which host and why, and never a credential."""
    client = _client(url or f"http://127.0.0.1:{_closed_port()}")
    try:
        with pytest.raises(HssUnavailable) as caught:
            await client.create_export_task(REQUEST)
    finally:
        await client.aclose()
    text = str(caught.value)
    assert f"could not connect to HSS at {host}" in text
    assert cause in text
    assert AK not in text
    assert SK not in text


async def test_tls_to_a_plain_http_server_is_named_as_tls(fake_hss: FakeHss) -> None:
    """https:// to a server speaking plain HTTP fails as a TLS handshake, naming the host."""
    client = _client(fake_hss.url.replace("http://", "https://"), fake_hss.project_id)
    try:
        with pytest.raises(HssUnavailable) as caught:
            await client.get_export_task("task-1")
    finally:
        await client.aclose()
    assert "could not connect to HSS at 127.0.0.1" in str(caught.value)
    assert "TLS" in str(caught.value)


async def test_each_call_logs_one_line_with_operation_status_request_id_latency(
    fake_hss: FakeHss, caplog: pytest.LogCaptureFixture
) -> None:
    """One `hss call` line per call (not httpx's), with operation, status, request id, latency."""
    client = HssClient(
        fake_hss.url,
        fake_hss.project_id,
        AkSkAuth(fake_hss.ak, fake_hss.sk, fake_hss.project_id),
        sleep=_no_sleep,
    )
    caplog.set_level(logging.INFO)
    try:
        created = await client.create_export_task(REQUEST)
    finally:
        await client.aclose()
    [line] = [r for r in caplog.records if r.name == "bot.adapters.hss"]
    assert line.getMessage() == f"hss call: POST /v5/{fake_hss.project_id}/container/export-task"
    assert line.__dict__["operation"] == "create_export_task"
    assert line.__dict__["status"] == 200
    assert line.__dict__["hss_request_id"] == created.request_id
    assert isinstance(line.__dict__["latency_ms"], int)
