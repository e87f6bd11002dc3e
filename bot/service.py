"""Former home of the export use case; kept so existing imports keep working.

The use cases live in `bot.usecases`, the values they return in
`bot.domain.types` and the protocols they need in `bot.ports`. New code
imports from there; this module only re-exports the names it used to define.
"""

from bot.domain.types import (
    Announcement,
    Duplicate,
    ExportResult,
    Failed,
    ReplyTo,
    Submitted,
)
from bot.ports import Notifier, TaskFollower
from bot.usecases.export import ExportService

__all__ = [
    "Announcement",
    "Duplicate",
    "ExportResult",
    "ExportService",
    "Failed",
    "Notifier",
    "ReplyTo",
    "Submitted",
    "TaskFollower",
]
