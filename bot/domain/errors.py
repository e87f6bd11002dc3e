"""One error hierarchy whose messages are safe to show a user.

Adapters translate their libraries' errors into these at the boundary. No
message, attribute or repr here may carry a secret: the only inputs are codes,
request ids and texts the bot wrote itself or HSS returned.
"""

from __future__ import annotations

from dataclasses import dataclass

from bot.domain.text import clip


class BotError(Exception):
    """Base of every error the bot raises on purpose; `str()` is safe to show a user."""

    def user_message(self) -> str:
        """Return the text a Slack or terminal user sees."""
        return str(self)


@dataclass(frozen=True)
class Problem:
    """One thing wrong with one field of a command."""

    key: str
    given: str | None
    accepted: str
    hint: str | None = None

    def __str__(self) -> str:
        given = "nothing" if self.given is None else repr(clip(self.given, 80))
        text = f"`{self.key}`: got {given}; accepted: {self.accepted}"
        return f"{text} ({self.hint})" if self.hint else text


class InvalidCommand(BotError):
    """The command text or form has problems; every one is listed."""

    def __init__(self, problems: list[Problem]) -> None:
        self.problems = problems
        super().__init__("; ".join(str(p) for p in problems))


class SettingsError(BotError):
    """Settings are missing or malformed; every one is listed, no value echoed."""

    def __init__(self, problems: list[str]) -> None:
        self.problems = problems
        super().__init__("invalid settings:\n" + "\n".join(f"  - {p}" for p in problems))


class HssError(BotError):
    """HSS refused or failed a call; carries its error code and request id."""

    def __init__(
        self,
        message: str,
        *,
        status: int | None = None,
        code: str | None = None,
        request_id: str | None = None,
    ) -> None:
        self.message = message
        self.status = status
        self.code = code
        self.request_id = request_id
        parts = [message]
        if code:
            parts.append(f"error code {code}")
        if status:
            parts.append(f"HTTP {status}")
        if request_id:
            parts.append(f"request id {request_id}")
        super().__init__(parts[0] + (f" ({', '.join(parts[1:])})" if len(parts) > 1 else ""))


class HssUnavailable(HssError):
    """HSS could not be reached or kept failing after retries."""


class HssAuthError(HssError):
    """The service account was refused (bad AK/SK, expired or refused token)."""


class HssOutcomeUnknown(HssError):
    """A create may or may not have reached HSS; it is not retried blindly."""


class AuditUnavailable(BotError):
    """The audit store cannot record the command, so the command is not run."""


class AccessDenied(BotError):
    """The caller is not allowed to run exports here."""


class DuplicateCommand(Exception):
    """This dedupe key was recorded before: the command is a retry, not a new export."""

    def __init__(self, entry_id: int) -> None:
        self.entry_id = entry_id
        super().__init__(f"command already recorded as audit entry {entry_id}")


# --- following tasks and delivering files ----------------------------------------------


class TaskStoreUnavailable(BotError):
    """The task store cannot be read or written; the tracker retries later."""


class ApprovalStoreUnavailable(BotError):
    """The pending approvals cannot be read or written; nothing is decided or run."""


class ScheduleStoreUnavailable(BotError):
    """The schedules cannot be read or written; no run starts, the next claim retries."""


class SavedExportStoreUnavailable(BotError):
    """The saved exports cannot be read or written; nothing is saved, run or forgotten."""


class DeliveryError(BotError):
    """Slack did not take a file or message; `code` is Slack's error code (or HTTP status)."""

    def __init__(self, message: str, *, code: str | None = None) -> None:
        self.code = code
        super().__init__(message)


class DeliveryUnavailable(DeliveryError):
    """Slack could not be reached or asked us to slow down: trying again later may work."""


class DeliveryRefused(DeliveryError):
    """Slack refused the call (channel gone, bot not in channel, bad auth): do not retry."""


class SpoolFailed(BotError):
    """The download could not be written to local disk (full, unwritable): retried, bounded."""


class LeaseLost(Exception):
    """Another worker owns the task now: stop working on it without saving."""


# --- the command line ----------------------------------------------------------------


class NothingToDownload(BotError):
    """The task has no file to fetch (it failed at HSS, or names no file)."""


class WouldOverwrite(BotError):
    """The destination exists and `--force` was not given."""


# --- reading user groups -------------------------------------------------------------


class DirectoryUnavailable(Exception):
    """A user group's members could not be read; `why` names the failure, nothing more.

    `passing`: the failure may pass by itself (timeout, rate limit, Slack down),
    as opposed to a setup that is wrong (no such group, a missing scope).
    """

    def __init__(self, why: str, *, passing: bool = False) -> None:
        self.why = why
        self.passing = passing
        super().__init__(why)
