"""Why an export file gave no summary, in one line a Slack user can read."""

from __future__ import annotations

from bot.domain.errors import BotError


class UnreadableExport(BotError):
    """The file is not one the bot summarizes; `str()` is one line saying why.

    The file itself is still delivered: this only means "no summary". The
    message names the file's trouble (format, size, header, encoding) and never
    quotes more than a short, escaped-by-the-renderer piece of the file.
    """


def clip(text: str, limit: int = 60) -> str:
    """Return `text` on one line, at most `limit` characters, for quoting file content."""
    flat = " ".join(text.split())
    return flat if len(flat) <= limit else flat[: limit - 1] + "…"
