"""The lock files: requirements/*.txt match pyproject.toml, and the venv matches them.

These run without the network: the lock's header carries a digest of pyproject.toml's
dependency lists, and every requirement is checked against its pin with `packaging`.
"""

from __future__ import annotations

import importlib.metadata
import importlib.util
import shutil
import subprocess
import sys
from pathlib import Path
from types import ModuleType

import pytest

ROOT = Path(__file__).resolve().parent.parent


def _load_lock_tool() -> ModuleType:
    """Import tools/lock.py, a script rather than a package module."""
    spec = importlib.util.spec_from_file_location("lock_tool", ROOT / "tools" / "lock.py")
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up while the class is built
    spec.loader.exec_module(module)
    return module


lock_tool = _load_lock_tool()


@pytest.fixture
def clone(tmp_path: Path) -> Path:
    """Copy pyproject.toml, the locks and the lock tool into a scratch tree to edit."""
    shutil.copy(ROOT / "pyproject.toml", tmp_path / "pyproject.toml")
    shutil.copytree(ROOT / "requirements", tmp_path / "requirements")
    shutil.copytree(
        ROOT / "tools", tmp_path / "tools", ignore=shutil.ignore_patterns("__pycache__")
    )
    return tmp_path


def _edit(path: Path, old: str, new: str) -> None:
    text = path.read_text(encoding="utf-8")
    assert old in text, f"{old!r} not in {path.name}"
    path.write_text(text.replace(old, new, 1), encoding="utf-8")


def test_committed_locks_match_pyproject() -> None:
    """The committed requirements/*.txt were written from the committed pyproject.toml."""
    assert lock_tool.check(ROOT) == []


def test_a_dependency_added_without_relocking_is_reported(clone: Path) -> None:
    """Adding a dependency to pyproject.toml without ./dev lock makes both locks stale."""
    _edit(
        clone / "pyproject.toml",
        '"structlog>=24.1",',
        '"structlog>=24.1",\n    "not-a-real-dependency>=2.6",',
    )
    problems = lock_tool.check(clone)
    assert (
        "requirements/dev.txt is stale: run ./dev lock "
        "(pyproject.toml's dependencies changed since it was written)"
    ) in problems
    assert any(p.startswith("requirements/runtime.txt is stale: run ./dev lock") for p in problems)
    assert any(
        "does not pin not-a-real-dependency" in p and "run ./dev lock" in p for p in problems
    )


def test_a_dev_dependency_added_without_relocking_is_reported(clone: Path) -> None:
    """A new test-only dependency also needs a relock: dev.txt must pin it."""
    _edit(
        clone / "pyproject.toml",
        '"pyyaml>=6",',
        '"pyyaml>=6",\n    "not-a-real-test-dependency>=3.1",',
    )
    problems = lock_tool.check(clone)
    assert any(p.startswith("requirements/dev.txt is stale") for p in problems)
    assert any(
        p.startswith("requirements/dev.txt does not pin not-a-real-test-dependency")
        for p in problems
    )


def test_a_pin_outside_its_specifier_is_named(clone: Path) -> None:
    """A raised lower bound that the locked version misses names the pin and the specifier."""
    pinned = lock_tool.read_pins((ROOT / "requirements" / "runtime.txt").read_text())["httpx"]
    _edit(clone / "pyproject.toml", '"httpx>=0.27,<1"', '"httpx>=0.99,<1"')
    problems = lock_tool.check(clone)
    assert (
        f"requirements/runtime.txt pins httpx=={pinned.version}, which pyproject.toml's "
        "'httpx>=0.99,<1' does not allow: run ./dev lock"
    ) in problems


def test_edits_outside_the_dependency_lists_keep_the_lock_fresh(clone: Path) -> None:
    """Changing the version, ruff or pytest settings needs no relock."""
    _edit(clone / "pyproject.toml", 'version = "0.1.0"', 'version = "0.2.0"')
    _edit(clone / "pyproject.toml", "line-length = 100", "line-length = 99")
    assert lock_tool.check(clone) == []


def test_a_runtime_pin_that_differs_from_dev_is_reported(clone: Path) -> None:
    """./dev run and ./dev test share one venv: runtime.txt may not pin another version."""
    runtime = clone / "requirements" / "runtime.txt"
    pinned = lock_tool.read_pins(runtime.read_text())["tenacity"].version
    _edit(runtime, f"tenacity=={pinned} ", "tenacity==9.0.0 ")
    assert lock_tool.check(clone) == [
        f"requirements/runtime.txt pins tenacity==9.0.0 but requirements/dev.txt pins {pinned}"
        ": run ./dev lock"
    ]


def test_a_pin_without_hashes_is_reported(clone: Path) -> None:
    """Every pin carries its hashes, or pip --require-hashes refuses the whole install."""
    dev = clone / "requirements" / "dev.txt"
    lines = dev.read_text().splitlines(keepends=True)
    start = next(i for i, line in enumerate(lines) if line.startswith("six=="))
    end = next(i for i in range(start + 1, len(lines)) if not lines[i].startswith("    --hash"))
    lines[start:end] = [lines[start].replace(" \\", "")]
    dev.write_text("".join(lines))
    assert lock_tool.check(clone) == ["requirements/dev.txt has no hash for six: run ./dev lock"]


def test_a_missing_lock_is_reported(clone: Path) -> None:
    """A tree without requirements/runtime.txt says which file is missing and how to write it."""
    (clone / "requirements" / "runtime.txt").unlink()
    assert lock_tool.check(clone) == ["requirements/runtime.txt is missing: run ./dev lock"]


def test_the_digest_only_check_stops_dev_before_installing(clone: Path) -> None:
    """`tools/lock.py check --digest-only`, which ./dev runs first, exits 1 with the message."""
    _edit(clone / "pyproject.toml", '"structlog>=24.1",', '"structlog>=24.1",\n    "cronsim",')
    script = [sys.executable, str(clone / "tools" / "lock.py"), "check", "--digest-only"]
    stale = subprocess.run(script, capture_output=True, text=True, check=False)
    assert stale.returncode == 1
    assert "requirements/dev.txt is stale: run ./dev lock" in stale.stderr
    _edit(clone / "pyproject.toml", '\n    "cronsim",', "")
    fresh = subprocess.run(script, capture_output=True, text=True, check=False)
    assert (fresh.returncode, fresh.stderr) == (0, "")


@pytest.mark.parametrize(
    ("version", "system", "machine", "named"),
    [
        ((3, 12), "Linux", "x86_64", "Python 3.12 on Linux x86_64"),
        ((3, 11), "Darwin", "arm64", "Python 3.11 on Darwin arm64"),
        ((3, 11), "Linux", "aarch64", "Python 3.11 on Linux aarch64"),
    ],
)
def test_an_interpreter_off_the_lock_target_is_warned(
    version: tuple[int, int], system: str, machine: str, named: str
) -> None:
    """./dev warns, without failing, when its Python is not what the lock was resolved for."""
    warning = lock_tool.off_target(version, system, machine)
    assert warning is not None
    assert named in warning
    assert "CPython 3.11 on Linux x86_64" in warning


def test_the_lock_target_gets_no_warning() -> None:
    """CPython 3.11 on Linux x86_64, what CI runs, is the lock's target."""
    assert lock_tool.off_target((3, 11), "Linux", "x86_64") is None


def test_the_venv_holds_exactly_the_locked_versions() -> None:
    """What the tests run on is what requirements/dev.txt pins (./dev test installs from it)."""
    pins = lock_tool.read_pins((ROOT / "requirements" / "dev.txt").read_text())
    installed = {
        lock_tool.normalize(dist.metadata["Name"]): dist.version
        for dist in importlib.metadata.distributions()
    }
    wrong = {
        name: (pin.version, installed.get(name))
        for name, pin in pins.items()
        if installed.get(name) != pin.version
    }
    assert wrong == {}, f"(locked, installed) differ: run ./dev test to reinstall: {wrong}"
