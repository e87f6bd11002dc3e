"""`hss-export-bot download TASK_ID [-o FILE]`: an operator fetches a task's file from HSS.

The command runs as an operator would run it (`bot.cli.main`, settings from
the environment) in a thread of its own, against the fake HSS on loopback.
"""

from __future__ import annotations

import asyncio
import hashlib
from pathlib import Path

import pytest

from bot.cli import main
from emulators.fake_hss import FakeHss, Task

SIZE = 3 * 1024 * 1024 + 17  # several chunks and flushes, and an odd tail


@pytest.fixture(autouse=True)
def operator_shell(fake_hss: FakeHss, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Run in an empty directory with the service account's settings in the environment."""
    monkeypatch.chdir(tmp_path)
    for name, value in {
        "HSS_ENDPOINT": fake_hss.url,
        "HSS_PROJECT_ID": fake_hss.project_id,
        "CLOUD_SDK_AK": fake_hss.ak,
        "CLOUD_SDK_SK": fake_hss.sk,
        "HSS_MAX_ATTEMPTS": "1",
    }.items():
        monkeypatch.setenv(name, value)


def add_task(
    fake: FakeHss,
    task_id: str = "task-9",
    *,
    polls_left: int = 0,
    outcome: str = "success",
    file_name: str = "container-export.xlsx",
) -> Task:
    """Put a task into the fake HSS as if it had been created earlier."""
    task = Task(task_id, polls_left, outcome, f"file-{task_id}", file_name, SIZE)  # type: ignore[arg-type]
    fake.tasks[task_id] = task
    return task


def served_sha256(task: Task) -> str:
    """Return the SHA-256 of the file the fake serves for a task."""
    digest = hashlib.sha256()
    for chunk in FakeHss.file_chunks(task.file_id, task.file_size):
        digest.update(chunk)
    return digest.hexdigest()


def names_in(directory: Path) -> list[str]:
    """List a directory's entries (hidden temporary files included), sorted."""
    return sorted(p.name for p in directory.iterdir())


async def download(*args: str) -> int:
    """Run `hss-export-bot download ARGS` in a thread, as a separate command would run."""
    return await asyncio.to_thread(main, ["download", *args])


async def test_saves_the_file_under_hss_name_with_its_checksum(
    fake_hss: FakeHss, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """By default the file lands in the current directory under HSS's name, checksum printed."""
    task = add_task(fake_hss)

    assert await download("task-9") == 0

    saved = tmp_path / "container-export.xlsx"
    assert hashlib.sha256(saved.read_bytes()).hexdigest() == served_sha256(task)
    assert f"{SIZE} bytes, sha256 {served_sha256(task)}" in capsys.readouterr().out
    assert names_in(tmp_path) == ["container-export.xlsx"]


async def test_output_option_chooses_the_path(fake_hss: FakeHss, tmp_path: Path) -> None:
    """`-o FILE` writes exactly there."""
    task = add_task(fake_hss)

    assert await download("task-9", "-o", str(tmp_path / "mine.bin")) == 0

    assert hashlib.sha256((tmp_path / "mine.bin").read_bytes()).hexdigest() == served_sha256(task)


async def test_dash_writes_the_bytes_to_stdout(
    fake_hss: FakeHss, capfdbinary: pytest.CaptureFixture[bytes]
) -> None:
    """`-o -` streams the file to stdout and reports on stderr."""
    task = add_task(fake_hss)

    assert await download("task-9", "-o", "-") == 0

    out, err = capfdbinary.readouterr()
    assert hashlib.sha256(out).hexdigest() == served_sha256(task)
    assert b"wrote container-export.xlsx to stdout" in err


async def test_enterprise_project_is_passed_to_hss(fake_hss: FakeHss) -> None:
    """`--enterprise-project-id` reaches both the status call and the download."""
    add_task(fake_hss)

    assert await download("task-9", "--enterprise-project-id", "eps-7") == 0

    calls = [*fake_hss.calls_for("status"), *fake_hss.calls_for("download")]
    assert [c.query.get("enterprise_project_id") for c in calls] == ["eps-7", "eps-7"]


@pytest.mark.parametrize(
    ("task", "status", "says"),
    [
        pytest.param(
            {"polls_left": 5}, 75, "task task-9 is still running at HSS", id="still-running"
        ),
        pytest.param({"outcome": "failure"}, 2, "task task-9 failed at HSS", id="failed"),
    ],
)
async def test_an_unfinished_task_is_explained_and_nothing_is_written(
    fake_hss: FakeHss,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    task: dict[str, object],
    status: int,
    says: str,
) -> None:
    """A running task exits 75 (try later), a failed one 2; both name HSS's request id."""
    add_task(fake_hss, **task)  # type: ignore[arg-type]

    assert await download("task-9") == status

    err = capsys.readouterr().err
    assert says in err
    assert fake_hss.calls_for("status")[-1].request_id in err
    assert fake_hss.calls_for("download") == []
    assert names_in(tmp_path) == []


async def test_an_unknown_task_shows_hss_error_and_request_id(
    fake_hss: FakeHss, capsys: pytest.CaptureFixture[str]
) -> None:
    """HSS's refusal (error code, request id) is shown, not a traceback."""
    assert await download("no-such-task") == 2

    err = capsys.readouterr().err
    assert err.startswith("error: HSS rejected the call: The export task does not exist")
    assert "HSS.0002" in err
    assert fake_hss.calls_for("status")[-1].request_id in err


async def test_an_existing_file_is_kept_unless_forced(
    fake_hss: FakeHss, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """The command refuses to overwrite a file; --force replaces it."""
    task = add_task(fake_hss)
    existing = tmp_path / "container-export.xlsx"
    existing.write_bytes(b"precious")

    assert await download("task-9") == 2
    assert existing.read_bytes() == b"precious"
    assert "exists; use --force" in capsys.readouterr().err

    assert await download("task-9", "--force") == 0
    assert hashlib.sha256(existing.read_bytes()).hexdigest() == served_sha256(task)


async def test_a_broken_download_leaves_no_partial_file(
    fake_hss: FakeHss, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """If HSS drops the download, the command fails and leaves nothing behind."""
    add_task(fake_hss)
    fake_hss.drop_next(op="download")

    assert await download("task-9") == 2

    assert "error:" in capsys.readouterr().err
    assert names_in(tmp_path) == []


async def test_a_hostile_file_name_cannot_leave_the_directory(
    fake_hss: FakeHss, tmp_path: Path
) -> None:
    """HSS's file_name is used without its directory part."""
    add_task(fake_hss, file_name="../../escape.xlsx")

    assert await download("task-9") == 0

    assert names_in(tmp_path) == ["escape.xlsx"]
    assert not (tmp_path.parent.parent / "escape.xlsx").exists()
