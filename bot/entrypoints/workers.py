"""`serve` on every core: WEB_CONCURRENCY worker processes sharing one port (SO_REUSEPORT).

One Python event loop uses one core; under a burst, acks queue behind the
post-ack work (audit writes, the HSS call, the Slack post, the tracker). The
parent reserves the port (bound with SO_REUSEPORT, not listening, so `--port 0`
resolves once), forks N workers that each listen on it with SO_REUSEPORT, with
their own event loop and their own `Runtime` (stores, clients, tracker,
/metrics registry), and then only supervises:

- The kernel spreads new connections evenly over the workers' sockets (a hash
  of the connection). One socket shared by all, accepted by whichever loop woke
  first, gave one worker twice the connections of the other (133 to 67 in the
  benchmark). SQLite (WAL) or PostgreSQL is shared; the tracker's lease already
  lets several processes follow the same task table.
- What must run once runs in worker 0 only: the daily audit pruning.
- SIGTERM or SIGINT to the parent is forwarded once to every worker, which
  drains as a single process does (within SHUTDOWN_GRACE_SECONDS); a second
  signal is forwarded too (cancel now); a worker still starting, whose handlers
  are not in place yet, simply ends (it has nothing in flight). A worker still alive after the grace
  and the tracker's margins is killed. The parent exits 0 when every worker did.
- A worker that dies on its own (a crash, a failed start) is **not restarted**:
  the parent drains the others and exits 1, so the orchestrator (Docker's
  restart policy, Kubernetes) restarts the whole container and the failure is
  visible, instead of a replica running at partial capacity in a crash loop.
- Workers get SIGKILL if the parent dies (Linux `PR_SET_PDEATHSIG`), so a
  killed parent never leaves workers holding the port. They run in their own
  process group, so a terminal's Ctrl-C reaches them once, through the parent.

Forking happens before any event loop, thread or connection exists (settings
and logging are configured; modules are imported, so their pages are shared).
"""

from __future__ import annotations

import contextlib
import ctypes
import logging
import math
import os
import signal
import socket
import sys
import time
from collections.abc import Callable
from pathlib import Path
from types import FrameType
from typing import Final

log = logging.getLogger(__name__)

CGROUP_CPU_MAX: Final = Path("/sys/fs/cgroup/cpu.max")
# Beyond SHUTDOWN_GRACE_SECONDS: the tracker's stop margin, its lease release, cancellations.
KILL_MARGIN_SECONDS: Final = 8.0
POLL_SECONDS: Final = 0.2
BACKLOG: Final = 1024
_PR_SET_PDEATHSIG: Final = 1

Worker = Callable[[socket.socket, int], int]


def available_cpus(cpu_max: Path = CGROUP_CPU_MAX) -> int:
    """Return the CPUs this process may use: its affinity, capped by a cgroup v2 quota."""
    try:
        cpus = len(os.sched_getaffinity(0))
    except AttributeError:  # not Linux
        cpus = os.cpu_count() or 1
    with contextlib.suppress(OSError, ValueError):
        quota, period = cpu_max.read_text().split()[:2]
        if quota != "max":
            cpus = min(cpus, math.ceil(int(quota) / int(period)))
    return max(1, cpus)


def bind(host: str, port: int, *, listen: bool) -> socket.socket:
    """Bind `host:port` with SO_REUSEPORT; listen too in a worker (not in the parent)."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
    sock.bind((host, port))
    if listen:
        sock.listen(BACKLOG)
        sock.setblocking(False)
    return sock


def serve_workers(count: int, host: str, port: int, grace: float, worker: Worker) -> int:
    """Fork `count` workers running `worker(sock, index)`; supervise them; return the exit code."""
    reserved = bind(host, port, listen=False)  # held until the end: the port stays ours
    bound = int(reserved.getsockname()[1])
    parent = os.getpid()
    children: dict[int, int] = {}  # pid -> worker index
    try:
        for index in range(count):
            pid = os.fork()
            if pid == 0:  # the worker: never returns
                reserved.close()
                _run_worker(worker, host, bound, index, parent)
            children[pid] = index
        log.info(
            "worker processes started",
            extra={"workers": count, "host": host, "port": bound, "pids": sorted(children)},
        )
        return _supervise(children, grace)
    finally:
        reserved.close()


def _run_worker(worker: Worker, host: str, port: int, index: int, parent: int) -> None:
    code = 1
    try:
        os.setpgid(0, 0)
        if sys.platform.startswith("linux"):
            ctypes.CDLL(None, use_errno=True).prctl(_PR_SET_PDEATHSIG, signal.SIGKILL)
        if os.getppid() != parent:  # the parent died before prctl took effect
            os._exit(1)
        for sig in (signal.SIGTERM, signal.SIGINT):
            signal.signal(sig, signal.SIG_DFL)  # the worker's Lifecycle installs its own
        code = worker(bind(host, port, listen=True), index)
    except BaseException:
        log.exception("worker process failed", extra={"worker": index})
    finally:
        with contextlib.suppress(Exception):
            logging.shutdown()
            sys.stdout.flush()
            sys.stderr.flush()
        os._exit(code)


def _supervise(children: dict[int, int], grace: float) -> int:
    stopping: list[float] = []  # when the first stop signal came (empty: still serving)
    failed = False

    def forward(signum: int, _frame: FrameType | None) -> None:
        if not stopping:
            stopping.append(time.monotonic())
            log.info("stop requested: draining the workers", extra={"workers": len(children)})
        _signal_all(children, signal.SIGTERM)

    previous = {sig: signal.signal(sig, forward) for sig in (signal.SIGTERM, signal.SIGINT)}
    try:
        while children:
            pid, status = os.waitpid(-1, os.WNOHANG)
            if pid == 0:
                if stopping and time.monotonic() - stopping[0] > grace + KILL_MARGIN_SECONDS:
                    log.error(
                        "workers did not stop in time: killed", extra={"pids": list(children)}
                    )
                    _signal_all(children, signal.SIGKILL)
                    failed = True
                    stopping[0] = math.inf  # once
                time.sleep(POLL_SECONDS)
                continue
            index = children.pop(pid, None)
            if index is None:
                continue
            code = os.waitstatus_to_exitcode(status)
            # Killed by the forwarded SIGTERM before its handlers were in place: it was
            # still starting, with nothing in flight, so that is a clean stop too.
            if code != 0 and not (stopping and code == -signal.SIGTERM):
                failed = True
            if not stopping:
                log.error(
                    "a worker process exited: stopping the others (not restarted)",
                    extra={"worker": index, "pid": pid, "exit_code": code},
                )
                failed = True
                stopping.append(time.monotonic())
                _signal_all(children, signal.SIGTERM)
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
    log.info("worker processes stopped", extra={"clean": not failed})
    return 1 if failed else 0


def _signal_all(children: dict[int, int], sig: signal.Signals) -> None:
    for pid in list(children):
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, sig)
