"""Split a command's text into words, as a POSIX shell's quoting does.

Slack's curly quotes count as straight ones (its clients put them in as people
type); a value with spaces is quoted (`pod_name="web 1"`), `#` is an ordinary
character. Unbalanced quotes are one problem on the text, saying how to quote.
"""

from __future__ import annotations

import re
import shlex
from typing import Final

from bot.domain.errors import InvalidCommand, Problem
from bot.domain.grammar.fields import TEXT_KEY
from bot.domain.grammar.values import CLIP
from bot.domain.text import clip

_SMART_QUOTES: Final = str.maketrans({"“": '"', "”": '"', "„": '"', "‘": "'", "’": "'"})
# What a POSIX `shlex` with `whitespace_split` reads as more than a word separator, and its
# whitespace (not str.split's: a no-break space stays inside a word, as shlex keeps it).
_SHLEX_SPECIAL: Final = re.compile(r"[\"'\\]")
_SHLEX_BLANKS: Final = " \t\r\n"
_SHLEX_WHITESPACE: Final = re.compile(r"[ \t\r\n]+")


def split_words(text: str) -> list[str]:
    """Return the words of `text`; raise `InvalidCommand` on unbalanced quotes."""
    text = text.translate(_SMART_QUOTES)
    if not _SHLEX_SPECIAL.search(text):
        # No quote or escape: shlex would only split on its whitespace, at a tenth of the cost.
        stripped = text.strip(_SHLEX_BLANKS)
        return _SHLEX_WHITESPACE.split(stripped) if stripped else []
    lexer = shlex.shlex(text, posix=True)
    lexer.whitespace_split = True
    lexer.commenters = ""  # `#` is an ordinary character in names
    try:
        return list(lexer)
    except ValueError as exc:  # "No closing quotation" / "No escaped character"
        raise InvalidCommand(
            [
                Problem(
                    TEXT_KEY,
                    clip(text, CLIP),
                    "balanced quotes: wrap a value with spaces in one pair, "
                    'e.g. `pod_name="web 1"`',
                    f"{str(exc).lower()}; put a value with an apostrophe in double quotes: "
                    '`pod_name="O\'Brien"`',
                )
            ]
        ) from None
