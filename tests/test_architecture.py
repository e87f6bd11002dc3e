"""The layering that docs/architecture.md describes holds, read statically from the source.

Every `import` and `from … import` in a module counts, wherever it sits: at the top,
inside a function (a lazy import is still a dependency, only a later one), and inside
`if TYPE_CHECKING:` (a type named in a signature ties the layer to that module as
much as a call does). Relative imports are resolved against the module's package, and
`from a import b` counts as importing both `a` and `a.b` (b may be a submodule).
Reading the source rather than `sys.modules` lets a failure name the file and line.
tests/test_tracking_imports.py checks the same at run time, from a fresh interpreter.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
BOT = ROOT / "bot"
MAX_LINES = 400
LONG_MODULE_MARKER = "longer than 400 lines because"

# The I/O libraries: Slack, HTTP and SQL stay at the edges (adapters, entrypoints, bootstrap).
IO_LIBRARIES = ("slack_bolt", "slack_sdk", "httpx", "aiohttp", "sqlalchemy")
OUTER_LAYERS = ("bot.adapters", "bot.entrypoints", "bot.usecases", "bot.bootstrap", "bot.cli")
# The tracker's worker side: what runs the tasks, as opposed to its model and ports.
TRACKING_WORKER = tuple(
    f"bot.tracking.{name}"
    for name in ("worker", "lease", "steps", "tracker", "job", "poll", "report", "deliver", "share")
)

# layer (a module or package) -> the prefixes it must not import; the table of
# docs/architecture.md, "What each folder may import".
FORBIDDEN: dict[str, tuple[str, ...]] = {
    "bot.domain": (*IO_LIBRARIES, *OUTER_LAYERS, "bot.tracking", "bot.settings", "bot.ports"),
    "bot.ports": (*IO_LIBRARIES, *OUTER_LAYERS, "bot.settings"),
    "bot.usecases": (*IO_LIBRARIES, "bot.adapters", "bot.entrypoints", "bot.bootstrap", "bot.cli"),
    "bot.tracking": (*IO_LIBRARIES, *OUTER_LAYERS, "bot.settings"),
    "bot.tracking.model": (*TRACKING_WORKER,),
    "bot.tracking.ports": (*TRACKING_WORKER,),
    "bot.adapters": (
        "bot.entrypoints",
        "bot.usecases",
        "bot.bootstrap",
        "bot.cli",
        *TRACKING_WORKER,
    ),
    "bot.entrypoints": ("bot.cli",),
    "bot.profiles": (*IO_LIBRARIES, *OUTER_LAYERS),
}


@dataclass(frozen=True)
class Import:
    """One imported module name, where it is imported."""

    module: str  # the importing module, dotted
    target: str  # the imported module, dotted and absolute
    path: Path
    line: int


def module_name(path: Path, repo: Path) -> str:
    """Return the dotted name of a source file under the repository root `repo`."""
    parts = path.relative_to(repo).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def imports_of(path: Path, repo: Path) -> Iterator[Import]:
    """Yield every module `path` imports, at any depth of its syntax tree."""
    module = module_name(path, repo)
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), str(path))):
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield Import(module, alias.name, path, node.lineno)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")[: len(package.split(".")) - (node.level - 1)]
                base = ".".join([*anchor, *([base] if base else [])])
            if base:
                yield Import(module, base, path, node.lineno)
            for alias in node.names:
                yield Import(
                    module, f"{base}.{alias.name}" if base else alias.name, path, node.lineno
                )


def within(name: str, prefix: str) -> bool:
    """Say whether the dotted `name` is `prefix` or inside it."""
    return name == prefix or name.startswith(prefix + ".")


def violations(repo: Path = ROOT) -> list[str]:
    """Return `file:line: module imports target (forbidden in layer)` for each crossing."""
    found = []
    for path in sorted((repo / "bot").rglob("*.py")):
        for imp in imports_of(path, repo):
            for layer, forbidden in FORBIDDEN.items():
                if not within(imp.module, layer):
                    continue
                for prefix in forbidden:
                    if within(imp.target, prefix) and not within(imp.module, prefix):
                        where = f"{imp.path.relative_to(repo)}:{imp.line}"
                        found.append(
                            f"{where}: {imp.module} imports {imp.target} ({layer} may not)"
                        )
    return sorted(set(found))


def test_no_layer_imports_what_the_architecture_forbids() -> None:
    """Domain, ports, use cases, tracking, adapters and profiles import only what the doc allows."""
    found = violations()
    assert found == [], "\n".join(found)


def test_the_check_sees_imports_inside_functions_and_type_checking(tmp_path: Path) -> None:
    """A forbidden import hidden in a function or a TYPE_CHECKING block is still found."""
    source = (
        "from typing import TYPE_CHECKING\n"
        "if TYPE_CHECKING:\n"
        "    from sqlalchemy import Engine\n"
        "def later():\n"
        "    from ..adapters import hss\n"
    )
    (tmp_path / "bot" / "domain").mkdir(parents=True)
    (tmp_path / "bot" / "domain" / "_probe_for_test_architecture.py").write_text(source)
    assert violations(tmp_path) == [
        "bot/domain/_probe_for_test_architecture.py:3: "
        "bot.domain._probe_for_test_architecture imports sqlalchemy (bot.domain may not)",
        "bot/domain/_probe_for_test_architecture.py:3: "
        "bot.domain._probe_for_test_architecture imports sqlalchemy.Engine (bot.domain may not)",
        "bot/domain/_probe_for_test_architecture.py:5: "
        "bot.domain._probe_for_test_architecture imports bot.adapters (bot.domain may not)",
        "bot/domain/_probe_for_test_architecture.py:5: "
        "bot.domain._probe_for_test_architecture imports bot.adapters.hss (bot.domain may not)",
    ]


@pytest.mark.parametrize("layer", sorted(FORBIDDEN))
def test_every_layer_of_the_table_exists(layer: str) -> None:
    """Each layer the table constrains is a real module or package (no rule guards nothing)."""
    relative = Path(*layer.split("."))
    assert (ROOT / relative).is_dir() or (ROOT / relative).with_suffix(".py").is_file()


def long_modules() -> list[str]:
    """Return the modules over MAX_LINES whose docstring does not say why."""
    found = []
    for path in sorted(BOT.rglob("*.py")):
        text = path.read_text(encoding="utf-8")
        lines = len(text.splitlines())
        doc = ast.get_docstring(ast.parse(text)) or ""
        if lines > MAX_LINES and LONG_MODULE_MARKER not in " ".join(doc.split()):
            found.append(f"{path.relative_to(ROOT)}: {lines} lines")
    return found


def test_no_module_is_long_without_saying_why() -> None:
    """A module over 400 lines says in its docstring why ("longer than 400 lines because …")."""
    found = long_modules()
    assert found == [], "\n".join(found)
