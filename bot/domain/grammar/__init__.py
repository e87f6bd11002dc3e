"""Turn `/hss-export` text, form fields and CLI arguments into commands and requests.

Pure: no Slack, no HTTP, no I/O. The modules, each one seam:
- `values`: the value parsers (one raw string in, the model's value out);
- `fields`: the field catalogue (every key, what it accepts, its parser);
- `request`: `build_request`, shared by the slash text, the form and the CLI;
- `commands`: slash parsing (words, command words, `key=value` pairs), with the
  values of `status` (`status`) and of the saved-export commands (`presets`);
- `schedule_commands`: the schedule command words (`schedule`, `schedules`, `pause`, …);
- `help`: the usage text.
The names below are the package's interface; import them from here.
"""

from __future__ import annotations

from bot.domain.grammar.commands import (
    COMMAND_WORDS,
    MAX_TEXT_CHARS,
    Approvals,
    Command,
    Export,
    Form,
    Help,
    History,
    OpenModal,
    Preview,
    ProfileList,
    export_from_fields,
    parse_command,
    parse_tokens,
    text_fields,
)
from bot.domain.grammar.fields import ALL_GRANTED_EPS, ALL_KEYS, FIELD_HELP, FIELD_KEYS, TEXT_KEY
from bot.domain.grammar.help import help_text
from bot.domain.grammar.presets import NAME_KEY, Forget, Run, Save, SavedList
from bot.domain.grammar.request import Clock, RequestDefaults, build_request
from bot.domain.grammar.schedule_commands import (
    ScheduleAdd,
    ScheduleCommand,
    ScheduleList,
    SchedulePause,
    ScheduleResume,
    Unschedule,
)
from bot.domain.grammar.status import Status

__all__ = [
    "ALL_GRANTED_EPS",
    "ALL_KEYS",
    "COMMAND_WORDS",
    "FIELD_HELP",
    "FIELD_KEYS",
    "MAX_TEXT_CHARS",
    "NAME_KEY",
    "TEXT_KEY",
    "Approvals",
    "Clock",
    "Command",
    "Export",
    "Forget",
    "Form",
    "Help",
    "History",
    "OpenModal",
    "Preview",
    "ProfileList",
    "RequestDefaults",
    "Run",
    "Save",
    "SavedList",
    "ScheduleAdd",
    "ScheduleCommand",
    "ScheduleList",
    "SchedulePause",
    "ScheduleResume",
    "Status",
    "Unschedule",
    "build_request",
    "export_from_fields",
    "help_text",
    "parse_command",
    "parse_tokens",
    "text_fields",
]
