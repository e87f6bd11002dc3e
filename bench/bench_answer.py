"""Measure the CPU of one answer to a slash command, in-process, split by stage.

Issue 17's closed-loop target (ack p99 <= 50 ms at 100 commands in flight) is bound by
the CPU one answer costs (Little's law: mean ack = in flight / throughput). This script
builds the runtime exactly as `serve` does (`build_runtime`, the aiohttp application
with the ops routes) against `FakeHss` and `FakeSlack`, which run on a loop of their own
in another thread, so the main thread's CPU clock (`time.thread_time_ns`) counts only
the bot. It then feeds `-n` signed `/hss-export status=running cluster_type=cce
risky=yes` requests, one at a time and each from its own user, as raw HTTP bytes into
aiohttp's own protocol (a transport that records what is written: no socket), and
times, per answer:

- total: from the bytes handed to aiohttp until the whole answer is written;
- the stages, by wrapping the functions on the path (the wrappers cost ~1 us each):
  aiohttp (parse, routing, request object, response encoding: total minus the
  handler's parts), `to_bolt_request`, `observe_dispatch` (request id, timing),
  Bolt's `_init_context`, each global middleware, the listener matching (every
  listener's `async_matches` tried), the listener runner (kwargs, our listener up to
  its ack, the response), `to_aiohttp_response`.

The post-ack work (audit, HSS, message) runs between two requests, outside the timed
part. `--profile` runs cProfile over the answers only and prints its top items.

    PYTHONPATH=. .venv/bin/python bench/bench_answer.py -n 2000
    PYTHONPATH=. .venv/bin/python bench/bench_answer.py -n 1000 --profile 25

Prints figures, asserts nothing; the medians are over `--rounds` rounds of `-n`.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import cProfile
import functools
import io
import pstats
import statistics
import sys
import tempfile
import threading
import time
from collections import defaultdict
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))  # run as a script from anywhere: import the emulators

from aiohttp import web  # noqa: E402
from bench_ack import CHANNEL, bot_settings  # noqa: E402  (bench/ is the script's folder)
from slack_bolt.async_app import AsyncApp  # noqa: E402

import bot.entrypoints.web as web_module  # noqa: E402
from bot.bootstrap import Runtime, build_runtime  # noqa: E402
from bot.health import add_ops_routes  # noqa: E402
from bot.observability import configure_from_settings  # noqa: E402
from bot.settings import Settings  # noqa: E402
from emulators.fake_hss import FakeHss  # noqa: E402
from emulators.fake_slack import FakeSlack  # noqa: E402

COMMAND_TEXT = "status=running cluster_type=cce risky=yes"
WARMUP = 50

CPU: dict[str, int] = defaultdict(int)  # stage -> ns of this thread's CPU


def _now() -> int:
    return time.thread_time_ns()


def timed_coroutine(stage: str, func: Callable[..., Awaitable[Any]]) -> Callable[..., Any]:
    """Wrap an async function so the CPU of its awaits adds up under `stage`."""

    @functools.wraps(func)
    async def wrapper(*args: Any, **kwargs: Any) -> Any:
        start = _now()
        try:
            return await func(*args, **kwargs)
        finally:
            CPU[stage] += _now() - start

    return wrapper


def timed_function(stage: str, func: Callable[..., Any]) -> Callable[..., Any]:
    """Wrap a plain function the same way."""

    @functools.wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        start = _now()
        try:
            return func(*args, **kwargs)
        finally:
            CPU[stage] += _now() - start

    return wrapper


class Fakes:
    """FakeHss and FakeSlack on an event loop of their own, in a daemon thread."""

    def __init__(self) -> None:
        self.loop = asyncio.new_event_loop()
        self._ready = threading.Event()
        self._stop: asyncio.Event | None = None
        self.hss: FakeHss | None = None
        self.slack: FakeSlack | None = None
        self._thread = threading.Thread(target=self.loop.run_until_complete, args=(self._run(),))

    async def _run(self) -> None:
        self._stop = asyncio.Event()
        async with (
            FakeHss(ak="bench-ak", sk="bench-sk", project_id="bench-project") as hss,
            FakeSlack(keep_bytes=False) as slack,
        ):
            self.hss, self.slack = hss, slack
            self._ready.set()
            await self._stop.wait()

    def __enter__(self) -> Fakes:
        self._thread.start()
        self._ready.wait(30)
        return self

    def __exit__(self, *_exc: object) -> None:
        assert self._stop is not None
        self.loop.call_soon_threadsafe(self._stop.set)
        self._thread.join(30)

    def signed(self, user: str) -> tuple[bytes, dict[str, str]]:
        """Return a signed slash command (body, headers) built by FakeSlack on its loop."""
        assert self.slack is not None
        slack = self.slack

        async def build() -> tuple[bytes, dict[str, str]]:
            request = slack.slash_command(COMMAND_TEXT, user_id=user, channel_id=CHANNEL)
            return request.body, request.headers

        return asyncio.run_coroutine_threadsafe(build(), self.loop).result(30)


def settings_for(fakes: Fakes, workdir: Path) -> Settings:
    """The settings bench_ack.py gives the bot (its environment), as a Settings object."""
    hss, slack = fakes.hss, fakes.slack
    assert hss is not None
    assert slack is not None
    return Settings(_env_file=None, **bot_settings(hss, slack, workdir))  # type: ignore[call-arg]


class Transport(asyncio.Transport):
    """A transport that keeps what aiohttp writes and says when a whole answer is out."""

    def __init__(self) -> None:
        super().__init__()
        self.chunks: list[bytes] = []
        self.answered: asyncio.Future[int] | None = None
        self.profile: cProfile.Profile | None = None  # stopped when the answer is out

    def write(self, data: bytes | bytearray | memoryview) -> None:  # type: ignore[override]
        self.chunks.append(bytes(data))
        self._maybe_done()

    def writelines(self, list_of_data: Any) -> None:
        for data in list_of_data:
            self.chunks.append(bytes(data))
        self._maybe_done()

    def _maybe_done(self) -> None:
        joined = b"".join(self.chunks)
        head, sep, body = joined.partition(b"\r\n\r\n")
        if not sep:
            return
        length = 0
        for line in head.split(b"\r\n")[1:]:
            name, _, value = line.partition(b":")
            if name.strip().lower() == b"content-length":
                length = int(value)
        if len(body) >= length and self.answered is not None and not self.answered.done():
            if self.profile is not None:
                self.profile.disable()
            self.answered.set_result(_now())

    def get_extra_info(self, name: str, default: Any = None) -> Any:
        return {"peername": ("127.0.0.1", 40000), "sockname": ("127.0.0.1", 3000)}.get(
            name, default
        )

    def is_closing(self) -> bool:
        return False

    def close(self) -> None:
        pass

    def pause_reading(self) -> None:
        pass

    def resume_reading(self) -> None:
        pass

    def set_write_buffer_limits(self, high: int | None = None, low: int | None = None) -> None:
        pass

    def get_write_buffer_size(self) -> int:
        return 0


def raw_request(body: bytes, headers: dict[str, str]) -> bytes:
    """Return the HTTP/1.1 request bytes Slack would send (keep-alive)."""
    lines = [
        "POST /slack/events HTTP/1.1",
        "Host: 127.0.0.1:3000",
        "User-Agent: Slackbot 1.0 (+https://api.slack.com/robots)",
        "Accept-Encoding: gzip,deflate",
        "Accept: application/json,*/*",
        "Content-Type: application/x-www-form-urlencoded",
        f"Content-Length: {len(body)}",
        *(f"{k}: {v}" for k, v in headers.items()),
    ]
    return ("\r\n".join(lines) + "\r\n\r\n").encode() + body


def instrument(app: AsyncApp) -> None:
    """Wrap the stages of Bolt's dispatch and of our handler (see the module's docstring)."""
    web_module.to_bolt_request = timed_coroutine("to_bolt_request", web_module.to_bolt_request)  # type: ignore[assignment]
    web_module.to_aiohttp_response = timed_coroutine(  # type: ignore[assignment]
        "to_aiohttp_response", web_module.to_aiohttp_response
    )
    app.async_dispatch = timed_coroutine("dispatch (observe_dispatch and Bolt)", app.async_dispatch)  # type: ignore[method-assign]
    app._init_context = timed_function("bolt _init_context", app._init_context)  # type: ignore[method-assign]
    for middleware in app._async_middleware_list:
        name = f"middleware {type(middleware).__name__}"
        middleware.async_process = timed_coroutine(name, middleware.async_process)  # type: ignore[method-assign]
    for listener in app._async_listeners:
        listener.async_matches = timed_coroutine("listener matching", listener.async_matches)  # type: ignore[method-assign]
    runner = app._async_listener_runner
    runner.run = timed_coroutine("listener runner (our listener to its ack)", runner.run)  # type: ignore[method-assign]


def patch_bolt_dispatch() -> None:
    """Time Bolt's own `async_dispatch` (inside `observe_dispatch`): before build_runtime."""
    AsyncApp.async_dispatch = timed_coroutine("bolt async_dispatch", AsyncApp.async_dispatch)  # type: ignore[method-assign]


async def settle(runtime: Runtime) -> None:
    """Let every post-ack task end (the audit entry, the HSS create, the channel message)."""
    for _ in range(2000):
        if not runtime.lifecycle.in_flight:
            return
        await asyncio.sleep(0.002)


async def answer_all(
    runtime: Runtime, handler: web.Server, requests: list[bytes], profile: cProfile.Profile | None
) -> list[int]:
    """Feed each request, wait for its answer, let its post-ack work end; return CPU ns each."""
    costs = []
    loop = asyncio.get_running_loop()
    for raw in requests:
        transport = Transport()
        transport.answered = loop.create_future()
        transport.profile = profile
        protocol = handler()
        protocol.connection_made(transport)
        if profile is not None:
            profile.enable()
        start = _now()
        protocol.data_received(raw)
        end = await transport.answered
        costs.append(end - start)
        status = transport.chunks[0].split(b"\r\n", 1)[0]
        if b" 200 " not in status + b" ":
            raise RuntimeError(f"answer not 200: {b''.join(transport.chunks)[:300]!r}")
        protocol.connection_lost(None)
        await settle(runtime)
    return costs


async def main_async(args: argparse.Namespace) -> None:
    patch_bolt_dispatch()
    with Fakes() as fakes, tempfile.TemporaryDirectory(prefix="bench-answer-") as tmp:
        settings = settings_for(fakes, Path(tmp))
        configure_from_settings(settings, stream=io.StringIO())
        runtime = await build_runtime(settings)
        try:
            application = web_module.build_web_application(
                runtime.app,
                configure=lambda a: add_ops_routes(
                    a, runtime.readiness_checks(), runtime.metrics, runtime.lifecycle
                ),
            )
            app_runner = web.AppRunner(application, handle_signals=False, access_log=None)
            await app_runner.setup()
            server = app_runner.server
            assert server is not None
            instrument(runtime.app)
            users = iter(range(10**7))

            def batch(n: int) -> list[bytes]:
                return [raw_request(*fakes.signed(f"U{next(users):08d}")) for _ in range(n)]

            await answer_all(runtime, server, batch(WARMUP), None)
            per_round: list[dict[str, float]] = []
            totals: list[float] = []
            for _ in range(args.rounds):
                requests = batch(args.n)
                CPU.clear()
                costs = await answer_all(runtime, server, requests, None)
                totals.append(statistics.median(costs) / 1000)
                per_round.append({k: v / args.n / 1000 for k, v in CPU.items()})
                per_round[-1]["total (mean)"] = sum(costs) / len(costs) / 1000
            report(per_round, totals)
            if args.profile is not None:
                profile = cProfile.Profile(time.thread_time_ns, 1e-9)  # CPU, not GIL waits
                await answer_all(runtime, server, batch(args.n), profile)
                print_profile(profile, args.profile, args.n)
            await app_runner.cleanup()
        finally:
            await runtime.aclose()


def report(per_round: list[dict[str, float]], totals: list[float]) -> None:
    """Print the medians over the rounds of each stage's CPU per answer."""
    med = {k: statistics.median(r.get(k, 0.0) for r in per_round) for k in per_round[0]}
    total = med.pop("total (mean)")
    dispatch = med.get("dispatch (observe_dispatch and Bolt)", 0.0)
    bolt = med.get("bolt async_dispatch", 0.0)
    inner = sum(v for k, v in med.items() if k.startswith(("bolt _", "middleware", "listener")))
    rows = [
        ("answer, total (mean)", total),
        ("answer, total (median)", statistics.median(totals)),
        (
            "  aiohttp: parse, route, request, encode",
            total
            - dispatch
            - med.get("to_bolt_request", 0.0)
            - med.get("to_aiohttp_response", 0.0),
        ),
        ("  to_bolt_request", med.get("to_bolt_request", 0.0)),
        ("  observe_dispatch (request id, timing)", dispatch - bolt),
        ("  bolt async_dispatch", bolt),
        *((f"    {k}", v) for k, v in med.items() if k.startswith(("bolt _", "middleware"))),
        ("    listener matching", med.get("listener matching", 0.0)),
        (
            "    listener runner (our listener to its ack)",
            med.get("listener runner (our listener to its ack)", 0.0),
        ),
        ("    rest of bolt async_dispatch", bolt - inner),
        ("  to_aiohttp_response", med.get("to_aiohttp_response", 0.0)),
    ]
    print(f"CPU per answer, us (medians of {len(per_round)} rounds):")
    for name, value in rows:
        print(f"{name:<50} {value:9.1f}")


def print_profile(profile: cProfile.Profile, top: int, n: int) -> None:
    """Print the top items by own time and by cumulative time (per answer, us)."""
    out = io.StringIO()
    stats = pstats.Stats(profile, stream=out)
    # Deterministic, unlike the CPU figures on a shared machine: compare these between trees.
    counts = stats.stats  # type: ignore[attr-defined]
    loop_steps = sum(v[1] for k, v in counts.items() if k[2] == "_run_once")
    callbacks = sum(v[1] for k, v in counts.items() if k[2] == "_run" and "events.py" in k[0])
    print(f"Python function calls per answer (cProfile)        {stats.total_calls / n:9.1f}")  # type: ignore[attr-defined]
    print(f"event-loop iterations per answer                   {loop_steps / n:9.1f}")
    print(f"event-loop callbacks run per answer                {callbacks / n:9.1f}")
    if top <= 0:
        return
    for key in ("tottime", "cumulative"):
        out.write(f"\n--- cProfile over {n} answers, by {key} ---\n")
        stats.sort_stats(key).print_stats(top)
    print(out.getvalue())


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("-n", type=int, default=1000, help="answers per round (1000)")
    parser.add_argument("--rounds", type=int, default=3, help="rounds (3): medians printed")
    parser.add_argument(
        "--profile", type=int, default=None, metavar="TOP",
        help="run cProfile (CPU clock) over -n more answers: calls per answer and the TOP items",
    )  # fmt: skip
    args = parser.parse_args()
    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(main_async(args))
    return 0


if __name__ == "__main__":
    sys.exit(main())
