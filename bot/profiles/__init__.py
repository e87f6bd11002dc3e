"""Profiles: several HSS accounts, projects and regions in one bot (issue 12).

Re-exports only; see `model` for what a resolved profile holds and `loading`
for the file format's rules.
"""

from bot.profiles.loading import (
    DEFAULT_PROFILE,
    LEGACY_NAME,
    PROFILES_FILE,
    legacy_configured,
    load_profiles,
    profiles_from_environ,
)
from bot.profiles.model import AkSk, Credentials, IamPassword, Profile, ProfileAccess, Profiles

__all__ = [
    "DEFAULT_PROFILE",
    "LEGACY_NAME",
    "PROFILES_FILE",
    "AkSk",
    "Credentials",
    "IamPassword",
    "Profile",
    "ProfileAccess",
    "Profiles",
    "legacy_configured",
    "load_profiles",
    "profiles_from_environ",
]
