"""The bot scopes the app manifest grants, read without pyyaml (the demo has runtime deps only)."""

from __future__ import annotations

from pathlib import Path
from typing import Final, Literal, overload

MANIFEST: Final = Path(__file__).resolve().parents[2] / "manifest.yml"  # in a checkout


@overload
def manifest_scopes(
    path: str | Path = ..., *, missing_ok: Literal[False] = ...
) -> tuple[str, ...]: ...
@overload
def manifest_scopes(path: str | Path = ..., *, missing_ok: bool) -> tuple[str, ...] | None: ...
def manifest_scopes(
    path: str | Path = MANIFEST, *, missing_ok: bool = False
) -> tuple[str, ...] | None:
    """Return the bot scopes an app manifest grants (`oauth_config.scopes.bot`), in order.

    The default is the checkout's `manifest.yml`. With `missing_ok`, a missing
    file (an installed package has none) gives None, which `FakeSlack` reads as
    "every scope". A small reader, not pyyaml: the demo runs on runtime
    dependencies only. It understands block and flow lists, quotes and comments.
    """
    try:
        text = Path(path).read_text(encoding="utf-8")
    except FileNotFoundError:
        if missing_ok:
            return None
        raise
    found = _yaml_list(text, ("oauth_config", "scopes", "bot"))
    if found is None:
        raise ValueError(f"{path}: no oauth_config.scopes.bot list")
    return found


def _yaml_list(text: str, keys: tuple[str, ...]) -> tuple[str, ...] | None:  # noqa: C901  a small YAML reader: one branch per line shape
    """Return the list of plain scalars at a key path of a simple YAML mapping, or None."""
    path: list[tuple[int, str]] = []  # (indent, key) of the mappings enclosing the line
    items: list[str] | None = None
    for raw in text.splitlines():
        line = _uncomment(raw).rstrip()
        if not line.strip() or line.lstrip().startswith(("---", "...")):
            continue
        indent = len(line) - len(line.lstrip(" "))
        body = line.strip()
        if body.startswith("- ") or body == "-":
            # A block sequence may sit at its key's own indent.
            while path and path[-1][0] > indent:
                path.pop()
            if items is not None and tuple(k for _, k in path) == keys:
                items.append(_scalar(body[1:]))
            continue
        key, sep, value = body.partition(":")
        if not sep or (value and not value.startswith(" ")):
            continue  # not a `key: value` line this reader needs
        while path and path[-1][0] >= indent:
            path.pop()
        path.append((indent, _scalar(key)))
        if tuple(k for _, k in path) == keys:
            value = value.strip()
            if value.startswith("[") and value.endswith("]"):
                return tuple(_scalar(v) for v in value[1:-1].split(",") if v.strip())
            items = []
        elif items is not None and len(path) <= len(keys):
            break  # left the list's mapping
    return None if items is None else tuple(items)


def _uncomment(line: str) -> str:
    """Drop a `#` comment (at the start or after a space), leaving quoted text alone."""
    quote: str | None = None
    for index, char in enumerate(line):
        if quote is not None:
            quote = None if char == quote else quote
        elif char in "'\"" and (index == 0 or line[index - 1] in " [,"):
            quote = char  # a quoted scalar, not an apostrophe inside a word
        elif char == "#" and (index == 0 or line[index - 1] in " \t"):
            return line[:index]
    return line


def _scalar(text: str) -> str:
    text = text.strip()
    if len(text) >= 2 and text[0] == text[-1] and text[0] in "'\"":
        return text[1:-1]
    return text
