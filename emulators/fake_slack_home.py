"""The fake Slack's App Home tab, by its former path: it lives in `emulators.fake_slack.home`."""

from __future__ import annotations

from emulators.fake_slack.home import FakeHome, PublishedHome, home_problems

__all__ = ["FakeHome", "PublishedHome", "home_problems"]
