"""The application layer: the use cases every entry point (Slack, CLI) hands its work to.

`ExportService` runs an export; `Gatekeeper` admits or refuses a command and
audits each refusal; `TaskStatusQuery` and `CommandHistory` answer `status`
and `history`. They speak to the outside world only through `bot.ports`.
"""

from bot.usecases.approvals import ApprovalExpiry, ApprovalService
from bot.usecases.export import Count, ExportService, ignore_count
from bot.usecases.history import HISTORY_LENGTH, CommandHistory
from bot.usecases.refusal import Gatekeeper, Refused
from bot.usecases.status import TaskLookup, TaskStatusQuery

__all__ = [
    "HISTORY_LENGTH",
    "ApprovalExpiry",
    "ApprovalService",
    "CommandHistory",
    "Count",
    "ExportService",
    "Gatekeeper",
    "Refused",
    "TaskLookup",
    "TaskStatusQuery",
    "ignore_count",
]
