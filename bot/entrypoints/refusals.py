"""Answer a refused command only once its refusal is on record, within Slack's ack window.

Why this order: a user who reads the refusal and types `history` must find
it there, whichever replica serves the `history` (they share one database,
so a committed entry is visible to all). Recording after the answer (as the
bot once did) let a quick `history` miss it. The wait is bounded by the
listener's deadline for what comes before the ack: an audit log slower than
that does not cost the user Slack's timeout; the answer goes out, the entry
follows (the listener still awaits it), and a warning says the order slipped.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable

from bot.domain.types import Actor
from bot.usecases import Gatekeeper, Refused

log = logging.getLogger(__name__)


async def record_then_answer(
    gate: Gatekeeper,
    actor: Actor,
    refused: Refused,
    answer: Callable[[], Awaitable[None]],
    *,
    deadline: float,
) -> None:
    """Audit `refused`, by `deadline` (event-loop time) at the latest, then `answer()`."""
    recording = asyncio.ensure_future(gate.record(actor, refused))
    remaining = max(0.0, deadline - asyncio.get_running_loop().time())
    done, _ = await asyncio.wait({recording}, timeout=remaining)
    if not done:
        log.warning(
            "refusal answered before it was on record (the audit log is slow)",
            extra={"outcome": refused.outcome},
        )
    await answer()
    await recording
