"""Time the AK/SK signer against the official SDK's, on the same create call, 10,000 times each.

Both sides sign the request the bot sends most: `POST
/v5/{project_id}/container/export-task?export_size=…` with a JSON body of
filters and 16 column headers; nothing is sent. Two measurements:

- sign only: `AkSkAuth.sign(httpx.Request)` against
  `huaweicloudsdkcore.signer.signer.Signer.sign(SdkRequest)`, on request
  objects built before the clock starts (a fresh one per signature);
- build + sign: the request object built too (an `httpx.Request` parses its
  URL; an `SdkRequest` is a plain holder), which is what each call costs.

Both signatures are checked equal on a fixed date first, so the two sides do
the same work. Prints microseconds per request (best and median of `--repeat`
rounds) and the ratio of medians.

    .venv/bin/python bench/bench_signer.py            # 10,000 requests x 5 rounds
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import TypeVar

import httpx
from huaweicloudsdkcore.auth.credentials import BasicCredentials
from huaweicloudsdkcore.sdk_request import SdkRequest
from huaweicloudsdkcore.signer.signer import Signer

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bot.adapters.signer import AkSkAuth  # noqa: E402
from bot.domain.model import (  # noqa: E402
    ClusterType,
    ContainerStatus,
    ExportBody,
    ExportQuery,
    ExportRequest,
    default_headers,
)

AK, SK, PROJECT = "AKBENCHMARK000000001", "bench-secret-key-0000000000000000", "0" * 32
HOST = "hss.cn-north-4.myhuaweicloud.com"
T = TypeVar("T")
REQUEST = ExportRequest(
    query=ExportQuery(export_size=5000),
    body=ExportBody(
        cluster_type=ClusterType.CCE,
        status=ContainerStatus.RUNNING,
        risky=True,
        export_headers=default_headers("en"),
    ),
)
PATH = f"/v5/{PROJECT}/container/export-task"
BODY = REQUEST.body_bytes()
QUERY = sorted((k, str(v)) for k, v in REQUEST.query_params().items())


def httpx_request() -> httpx.Request:
    """Build the request the bot's HSS client sends."""
    return httpx.Request(
        "POST",
        f"https://{HOST}{PATH}",
        params=QUERY,
        content=BODY,
        headers={"Content-Type": "application/json"},
    )


def sdk_request(when: Callable[[], datetime]) -> SdkRequest:
    """Build the SdkRequest the SDK's client builds before signing (with its date header)."""
    return SdkRequest(
        method="POST",
        schema="https",
        host=HOST,
        resource_path=PATH,
        query_params=list(QUERY),
        header_params={
            "Content-Type": "application/json",
            "X-Project-Id": PROJECT,
            "X-Sdk-Date": when().strftime("%Y%m%dT%H%M%SZ"),
        },
        body=BODY,
    )


def ours(auth: AkSkAuth, request: httpx.Request | None = None) -> str:
    """Sign with `AkSkAuth` (building the request first if none is given)."""
    request = request if request is not None else httpx_request()
    auth.sign(request)
    return request.headers["Authorization"]


def theirs(signer: Signer, when: Callable[[], datetime], request: SdkRequest | None = None) -> str:
    """Sign with the SDK's `Signer` (building the request first if none is given)."""
    request = request if request is not None else sdk_request(when)
    return str(signer.sign(request).header_params["Authorization"])


def check_same_signature() -> None:
    """Refuse to time two signers that disagree (they would not be doing the same work)."""
    fixed = datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)
    a = ours(AkSkAuth(AK, SK, PROJECT, clock=lambda: fixed))
    b = theirs(Signer(BasicCredentials(AK, SK, PROJECT)), lambda: fixed)
    if a != b:
        raise SystemExit(f"signatures differ:\n  ours   {a}\n  theirs {b}")


def per_request_us(
    sign: Callable[[T], str], prepare: Callable[[], T], n: int, repeat: int
) -> list[float]:
    """Return, for each round, the microseconds per `sign(item)`; items are prepared untimed."""
    sign(prepare())  # warm caches (imports, regexes) outside the timing
    rounds = []
    for _ in range(repeat):
        items = [prepare() for _ in range(n)]
        started = time.perf_counter()
        for item in items:
            sign(item)
        rounds.append(1e6 * (time.perf_counter() - started) / n)
    return rounds


def main() -> int:
    """Time both signers and print the figures."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("-n", type=int, default=10_000, help="requests per round (10000)")
    parser.add_argument("--repeat", type=int, default=5, help="rounds (5)")
    args = parser.parse_args()
    check_same_signature()
    auth = AkSkAuth(AK, SK, PROJECT)
    signer = Signer(BasicCredentials(AK, SK, PROJECT))

    def now() -> datetime:
        return datetime.now(UTC)

    n, repeat = args.n, args.repeat
    measurements = {
        "sign only": {
            "AkSkAuth (bot)": per_request_us(lambda r: ours(auth, r), httpx_request, n, repeat),
            "huaweicloudsdkcore Signer": per_request_us(
                lambda r: theirs(signer, now, r), lambda: sdk_request(now), n, repeat
            ),
        },
        "build + sign": {
            "AkSkAuth (bot)": per_request_us(lambda _: ours(auth), lambda: None, n, repeat),
            "huaweicloudsdkcore Signer": per_request_us(
                lambda _: theirs(signer, now), lambda: None, n, repeat
            ),
        },
    }
    print(f"{n} signed create calls x {repeat} rounds, microseconds per request")
    for title, results in measurements.items():
        print(f"{title}:")
        for name, rounds in results.items():
            median = statistics.median(rounds)
            print(
                f"  {name:28} best {min(rounds):7.1f}  median {median:7.1f}"
                f"  ({n * median / 1e6:.2f} s per {n})"
            )
        mine, sdk = (statistics.median(r) for r in results.values())
        print(f"  bot / SDK (medians): {mine / sdk:.2f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
