"""The shape of `AUDIT_DB_URL`: which databases the bot can use, checked without opening one.

The one rule both sides apply: `load_settings` reports a malformed URL with
every other problem, and `bot.adapters.sql.resolve_url` (also given a CLI's
`--db`) maps it to its async driver before connecting. SQLite with a file
path, or PostgreSQL (`postgres://` too), with their async drivers.
"""

from __future__ import annotations

from sqlalchemy.engine import URL, make_url
from sqlalchemy.exc import ArgumentError

_EXPECTED = "expected sqlite:///path/to/audit.db or postgresql://user@host/db"


class DbUrlProblem(ValueError):
    """What is wrong with a database URL, in words that never repeat the URL."""


def async_db_url(text: str) -> URL:
    """Return the URL with its database's async driver; raise `DbUrlProblem` if it is unusable.

    `sqlite+aiosqlite` for SQLite with a file (`sqlite`, `sqlite+pysqlite` too),
    `postgresql+asyncpg` for PostgreSQL (`postgres://`, `postgresql` too).
    """
    if text.startswith("postgres://"):
        text = "postgresql://" + text.removeprefix("postgres://")
    try:
        url = make_url(text)
    except (ArgumentError, ValueError):
        # The library's message repeats the URL, password included.
        raise DbUrlProblem(f"not a database URL ({_EXPECTED})") from None
    backend, _, driver = url.drivername.partition("+")
    if backend == "sqlite" and driver in ("", "pysqlite", "aiosqlite"):
        database = url.database or ""
        if database in ("", ":memory:") or database.startswith("file::memory:"):
            raise DbUrlProblem("the audit log needs a file: use sqlite:///path/to/audit.db")
        return url.set(drivername="sqlite+aiosqlite")
    if backend == "postgresql" and driver in ("", "asyncpg"):
        return url.set(drivername="postgresql+asyncpg")
    raise DbUrlProblem(f"unsupported database kind {url.drivername!r} ({_EXPECTED})")


def audit_db_url_problem(text: str) -> str | None:
    """Return what is wrong with this audit database URL (never echoing it), else None."""
    try:
        async_db_url(text)
    except DbUrlProblem as exc:
        return str(exc)
    return None
