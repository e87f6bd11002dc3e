"""Post and update Slack messages one way, and say in the project's terms what went wrong.

The notifier (`bot.adapters.slack_notifier`) and the file delivery
(`bot.adapters.slack_files`) both talk to Slack through here. A failed call
leaves as `DeliveryUnavailable` (trying again later may work: network, rate
limits that outlast slack_sdk's retries, 5xx, Slack's "not now" codes) or
`DeliveryRefused` (no point retrying: channel gone, bot not in it, bad token).
Either carries `code`: Slack's error code, else the HTTP status (`HTTP 503`),
else the exception's type; never the token, never the URL (a `response_url`
is a credential of its own).
"""

from __future__ import annotations

from collections.abc import Awaitable
from dataclasses import dataclass
from typing import Any, Final

import aiohttp
from slack_sdk.errors import SlackApiError, SlackClientError
from slack_sdk.web.async_client import AsyncWebClient
from slack_sdk.webhook.async_client import AsyncWebhookClient

from bot.domain.blocks import Message
from bot.domain.errors import DeliveryRefused, DeliveryUnavailable

# What can go wrong talking to Slack once slack_sdk's own retries are spent.
SLACK_FAILURES: Final = (SlackClientError, aiohttp.ClientError, TimeoutError)
# Slack errors that say "not now" rather than "no".
RETRYABLE_ERRORS: Final = frozenset(
    {"ratelimited", "internal_error", "fatal_error", "service_unavailable", "request_timeout"}
)


@dataclass(frozen=True)
class Posted:
    """Where a posted message landed: Slack's channel id (a DM's `D…` for a user id), its ts."""

    channel_id: str
    ts: str | None


def error_of(exc: BaseException) -> str:
    """Name a Slack failure for logs and errors: Slack's error code, else HTTP status or type."""
    if isinstance(exc, SlackApiError):
        code = _slack_code(exc)
        return code or f"HTTP {getattr(exc.response, 'status_code', '?')}"
    return type(exc).__name__


async def call(method: str, request: Awaitable[Any]) -> Any:
    """Await a Web API call, turning slack_sdk's and aiohttp's errors into `DeliveryError`s."""
    try:
        return await request
    except SlackApiError as exc:
        code = _slack_code(exc)
        status = exc.response.status_code
        if status == 429 or status >= 500 or code in RETRYABLE_ERRORS:
            raise DeliveryUnavailable(
                f"Slack is unavailable for {method} ({code or status})", code=error_of(exc)
            ) from exc
        raise DeliveryRefused(
            f"Slack refused {method}: {code or status}", code=error_of(exc)
        ) from exc
    except SLACK_FAILURES as exc:
        raise DeliveryUnavailable(
            f"Slack could not be reached for {method} ({type(exc).__name__})", code=error_of(exc)
        ) from exc


async def post_message(
    client: AsyncWebClient,
    channel_id: str,
    message: Message,
    *,
    thread_ts: str | None = None,
    unfurl: bool = True,
) -> Posted:
    """Post a message (a thread reply if `thread_ts`; to a user id: their DM with the app).

    `unfurl=False` keeps Slack from previewing links (the notifier's answers).
    """
    options: dict[str, Any] = {} if unfurl else {"unfurl_links": False, "unfurl_media": False}
    response = await call(
        "chat.postMessage",
        client.chat_postMessage(
            channel=channel_id,
            text=message.text,
            # A text-only message (the audit mirror's line) is sent without a blocks field.
            blocks=message.blocks or None,
            thread_ts=thread_ts,
            **options,
        ),
    )
    channel, ts = response.get("channel"), response.get("ts")
    return Posted(
        channel if isinstance(channel, str) and channel else channel_id,
        ts if isinstance(ts, str) else None,
    )


async def update_message(
    client: AsyncWebClient, channel_id: str, ts: str, message: Message
) -> None:
    """Replace a message's text and blocks (`chat.update`)."""
    await call(
        "chat.update",
        client.chat_update(channel=channel_id, ts=ts, text=message.text, blocks=message.blocks),
    )


async def post_ephemeral(
    client: AsyncWebClient, channel_id: str, user_id: str, message: Message
) -> None:
    """Show a message in a channel to one user only (`chat.postEphemeral`)."""
    await call(
        "chat.postEphemeral",
        client.chat_postEphemeral(
            channel=channel_id, user=user_id, text=message.text, blocks=message.blocks
        ),
    )


async def send_to_response_url(
    webhook: AsyncWebhookClient, message: Message, response_type: str
) -> None:
    """Answer through a command's `response_url` (`in_channel` or `ephemeral`).

    Slack answers a `response_url` with a bare HTTP status, so the status is the code.
    """
    try:
        response = await webhook.send(
            text=message.text, blocks=message.blocks, response_type=response_type
        )
    except SLACK_FAILURES as exc:
        raise DeliveryUnavailable(
            f"Slack could not be reached for the response_url ({type(exc).__name__})",
            code=error_of(exc),
        ) from exc
    status = response.status_code
    if status == 200:
        return
    if status == 429 or status >= 500:
        raise DeliveryUnavailable(
            f"Slack is unavailable for the response_url ({status})", code=f"HTTP {status}"
        )
    raise DeliveryRefused(f"Slack refused the response_url: {status}", code=f"HTTP {status}")


def _slack_code(exc: SlackApiError) -> str:
    """Return Slack's error code, or "" (a proxy's or a 5xx's body is plain text, not JSON)."""
    data = getattr(exc.response, "data", None)
    if isinstance(data, dict) and data.get("error"):
        return str(data["error"])
    return ""
