"""Count the database work of a command over its whole life: transactions, statements, hops.

Runs the bot in this process exactly as `serve` wires it (`tests/e2e_harness.running_bot`:
real HSS client, audit log, task tracker, Slack notifier) against `FakeHss` and
`FakeSlack`, sends `-n` signed `/hss-export` commands (`-c` at a time), waits until
every file is in its thread and the tracker has settled every task, and prints,
per command:

- transactions: SQLite `BEGIN` (SQLAlchemy's or a raw path's) plus every write sent
  outside a transaction (a raw path's single statement in autocommit mode, its own
  transaction); PostgreSQL: SQLAlchemy's `begin` events;
- statements: by table and kind (SELECT, INSERT, UPDATE, ...), and by the bot
  function that sent them (the first frame outside the adapters and libraries);
- SQLite only, hops: calls handed to aiosqlite's thread (`Connection._execute`:
  cursor, execute, fetch, close, commit, rollback each one), the cost the profile
  showed on the event loop;
- new connections: a pool that closes connections (its overflow) opens new ones;
- SQLAlchemy's own view (`before_cursor_execute` on every engine): the statements
  that went through it, the rest took a raw aiosqlite path.

Then, unless `--skip-cpu`, the CPU of each transaction kind alone: `--ops` calls in a
row on a fresh database (`time.process_time`, both threads), best of 3 rounds.
The whole-run CPU per command is printed too, but it is a noisy figure on a
shared machine; the counts are deterministic.

    PYTHONPATH=. .venv/bin/python bench/bench_sql.py                 # 40 commands, SQLite
    PYTHONPATH=. .venv/bin/python bench/bench_sql.py --db-url postgresql://postgres@127.0.0.1:5432/test

Prints figures; asserts nothing.
"""

from __future__ import annotations

import argparse
import asyncio
import re
import sys
import tempfile
import time
import uuid
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import wraps
from pathlib import Path
from types import FrameType
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
# The e2e harness and the emulators; the bot from PYTHONPATH (another tree to compare).
sys.path[:0] = [str(ROOT / "tests")]
sys.path.append(str(ROOT))

COMMAND_TEXT = "status=running cluster_type=cce risky=yes"
_TABLE = re.compile(r"\b(?:FROM|INTO|UPDATE|TABLE)\s+\"?(\w+)", re.IGNORECASE)
_WRITES = ("INSERT", "UPDATE", "DELETE", "REPLACE")
# Frames of these files are plumbing: the caller named is the first frame outside them.
_PLUMBING = ("/sqlalchemy/", "/aiosqlite/", "/asyncio/", "bench_sql.py", "/bot/adapters/sql.py")


@dataclass
class Counts:
    """What the database was asked, summed over the run."""

    transactions: Counter[str] = field(default_factory=Counter)  # by table
    statements: Counter[tuple[str, str]] = field(default_factory=Counter)  # (table, kind)
    callers: Counter[tuple[str, str]] = field(default_factory=Counter)  # (caller, kind)
    hops: int = 0
    sqlalchemy_statements: int = 0
    sqlalchemy_begins: int = 0
    connects: int = 0  # new database connections (a pool that closes and reopens them)
    closes: int = 0  # connections a pool closed (its overflow, checked in)
    recording: bool = False

    def clear(self) -> None:
        """Forget what was counted (the warm-up)."""
        self.transactions.clear()
        self.statements.clear()
        self.callers.clear()
        self.hops = self.sqlalchemy_statements = self.sqlalchemy_begins = 0
        self.connects = self.closes = 0


COUNTS = Counts()


def _kind(sql: str) -> str:
    return sql.lstrip().split(None, 1)[0].upper() if sql.strip() else "?"


def _table(sql: str) -> str:
    match = _TABLE.search(sql)
    return match[1] if match else "-"


def _caller(frame: FrameType | None) -> str:
    """Name the first bot function outside the adapters' plumbing that led here."""
    store = None
    while frame is not None:
        name = frame.f_code.co_filename
        if "/bot/" in name and not any(p in name for p in _PLUMBING):
            where = f"{Path(name).stem}.{frame.f_code.co_name}"
            if "/bot/adapters/" not in name:
                return f"{where} <- {store}" if store else where
            store = store or where
        frame = frame.f_back
    return store or "?"


def install_sqlite_counters() -> None:
    """Count every call handed to aiosqlite's thread, and the statements among them."""
    import aiosqlite.core

    hop = aiosqlite.core.Connection._execute

    @wraps(hop)
    async def counted(self: Any, fn: Any, *args: Any, **kwargs: Any) -> Any:
        if COUNTS.recording:
            COUNTS.hops += 1
            sql = args[0] if args and isinstance(args[0], str) else None
            if sql is not None:
                kind, table = _kind(sql), _table(sql)
                raw = self._connection  # the sqlite3 connection (aiosqlite's thread owns it)
                autocommit = kind in _WRITES and raw is not None and not raw.in_transaction
                if kind == "BEGIN" or autocommit:
                    COUNTS.transactions[table if kind != "BEGIN" else "BEGIN"] += 1
                if kind != "BEGIN":
                    COUNTS.statements[(table, kind)] += 1
                    COUNTS.callers[(_caller(sys._getframe(1)), f"{kind} {table}")] += 1
        return await hop(self, fn, *args, **kwargs)

    aiosqlite.core.Connection._execute = counted  # type: ignore[method-assign]


def _count_connections(event: Any, pool: Any) -> None:
    """Count the connections every pool opens and closes."""

    @event.listens_for(pool, "connect")
    def _connect(*_args: Any) -> None:
        if COUNTS.recording:
            COUNTS.connects += 1

    @event.listens_for(pool, "close")
    def _close(*_args: Any) -> None:
        if COUNTS.recording:
            COUNTS.closes += 1


def install_sqlalchemy_counters(postgres: bool) -> None:
    """Count what goes through SQLAlchemy, on every engine (class-level listeners)."""
    from sqlalchemy import event
    from sqlalchemy.engine import Engine
    from sqlalchemy.pool import Pool

    _count_connections(event, Pool)

    @event.listens_for(Engine, "before_cursor_execute")
    def _statement(_conn: Any, _cursor: Any, sql: str, *_args: Any) -> None:
        if not COUNTS.recording:
            return
        COUNTS.sqlalchemy_statements += 1
        if postgres:
            kind, table = _kind(sql), _table(sql)
            COUNTS.statements[(table, kind)] += 1
            COUNTS.callers[(_caller(sys._getframe(1)), f"{kind} {table}")] += 1

    @event.listens_for(Engine, "begin")
    def _begin(_conn: Any) -> None:
        if COUNTS.recording:
            COUNTS.sqlalchemy_begins += 1
            if postgres:
                COUNTS.transactions["BEGIN"] += 1


def _per(count: float, n: int) -> str:
    return f"{count / n:7.2f}"


def report(n: int, cpu: float, wall: float, postgres: bool) -> None:
    """Print the counts per command."""
    c = COUNTS
    print(f"\nper command ({n} commands, {'PostgreSQL' if postgres else 'SQLite'}):")
    total_tx = sum(c.transactions.values())
    print(f"  transactions            {_per(total_tx, n)}")
    for what, count in sorted(c.transactions.items(), key=lambda kv: -kv[1]):
        label = "BEGIN (explicit)" if what == "BEGIN" else f"autocommit write {what}"
        print(f"    {label:<36}{_per(count, n)}")
    print(f"  statements              {_per(sum(c.statements.values()), n)}")
    for (table, kind), count in sorted(c.statements.items(), key=lambda kv: (kv[0][0], -kv[1])):
        print(f"    {table:<20} {kind:<15}{_per(count, n)}")
    if not postgres:
        print(f"  aiosqlite thread hops   {_per(c.hops, n)}")
    print(f"  connections opened      {_per(c.connects, n)}, closed {_per(c.closes, n)}")
    print(f"  through SQLAlchemy: statements {_per(c.sqlalchemy_statements, n)}, "
          f"begins {_per(c.sqlalchemy_begins, n)}")  # fmt: skip
    print("  statements by caller:")
    for (caller, what), count in sorted(c.callers.items(), key=lambda kv: -kv[1]):
        print(f"    {_per(count, n)}  {what:<28} {caller}")
    print(f"  whole run: CPU {1000 * cpu / n:.2f} ms per command (noisy), wall {wall:.1f} s")


async def run_commands(args: argparse.Namespace) -> None:
    """Run the bot against the fakes; send the commands; wait for every file; count."""
    from e2e_harness import running_bot
    from slack_harness import EXPORTS

    from emulators.fake_hss import FakeHss
    from emulators.fake_slack import FakeSlack

    postgres = args.db_url is not None
    with tempfile.TemporaryDirectory(prefix="bench-sql-") as tmp:
        url = args.db_url and f"{args.db_url}?options=-csearch_path%3Dbench_{uuid.uuid4().hex[:8]}"
        async with (
            FakeHss(polls_until_done=args.polls) as hss,
            FakeSlack(keep_bytes=False) as slack,
            running_bot(
                Path(tmp),
                hss,
                slack=slack,
                audit_db_url=url,
                ALLOWED_USER_IDS="",
                TASK_POLL_INITIAL_SECONDS=0.05,
                TASK_POLL_MAX_SECONDS=0.2,
            ) as bot,
        ):

            async def send(users: list[str]) -> None:
                gate = asyncio.Semaphore(args.concurrency)

                async def one(user: str) -> None:
                    async with gate:
                        answer = await bot.send(
                            slack.slash_command(COMMAND_TEXT, user_id=user, channel_id=EXPORTS)
                        )
                        assert answer.status == 200, answer

                await asyncio.gather(*(one(u) for u in users))

            async def settled(count: int) -> None:
                deadline = time.monotonic() + 60 + count
                store = bot.runtime.tasks
                while time.monotonic() < deadline:
                    if len(slack.files) >= count:
                        COUNTS.recording = False  # the check itself is not counted
                        left = await store.list_tasks(unsettled_only=True)
                        COUNTS.recording = True
                        if not left:
                            return
                    await asyncio.sleep(0.05)
                print(f"  ! only {len(slack.files)} of {count} files delivered")

            # Warm-up, not counted: as many at once as the run has, so the pools have filled.
            warm = args.concurrency
            COUNTS.recording = True
            await send([f"UWARM{i:03d}" for i in range(warm)])
            await settled(warm)
            COUNTS.clear()
            cpu, wall = time.process_time(), time.monotonic()
            await send([f"U{i:07d}" for i in range(args.n)])
            await settled(warm + args.n)
            cpu, wall = time.process_time() - cpu, time.monotonic() - wall
            COUNTS.recording = False
    report(args.n, cpu, wall, postgres)


# --- CPU per transaction kind ---------------------------------------------------------------


async def _best(ops: int, fn: Callable[[int], Any], rounds: int = 3) -> float:
    """Return the least CPU (µs) one call of `fn(i)` took, over `rounds` rounds of `ops` calls."""
    best = float("inf")
    for r in range(rounds):
        start = time.process_time()
        for i in range(ops):
            await fn(r * ops + i)
        best = min(best, (time.process_time() - start) / ops)
    return best * 1e6


async def cpu_per_kind(args: argparse.Namespace) -> None:
    """Time each hot transaction alone: task add, save, claim, audit append."""
    from dataclasses import replace

    from bot.adapters.audit_store import open_audit_log
    from bot.adapters.task_store import open_task_store
    from bot.domain.types import Actor
    from bot.tracking.model import TrackedTask

    ops = args.ops
    with tempfile.TemporaryDirectory(prefix="bench-sql-cpu-") as tmp:
        url = args.db_url
        if url is not None:
            url = f"{url}?options=-csearch_path%3Dbench_{uuid.uuid4().hex[:8]}"
        else:
            url = f"sqlite:///{tmp}/audit.db"
        store = await open_task_store(url)
        audit = await open_audit_log(url)
        try:
            now = time.time()
            tasks: dict[int, TrackedTask] = {}

            def task(i: int) -> TrackedTask:
                return TrackedTask(
                    task_id=f"task-{i:06d}", entry_id=1, channel_id="C1", thread_ts="1.1",
                    user_id="U1", enterprise_project_id=None, request={"query": {}, "body": {}},
                    hss_request_id="r", state="tracking", created_at=now,
                    next_poll_at=now, poll_interval=1.0, deadline=now + 3600, updated_at=now,
                )  # fmt: skip

            async def add(i: int) -> None:
                tasks[i] = task(i)
                await store.add(tasks[i])

            async def claim(i: int) -> None:
                # A lease of 0 s runs out at once: every claim takes the first due task.
                await store.claim_due("me", now, 0.0, 1)

            async def save(i: int) -> None:
                await store.save(replace(tasks[i], polls=1, lease_owner="me"), "me")

            actor = Actor("T1", "U1", "C1", "slash")
            request = {"query": {"export_size": "100"}, "body": {"status": "running"}}

            async def append(i: int) -> None:
                await audit.record_pending(actor, request, dedupe_key=f"k{i}")

            print(f"\nCPU per transaction alone ({ops} in a row, best of 3, µs):")
            print(f"  task add (INSERT)        {await _best(ops, add):8.0f}")
            print(f"  claim_due (1 task)       {await _best(ops, claim):8.0f}")
            print(f"  task save (UPDATE owned) {await _best(ops, save):8.0f}")
            print(f"  audit append             {await _best(ops, append):8.0f}")
        finally:
            await store.aclose()
            await audit.aclose()


def main() -> None:
    """Parse the options, count a run, then time each transaction kind."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("-n", type=int, default=40, help="commands (40)")
    parser.add_argument("-c", "--concurrency", type=int, default=10, help="in flight (10)")
    parser.add_argument("--polls", type=int, default=1, help="HSS polls until done (1)")
    parser.add_argument("--db-url", help="PostgreSQL URL (default: a fresh SQLite file)")
    parser.add_argument("--ops", type=int, default=300, help="calls per CPU round (300)")
    parser.add_argument("--skip-cpu", action="store_true", help="no CPU per transaction kind")
    args = parser.parse_args()
    install_sqlite_counters()
    install_sqlalchemy_counters(postgres=args.db_url is not None)
    import bot

    print(f"bot imported from {Path(bot.__file__).parent}")
    asyncio.run(run_commands(args))
    if not args.skip_cpu:
        asyncio.run(cpu_per_kind(args))


if __name__ == "__main__":
    main()
