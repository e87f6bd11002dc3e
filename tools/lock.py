"""Write and check the lock files: requirements/dev.txt and requirements/runtime.txt.

`./dev lock` calls `compile`: uv resolves pyproject.toml for one target (CPython 3.11 on
Linux x86_64) with the hash of every distribution of every pinned version, so
`pip install --require-hashes` installs the same files on every machine. dev.txt is
resolved first (runtime plus the `dev` extra); runtime.txt is then resolved under dev.txt
as a constraint, so the two never pin a package at different versions. An existing lock is
uv's preference: nothing moves unless pyproject.toml needs it or `--upgrade` asks.

Each lock's header records a digest of what it was resolved from (pyproject.toml's
dependency lists, requires-python, the target), so `check` can tell a stale lock without
the network. `check --digest-only` uses the standard library alone, for a venv with
nothing installed yet; the full check (every requirement pinned within its specifier,
every pin hashed, runtime a subset of dev) needs `packaging`.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import platform
import re
import subprocess
import sys
import sysconfig
import tomllib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
LOCKS = ("dev", "runtime")  # in resolution order: runtime.txt is constrained by dev.txt
PYTHON_VERSION = "3.11"
PLATFORM = "x86_64-unknown-linux-gnu"
TARGET = f"CPython {PYTHON_VERSION} on Linux x86_64 ({PLATFORM})"
# What the lock's requirements' markers are evaluated against: the target, not this machine.
TARGET_ENV = {
    "python_version": PYTHON_VERSION,
    "python_full_version": f"{PYTHON_VERSION}.0",
    "implementation_name": "cpython",
    "platform_python_implementation": "CPython",
    "os_name": "posix",
    "sys_platform": "linux",
    "platform_system": "Linux",
    "platform_machine": "x86_64",
}
REFRESH = "./dev lock"
DIGEST_LINE = re.compile(r"^# pyproject\.toml dependency digest: sha256:([0-9a-f]{64})$", re.M)


def deps_digest(pyproject_text: str) -> str:
    """Hash what the locks are resolved from, so an edit elsewhere in pyproject.toml is free."""
    project = tomllib.loads(pyproject_text)["project"]
    source = {
        "requires-python": project.get("requires-python"),
        "dependencies": sorted(project.get("dependencies", [])),
        "optional-dependencies": {
            extra: sorted(reqs) for extra, reqs in project.get("optional-dependencies", {}).items()
        },
        "target": [PYTHON_VERSION, PLATFORM],
    }
    encoded = json.dumps(source, sort_keys=True, separators=(",", ":")).encode()
    return hashlib.sha256(encoded).hexdigest()


@dataclass(frozen=True)
class Pin:
    """One `name==version` entry of a lock file, with its hashes."""

    name: str
    version: str
    hashes: tuple[str, ...]


def normalize(name: str) -> str:
    """Spell a project name as PEP 503 does, so `Foo_Bar` and `foo-bar` compare equal."""
    return re.sub(r"[-_.]+", "-", name).lower()


def read_pins(lock_text: str) -> dict[str, Pin]:
    """Parse the `name==version --hash=…` entries of a lock file written by uv."""
    pins: dict[str, Pin] = {}
    for entry in lock_text.replace("\\\n", " ").splitlines():
        entry = entry.split("#", 1)[0].strip()
        if not entry:
            continue
        spec, *options = entry.split()
        name, sep, version = spec.partition("==")
        if not sep:
            raise ValueError(f"not a pinned requirement: {spec!r}")
        hashes = tuple(o.removeprefix("--hash=") for o in options if o.startswith("--hash="))
        pins[normalize(name)] = Pin(normalize(name), version, hashes)
    return pins


def check(root: Path = ROOT, *, digest_only: bool = False) -> list[str]:
    """Say everything wrong with the locks under `root`, each with the command that fixes it."""
    pyproject = (root / "pyproject.toml").read_text(encoding="utf-8")
    want = deps_digest(pyproject)
    problems: list[str] = []
    texts: dict[str, str] = {}
    for lock in LOCKS:
        path = root / "requirements" / f"{lock}.txt"
        if not path.is_file():
            problems.append(f"requirements/{lock}.txt is missing: run {REFRESH}")
            continue
        texts[lock] = path.read_text(encoding="utf-8")
        found = DIGEST_LINE.search(texts[lock])
        if found is None or found.group(1) != want:
            problems.append(
                f"requirements/{lock}.txt is stale: run {REFRESH} "
                "(pyproject.toml's dependencies changed since it was written)"
            )
    if digest_only or len(texts) < len(LOCKS):
        return problems
    return problems + _check_pins(tomllib.loads(pyproject)["project"], texts)


def _check_pins(project: dict[str, Any], texts: dict[str, str]) -> list[str]:  # noqa: C901  one branch per way a pin can be wrong
    """Check that each lock pins every requirement it must, inside its specifier, hashed."""
    from packaging.requirements import Requirement  # here: `--digest-only` runs without it

    problems: list[str] = []
    pins = {lock: read_pins(text) for lock, text in texts.items()}
    runtime: list[str] = project.get("dependencies", [])
    dev: list[str] = project.get("optional-dependencies", {}).get("dev", [])
    needed = {"runtime": runtime, "dev": runtime + dev}
    for lock, requirements in needed.items():
        for line in requirements:
            req = Requirement(line)
            if req.marker is not None and not req.marker.evaluate(TARGET_ENV):
                continue
            pin = pins[lock].get(normalize(req.name))
            if pin is None:
                problems.append(
                    f"requirements/{lock}.txt does not pin {req.name} "
                    f"(pyproject.toml asks for {line!r}): run {REFRESH}"
                )
            elif not req.specifier.contains(pin.version, prereleases=True):
                problems.append(
                    f"requirements/{lock}.txt pins {pin.name}=={pin.version}, "
                    f"which pyproject.toml's {line!r} does not allow: run {REFRESH}"
                )
    for lock, locked in pins.items():
        for pin in locked.values():
            if not pin.hashes:
                problems.append(
                    f"requirements/{lock}.txt has no hash for {pin.name}: run {REFRESH}"
                )
    for pin in pins["runtime"].values():
        dev_pin = pins["dev"].get(pin.name)
        if dev_pin is None or dev_pin.version != pin.version:
            in_dev = "does not pin it" if dev_pin is None else f"pins {dev_pin.version}"
            problems.append(
                f"requirements/runtime.txt pins {pin.name}=={pin.version} but "
                f"requirements/dev.txt {in_dev}: run {REFRESH}"
            )
    return problems


def _uv(root: Path) -> Path:
    """Return this venv's uv at the version pyproject.toml's dev extra pins, installing it."""
    project = tomllib.loads((root / "pyproject.toml").read_text(encoding="utf-8"))["project"]
    pinned = [
        r for r in project["optional-dependencies"]["dev"] if r.replace(" ", "").startswith("uv==")
    ]
    if not pinned:
        sys.exit('pyproject.toml\'s dev extra must pin the lock tool: add "uv==<version>"')
    version = pinned[0].replace(" ", "").removeprefix("uv==")
    uv = Path(sysconfig.get_path("scripts")) / "uv"
    found = (
        subprocess.run([uv, "--version"], capture_output=True, text=True, check=False).stdout
        if uv.exists()
        else ""
    )
    if found.split()[1:2] != [version]:
        pip = [sys.executable, "-m", "pip", "install", "--disable-pip-version-check", "-q"]
        subprocess.run([*pip, f"uv=={version}"], check=True)
    return uv


def compile_locks(root: Path, upgrade: list[str]) -> None:
    """Resolve both locks with uv and stamp each with the digest of what it was resolved from."""
    for lock in LOCKS:
        path = root / "requirements" / f"{lock}.txt"
        if path.exists() and re.search(r"^<<<<<<< ", path.read_text(encoding="utf-8"), re.M):
            sys.exit(
                f"requirements/{lock}.txt has merge conflict markers: take one side "
                f"(git checkout --ours requirements/) then run {REFRESH} again"
            )
    uv = _uv(root)
    (root / "requirements").mkdir(exist_ok=True)
    digest = deps_digest((root / "pyproject.toml").read_text(encoding="utf-8"))
    for lock in LOCKS:
        out = root / "requirements" / f"{lock}.txt"
        selection = ["--extra", "dev"] if lock == "dev" else ["-c", "requirements/dev.txt"]
        uv_compile = [uv, "pip", "compile", "pyproject.toml", "--no-config", "--generate-hashes"]
        target = ["--python-version", PYTHON_VERSION, "--python-platform", PLATFORM]
        output = ["--custom-compile-command", REFRESH, "--output-file", f"requirements/{lock}.txt"]
        subprocess.run(
            [*uv_compile, *target, *output, *selection, *upgrade],
            cwd=root,
            stdout=subprocess.DEVNULL,  # uv echoes the file it writes; its summary is on stderr
            check=True,
        )
        lines = out.read_text(encoding="utf-8").splitlines(keepends=True)
        head = next(i for i, line in enumerate(lines) if not line.startswith("#"))
        lines[head:head] = [
            f"# For {TARGET}; every distribution's hash, for pip --require-hashes.\n",
            f"# pyproject.toml dependency digest: sha256:{digest}\n",
        ]
        out.write_text("".join(lines), encoding="utf-8")


def off_target(version: tuple[int, int], system: str, machine: str) -> str | None:
    """Say why this interpreter is not the lock's target, or None when it is."""
    if (version, system, machine.lower()) == ((3, 11), "Linux", "x86_64"):
        return None
    here = f"Python {version[0]}.{version[1]} on {system} {machine}"
    return f"warning: requirements/*.txt are for {TARGET}; this is {here}: pip may refuse them"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="tools/lock.py", description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True)
    do_compile = sub.add_parser("compile", help="resolve pyproject.toml into requirements/*.txt")
    do_compile.add_argument(
        "--upgrade", action="store_true", help="move every pin to its newest allowed version"
    )
    do_compile.add_argument(
        "--upgrade-package",
        action="append",
        default=[],
        metavar="NAME",
        help="move this package's pin only",
    )
    do_check = sub.add_parser("check", help="say whether requirements/*.txt match pyproject.toml")
    do_check.add_argument(
        "--digest-only", action="store_true", help="skip the checks that need packaging"
    )
    args = parser.parse_args(argv)
    if args.command == "compile":
        upgrade = ["--upgrade"] if args.upgrade else []
        for name in args.upgrade_package:
            upgrade += ["--upgrade-package", name]
        compile_locks(ROOT, upgrade)
        return 0
    warning = off_target(sys.version_info[:2], platform.system(), platform.machine())
    if warning:
        print(warning, file=sys.stderr)
    problems = check(ROOT, digest_only=args.digest_only)
    for problem in problems:
        print(problem, file=sys.stderr)
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
