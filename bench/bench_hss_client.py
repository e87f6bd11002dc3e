"""CPU per HSS call of the bot's `HssClient` over each HTTP transport, against FakeHss.

The fake HSS (`emulators.fake_hss.FakeHss`, every signature checked) runs in a
child process on loopback, so the CPU counted (`time.process_time()` of this
process) is the client's alone: the bot's `HssClient` (signing, retry policy,
log line, error mapping) and the transport under it. Each round, per
candidate, with `--concurrency` calls in flight:

1. `--calls` creates (`POST …/container/export-task`, the bench's command);
2. two status polls per task (`GET …/export-task/{id}`: running, then success);
3. one streamed download per task (`GET …/download/{id}`, `--file-size` bytes
   in the fake's 64 KiB chunks), read to the end as the tracker does.

Candidates (all under the same `HssClient`; only the transport differs):

- `httpcore`: httpx's default transport (httpcore on anyio) with the limits the
  client used before (100 connections, 20 kept alive);
- `httpcore-keep100`: the same, keeping every connection alive (100);
- `aiohttp-stock`: `httpx_aiohttp.AiohttpTransport` as published;
- `default`: what `HssClient` builds when given no transport (this tree's choice).

Rounds are interleaved (each candidate once per round, in a rotating order)
and the medians of `--rounds` printed: microseconds of CPU per call for each
phase, wall seconds, and each candidate's ratio to `httpcore`.

    .venv/bin/python bench/bench_hss_client.py                 # 1,000 calls, 50 in flight, 3 rounds
    .venv/bin/python bench/bench_hss_client.py --calls 300 --rounds 5
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import statistics
import subprocess
import sys
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import httpx

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bot.adapters.hss import HssClient  # noqa: E402
from bot.adapters.signer import AkSkAuth  # noqa: E402
from bot.domain.model import (  # noqa: E402
    ClusterType,
    ContainerStatus,
    ExportBody,
    ExportQuery,
    ExportRequest,
    default_headers,
)

AK, SK, PROJECT = "bench-ak", "bench-sk", "bench-project"
REQUEST = ExportRequest(
    query=ExportQuery(export_size=5000),
    body=ExportBody(
        cluster_type=ClusterType.CCE,
        status=ContainerStatus.RUNNING,
        risky=True,
        export_headers=default_headers("en"),
    ),
)
LIMITS = httpx.Limits(max_connections=100, max_keepalive_connections=20)
PHASES = ("create", "status", "download")


def _transports() -> dict[str, Callable[[], httpx.AsyncBaseTransport | None]]:
    candidates: dict[str, Callable[[], httpx.AsyncBaseTransport | None]] = {
        "httpcore": lambda: httpx.AsyncHTTPTransport(limits=LIMITS),
        "httpcore-keep100": lambda: httpx.AsyncHTTPTransport(
            limits=httpx.Limits(max_connections=100, max_keepalive_connections=100)
        ),
    }
    try:
        from httpx_aiohttp import AiohttpTransport
    except ImportError:
        print("httpx_aiohttp is not installed: aiohttp-stock left out", flush=True)
    else:
        candidates["aiohttp-stock"] = lambda: AiohttpTransport(limits=LIMITS)
    candidates["default"] = lambda: None
    return candidates


# --- the fake, in its own process ---------------------------------------------------------


async def _serve_fake(file_size: int) -> None:
    from emulators.fake_hss import FakeHss

    async with FakeHss(ak=AK, sk=SK, project_id=PROJECT, file_size=file_size) as fake:
        print(fake.url, flush=True)
        loop = asyncio.get_running_loop()
        await loop.run_in_executor(None, sys.stdin.read)  # until the parent closes stdin


def start_fake(file_size: int) -> tuple[subprocess.Popen[str], str]:
    """Start FakeHss in a child process; return it and its URL."""
    process = subprocess.Popen(
        [sys.executable, __file__, "--serve-fake", "--file-size", str(file_size)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
        env={**os.environ, "PYTHONPATH": str(ROOT) + os.pathsep + os.environ.get("PYTHONPATH", "")},
    )
    assert process.stdout is not None
    url = process.stdout.readline().strip()
    if not url.startswith("http://"):
        process.kill()
        raise RuntimeError("the fake HSS did not start")
    return process, url


# --- one measured round -------------------------------------------------------------------


async def _bounded(calls: list[Callable[[], Awaitable[Any]]], concurrency: int) -> list[Any]:
    slots = asyncio.Semaphore(concurrency)

    async def one(call: Callable[[], Awaitable[Any]]) -> Any:
        async with slots:
            return await call()

    return await asyncio.gather(*(one(call) for call in calls))


async def _download(client: HssClient, file_id: str) -> int:
    size = 0
    async with client.download(file_id) as chunks:
        async for chunk in chunks:
            size += len(chunk)
    return size


async def measure(
    url: str, transport: httpx.AsyncBaseTransport | None, calls: int, concurrency: int
) -> dict[str, float]:
    """Run one round against the fake; return CPU µs per call per phase and the wall time."""
    client = HssClient(url, PROJECT, AkSkAuth(AK, SK, PROJECT), transport=transport)
    figures: dict[str, float] = {}
    try:
        # Warm-up, not counted: connections opened, code paths imported.
        warm = await _bounded([lambda: client.create_export_task(REQUEST)] * concurrency, 50)
        for task in warm:
            await client.get_export_task(task.task_id)

        started_wall = time.perf_counter()
        cpu = time.process_time()
        tasks = await _bounded([lambda: client.create_export_task(REQUEST)] * calls, concurrency)
        figures["create"] = (time.process_time() - cpu) / calls * 1e6

        cpu = time.process_time()
        for _ in range(2):  # running, then success
            states = await _bounded(
                [lambda t=t: client.get_export_task(t.task_id) for t in tasks], concurrency
            )
        figures["status"] = (time.process_time() - cpu) / (2 * calls) * 1e6
        file_ids = [state.file_id for state in states]
        assert all(file_ids), "every task should have succeeded after two polls"

        cpu = time.process_time()
        sizes = await _bounded(
            [lambda f=f: _download(client, f) for f in file_ids if f], concurrency
        )
        figures["download"] = (time.process_time() - cpu) / calls * 1e6
        figures["download_mb"] = sum(sizes) / 1e6
        figures["wall"] = time.perf_counter() - started_wall
        figures["per_call"] = (figures["create"] + 2 * figures["status"] + figures["download"]) / 4
    finally:
        await client.aclose()
    return figures


# --- report ------------------------------------------------------------------------------


def report(results: dict[str, list[dict[str, float]]]) -> None:
    """Print each candidate's medians and its ratio to httpcore."""
    medians = {
        name: {key: statistics.median(run[key] for run in runs) for key in runs[0]}
        for name, runs in results.items()
    }
    print("\nmedians (µs of client CPU per call; 'per command' = create + 2 status + download)")
    header = f"{'candidate':<18}" + "".join(f"{p:>10}" for p in PHASES)
    print(header + f"{'per cmd':>10}{'wall s':>9}{'x httpcore':>12}")
    base = medians.get("httpcore")
    for name, m in medians.items():
        per_command = m["create"] + 2 * m["status"] + m["download"]
        ratio = ""
        if base is not None:
            base_command = base["create"] + 2 * base["status"] + base["download"]
            ratio = f"{base_command / per_command:.2f}x"
        print(
            f"{name:<18}"
            + "".join(f"{m[p]:>10.0f}" for p in PHASES)
            + f"{per_command:>10.0f}{m['wall']:>9.2f}{ratio:>12}"
        )
    if base is not None:
        print("\nratio httpcore / candidate, per phase")
        for name, m in medians.items():
            print(f"{name:<18}" + "".join(f"{base[p] / m[p]:>9.2f}x" for p in PHASES))


async def main(args: argparse.Namespace) -> None:
    """Run the rounds, interleaved, and print the figures."""
    logging.basicConfig(level=logging.WARNING)
    candidates = _transports()
    names = [n for n in candidates if not args.only or n in args.only]
    print(
        f"{args.calls} calls per phase, {args.concurrency} in flight, {args.rounds} rounds, "
        f"file {args.file_size} bytes; load average {os.getloadavg()[0]:.2f}",
        flush=True,
    )
    process, url = start_fake(args.file_size)
    results: dict[str, list[dict[str, float]]] = {name: [] for name in names}
    try:
        for round_ in range(args.rounds):
            order = names[round_ % len(names) :] + names[: round_ % len(names)]
            for name in order:
                figures = await measure(url, candidates[name](), args.calls, args.concurrency)
                results[name].append(figures)
                print(
                    f"round {round_ + 1} {name:<18}"
                    + "".join(f" {p} {figures[p]:.0f}" for p in PHASES)
                    + f" µs/call, wall {figures['wall']:.2f} s",
                    flush=True,
                )
    finally:
        assert process.stdin is not None
        process.stdin.close()
        process.wait(timeout=10)
    report(results)
    print(f"load average after: {os.getloadavg()[0]:.2f}")


def _parse() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--calls", type=int, default=1000, help="calls per phase (1000)")
    parser.add_argument("--concurrency", type=int, default=50, help="calls in flight (50)")
    parser.add_argument("--rounds", type=int, default=3, help="interleaved rounds (3)")
    parser.add_argument("--file-size", type=int, default=200 * 1024, help="bytes per file")
    parser.add_argument("--only", nargs="*", help="candidates to run (default: all)")
    parser.add_argument("--serve-fake", action="store_true", help=argparse.SUPPRESS)
    return parser.parse_args()


if __name__ == "__main__":
    parsed = _parse()
    if parsed.serve_fake:
        asyncio.run(_serve_fake(parsed.file_size))
    else:
        asyncio.run(main(parsed))
