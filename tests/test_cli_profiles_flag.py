"""`--profile NAME` on `export` and `download`: the terminal reaches the named account only."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from bot.cli import main
from bot.settings import Settings
from emulators.fake_hss import FakeHss

A_AK, A_SK = "AKMARKERCLIALPHA0000", "SKMARKER-cli-alpha-secret-0000000000001"
B_AK, B_SK = "AKMARKERCLIBETA00000", "SKMARKER-cli-beta-secret-00000000000002"


@pytest.fixture(autouse=True)
def clean_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """An empty directory, no setting from the environment, and the profiles' keys."""
    monkeypatch.chdir(tmp_path)
    for name in Settings.model_fields:
        monkeypatch.delenv(name, raising=False)
    for name, value in {"A_AK": A_AK, "A_SK": A_SK, "B_AK": B_AK, "B_SK": B_SK}.items():
        monkeypatch.setenv(name, value)
    monkeypatch.setenv("AUDIT_DB_URL", f"sqlite:///{tmp_path / 'audit.db'}")


def _use(monkeypatch: pytest.MonkeyPatch, tmp_path: Path, alpha: FakeHss, beta: FakeHss) -> None:
    path = tmp_path / "profiles.toml"
    tables = []
    for name, fake, env in (("alpha", alpha, "A"), ("beta", beta, "B")):
        tables.append(
            f'[profiles.{name}]\nregion = "cn-north-4"\nendpoint = "{fake.url}"\n'
            f'project_id = "{fake.project_id}"\nak_env = "{env}_AK"\nsk_env = "{env}_SK"\n'
        )
    path.write_text("\n".join(tables), encoding="utf-8")
    monkeypatch.setenv("HSS_PROFILES_FILE", str(path))
    monkeypatch.setenv("HSS_DEFAULT_PROFILE", "alpha")


async def test_export_and_download_go_to_the_profile_named(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """`export --profile beta` creates at beta with beta's keys; the default goes to alpha."""
    async with (
        FakeHss(ak=A_AK, sk=A_SK, project_id="p-alpha", task_prefix="alpha") as alpha,
        FakeHss(
            ak=B_AK, sk=B_SK, project_id="p-beta", task_prefix="beta", polls_until_done=0
        ) as beta,
    ):
        _use(monkeypatch, tmp_path, alpha, beta)
        assert await asyncio.to_thread(main, ["export", "--profile", "beta", "risky=true"]) == 0
        assert await asyncio.to_thread(main, ["export", "risky=true", "--profile", "beta"]) == 0
        assert await asyncio.to_thread(main, ["export", "risky=true"]) == 0
        out, _ = capsys.readouterr()
        task = out.split()[0]
        assert task.startswith("beta-")
        argv = ["download", task, "--profile", "beta", "-o", str(tmp_path / "f.csv")]
        assert await asyncio.to_thread(main, argv) == 0
        assert (tmp_path / "f.csv").stat().st_size == beta.file_size
        unknown = await asyncio.to_thread(main, ["export", "--profile", "gamma", "risky=true"])
        _, err = capsys.readouterr()
    assert len(beta.calls_for("create")) == 2
    assert len(alpha.calls_for("create")) == 1
    assert all(c.status == 200 for c in beta.calls + alpha.calls)
    assert all(B_AK in c.headers["authorization"] for c in beta.calls)
    assert unknown == 2
    assert "alpha, beta" in err


async def test_download_without_profile_asks_the_profile_the_task_was_created_under(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """No `--profile`: the audit log names the task's profile; an unknown task needs a default."""
    async with (
        FakeHss(ak=A_AK, sk=A_SK, project_id="p-alpha", task_prefix="alpha") as alpha,
        FakeHss(
            ak=B_AK, sk=B_SK, project_id="p-beta", task_prefix="beta", polls_until_done=0
        ) as beta,
    ):
        _use(monkeypatch, tmp_path, alpha, beta)
        monkeypatch.delenv("HSS_DEFAULT_PROFILE")  # two profiles, no default
        assert await asyncio.to_thread(main, ["export", "--profile", "beta", "risky=true"]) == 0
        task = capsys.readouterr().out.split()[0]
        saved = tmp_path / "f.csv"
        assert await asyncio.to_thread(main, ["download", task, "-o", str(saved)]) == 0
        _, said = capsys.readouterr()
        unknown = await asyncio.to_thread(main, ["download", "task-elsewhere"])
        _, err = capsys.readouterr()
        monkeypatch.setenv("HSS_DEFAULT_PROFILE", "alpha")
        defaulted = await asyncio.to_thread(main, ["download", "task-elsewhere"])
    assert saved.stat().st_size == beta.file_size
    assert f"profile beta for task {task}" in said
    assert [c.op for c in beta.calls] == ["create", "status", "download"]
    assert all(B_AK in c.headers["authorization"] for c in beta.calls)
    # A task the audit log does not know: with two profiles and no default, ask for one.
    assert unknown == 2
    assert "task task-elsewhere is not in the audit log" in err
    assert "`--profile`: got nothing; accepted: one of alpha, beta" in err
    # With HSS_DEFAULT_PROFILE it goes there (alpha does not know it either: exit 2).
    assert defaulted == 2
    assert [c.op for c in alpha.calls] == ["status"]
    assert all(A_AK in c.headers["authorization"] for c in alpha.calls)
