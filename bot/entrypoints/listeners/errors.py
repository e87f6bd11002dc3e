"""The one place unexpected errors are reported: logged with a reference, told to the user.

Listeners' bodies run inside `reporting()` (`listeners.running`). It must not
let an error escape: one that escaped before the ack would leave Slack without
an answer (the user sees a timeout), and one after it would be lost in its
task. So the error is logged (type and traceback, no payload),
and the user gets an honest message with the reference: in the ack if none
was sent yet, else privately through the command's reply URL. A click in the
App Home has neither a reply URL nor a channel: its clicker is told in their
DM with the app (`tell_clicker`). Errors outside listeners (Bolt's middleware)
reach the app-wide handler registered here.
"""

from __future__ import annotations

import logging
import secrets
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from slack_bolt.async_app import AsyncApp
from slack_bolt.context.ack.async_ack import AsyncAck

from bot.domain import blocks, home, modal
from bot.domain.blocks import Message
from bot.domain.types import Actor, ReplyTo
from bot.entrypoints.deps import AppDeps
from bot.entrypoints.slack_payloads import actor_from, clicked, user_of

log = logging.getLogger(__name__)


def register(app: AsyncApp, deps: AppDeps) -> None:
    """Register the app-wide error handler (errors outside the listeners' own guard)."""

    @app.error
    async def unexpected(error: Exception, body: dict[str, Any]) -> None:
        reference = log_unexpected(error)
        await tell(deps, body, reference)


def log_unexpected(error: BaseException) -> str:
    """Log an unexpected error with a new reference id; return the reference."""
    reference = secrets.token_hex(4)
    # The type and traceback only: payloads and exception texts may carry user input.
    log.error(
        "unexpected error in a Slack listener",
        extra={"reference": reference, "error_type": type(error).__name__},
        exc_info=(type(error), error, error.__traceback__),
    )
    return reference


@asynccontextmanager
async def reporting(deps: AppDeps, ack: AsyncAck, body: dict[str, Any]) -> AsyncIterator[None]:
    """Run a listener's body; report any unexpected error instead of letting it escape."""
    try:
        yield
    except Exception as error:  # noqa: BLE001 - this is the one handler; it logs, with traceback
        reference = log_unexpected(error)
        if in_home(body):  # Slack shows nothing for a click's ack: answer it, tell the DM
            if ack.response is None:
                await ack()
            await tell_clicker(deps, body, blocks.internal_error(reference))
        elif ack.response is not None:
            await tell(deps, body, reference)
        elif body.get("type") == "view_submission":
            notice = modal.notice_view(
                "Something went wrong", blocks.internal_error(reference).text
            )
            await ack(response_action="update", view=notice)
        else:
            message = blocks.internal_error(reference)
            await ack(text=message.text, blocks=message.blocks, response_type="ephemeral")


async def tell(deps: AppDeps, body: dict[str, Any], reference: str) -> None:
    """Tell the user who sent `body` about an error, privately, if we know where."""
    where = _reply_of(body)
    if where is None:
        return  # nothing to answer (Slack already shows the user a generic failure)
    actor, reply = where
    message = blocks.internal_error(reference)
    await deps.notifier.tell_user(reply, actor, message, {"reference": reference})


def in_home(body: dict[str, Any]) -> bool:
    """Tell whether `body` is a click in an App Home (a `home` view)."""
    view = body.get("view")
    return (
        body.get("type") == "block_actions"
        and isinstance(view, dict)
        and (view.get("type") == "home")
    )


async def tell_clicker(deps: AppDeps, body: dict[str, Any], message: Message) -> None:
    """Tell who clicked in their App Home, in their DM with the app, what their click came to.

    Posted to the user id, which Slack delivers to that DM (chat:write only); `message`
    is framed with the button and the name it was clicked on.
    """
    user = user_of(body)
    if not user:
        return
    action, value = clicked(body)
    framed = home.click_failed(action, value, message)
    await deps.notifier.post_in_channel(user, framed, {"what": "home", "action": action})


def _reply_of(body: dict[str, Any]) -> tuple[Actor, ReplyTo] | None:
    try:
        if body.get("type") == "view_submission":
            view = body.get("view") or {}
            context = modal.FormContext.load(str(view.get("private_metadata") or ""))
            if context is None:
                return None
            actor = actor_from(body, "modal", channel_id=context.channel_id)
            return actor, ReplyTo(context.channel_id, context.response_url)
        actor = actor_from(body, "slash")
    except ValueError:
        return None  # no user or no channel to tell
    return actor, ReplyTo(actor.channel_id, body.get("response_url"))
