"""The workspace's address for links to messages: auth.test's `url`, else the Web API's host."""

from __future__ import annotations

from typing import Any

import pytest

from bot.adapters.slack_workspace import SlackWorkspace
from bot.domain.schedule_messages import thread_link


@pytest.mark.parametrize(
    ("api_url", "answer", "url"),
    [
        # Slack's auth.test answer (its documentation's example workspace).
        (
            "https://slack.com/api/",
            {"url": "https://subarachnoidspace.slack.com/"},
            "https://subarachnoidspace.slack.com/",
        ),
        (
            "https://slack-gov.com/api/",
            {"url": "https://agency.slack-gov.com/"},
            "https://agency.slack-gov.com/",
        ),
        ("https://slack.com/api/", {"url": "https://acme.slack.com"}, "https://acme.slack.com/"),
        # No auth.test answer yet, or one without a web address: the Web API's host.
        ("https://slack.com/api/", None, "https://slack.com/"),
        ("https://slack-gov.com/api/", None, "https://slack-gov.com/"),
        ("https://slack-gov.com/api/", {"ok": True}, "https://slack-gov.com/"),
        ("https://slack.com/api/", {"url": "javascript:alert(1)"}, "https://slack.com/"),
        ("https://slack.com/api/", {"url": 42}, "https://slack.com/"),
    ],
)
def test_the_address_is_auth_tests_url_else_the_api_host(
    api_url: str, answer: dict[str, Any] | None, url: str
) -> None:
    """Links go to the workspace auth.test names; before it answers, to SLACK_API_URL's host."""
    workspace = SlackWorkspace(api_url)
    if answer is not None:
        workspace.learn(answer)

    assert workspace.url == url


def test_a_thread_link_is_slacks_archives_form_on_the_workspace() -> None:
    """`https://<workspace>/archives/<channel>/p<ts without its dot>`, as Slack's permalinks."""
    link = thread_link("https://acme.slack-gov.com/", "C0EXPORTS", "1711962000.000100")

    assert link == "https://acme.slack-gov.com/archives/C0EXPORTS/p1711962000000100"
