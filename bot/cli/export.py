"""`hss-export-bot export key=value … [--dry-run] [--json]`: one export from a terminal.

The words are read by the `/hss-export` grammar (`bot.domain.grammar`) and sent
by the bot's HSS client, so the terminal and Slack cannot disagree. The shell
has already done the quoting (`pod_name="web 1"` arrives as one word), so the
words are taken as they are and never unquoted a second time.

Exit codes: 0 done, 1 HSS refused or failed the call, 2 bad input or settings.
"""

from __future__ import annotations

import argparse
import asyncio
import getpass
import json
import os
import sys
from collections.abc import Sequence
from typing import Any, Final

from bot.adapters.audit_store import open_audit_log
from bot.adapters.hss import HssClient, build_hss_client
from bot.cli.profile_choice import profile_client
from bot.domain.errors import AuditUnavailable, InvalidCommand, SettingsError
from bot.domain.grammar import (
    Export,
    Help,
    OpenModal,
    Preview,
    RequestDefaults,
    help_text,
    parse_tokens,
)
from bot.domain.model import ExportRequest
from bot.domain.types import Actor, ExportResult, Failed, ReplyTo, Submitted
from bot.ports import Hss
from bot.settings import Settings, load_settings
from bot.usecases import ExportService
from bot.usecases.refusal import resolved

PROG: Final = "hss-export-bot export"
_FLAGS: Final = ("--dry-run", "--json")


def register(sub: Any) -> None:
    """Add `export` to the parser."""
    parser: argparse.ArgumentParser = sub.add_parser(
        "export",
        help="create one HSS container export task (the /hss-export key=value grammar)",
        description="Create one HSS container export task and print its task id. "
        "Takes the same key=value pairs as /hss-export; quote values with spaces "
        "for your shell. `hss-export-bot export help` lists every key.",
    )
    parser.add_argument(
        "--dry-run",
        action="store_true",
        help="print the exact request (credentials redacted) and send nothing; "
        "works without credentials",
    )
    parser.add_argument("--json", action="store_true", help="print JSON instead of plain text")
    parser.add_argument(
        "--profile",
        metavar="NAME",
        help="the HSS profile to export from (same as profile=NAME)",
    )
    # REMAINDER, so the flags may also come after (or between) the pairs.
    parser.add_argument("fields", nargs=argparse.REMAINDER, metavar="key=value")
    parser.set_defaults(handler=_handle)


def _handle(args: argparse.Namespace) -> int:
    words: list[str] = list(args.fields)
    dry_run = args.dry_run or "--dry-run" in words
    as_json = args.json or "--json" in words
    words = [word for word in words if word not in _FLAGS]
    profile = args.profile
    if "--profile" in words[:-1]:  # after the pairs, REMAINDER kept it as a word
        at = words.index("--profile")
        profile, words = words[at + 1], words[:at] + words[at + 2 :]
    if profile is not None:
        words.append(f"profile={profile}")
    if words[:1] == ["--"]:
        words = words[1:]
    # Bad input is reported first, even when the settings are wrong too; then every
    # problem of what export reads (HSS and the audit log; a dry run needs neither
    # credentials nor a project id) in one message. PORT or Slack's settings never matter.
    settings_error: SettingsError | None = None
    try:
        settings = load_settings([] if dry_run else ["hss"], uses=("hss", "audit"))
    except SettingsError as exc:
        settings_error = exc
        settings = load_settings(uses=())  # only for the grammar's defaults
    return run_export(settings, words, dry_run, as_json=as_json, settings_error=settings_error)


def run_export(  # noqa: PLR0911  one exit code per command kind and failure
    settings: Settings,
    words: Sequence[str],
    dry_run: bool,
    *,
    as_json: bool = False,
    settings_error: SettingsError | None = None,
) -> int:
    """Parse `words` as `/hss-export` does, then send the export (or only show it); exit code.

    A real export goes through `ExportService` like a Slack command: audited
    (source `cli`, the OS user) before HSS is called, its outcome recorded after.
    """
    defaults = RequestDefaults(
        header_lang=settings.HSS_EXPORT_HEADER_LANG,
        enterprise_project_id=settings.HSS_ENTERPRISE_PROJECT_ID,
    )
    try:
        command = parse_tokens(words, defaults)
    except InvalidCommand as exc:
        return _fail("invalid_input", [str(p) for p in exc.problems], code=2, as_json=as_json)
    if settings_error is not None and isinstance(command, Preview):
        try:  # a preview is a dry run: only malformed values stop it
            settings = load_settings([], uses=("hss", "audit"))
        except SettingsError as exc:
            return _fail("settings", exc.problems, code=2, as_json=as_json)
        settings_error = None
    if settings_error is not None and isinstance(command, Export):
        return _fail("settings", settings_error.problems, code=2, as_json=as_json)
    match command:
        case Help():
            print(help_text(PROG, slack=False))
            return 0
        case Export(request=request):
            return asyncio.run(_send(settings, request, dry_run=dry_run, as_json=as_json))
        case Preview(request=request):
            return asyncio.run(_send(settings, request, dry_run=True, as_json=as_json))
        case OpenModal():
            problem = (
                "nothing to export: give key=value pairs, e.g. `status=running`, "
                "or `headers=all` for every container"
            )
            return _fail("invalid_input", [problem], code=2, as_json=as_json)
        case _:
            problem = (
                f"`{words[0]}` is a Slack command; from a terminal, `{PROG}` takes "
                "key=value pairs, `preview key=value …` or `help`"
            )
            return _fail("invalid_input", [problem], code=2, as_json=as_json)


def _fail(kind: str, problems: Sequence[str], *, code: int, as_json: bool) -> int:
    """Print the problems to stderr, and with `--json` as one JSON object on stdout too."""
    if kind == "settings":
        print(f"error: {SettingsError(list(problems)).user_message()}", file=sys.stderr)
    elif kind == "invalid_input":
        for problem in problems:
            print(problem, file=sys.stderr)
    else:
        print(f"error: {problems[0]}", file=sys.stderr)
    if as_json:
        print(json.dumps({"error": kind, "problems": list(problems)}, ensure_ascii=False))
    return code


async def _send(settings: Settings, request: ExportRequest, *, dry_run: bool, as_json: bool) -> int:
    client: HssClient
    try:
        if request.profile is None and settings.HSS_PROFILES_FILE is None:
            client = build_hss_client(settings, allow_missing_credentials=dry_run)
        else:
            client, profile = profile_client(settings, request.profile)
            request = resolved(request, profile)
    except SettingsError as exc:
        return _fail("settings", exc.problems, code=2, as_json=as_json)
    except InvalidCommand as exc:
        return _fail("invalid_input", [str(p) for p in exc.problems], code=2, as_json=as_json)
    try:
        if dry_run:
            _note_placeholders(settings)
            _print_request(client.describe_create(request), request, as_json=as_json)
            return 0
        result = await _export_audited(settings, client, request)
    finally:
        await client.aclose()
    if isinstance(result, Failed):
        kind = "audit_unavailable" if isinstance(result.error, AuditUnavailable) else "hss"
        return _fail(kind, [result.error.user_message()], code=1, as_json=as_json)
    assert isinstance(result, Submitted)  # a CLI run has no dedupe key: never a Duplicate
    task = result.task
    if as_json:
        print(json.dumps({"task_id": task.task_id, "request_id": task.request_id}))
    else:
        print(task.task_id)
    if not result.audit_complete:
        print("warning: the audit log did not record the outcome", file=sys.stderr)
    return 0


async def _export_audited(settings: Settings, client: Hss, request: ExportRequest) -> ExportResult:
    """Run the export through the use case, so the terminal is audited like Slack (source cli)."""
    try:
        audit = await open_audit_log(settings.AUDIT_DB_URL)
    except AuditUnavailable as exc:
        return Failed(None, exc)
    try:
        service = ExportService(client, audit, _TerminalNotifier())
        actor = Actor(team_id="cli", user_id=_os_user(), channel_id="terminal", source="cli")
        return await service.export(actor, request, ReplyTo(channel_id="terminal"))
    finally:
        await audit.aclose()


class _TerminalNotifier:
    """The terminal is told by the exit code and stdout; nothing to post elsewhere."""

    async def export_submitted(
        self, reply: ReplyTo, actor: Actor, request: ExportRequest, result: Submitted
    ) -> None:
        return None

    async def export_failed(self, reply: ReplyTo, actor: Actor, result: Failed) -> None:
        return None


def _os_user() -> str:
    try:
        return getpass.getuser()
    except (KeyError, OSError):
        return f"uid:{os.getuid()}"


def _note_placeholders(settings: Settings) -> None:
    missing = []
    if not settings.HSS_PROJECT_ID:
        missing.append("project id")
    if not settings.has_hss_credentials:
        missing.append("credentials")
    if missing:
        print(
            f"note: dry run with placeholder {' and '.join(missing)} (not configured); "
            "nothing is sent",
            file=sys.stderr,
        )


def _print_request(described: dict[str, Any], request: ExportRequest, *, as_json: bool) -> None:
    """Print the call as an HTTP message (or JSON): the body as the exact bytes sent."""
    if as_json:
        print(json.dumps(described, ensure_ascii=False, indent=2))
        return
    print(f"{described['method']} {described['url']}")
    for name, value in described["headers"].items():
        print(f"{name}: {value}")
    print()
    print(request.body_bytes().decode())
