"""Render what the bot says about a followed export task: plain data in, `Message` out.

Pure, like `bot.domain.blocks`: no slack_bolt, slack_sdk or httpx, no I/O. The
tracker hands in its task (anything with the attributes of `TaskFacts`); the
text HSS or Slack wrote (errors, file names, request ids) is escaped before it
reaches mrkdwn, so it can ping no one.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Protocol

from bot.domain import blocks
from bot.domain.blocks import Message, _context, _section
from bot.domain.errors import BotError


class TaskFacts(Protocol):
    """What the messages need to know about a task (the tracker's `TrackedTask` has it all)."""

    @property
    def task_id(self) -> str: ...
    @property
    def user_id(self) -> str: ...
    @property
    def enterprise_project_id(self) -> str | None: ...
    @property
    def request(self) -> Mapping[str, Any] | None: ...
    @property
    def hss_request_id(self) -> str | None: ...
    @property
    def state(self) -> str: ...
    @property
    def file_id(self) -> str | None: ...
    @property
    def file_name(self) -> str | None: ...
    @property
    def file_size(self) -> int | None: ...
    @property
    def sha256(self) -> str | None: ...
    @property
    def error(self) -> str | None: ...
    @property
    def error_request_id(self) -> str | None: ...


def download_command(task_id: str, enterprise_project_id: str | None) -> str:
    """Return the operator command that fetches a task's file."""
    command = f"hss-export-bot download {task_id}"
    if enterprise_project_id:
        command += f" --enterprise-project-id {enterprise_project_id}"
    return command


def size_text(size: int) -> str:
    """Return a byte count for people: `512 bytes`, `1.5 MiB`."""
    value = float(size)
    for unit in ("bytes", "KiB", "MiB", "GiB"):
        if value < 1024 or unit == "GiB":
            return f"{size} bytes" if unit == "bytes" else f"{value:.1f} {unit}"
        value /= 1024
    return f"{size} bytes"  # pragma: no cover - the loop always returns


def duration_text(seconds: float) -> str:
    """Return a duration for people: `45 s`, `10 min`, `2 h`."""
    if seconds >= 3600:
        return f"{seconds / 3600:g} h"
    if seconds >= 60:
        return f"{seconds / 60:g} min"
    return f"{seconds:g} s"


def progress_message(task: TaskFacts) -> Message:
    """Render the task_id message again, with the task's state where the running note was."""
    if task.request is not None:
        head = blocks.submitted(
            user_id=task.user_id,
            record=task.request,
            task_id=task.task_id,
            request_id=task.hss_request_id,
        )
    else:
        head = Message(text=f"HSS export task {blocks.escape(task.task_id)}", blocks=[])
    state_text, detail = _state_lines(task)
    extra = [_section(state_text)]
    if detail:
        extra.append(_context(detail))
    return Message(text=f"{head.text} · {_plain_state(task)}", blocks=[*head.blocks, *extra])


def thread_notice(task: TaskFacts) -> Message | None:
    """Return the thread reply for a task that ended without a file, else None."""
    if task.state not in ("failed", "gave_up"):
        return None
    state_text, detail = _state_lines(task)
    body = [_section(state_text)]
    if detail:
        body.append(_context(detail))
    return Message(text=_plain_state(task), blocks=body)


def not_tracked(task: TaskFacts, error: BotError) -> Message:
    """Say that the bot cannot follow a task, and how to fetch its file instead."""
    command = download_command(task.task_id, task.enterprise_project_id)
    text = blocks.escape(
        f"I cannot follow task {task.task_id} ({error.user_message()}). When it is done, "
        f"an operator can fetch the file with: {command}"
    )
    return Message(text=text, blocks=[_section(f":warning: {text}")])


def follow_up_here(announcement: Message, channel_id: str) -> Message:
    """Add to a task_id message that the file comes here, because the channel refused the bot."""
    note = (
        f"My message to <#{blocks.escape(channel_id)}> did not go through, so the file and "
        "any news of this export will come here, in this message's thread."
    )
    return Message(
        text=f"{announcement.text} (the file will come here)",
        blocks=[*announcement.blocks, _context(f":information_source: {note}")],
    )


# --- helpers ------------------------------------------------------------------------------


def _plain_state(task: TaskFacts) -> str:
    """Return the state as notification text (escaped: HSS and Slack wrote some of it)."""
    esc = blocks.escape
    name = esc(task.file_name or "")
    command = esc(download_command(task.task_id, task.enterprise_project_id))
    match task.state:
        case "done" if task.error:
            return f"ready: {name}; delivery not confirmed, use {command}"
        case "done":
            return f"ready: {name} ({size_text(task.file_size or 0)}) is in the thread"
        case "too_large":
            return f"ready but too large for Slack; fetch it with {command}"
        case "failed":
            return f"failed: {esc(task.error or 'no detail')}"
        case "gave_up":
            return f"gave up: {esc(task.error or 'no detail')}"
        case _:
            return "running"


def _state_lines(task: TaskFacts) -> tuple[str, str | None]:
    """Return the state section's mrkdwn and its context line (request id, checksum)."""
    esc = blocks.escape
    command = f"`{esc(download_command(task.task_id, task.enterprise_project_id))}`"
    name = f"`{esc(task.file_name or '')}`"
    match task.state:
        case "done" if task.error:
            return (
                f":white_check_mark: *Export ready*: {name}. Slack could not confirm that it "
                f"reached this thread; if it is missing, fetch it with {command}.",
                None,
            )
        case "done":
            return (
                f":white_check_mark: *Export ready*: {name} ({size_text(task.file_size or 0)}) "
                "is in the thread.",
                f"sha256 `{esc(task.sha256 or '')}`",
            )
        case "too_large":
            return (
                f":package: *Export ready*, but {name} is {esc(task.error or 'too large')}, "
                f"so it was not uploaded. Fetch it with {command}.",
                None,
            )
        case "failed" | "gave_up":
            head = "Export failed" if task.state == "failed" else "Stopped following the export"
            text = f":x: *{head}*: {esc(task.error or 'no detail')}"
            if task.state == "gave_up":
                text += f"\nIf HSS finishes it later, fetch the file with {command}."
            elif task.file_id:
                text += f"\nHSS has the file: fetch it with {command}."
            detail = (
                f"HSS request id `{esc(task.error_request_id)}`" if task.error_request_id else None
            )
            return text, detail
        case _:
            return ":hourglass_flowing_sand: *Export running* at HSS…", None
