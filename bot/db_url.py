"""The shape of `AUDIT_DB_URL`: which databases the bot can use, checked without opening one.

The one rule both sides apply: `load_settings` reports a malformed URL with
every other problem, and `bot.adapters.sql.resolve_url` (also given a CLI's
`--db`) maps it to its async driver before connecting. SQLite with a file
path, or PostgreSQL (`postgres://` too), with their async drivers.
"""

from __future__ import annotations

import shlex

from sqlalchemy.engine import URL, make_url
from sqlalchemy.exc import ArgumentError

_EXPECTED = "expected sqlite:///path/to/audit.db or postgresql://user@host/db"
_OPTIONS = "the URL's options must look like -c name=value (or --name=value)"


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
        options = url.query.get("options")
        for option in [options] if isinstance(options, str) else (options or ()):
            server_settings(option)
        return url.set(drivername="postgresql+asyncpg")
    raise DbUrlProblem(f"unsupported database kind {url.drivername!r} ({_EXPECTED})")


def server_settings(options: str) -> dict[str, str]:
    """Read libpq `options` (`-c name=value`, `--name=value`) as asyncpg server settings.

    The problem names no setting: the caller knows where the URL came from (a setting
    prefixes its own name, `--db` is what the operator just typed).
    """
    found: dict[str, str] = {}
    try:
        words = iter(shlex.split(options))
    except ValueError:
        raise DbUrlProblem(_OPTIONS) from None
    for word in words:
        if word == "-c":
            word = next(words, "")
        elif word.startswith(("-c", "--")):
            word = word[2:]
        name, sep, value = word.partition("=")
        if not sep or not name:
            raise DbUrlProblem(_OPTIONS)
        found[name.replace("-", "_")] = value
    return found


def audit_db_url_problem(text: str) -> str | None:
    """Return what is wrong with this audit database URL (never echoing it), else None."""
    try:
        async_db_url(text)
    except DbUrlProblem as exc:
        return str(exc)
    return None
