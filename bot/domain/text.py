"""Text helpers every renderer shares: one way to shorten what a limit would cut."""

from __future__ import annotations


def clip(text: str, limit: int) -> str:
    """Return `text` shortened to at most `limit` characters, ending in `…` when cut."""
    return text if len(text) <= limit else text[: limit - 1] + "…"
