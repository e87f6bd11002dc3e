"""The workspace's web address, on which links to its messages are built.

Slack's links to a message live on the workspace's own domain
(`https://acme.slack.com/archives/C…/p…`; on GovSlack `https://acme.slack-gov.com/…`),
which `auth.test` returns as `url`. The runtime already calls auth.test at start
and on each /readyz re-check (`Runtime.check_slack`) and hands each answer to
`learn`, so the address costs no call of its own (chat.getPermalink would cost
one per link). Until an auth.test has answered, links use the Web API's host
(`SLACK_API_URL` without its `api/` path: `https://slack.com/`, for GovSlack
`https://slack-gov.com/`), the best guess without Slack's word.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any
from urllib.parse import urlsplit


class SlackWorkspace:
    """The workspace's base URL (`https://acme.slack.com/`), learnt from auth.test."""

    def __init__(self, api_url: str) -> None:
        parts = urlsplit(api_url)
        self._guess = f"{parts.scheme}://{parts.netloc}/"
        self._learnt: str | None = None

    def learn(self, answer: Mapping[str, Any]) -> None:
        """Keep auth.test's `url` when it is a web address; ignore anything else."""
        found = answer.get("url")
        if not isinstance(found, str):
            return
        parts = urlsplit(found)
        if parts.scheme in ("https", "http") and parts.netloc:
            self._learnt = f"{parts.scheme}://{parts.netloc}/"

    @property
    def url(self) -> str:
        """Return the base URL of the workspace's links, ending in `/`."""
        return self._learnt or self._guess
