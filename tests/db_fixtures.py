"""Give the audit tests a real database: a SQLite file, and the local PostgreSQL when it runs.

`database()` backs a fixture parametrized over both backends; PostgreSQL tests use a schema of
their own (dropped afterwards), so parallel runs never share tables, and are
skipped, saying why, only when no server answers at TEST_POSTGRES_URL.
"""

from __future__ import annotations

import asyncio
import functools
import os
import re
import sqlite3
import subprocess
import sys
import uuid
from collections.abc import Coroutine, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import closing, contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import asyncpg
import pytest
from sqlalchemy.engine import make_url

PG_URL = os.environ.get("TEST_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/test")
T = TypeVar("T")

BACKENDS = [
    pytest.param("sqlite", id="sqlite"),
    pytest.param("postgresql", id="postgresql", marks=pytest.mark.postgres),
]


def run_sync(coro: Coroutine[Any, Any, T]) -> T:
    """Run a coroutine to completion from sync or async code (in a thread of its own)."""
    with ThreadPoolExecutor(1) as pool:
        return pool.submit(asyncio.run, coro).result()


@functools.cache
def postgres_unreachable() -> str | None:
    """Return why the test PostgreSQL cannot be used, or None when it answers."""

    async def probe() -> None:
        conn = await asyncpg.connect(PG_URL, timeout=5)
        await conn.close()

    try:
        run_sync(probe())
    except (OSError, asyncpg.PostgresError, TimeoutError) as exc:
        where = make_url(PG_URL).render_as_string(hide_password=True)
        return (
            f"no PostgreSQL reachable at {where} ({type(exc).__name__}); "
            "start one or set TEST_POSTGRES_URL"
        )
    return None


@dataclass
class Db:
    """One test's audit database, with plain-SQL access that bypasses the store."""

    url: str
    backend: str
    path: Path | None = None
    schema: str | None = None

    def sql(self, statement: str, *params: Any) -> list[tuple[Any, ...]]:
        """Run one statement (`?` placeholders) outside the store; return its rows."""
        if self.path is not None:
            with closing(sqlite3.connect(self.path)) as conn, conn:
                return list(conn.execute(statement, params).fetchall())
        counter = iter(range(1, len(params) + 1))
        pg_statement = re.sub(r"\?", lambda _m: f"${next(counter)}", statement)
        return run_sync(self._pg(pg_statement, params))

    async def _pg(self, statement: str, params: tuple[Any, ...]) -> list[tuple[Any, ...]]:
        settings = {"search_path": self.schema} if self.schema else None
        conn = await asyncpg.connect(PG_URL, server_settings=settings)
        try:
            return [tuple(row) for row in await conn.fetch(statement, *params)]
        finally:
            await conn.close()

    def drop(self) -> None:
        """Drop this test's PostgreSQL schema."""
        if self.schema:
            self.schema, schema = None, self.schema
            self.sql(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')


def postgres_db() -> Db:
    """Return a fresh PostgreSQL schema's Db, or skip saying why none is reachable."""
    reason = postgres_unreachable()
    if reason:
        pytest.skip(reason)
    schema = f"audit_test_{uuid.uuid4().hex[:12]}"
    glue = "&" if "?" in PG_URL else "?"
    return Db(f"{PG_URL}{glue}options=-csearch_path%3D{schema}", "postgresql", schema=schema)


@contextmanager
def database(backend: str, tmp_path: Path) -> Iterator[Db]:
    """Yield an empty audit database on `backend`; a test module's fixture wraps this."""
    if backend == "sqlite":
        path = tmp_path / "data" / "audit.db"
        yield Db(f"sqlite:///{path}", "sqlite", path=path)
        return
    found = postgres_db()
    try:
        yield found
    finally:
        found.drop()


def python(script: str, *args: str, cwd: Path) -> subprocess.Popen[str]:
    """Start `script` in a fresh interpreter of this virtualenv, pipes on stdin and stdout."""
    return subprocess.Popen(
        [sys.executable, "-c", script, *args],
        cwd=cwd,
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
