"""`hss-export-bot summarize`: the thread's summary in a terminal, exit 0 or 2 with one line."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from reading_support import csv_file, names

from bot.cli import main
from bot.domain.model import HEADER_KEYS
from emulators.export_files import export_rows, population, write_file


def _write(
    tmp_path: Path, step: int, lang: str = "zh", keys: tuple[str, ...] = HEADER_KEYS
) -> Path:
    rows = export_rows(population(seed=5, step=step, size=30), {}, {})
    name, content = write_file("xlsx", names(lang, keys), rows, f"export-{step}")
    path = tmp_path / name
    path.write_bytes(content)
    return path


def test_summarize_prints_the_summary(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """Without --headers the Chinese names are recognized and the summary printed, exit 0."""
    rows = export_rows(population(seed=5, step=0, size=30), {}, {})
    assert main(["summarize", str(_write(tmp_path, 0))]) == 0
    out = capsys.readouterr().out
    assert out.startswith("Export summary: 30 containers (xlsx)\n")
    assert f"fatal {sum(r['fatal_risk'] for r in rows)}" in out
    assert "Riskiest containers (most fatal, then high risks):" in out


def test_against_an_older_file_prints_what_changed(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """--against compares by container_id and names the older file as the "since"."""
    old, new = _write(tmp_path, 0, "en"), _write(tmp_path, 1, "en")
    assert main(["summarize", str(new), "--against", str(old)]) == 0
    out = capsys.readouterr().out
    assert f"Changed since {old}: 3 new, 3 gone, " in out
    assert "(containers matched by container_id)" in out


def test_headers_with_custom_names_are_understood(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """--headers takes the slash syntax; a bare key matches its Chinese or English name."""
    data = csv_file([["Box", "Status", "致命风险"], ["a", "Running", "2"], ["b", "Waiting", "0"]])
    path = tmp_path / "custom.csv"
    path.write_bytes(data)
    argv = ["summarize", str(path), "--headers", "container_name:Box,status,fatal_risk"]
    assert main(argv) == 0
    out = capsys.readouterr().out
    assert "By status: Running 1 · Waiting 1" in out
    assert "Risks: fatal 2" in out


@pytest.mark.parametrize(
    ("argv", "says"),
    [
        (["--headers", "container_nme"], "error: `headers`: got 'container_nme'"),
        (["--headers", "status"], "no summary of {file}: unexpected column '容器id' and 14 more"),
        (["--against", "{missing}"], "no summary of {missing}: the file could not be opened"),
    ],
)
def test_bad_arguments_and_unreadable_files_exit_2_with_one_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], argv: list[str], says: str
) -> None:
    """A bad --headers, a file the columns do not fit, a missing file: exit 2 and one line."""
    path, missing = _write(tmp_path, 0), tmp_path / "nope.xlsx"
    filled = [a.format(missing=missing) for a in argv]
    assert main(["summarize", str(path), *filled]) == 2
    err = capsys.readouterr().err
    assert says.format(file=path, missing=missing) in err
    assert err.count("\n") == 1


def test_the_installed_command_runs_end_to_end(tmp_path: Path) -> None:
    """The console script summarizes a GB18030 CSV and refuses a PDF, with exit 0 and 2."""
    good, bad = tmp_path / "good.csv", tmp_path / "bad.csv"
    good.write_bytes(csv_file([["容器名称", "状态"], ["web", "Running"]], "gb18030"))
    bad.write_bytes(b"%PDF-1.4\n")
    command = [sys.executable, "-m", "bot", "summarize"]
    done = subprocess.run([*command, str(good)], capture_output=True, text=True, check=False)
    assert (done.returncode, done.stdout.splitlines()[0]) == (
        0,
        "Export summary: 1 container (CSV (GB18030))",
    )
    refused = subprocess.run([*command, str(bad)], capture_output=True, text=True, check=False)
    assert refused.returncode == 2
    assert refused.stderr.strip() == (
        f"error: no summary of {bad}: the file is a PDF; the bot reads xlsx, CSV (UTF-8 or "
        "GB18030) and a zip holding one of them"
    )
