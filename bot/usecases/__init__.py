"""The application layer: the use cases every entry point (Slack, CLI) hands its work to.

`ExportService` runs an export; `Gatekeeper` admits or refuses a command and
audits each refusal; `TaskStatusQuery` and `CommandHistory` answer `status`
and `history`; `SavedExports` saves, runs and forgets saved exports. They
speak to the outside world only through `bot.ports`.
"""

from bot.usecases.approvals import ApprovalExpiry, ApprovalService
from bot.usecases.export import Count, ExportService, ignore_count
from bot.usecases.history import HISTORY_LENGTH, CommandHistory
from bot.usecases.refusal import Gatekeeper, Refused
from bot.usecases.saved import Changed, Ready, SavedExports
from bot.usecases.status import TaskLookup, TaskStatusQuery

__all__ = [
    "HISTORY_LENGTH",
    "ApprovalExpiry",
    "ApprovalService",
    "Changed",
    "CommandHistory",
    "Count",
    "ExportService",
    "Gatekeeper",
    "Ready",
    "Refused",
    "SavedExports",
    "TaskLookup",
    "TaskStatusQuery",
    "ignore_count",
]
