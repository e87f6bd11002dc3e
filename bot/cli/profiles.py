"""`hss-export-bot profiles [--json]`: show the resolved profiles, never a secret.

Reads `HSS_PROFILES_FILE`, `HSS_DEFAULT_PROFILE` and the legacy `HSS_*`
settings from the environment and `.env` (the environment wins, as for every
other setting), checks them exactly as the bot does at start, and prints what
each profile resolves to: region, endpoints, project, the kind of credentials
and the NAMES of the variables holding them. A bad file exits 2 with the one
message listing every problem.
"""

from __future__ import annotations

import argparse
import json
import os
from pathlib import Path
from typing import Any

from dotenv import dotenv_values

from bot.profiles import Profiles, profiles_from_environ


def register(sub: Any) -> None:
    """Add `profiles` to the parser."""
    parser: argparse.ArgumentParser = sub.add_parser(
        "profiles",
        help="show the HSS profiles the bot would use, without secrets",
        description=(
            "Check HSS_PROFILES_FILE and the HSS_* settings, and print each profile "
            "without secrets. Exit 2 listing every problem."
        ),
    )
    parser.add_argument("--json", action="store_true", help="one JSON document")
    parser.set_defaults(handler=_run)


def _run(args: argparse.Namespace) -> int:
    profiles = profiles_from_environ(_environ())
    if args.json:
        print(json.dumps(profiles.describe(), indent=2, ensure_ascii=False))
    else:
        print(render(profiles))
    return 0


def _environ() -> dict[str, str]:
    """Return `.env` overlaid by the environment: the values the bot itself would read."""
    env_file = Path(".env")
    from_file = dotenv_values(env_file) if env_file.is_file() else {}
    return {**{k: v for k, v in from_file.items() if v is not None}, **os.environ}


def render(profiles: Profiles) -> str:
    """Return the profiles as text for a terminal: names of secrets, never values."""
    lines: list[str] = []
    default = profiles.default_name
    if default is None:
        lines.append(
            "default profile: none (HSS_DEFAULT_PROFILE unset): in a channel no profile "
            "lists, the user chooses"
        )
    else:
        lines.append(f"default profile: {default} (for every channel no profile lists)")
    for profile in profiles:
        source = "HSS_* settings" if profile.source == "settings" else "HSS_PROFILES_FILE"
        mark = ", default" if profile.name == default else ""
        lines += ["", f"{profile.name} (from {source}{mark})"]
        rows = [
            ("region", profile.region),
            ("endpoint", profile.endpoint),
            ("project id", profile.project_id),
            ("enterprise project", profile.enterprise_project_id or "(none given)"),
            ("auth", _auth(profile.credentials.describe())),
        ]
        if profile.credentials.describe()["kind"] == "iam":
            rows.append(("iam endpoint", profile.iam_endpoint))
        channels = list(profile.channels)
        if profile.name == default:
            channels.append("every channel no profile lists")
        rows.append(("default in", ", ".join(channels) or "(no channel)"))
        rows.append(("allowed", _access(profile.describe())))
        lines += [f"  {label + ':':<20}{value}" for label, value in rows]
    return "\n".join(lines)


def _auth(auth: dict[str, str | None]) -> str:
    if auth["kind"] == "aksk":
        token = auth["security_token_env"]
        text = f"AK/SK from {auth['ak_env']} and {auth['sk_env']}"
        return text + (f", security token from {token} (temporary keys)" if token else "")
    return (
        f"IAM user {auth['iam_user']} of domain {auth['iam_domain']}, "
        f"password from {auth['iam_password_env']}"
    )


def _access(described: dict[str, object]) -> str:
    lists = {
        label: described[key]
        for key, label in (
            ("allowed_user_ids", "users"),
            ("allowed_channel_ids", "channels"),
            ("allowed_usergroup_ids", "user groups"),
        )
    }
    if all(ids is None for ids in lists.values()):
        return "whoever the global ALLOWED_* lists allow"
    parts = [
        f"{label} {', '.join(ids)}" for label, ids in lists.items() if isinstance(ids, list) and ids
    ]
    if not parts:
        return "nobody (its allow lists are empty)"
    return "; ".join(parts) + " (within the global ALLOWED_* lists)"
