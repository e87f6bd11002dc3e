"""The shape of `AUDIT_DB_URL`, checked when settings are read (no database is opened).

A pure rule, so `load_settings` reports a malformed URL with every other
problem, instead of the audit store finding it later when it connects. It
mirrors what `bot.adapters.audit_store.resolve_url` accepts: SQLite with a
file path, or PostgreSQL (`postgres://` too), with their async drivers.
"""

from __future__ import annotations

from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError

_EXPECTED = "expected sqlite:///path/to/audit.db or postgresql://user@host/db"


def audit_db_url_problem(text: str) -> str | None:
    """Return what is wrong with this audit database URL (never echoing it), else None."""
    if text.startswith("postgres://"):
        text = "postgresql://" + text.removeprefix("postgres://")
    try:
        url = make_url(text)
    except (ArgumentError, ValueError):
        return f"not a database URL ({_EXPECTED})"
    backend, _, driver = url.drivername.partition("+")
    if backend == "sqlite" and driver in ("", "pysqlite", "aiosqlite"):
        database = url.database or ""
        if database in ("", ":memory:") or database.startswith("file::memory:"):
            return "the audit log needs a file: use sqlite:///path/to/audit.db"
        return None
    if backend == "postgresql" and driver in ("", "asyncpg"):
        return None
    return f"unsupported database kind {url.drivername!r} ({_EXPECTED})"
