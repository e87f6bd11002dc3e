"""Build the Slack app: one factory, from settings and the collaborators it is handed.

`create_app` wires the Bolt `AsyncApp` (the Web API client, request
verification, the listener groups) and nothing else: no I/O at import or build
time. The same app serves HTTP mode (`bot.entrypoints.web`) and Socket Mode
(`bot.entrypoints.socket`). Bolt answers Slack when a listener returns; each
listener returns once it has acked and hands the rest to a task the `Lifecycle`
tracks (`bot.entrypoints.listeners.running`), so a graceful shutdown can wait for it.
"""

from __future__ import annotations

import dataclasses
import functools
import logging
import time
from collections.abc import Callable
from typing import Any, cast

from slack_bolt.async_app import AsyncApp
from slack_sdk.web.async_client import AsyncWebClient

from bot.access import AccessControl, AccessPolicy, ApprovalPolicy, ProfileAccess
from bot.adapters.slack_approvals import SlackApprovalMessenger
from bot.adapters.slack_home import SlackHome
from bot.adapters.slack_notifier import SlackNotifier, build_web_client, connect_like
from bot.adapters.slack_usergroups import SlackUsergroups, prompt_client
from bot.adapters.slack_users import SlackUserZones
from bot.adapters.slack_workspace import SlackWorkspace
from bot.domain.blocks import Message
from bot.domain.errors import SettingsError
from bot.domain.grammar import RequestDefaults
from bot.domain.model import ExportRequest
from bot.domain.types import Actor, ReplyTo
from bot.entrypoints.deps import AppDeps, Count, Describe, ignore_count
from bot.entrypoints.listeners import approvals as approval_buttons
from bot.entrypoints.listeners import commands, errors, home, modal, shortcut, workflow
from bot.lifecycle import Lifecycle
from bot.ports import ApprovalStore, AuditLog, Hss, SavedExportStore, ScheduleStore
from bot.settings import Settings
from bot.usecases import (
    ApprovalService,
    CommandHistory,
    ExportService,
    Gatekeeper,
    SavedExports,
    TaskStatusQuery,
)
from bot.usecases.schedules import ScheduleLimits, ScheduleService

__all__ = [
    "AppDeps",
    "build_gate",
    "create_app",
    "plain_description",
    "request_defaults",
    "schedule_limits",
]


def plain_description(request: ExportRequest) -> dict[str, Any]:
    """Describe a create call without an HSS client: query and body as they would be sent."""
    return {
        "method": "POST",
        "path": "/v5/{project_id}/container/export-task",
        "query": request.query_params(),
        "body": request.body_json(),
    }


def create_app(  # noqa: PLR0913  keyword-only collaborators, tests swap each
    settings: Settings,
    *,
    service: ExportService,
    hss: Hss,
    audit: AuditLog,
    web_client: AsyncWebClient | None = None,
    access: AccessControl | None = None,
    notifier: SlackNotifier | None = None,
    lifecycle: Lifecycle | None = None,
    describe: Describe | None = None,
    socket_mode: bool = False,
    count: Count | None = None,
    approval_store: ApprovalStore | None = None,
    saved_store: SavedExportStore | None = None,
    clock: Callable[[], float] = time.time,
    schedule_store: ScheduleStore | None = None,
    gate: Gatekeeper | None = None,
    workspace: SlackWorkspace | None = None,
) -> AsyncApp:
    """Build the Bolt app with every listener group registered.

    HTTP mode needs SLACK_SIGNING_SECRET (every request is verified, a bad or
    stale signature gets 401); Socket Mode needs none. Each listener run is
    tracked by `lifecycle` (its post-ack work is what a graceful shutdown waits
    for), and while it drains, commands get the "restarting" reply instead.
    `describe` renders `preview`: by default the HSS client's `describe_create`.
    The read use cases (`status`, `history`) and the gate that refuses
    commands are built here on the `hss` and `audit` given (the same as
    `service`'s). `count(outcome)` is told of refused commands (`invalid`,
    `denied`) and of those answered without a use case (`draining`); pass the
    same counter as `ExportService(count=…)`. `approval_store` holds exports
    that wait for an approver (the two-person rule); without it, an export the
    rule holds is refused. `saved_store` keeps the saved exports (`save`, `run`,
    `saved`, `forget`); without it those commands say they are unavailable.
    `schedule_store` (with `saved_store`) enables the schedule commands.
    `clock` is the approvals' and schedules' (tests move it). `gate`: the one
    gate of the process (`build_gate`), when something outside the app (the
    schedule runs) must share it; built here from `access` otherwise.
    `workspace`: the workspace's address, learnt from the runtime's auth.test
    (`Runtime.check_slack`); without it, links use SLACK_API_URL's host.

    What runs before an ack is bounded so the ack always comes within Slack's
    3 seconds: the default access check reads user groups through a client
    without retries, within `bot.access.DECIDE_SECONDS`, and views.open uses
    such a client too.
    """
    problems = []
    if settings.SLACK_BOT_TOKEN is None and web_client is None:
        problems.append("SLACK_BOT_TOKEN is required (xoxb-…, from the app's OAuth page)")
    if not socket_mode and settings.SLACK_SIGNING_SECRET is None:
        problems.append("SLACK_SIGNING_SECRET is required for HTTP mode (app's Basic Information)")
    if problems:
        raise SettingsError(problems)
    client = web_client if web_client is not None else build_web_client(settings)
    prompt = prompt_client(client)
    secret = settings.SLACK_SIGNING_SECRET
    app = AsyncApp(
        # The token, not the client: given a client, Bolt still reads SLACK_BOT_TOKEN from
        # the environment and warns at every start that it goes unused. Its client from
        # the token is then connected like ours.
        token=client.token,
        # Given explicitly, so Bolt never falls back to reading the environment itself.
        signing_secret=secret.get_secret_value() if secret is not None else "",
        request_verification_enabled=secret is not None,
        logger=logging.getLogger("bot.slack.bolt"),
        name="hss-export-bot",
        # Answer when the listener returns, not by polling for its ack: every listener
        # returns once it has acked and goes on in a tracked task (`listeners.running`).
        process_before_response=True,
    )
    connect_like(app.client, client)
    count = count if count is not None else ignore_count
    policy = ApprovalPolicy.from_settings(settings)
    # One gate (and one user-group cache) for the listeners, the approvals and,
    # when bootstrap passes it, the schedule runs.
    gate = gate or build_gate(settings, client, audit, count=count, access=access)
    access = gate.access
    notifier = notifier or SlackNotifier(client)
    describe = describe if describe is not None else _describer(hss)
    approvals = None
    if approval_store is not None:
        approvals = ApprovalService(
            approval_store,
            audit,
            access,
            service,
            SlackApprovalMessenger(client, notifier),
            describe,
            ttl_seconds=settings.APPROVAL_TTL_HOURS * 3600,
            approval_channel=settings.APPROVAL_CHANNEL_ID,
            clock=clock,
        )
    defaults = request_defaults(settings)
    schedules = None
    if schedule_store is not None and saved_store is not None:
        schedules = ScheduleService(
            schedule_store,
            saved_store,
            audit,
            gate,
            SlackUserZones(prompt),
            defaults=defaults,
            limits=schedule_limits(settings),
            clock=clock,
        )
    deps = AppDeps(
        settings=settings,
        service=service,
        gate=gate,
        status=TaskStatusQuery(hss, audit, settings.HSS_ENTERPRISE_PROJECT_ID, gate=gate),
        history=CommandHistory(audit),
        notifier=notifier,
        describe=describe,
        defaults=defaults,
        lifecycle=lifecycle if lifecycle is not None else Lifecycle(),
        prompt_client=prompt,
        home=SlackHome(client),
        workspace=workspace or SlackWorkspace(str(settings.SLACK_API_URL)),
        count=count,
        approval_policy=policy,
        approvals=approvals,
        schedules=schedules,
        zones=SlackUserZones(prompt),
    )
    if saved_store is not None:
        deps = dataclasses.replace(
            deps, saved=_saved_exports(deps, saved_store, audit, schedule_store)
        )
    for group in (commands, modal, shortcut, workflow, approval_buttons, home, errors):
        group.register(app, deps)
    return app


def build_gate(
    settings: Settings,
    client: AsyncWebClient,
    audit: AuditLog,
    *,
    count: Count = ignore_count,
    access: AccessControl | None = None,
) -> Gatekeeper:
    """Build the one gate (allow lists, user groups, the profiles' lists) from settings.

    The listeners' and the schedule runs' gate alike: a scheduled run is admitted
    by the same rules as the owner typing it.
    """
    prompt = prompt_client(client)
    access = access or AccessControl(
        AccessPolicy.from_settings(settings),
        SlackUsergroups(prompt),
        approvals=ApprovalPolicy.from_settings(settings),
    )
    return Gatekeeper(access, audit, count=count, profiles=_profile_access(settings, prompt))


def request_defaults(settings: Settings) -> RequestDefaults:
    """Read what a request leaves out (header language, enterprise project) from settings."""
    return RequestDefaults(
        header_lang=settings.HSS_EXPORT_HEADER_LANG,
        # With a profiles file, each profile's default applies once the profile is known.
        enterprise_project_id=(
            None if settings.HSS_PROFILES_FILE else settings.HSS_ENTERPRISE_PROJECT_ID
        ),
    )


def schedule_limits(settings: Settings) -> ScheduleLimits:
    """Read SCHEDULE_MIN_INTERVAL_MINUTES, SCHEDULES_PER_USER and SCHEDULE_DEFAULT_TZ."""
    return ScheduleLimits(
        min_interval_minutes=settings.SCHEDULE_MIN_INTERVAL_MINUTES,
        per_user=settings.SCHEDULES_PER_USER,
        default_tz=settings.SCHEDULE_DEFAULT_TZ,
    )


def _saved_exports(
    deps: AppDeps, store: SavedExportStore, audit: AuditLog, schedules: ScheduleStore | None
) -> SavedExports:
    """The saved exports' use case: a run takes the typed export's route (`route_export`).

    Forgetting a saved export deletes its schedule (`schedules`) too.
    """

    async def tell(reply: ReplyTo, actor: Actor, message: Message) -> None:
        await deps.notifier.tell_user(reply, actor, message, {"what": "saved export"})

    return SavedExports(
        store,
        deps.gate,
        audit,
        functools.partial(approval_buttons.route_export, deps),
        tell,
        defaults=deps.defaults,
        command=deps.command,
        schedules=schedules,
    )


def _profile_access(settings: Settings, client: AsyncWebClient) -> ProfileAccess | None:
    """The profile policy; None when the settings describe no usable HSS account.

    `load_settings` with the "hss" need has refused such settings already; an app
    built on them (a Slack-only test) runs its requests unbound to a profile.
    """
    try:
        profiles = settings.profiles
    except SettingsError:
        return None
    return ProfileAccess(profiles, SlackUsergroups(client))


def _describer(hss: Hss) -> Describe:
    # HssClient can show the signed call (headers redacted); any other Hss gets the plain view.
    method = getattr(hss, "describe_create", None)
    return cast(Describe, method) if callable(method) else plain_description
