"""The local demo: the real bot against loopback stand-ins for HSS and Slack.

Nothing about the bot is faked: the same `build_runtime` as production, its
real HTTP endpoint with signature checks, the grammar, the AK/SK signer, the
SQLite audit log and the task tracker. Only the outside world is emulated, by
the same `emulators` the tests use: two `FakeHss`, one per HSS account
(profile `prod` in cn-north-4, the demo channel's default, and `staging` in
ap-southeast-1), each checking every signature against its own keys; and
`FakeSlack`, which signs the commands it sends like Slack does and records what
the bot posts. The profiles come from a TOML file the demo writes into its
data directory (`HSS_PROFILES_FILE`), the keys from environment variables it
sets for the length of the demo only. The demo fires a few commands (one of
them with `profile=staging`), runs the Workflow Builder step once (a signed
`function_executed` event, completed by the tracker once the file is in the
thread), schedules a saved export and moves the bot's clock two Mondays ahead
(`bot.demo_schedule`), and prints what a Slack user would have seen, where each command
landed, then the audit log. The steps are in `bot.demo_steps`.
"""

from __future__ import annotations

import asyncio
import os
import shlex
import shutil
import sys
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Final

from bot.bootstrap import Runtime, build_runtime, start_http_runtime
from bot.demo_home import RUN_NOW, home_scenario
from bot.demo_schedule import RUNS, MovableClock, schedule_scenario
from bot.demo_steps import (
    APPROVER,
    CHANNEL,
    USER,
    USER_TZ,
    approval_scenario,
    export_again,
    other_profile,
    say,
    scenario,
    show_channel,
    wait_for_file,
    wait_until_settled,
    workflow_step,
)
from bot.entrypoints.web import EVENTS_PATH
from bot.observability import configure_logging
from bot.settings import Settings
from emulators.fake_hss import FakeHss
from emulators.fake_slack import FakeSlack, manifest_scopes

DEMO_DIR: Final = Path("data/demo")
PROFILES_FILE: Final = DEMO_DIR / "profiles.toml"


@dataclass(frozen=True)
class Account:
    """One HSS account the demo emulates, the profile that reaches it, and its share of creates."""

    profile: str
    region: str
    project_id: str
    ak_env: str
    sk_env: str
    ak: str
    sk: str
    task_prefix: str
    channels: tuple[str, ...]
    creates: int  # how many creates the demo's steps send it

    def stand_in(self) -> FakeHss:
        """Return the HSS stand-in that knows only this account's keys and project."""
        return FakeHss(
            ak=self.ak,
            sk=self.sk,
            project_id=self.project_id,
            polls_until_done=2,
            file_format="xlsx",  # a real export, as HSS would deliver
            task_prefix=self.task_prefix,
        )


# Prod: the typed command, the form, the workflow step, the approved export, the repeat,
# and the two runs of the schedule.
PROD: Final = Account(
    "prod", "cn-north-4", "demo-prod-project", "DEMO_PROD_AK", "DEMO_PROD_SK",
    "demo-prod-ak", "demo-prod-sk", "task", (CHANNEL,), creates=5 + RUNS + RUN_NOW,
)  # fmt: skip
# Staging: the one command sent with `profile=staging`.
STAGING: Final = Account(
    "staging", "ap-southeast-1", "demo-staging-project", "DEMO_STAGING_AK", "DEMO_STAGING_SK",
    "demo-staging-ak", "demo-staging-sk", "stg", (), creates=1,
)  # fmt: skip
ACCOUNTS: Final = (PROD, STAGING)


async def run_demo(*, keep_serving: bool = False) -> int:
    """Run the demo end to end; return 0 when every step behaved as a user expects."""
    # The demo's own output is the story; log lines (warnings only) go to stderr.
    configure_logging("WARNING", "console", stream=sys.stderr)
    if DEMO_DIR.exists():
        shutil.rmtree(DEMO_DIR)
    DEMO_DIR.mkdir(parents=True)
    keys = {a.ak_env: a.ak for a in ACCOUNTS} | {a.sk_env: a.sk for a in ACCOUNTS}
    async with (
        PROD.stand_in() as prod,
        STAGING.stand_in() as staging,
        FakeSlack(scopes=manifest_scopes(missing_ok=True)) as slack,
    ):
        _write_profiles({PROD: prod, STAGING: staging})
        slack.user_zones[USER] = USER_TZ
        clock = MovableClock()  # the real time until the schedule's part moves it ahead
        with _environment(keys):
            settings = _demo_settings(slack)
            runtime = await build_runtime(settings, clock=clock)
        runtime.start_background()
        await runtime.check_slack()
        server = await start_http_runtime(runtime, "127.0.0.1", 0)
        events = server.url + EVENTS_PATH
        try:
            say(
                f"The bot is serving {events} (signature checks on).\n"
                f"HSS stand-ins: prod ({PROD.region}) {prod.url}, "
                f"staging ({STAGING.region}) {staging.url}\n"
                f"Slack stand-in: {slack.api_url}\n"
                f"Profiles: {PROFILES_FILE} (prod is the default in <#{CHANNEL}>).\n"
                f"You are <@{USER}> in <#{CHANNEL}>."
            )
            ok = await scenario(slack, prod, events)
            ok = await wait_for_file(slack, prod) and ok
            ok = await other_profile(slack, staging, events) and ok
            ok = await workflow_step(slack, events) and ok
            ok = await wait_until_settled(runtime) and ok
            ok = await approval_scenario(slack, prod, events) and ok
            ok = await wait_until_settled(runtime) and ok
            ok = await export_again(slack, events, runtime) and ok
            ok = await schedule_scenario(slack, prod, events, runtime, clock, DEMO_DIR) and ok
            ok = await home_scenario(slack, prod, events, runtime) and ok
            await show_channel(slack)
            ok = _show_accounts({PROD: prod, STAGING: staging}) and ok
            ok = await _show_audit(runtime) and ok
            if keep_serving:
                say("Still serving; Ctrl-C to stop.")
                await asyncio.Event().wait()
        finally:
            await server.close()
            await runtime.drain_and_close()
    say("Demo finished: " + ("everything behaved as expected." if ok else "SOMETHING WAS OFF."))
    return 0 if ok else 1


def _write_profiles(stand_ins: Mapping[Account, FakeHss]) -> None:
    """Write the profiles file an operator would: names of the key variables, never keys."""
    tables = []
    for account, hss in stand_ins.items():
        channels = ", ".join(f'"{c}"' for c in account.channels)
        tables.append(
            f"[profiles.{account.profile}]\n"
            f'region = "{account.region}"\n'
            f'endpoint = "{hss.url}"  # the stand-in; omit for the region\'s HSS\n'
            f'project_id = "{account.project_id}"\n'
            f'ak_env = "{account.ak_env}"\n'
            f'sk_env = "{account.sk_env}"\n' + (f"channels = [{channels}]\n" if channels else "")
        )
    PROFILES_FILE.write_text("\n".join(tables), encoding="utf-8")


@contextmanager
def _environment(values: Mapping[str, str]) -> Iterator[None]:
    """Set these variables while the profiles are read, then put the environment back."""
    saved = {name: os.environ.get(name) for name in values}
    os.environ.update(values)
    try:
        yield
    finally:
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value


def _demo_settings(slack: FakeSlack) -> Settings:
    # `_env_file=None`: a developer's .env must not point the demo at real services.
    settings = Settings(
        _env_file=None,
        HSS_PROFILES_FILE=str(PROFILES_FILE),
        HSS_DEFAULT_PROFILE=None,
        # No account from the shell beside the demo's two: the legacy settings stay unset.
        HSS_PROJECT_ID="",
        CLOUD_SDK_AK=None,
        CLOUD_SDK_SK=None,
        CLOUD_SDK_SECURITY_TOKEN=None,
        HSS_IAM_DOMAIN=None,
        HSS_IAM_USER=None,
        HSS_IAM_PASSWORD=None,
        HSS_EXPORT_HEADER_LANG="en",
        SLACK_BOT_TOKEN=slack.bot_token,
        SLACK_SIGNING_SECRET=slack.signing_secret,
        SLACK_API_URL=slack.api_url,
        ALLOWED_CHANNEL_IDS=(CHANNEL,),
        # The two-person rule: an export of every enterprise project waits for Bob.
        APPROVAL_REQUIRED_FOR=("all_granted_eps",),
        APPROVER_USER_IDS=(APPROVER,),
        AUDIT_DB_URL=f"sqlite:///./{DEMO_DIR}/audit.db",
        TASK_POLL_INITIAL_SECONDS=0.3,
        TASK_POLL_MAX_SECONDS=1.0,
        LOG_LEVEL="WARNING",
    )
    _ = settings.profiles  # read now, while the keys' variables are set
    return settings


def _show_accounts(stand_ins: Mapping[Account, FakeHss]) -> bool:
    """Say where the commands landed; True if each account got exactly its creates, signed."""
    say(
        "Where the commands landed (each stand-in knows only its own profile's keys and "
        "project, and refuses any other signature):"
    )
    ok = True
    for account, hss in stand_ins.items():
        creates = hss.calls_for("create")
        signed = all(
            c.status is not None and c.status < 400 and account.ak in c.headers["authorization"]
            for c in hss.calls
        )
        print(
            f"  {account.profile} ({account.region}, project {account.project_id}): "
            f"{len(creates)} create call{'' if len(creates) == 1 else 's'}, "
            f"tasks {', '.join(hss.tasks)}; "
            + ("every call signed with its own keys" if signed else "A CALL WAS REFUSED")
        )
        ok = ok and signed and len(creates) == account.creates == len(hss.tasks)
    return ok


async def _show_audit(runtime: Runtime) -> bool:
    entries = await runtime.audit.list_entries()
    say(f"Audit log ({len(entries)} entries):")
    for e in entries:
        task = f" task={e.task_id}" if e.task_id else ""
        profile = e.request.profile if e.request is not None else None
        where = f" profile={profile}" if profile else ""
        delivered = f" delivered={e.delivery.get('file_name')}" if e.delivery else ""
        summary = (e.delivery or {}).get("summary") or {}
        if "rows" in summary:
            delivered += f" summary={summary['rows']} rows"
        print(
            f"  #{e.id} {e.at:%H:%M:%S} {e.source:8} <@{e.user_id}> {e.outcome}"
            f"{where}{task}{delivered}"
        )
    result = await runtime.audit.verify()
    print(f"  chain: {result}")
    database = (Path.cwd() / DEMO_DIR / "audit.db").resolve()
    print(f"  The demo's audit log is {database}; to open it, paste:")
    print(f"    {_cli_command()} audit list --db {shlex.quote(f'sqlite:///{database}')}")
    return bool(result.ok)


def _cli_command() -> str:
    """Return how to run the CLI from this shell: on PATH, else next to this Python."""
    if shutil.which("hss-export-bot"):
        return "hss-export-bot"
    script = Path(sys.executable).parent / "hss-export-bot"
    if script.exists():
        return shlex.quote(str(script.absolute()))
    return f"{shlex.quote(sys.executable)} -m bot"
