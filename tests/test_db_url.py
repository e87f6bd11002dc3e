"""`AUDIT_DB_URL`: settings and the stores accept and refuse the same URLs, in the same words."""

from __future__ import annotations

from pathlib import Path

import pytest

from bot.adapters.sql import resolve_url
from bot.db_url import audit_db_url_problem
from bot.domain.errors import AuditUnavailable, SettingsError
from bot.settings import load_settings

PASSWORD = "pw-SENTINEL-9"


@pytest.mark.parametrize(
    ("url", "driver"),
    [
        pytest.param(f"postgres://bot:{PASSWORD}@db/audit", "postgresql+asyncpg", id="postgres"),
        pytest.param(
            f"postgresql://bot:{PASSWORD}@db/audit", "postgresql+asyncpg", id="postgresql"
        ),
        pytest.param("postgresql+asyncpg://bot@db/audit", "postgresql+asyncpg", id="asyncpg"),
        pytest.param("sqlite:///{dir}/a.db", "sqlite+aiosqlite", id="sqlite"),
        pytest.param("sqlite+pysqlite:///{dir}/a.db", "sqlite+aiosqlite", id="pysqlite"),
        pytest.param("sqlite+aiosqlite:///{dir}/a.db", "sqlite+aiosqlite", id="aiosqlite"),
    ],
)
def test_a_usable_url_passes_settings_and_maps_to_its_async_driver(
    url: str, driver: str, tmp_path: Path
) -> None:
    """SQLite with a file and PostgreSQL (also spelt postgres://) are accepted by both."""
    url = url.format(dir=tmp_path)
    assert audit_db_url_problem(url) is None
    assert resolve_url(url, create=True).url.drivername == driver


@pytest.mark.parametrize(
    ("url", "problem"),
    [
        pytest.param("not a url", "not a database URL", id="garbage"),
        pytest.param("sqlite://", "needs a file", id="sqlite-no-file"),
        pytest.param("sqlite:///:memory:", "needs a file", id="sqlite-memory"),
        pytest.param(
            "sqlite:///file::memory:?cache=shared", "needs a file", id="sqlite-uri-memory"
        ),
        pytest.param(f"mysql://bot:{PASSWORD}@db/audit", "unsupported", id="mysql"),
        pytest.param(f"postgresql+psycopg://bot:{PASSWORD}@db/audit", "unsupported", id="psycopg"),
        pytest.param(
            f"postgresql://bot:{PASSWORD}@db/audit?options=search_path",
            "the URL's options must look like -c name=value",
            id="options-without-value",
        ),
        pytest.param(
            f"postgresql://bot:{PASSWORD}@db/audit?options=-c%20a%3D%22b",
            "the URL's options must look like -c name=value",
            id="options-unbalanced-quote",
        ),
    ],
)
def test_an_unusable_url_is_refused_by_both_with_one_message(url: str, problem: str) -> None:
    """Settings and the store say the same thing about a bad URL, never repeating its password."""
    found = audit_db_url_problem(url)
    with pytest.raises(AuditUnavailable) as caught:
        resolve_url(url, create=True)

    assert found is not None
    assert problem in found
    assert str(caught.value) == found
    assert PASSWORD not in found
    assert caught.value.__cause__ is None


def test_bad_options_are_named_by_the_setting_they_came_from(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """At start the problem names AUDIT_DB_URL, the one setting all five stores open."""
    monkeypatch.setenv("AUDIT_DB_URL", f"postgresql://bot:{PASSWORD}@db/audit?options=-cjit")
    with pytest.raises(SettingsError) as caught:
        load_settings(uses=("audit",))
    assert caught.value.problems == [
        "AUDIT_DB_URL: the URL's options must look like -c name=value (or --name=value)"
    ]
