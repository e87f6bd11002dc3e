"""Measure the audit append: appends per second and database round trips per append.

Runs the same workload against two checkouts of the bot, in one run, on SQLite and
PostgreSQL: "before" (by default commit ee43c07, checked out as a detached
`git worktree` in /tmp) and "after" (this tree). Each measurement is a fresh
subprocess whose `PYTHONPATH` is the checkout's root, so each imports its own
`bot.adapters.audit_store`; nothing else differs.

The workload is what a command costs the audit log: `record_pending` (with a
dedupe key), then `record_outcome`, one after the other, on a fresh database
after a warm-up. Counted per append:

- statements: SQL statements sent, BEGIN/COMMIT not counted. SQLite: the
  statements aiosqlite executes (the new append sends its own, past SQLAlchemy);
  PostgreSQL: SQLAlchemy's `before_cursor_execute` events (asyncpg sends
  BEGIN/COMMIT itself);
- round trips: what waits on the database. SQLite: each call aiosqlite hands to
  its thread (`Connection._execute`: cursor, execute, fetch, close, commit are
  each one). PostgreSQL: each asyncpg call that goes to the server (simple
  queries such as BEGIN/COMMIT, prepared executions, prepares, pings).

Prints one table per run and the medians; neither asserts anything.

    .venv/bin/python bench/bench_audit.py --runs 3 --appends 400
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Callable
from functools import wraps
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
BEFORE_COMMIT = "ee43c07"
PG_URL = os.environ.get("TEST_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/test")
COUNTS = {"round_trips": 0, "statements": 0, "sqlite_statements": 0}


def _counting(fn: Callable[..., Any]) -> Callable[..., Any]:
    @wraps(fn)
    async def counted(*args: Any, **kwargs: Any) -> Any:
        COUNTS["round_trips"] += 1
        return await fn(*args, **kwargs)

    return counted


def _install_driver_counters() -> None:
    """Count the calls that wait on the database, at the drivers' own seams."""
    import aiosqlite.core
    import asyncpg.connection
    import asyncpg.prepared_stmt

    hop = aiosqlite.core.Connection._execute

    @wraps(hop)
    async def sqlite_hop(self: Any, fn: Any, *args: Any, **kwargs: Any) -> Any:
        COUNTS["round_trips"] += 1
        sql = args[0] if args and isinstance(args[0], str) else ""
        if getattr(fn, "__name__", "") in ("execute", "_execute_fetchall") and not sql.startswith(
            "BEGIN"
        ):
            COUNTS["sqlite_statements"] += 1
        return await hop(self, fn, *args, **kwargs)

    aiosqlite.core.Connection._execute = sqlite_hop  # type: ignore[method-assign]
    conn = asyncpg.connection.Connection
    conn._execute = _counting(conn._execute)  # type: ignore[method-assign]
    conn.prepare = _counting(conn.prepare)  # type: ignore[method-assign]
    simple = conn.execute

    @wraps(simple)
    async def execute(self: Any, query: str, *args: Any, **kwargs: Any) -> Any:
        if not args:  # a simple query (BEGIN, COMMIT): one round trip; with args, `_execute`
            COUNTS["round_trips"] += 1
        return await simple(self, query, *args, **kwargs)

    conn.execute = execute  # type: ignore[method-assign]
    stmt = asyncpg.prepared_stmt.PreparedStatement
    name = "_PreparedStatement__do_execute"
    setattr(stmt, name, _counting(getattr(stmt, name)))


async def _worker(backend: str, appends: int, warmup: int) -> dict[str, Any]:
    from sqlalchemy import event

    from bot.adapters.audit_store import open_audit_log
    from bot.domain.types import Actor

    _install_driver_counters()
    schema = None
    with tempfile.TemporaryDirectory() as tmp:
        if backend == "sqlite":
            url = f"sqlite:///{tmp}/audit.db"
        else:
            schema = f"bench_{uuid.uuid4().hex[:10]}"
            url = f"{PG_URL}?options=-csearch_path%3D{schema}"
        log = await open_audit_log(url)
        try:

            @event.listens_for(log._engine.sync_engine, "before_cursor_execute")
            def _count(*_args: Any) -> None:
                COUNTS["statements"] += 1

            actor = Actor("T1", "U_BENCH", "C_BENCH", "slash")
            request = {"query": {"export_size": "100"}, "body": {"status": "running"}}

            async def command(i: int) -> None:
                entry = await log.record_pending(actor, request, dedupe_key=f"bench:{i}")
                await log.record_outcome(entry, "submitted", task_id=f"t-{i}", hss_request_id="r")

            for i in range(warmup):
                await command(i)
            COUNTS.update(round_trips=0, statements=0, sqlite_statements=0)
            started = time.perf_counter()
            for i in range(warmup, warmup + appends // 2):
                await command(i)
            elapsed = time.perf_counter() - started
            done = 2 * (appends // 2)
            verified = await log.verify()
        finally:
            await log.aclose()
            if schema is not None:
                await _drop_schema(schema)
    return {
        "appends_per_s": done / elapsed,
        "round_trips_per_append": COUNTS["round_trips"] / done,
        "statements_per_append": (
            COUNTS["sqlite_statements"] if backend == "sqlite" else COUNTS["statements"]
        )
        / done,
        "chain_ok": verified.ok,
    }


async def _drop_schema(schema: str) -> None:
    import asyncpg

    conn = await asyncpg.connect(PG_URL)
    try:
        await conn.execute(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')
    finally:
        await conn.close()


def _before_tree(path: Path, commit: str) -> Path:
    """Check out `commit` as a detached worktree at `path` (once), for the "before" figures."""
    if not (path / "bot" / "adapters" / "audit_store.py").exists():
        subprocess.run(
            ["git", "-C", str(ROOT), "worktree", "add", "--detach", str(path), commit],
            check=True,
            capture_output=True,
        )
    return path


def _measure(src: Path, backend: str, appends: int, warmup: int) -> dict[str, Any]:
    env = dict(os.environ, PYTHONPATH=str(src))
    args = [sys.executable, __file__, "--worker", backend, "--appends", str(appends)]
    args += ["--warmup", str(warmup)]
    done = subprocess.run(args, env=env, cwd=src, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise SystemExit(f"worker failed ({src}, {backend}):\n{done.stderr}")
    result: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--appends", type=int, default=400, help="appends measured per run")
    parser.add_argument("--warmup", type=int, default=20, help="commands before measuring")
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--backends", default="sqlite,postgresql")
    parser.add_argument("--before-commit", default=BEFORE_COMMIT)
    parser.add_argument(
        "--before-tree", type=Path, default=Path(tempfile.gettempdir()) / "hss-bench-audit-before"
    )
    parser.add_argument("--json", type=Path, metavar="FILE", help="write every figure here")
    parser.add_argument("--worker", metavar="BACKEND", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        print(json.dumps(asyncio.run(_worker(args.worker, args.appends, args.warmup))))
        return

    trees = {"before": _before_tree(args.before_tree, args.before_commit), "after": ROOT}
    backends = args.backends.split(",")
    runs: list[dict[str, dict[str, Any]]] = []
    for run in range(1, args.runs + 1):
        figures = {
            f"{name}/{backend}": _measure(tree, backend, args.appends, args.warmup)
            for backend in backends
            for name, tree in trees.items()
        }
        runs.append(figures)
        print(f"run {run}")
        _table(figures)
    medians = {
        key: {
            field: statistics.median(r[key][field] for r in runs)
            for field in ("appends_per_s", "round_trips_per_append", "statements_per_append")
        }
        | {"chain_ok": all(r[key]["chain_ok"] for r in runs)}
        for key in runs[0]
    }
    print(f"medians of {args.runs}")
    _table(medians)
    if args.json:
        args.json.write_text(json.dumps({"runs": runs, "medians": medians}, indent=2))


def _table(figures: dict[str, dict[str, Any]]) -> None:
    print(f"  {'code/backend':22} {'appends/s':>10} {'round trips':>12} {'statements':>11}  chain")
    for key, f in figures.items():
        print(
            f"  {key:22} {f['appends_per_s']:10.0f} {f['round_trips_per_append']:12.1f}"
            f" {f['statements_per_append']:11.1f}  {'ok' if f['chain_ok'] else 'BROKEN'}"
        )


if __name__ == "__main__":
    main()
