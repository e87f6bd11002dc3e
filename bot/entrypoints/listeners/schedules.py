"""The schedule commands' answers: hand the words to `ScheduleService`, render what it says.

Called by the slash command once access is checked and the command acked;
the App Home's buttons call the same use case methods with the same `Actor`.
"""

from __future__ import annotations

from bot.domain import blocks
from bot.domain import schedule_messages as say
from bot.domain.blocks import Message
from bot.domain.errors import BotError
from bot.domain.grammar import (
    ScheduleAdd,
    ScheduleCommand,
    ScheduleList,
    SchedulePause,
    ScheduleResume,
    Unschedule,
)
from bot.domain.types import Actor
from bot.usecases.schedules import ScheduleService

SCHEDULES_OFF = "Schedules are not available on this bot right now; nothing was changed."


async def schedule_answer(  # noqa: PLR0911  one return per command word
    service: ScheduleService | None, actor: Actor, command: ScheduleCommand, workspace_url: str
) -> Message:
    """Run one schedule command for `actor`; return what to tell them.

    `workspace_url`: the workspace's address, on which the list links the last runs' threads.
    """
    if service is None:
        return blocks.refusal(SCHEDULES_OFF)
    try:
        match command:
            case ScheduleAdd(name=name, schedule=spec):
                return (await service.schedule(actor, name, spec)).message
            case ScheduleList():
                return say.schedule_list(await service.list_in_team(actor), workspace_url)
            case SchedulePause(name=name):
                return (await service.pause(actor, name)).message
            case ScheduleResume(name=name):
                return (await service.resume(actor, name)).message
            case Unschedule(name=name):
                return (await service.delete(actor, name)).message
    except BotError as exc:  # a store's Unavailable: safe to show
        return blocks.unavailable("change the schedules", exc)
