"""Map a file's header row back to the field keys, through the names that were asked for.

The columns of an export are the `export_headers` display names the bot sent
(the documentation's Chinese names, the English ones, or a user's own), so the
only honest way to know what a column holds is to look its name up in what was
sent. A name that was not asked for, or a name that appears twice, means the
file is not what the bot thinks it is: no summary rather than a wrong one.
Without the sent headers (a file given to the CLI) the documentation's Chinese
names and the bot's English names of all 16 keys are recognized.

Names are compared after Unicode NFKC folding, trimming, collapsing inner
spaces and case folding, so `CPU限制`, `cpu限制` and full-width letters match.
"""

from __future__ import annotations

import unicodedata
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Final

from bot.domain.model import HEADER_KEYS, HEADER_NAMES
from bot.reading import values
from bot.reading.errors import UnreadableExport, clip
from bot.reading.values import Cell

HEADER_SEARCH_ROWS: Final = 10  # non-empty rows searched for the header (a title row may precede)


def fold(name: str) -> str:
    """Return the form names are compared in."""
    return " ".join(unicodedata.normalize("NFKC", name).split()).casefold()


@dataclass(frozen=True)
class Expected:
    """The names the file's columns may have, each mapped to its key."""

    names: Mapping[str, str]  # folded display name -> key
    asked: tuple[str, ...]  # the keys asked for, in order (all 16 when recognizing defaults)
    from_request: bool  # True: names are the export_headers sent; False: the default names

    @classmethod
    def from_export_headers(cls, pairs: Sequence[Sequence[str]]) -> Expected:
        """Expect exactly the `(key, display name)` pairs of the request's `export_headers`."""
        return cls.from_choices([(pair[0], (pair[1],)) for pair in pairs], from_request=True)

    @classmethod
    def from_choices(
        cls, choices: Sequence[tuple[str, Sequence[str]]], *, from_request: bool = True
    ) -> Expected:
        """Expect each key under any of its names (a CLI key given without a name has two)."""
        names: dict[str, str] = {}
        asked: list[str] = []
        for key, accepted in choices:
            if key not in HEADER_NAMES:
                raise UnreadableExport(f"unknown header key {clip(key, 40)!r}")
            if key in asked:
                raise UnreadableExport(f"header key {key} is asked for twice")
            asked.append(key)
            for name in accepted:
                folded = fold(name)
                other = names.setdefault(folded, key)
                if other != key:
                    raise UnreadableExport(
                        f"two columns were asked for under the same name {clip(name, 40)!r} "
                        f"({other}, {key}); the bot cannot tell them apart"
                    )
        return cls(names=names, asked=tuple(asked), from_request=from_request)

    @classmethod
    def defaults(cls) -> Expected:
        """Recognize the documentation's Chinese names and the bot's English names."""
        return cls.from_choices(
            [(key, (names["zh"], names["en"])) for key, names in HEADER_NAMES.items()],
            from_request=False,
        )

    def known(self) -> str:
        """Say which names were expected, for a message."""
        if not self.from_request:
            return "the documentation's Chinese names or the bot's English names"
        return "the names the export asked for"


@dataclass(frozen=True)
class ColumnMap:
    """Where each key's column is in the file, and which asked-for keys are absent."""

    index: Mapping[str, int]
    missing: tuple[str, ...]

    def keys(self) -> tuple[str, ...]:
        """Return the keys present, in the documentation's order."""
        return tuple(key for key in HEADER_KEYS if key in self.index)


def locate(rows: Iterator[Sequence[Cell]], expected: Expected) -> ColumnMap:
    """Consume rows up to and including the header row; return where each key's column is.

    The header is the first non-empty row whose every name is expected, among
    the first `HEADER_SEARCH_ROWS` non-empty rows (so a title row above it does
    no harm). When none is, the first non-empty row says why.
    """
    first: Sequence[Cell] | None = None
    seen = 0
    for row in rows:
        names = [values.text(cell) for cell in row]
        if not any(names):
            continue
        first = first if first is not None else row
        if all(name is None or fold(name) in expected.names for name in names):
            return _map(names, expected)
        seen += 1
        if seen >= HEADER_SEARCH_ROWS:
            break
    if first is None:
        raise UnreadableExport("the sheet is empty")
    names = [values.text(cell) for cell in first]
    unexpected = [n for n in names if n is not None and fold(n) not in expected.names]
    more = f" and {len(unexpected) - 1} more" if len(unexpected) > 1 else ""
    if len(unexpected) == len([n for n in names if n is not None]):
        raise UnreadableExport(
            f"no column has a name the bot expects (first: {clip(unexpected[0], 40)!r}{more}); "
            f"it expects {expected.known()}"
        )
    raise UnreadableExport(
        f"unexpected column {clip(unexpected[0], 40)!r}{more}; the bot expects {expected.known()}"
    )


def _map(names: list[str | None], expected: Expected) -> ColumnMap:
    index: dict[str, int] = {}
    for position, name in enumerate(names):
        if name is None:
            continue  # a column without a name is not read: its meaning is unknown
        key = expected.names[fold(name)]
        if key in index:
            raise UnreadableExport(
                f"columns {_letter(index[key])} and {_letter(position)} are both {key} "
                f"({clip(name, 40)!r}): a duplicated header"
            )
        index[key] = position
    missing = tuple(key for key in expected.asked if key not in index)
    return ColumnMap(index=index, missing=missing if expected.from_request else ())


def _letter(position: int) -> str:
    """Return a spreadsheet column letter: 0 is A, 26 is AA."""
    letters = ""
    position += 1
    while position:
        position, rest = divmod(position - 1, 26)
        letters = chr(ord("A") + rest) + letters
    return letters
