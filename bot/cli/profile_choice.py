"""`--profile NAME` for the terminal commands: pick a profile and build its HSS client.

The terminal has no channel, so the profile is the one named (`--profile` or
`profile=`), else `HSS_DEFAULT_PROFILE` or the only one, else the legacy
profile `default`. A name that is no profile, or no way to choose, is one
`SettingsError`-style message listing the names there are.
"""

from __future__ import annotations

import httpx

from bot.adapters.hss import HssClient
from bot.adapters.hss_profiles import build_profile_client, fallback_name
from bot.domain.errors import InvalidCommand, Problem
from bot.profiles.model import Profile
from bot.settings import Settings


def choose_profile(settings: Settings, name: str | None) -> Profile:
    """Return the profile a terminal command uses; raise `InvalidCommand` naming the choices."""
    profiles = settings.profiles
    chosen = name if name is not None else fallback_name(profiles)
    profile = profiles.get(chosen) if chosen is not None else None
    if profile is None:
        names = ", ".join(profiles.names)
        hint = "no such profile" if name is not None else "several profiles and no default"
        raise InvalidCommand([Problem("profile", name, f"one of {names}", hint)])
    return profile


def profile_client(
    settings: Settings, name: str | None, *, transport: httpx.AsyncBaseTransport | None = None
) -> tuple[HssClient, Profile]:
    """Build the HSS client of the chosen profile (its own endpoint, project and keys)."""
    profile = choose_profile(settings, name)
    return build_profile_client(profile, settings, transport=transport), profile
