"""manifest.yml against Slack's documented manifest schema, for every field the app uses.

Slack publishes no JSON schema file for manifests that could be read offline,
so the documented rules are written here as pydantic models (unknown fields
refused). Each rule names its source:
- [node-sdk]: the manifest types of Slack's own Node SDK,
  `packages/web-api/src/types/request/manifest.ts` (slackapi/node-slack-sdk), which
  document each limit ("Maximum length is 35 characters", "Maximum of 50 property names");
- [schemastore]: `slack-app-manifest.json` on SchemaStore (the same limits, older fields);
- [reference]: docs.slack.dev "App manifest reference" (long_description 174-4000
  characters; `settings.function_runtime`; `functions.*` with `input_parameters` and
  `output_parameters` as `{properties, required}`) and "Custom steps" (an org-ready app,
  the `function_executed` event, the Slack types `slack#/types/...`);
- [ui]: the app settings' shortcut form, which takes names of at most 24 characters
  (a limit the manifest types leave unstated; kept here as the stricter rule).
Then the manifest is checked against the code: the step's callback id, inputs and
outputs, the shortcut's callback id, the events the listeners need.
"""

from __future__ import annotations

import copy
from typing import Annotated, Any, Literal

import pytest
import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from bot.domain import workflow
from bot.domain.grammar import ALL_KEYS
from bot.entrypoints.listeners import home, shortcut
from emulators.fake_slack import MANIFEST

Text = Annotated[str, Field(min_length=1)]


class Strict(BaseModel):
    """A manifest object: fields Slack does not document for it are refused."""

    model_config = ConfigDict(extra="forbid")


class DisplayInformation(Strict):
    name: Annotated[str, Field(min_length=1, max_length=35)]  # [node-sdk] [schemastore]
    description: Annotated[str, Field(max_length=140)] | None = None  # [node-sdk]
    long_description: Annotated[str, Field(min_length=174, max_length=4000)] | None = None  # [ref]
    background_color: Annotated[str, Field(pattern=r"^#(?:[0-9a-fA-F]{3}){1,2}$")] | None = None


class AppHome(Strict):
    home_tab_enabled: bool | None = None
    messages_tab_enabled: bool | None = None
    messages_tab_read_only_enabled: bool | None = None


class BotUser(Strict):
    # [node-sdk]: at most 80 characters of a-z, 0-9, -, _ and .
    display_name: Annotated[str, Field(max_length=80, pattern=r"^[a-z0-9._-]+$")]
    always_online: bool | None = None


class Shortcut(Strict):
    type: Literal["global", "message"]  # [node-sdk]
    name: Annotated[str, Field(min_length=1, max_length=24)]  # [ui]
    callback_id: Annotated[str, Field(min_length=1, max_length=255)]  # [node-sdk]
    description: Annotated[str, Field(min_length=1, max_length=150)]  # [node-sdk]


class SlashCommand(Strict):
    command: Annotated[str, Field(max_length=32, pattern=r"^/")]  # [node-sdk]
    description: Annotated[str, Field(min_length=1, max_length=2000)]  # [node-sdk]
    url: str | None = None
    usage_hint: Annotated[str, Field(max_length=1000)] | None = None  # [node-sdk]
    should_escape: bool | None = None


class Features(Strict):
    app_home: AppHome | None = None
    bot_user: BotUser | None = None
    shortcuts: Annotated[list[Shortcut], Field(max_length=10)] | None = None  # [node-sdk]
    slash_commands: Annotated[list[SlashCommand], Field(max_length=50)] | None = None


class Scopes(Strict):
    bot: Annotated[list[str], Field(max_length=255)] | None = None  # [node-sdk]
    user: Annotated[list[str], Field(max_length=255)] | None = None


class OAuthConfig(Strict):
    scopes: Scopes | None = None
    redirect_urls: Annotated[list[str], Field(max_length=1000)] | None = None


class EventSubscriptions(Strict):
    request_url: Annotated[str, Field(pattern=r"^https://")] | None = None
    bot_events: Annotated[list[str], Field(max_length=100)] | None = None  # [node-sdk]
    user_events: Annotated[list[str], Field(max_length=100)] | None = None


class Interactivity(Strict):
    is_enabled: bool  # [node-sdk]: required
    request_url: Annotated[str, Field(pattern=r"^https://")] | None = None
    message_menu_options_url: str | None = None


class Settings(Strict):
    event_subscriptions: EventSubscriptions | None = None
    interactivity: Interactivity | None = None
    org_deploy_enabled: bool | None = None
    socket_mode_enabled: bool | None = None
    token_rotation_enabled: bool | None = None
    function_runtime: Literal["remote", "slack"] | None = None  # [reference]


# [reference] "Custom steps" / Slack types: the primitives and the Slack types a step's
# parameters may have (those documented; the app uses string, boolean and two ids).
ParameterType = Literal[
    "string",
    "boolean",
    "integer",
    "number",
    "object",
    "array",
    "slack#/types/user_id",
    "slack#/types/channel_id",
    "slack#/types/usergroup_id",
    "slack#/types/timestamp",
    "slack#/types/date",
    "slack#/types/message_ts",
    "slack#/types/rich_text",
    "slack#/types/interactivity",
    "slack#/types/user_context",
    "slack#/types/blocks",
]


class Parameter(Strict):
    type: ParameterType
    title: Text | None = None  # [node-sdk]
    description: Text | None = None
    hint: Text | None = None
    minLength: int | None = None  # the manifest spells these in camel case
    maxLength: int | None = None


class Parameters(Strict):
    # [node-sdk]: "Maximum of 50 property names"; `required` names defined properties.
    properties: Annotated[dict[str, Parameter], Field(max_length=50)]
    required: list[str] = Field(default_factory=list)

    @model_validator(mode="after")
    def required_are_properties(self) -> Parameters:
        unknown = set(self.required) - set(self.properties)
        if unknown:
            raise ValueError(f"required names no property: {sorted(unknown)}")
        return self


class Function(Strict):
    title: Text  # [node-sdk]: required
    description: Text
    input_parameters: Parameters
    output_parameters: Parameters


class Manifest(Strict):
    display_information: DisplayInformation
    features: Features | None = None
    oauth_config: OAuthConfig | None = None
    settings: Settings | None = None
    functions: dict[str, Function] | None = None

    @model_validator(mode="after")
    def custom_steps_are_org_ready(self) -> Manifest:
        """[reference] Custom steps need function_runtime remote (Bolt), org deploy, the event."""
        if not self.functions:
            return self
        settings = self.settings or Settings()
        events = (settings.event_subscriptions or EventSubscriptions()).bot_events or []
        if settings.function_runtime != "remote":
            raise ValueError("functions served by this app need settings.function_runtime: remote")
        if settings.org_deploy_enabled is not True:
            raise ValueError("custom steps need an org-ready app: org_deploy_enabled: true")
        if "function_executed" not in events:
            raise ValueError("custom steps need the function_executed bot event")
        return self

    @model_validator(mode="after")
    def home_events_need_the_home_tab(self) -> Manifest:
        """[reference] App Home: views.publish of a home needs the Home tab enabled."""
        settings = self.settings or Settings()
        events = (settings.event_subscriptions or EventSubscriptions()).bot_events or []
        app_home = (self.features or Features()).app_home or AppHome()
        if "app_home_opened" in events and app_home.home_tab_enabled is not True:
            raise ValueError("app_home_opened publishes a home: home_tab_enabled: true")
        return self


def loaded() -> dict[str, Any]:
    """Return manifest.yml as data."""
    data = yaml.safe_load(MANIFEST.read_text(encoding="utf-8"))
    assert isinstance(data, dict)
    return data


def test_manifest_follows_slacks_documented_schema() -> None:
    """manifest.yml passes every documented rule for the fields it uses."""
    Manifest.model_validate(loaded())


def test_step_in_the_manifest_is_the_one_the_app_serves() -> None:
    """The step's callback id, inputs (every grammar key), types and outputs match the code."""
    manifest = Manifest.model_validate(loaded())
    assert manifest.functions is not None
    step = manifest.functions[workflow.CALLBACK_ID]
    inputs = step.input_parameters

    assert step.title == workflow.TITLE
    assert set(inputs.properties) == set(workflow.STEP_INPUTS) | set(ALL_KEYS)
    assert inputs.properties[workflow.CHANNEL_INPUT].type == "slack#/types/channel_id"
    assert inputs.properties[workflow.USER_INPUT].type == "slack#/types/user_id"
    assert sorted(inputs.required) == sorted([workflow.CHANNEL_INPUT, workflow.USER_INPUT])
    for key in ALL_KEYS:
        expected = "boolean" if key in workflow.BOOLEAN_KEYS else "string"
        assert inputs.properties[key].type == expected, key
    assert list(step.output_parameters.properties) == list(workflow.OUTPUTS)
    assert sorted(step.output_parameters.required) == sorted(workflow.OUTPUTS)


def test_shortcut_in_the_manifest_is_the_one_the_app_serves() -> None:
    """The global shortcut "New HSS export" has the callback id the listener is registered for."""
    manifest = Manifest.model_validate(loaded())
    assert manifest.features is not None
    assert manifest.features.shortcuts is not None

    assert [(s.type, s.name, s.callback_id) for s in manifest.features.shortcuts] == [
        ("global", "New HSS export", shortcut.CALLBACK_ID)
    ]


def test_home_tab_the_app_publishes_is_enabled_and_its_event_subscribed() -> None:
    """The app listens for app_home_opened and publishes homes: the manifest enables both."""
    manifest = Manifest.model_validate(loaded())
    assert manifest.features is not None
    assert manifest.features.app_home is not None
    assert manifest.settings is not None
    assert manifest.settings.event_subscriptions is not None

    assert manifest.features.app_home.home_tab_enabled is True
    assert home.EVENT in (manifest.settings.event_subscriptions.bot_events or [])


def _broken(path: tuple[str | int, ...], value: Any) -> dict[str, Any]:
    data = copy.deepcopy(loaded())
    node: Any = data
    for part in path[:-1]:
        node = node[part]
    if value is None:
        del node[path[-1]]
    else:
        node[path[-1]] = value
    return data


@pytest.mark.parametrize(
    ("path", "value", "complaint"),
    [
        (("features", "shortcuts", 0, "name"), "New HSS container export now", "24 characters"),
        (("features", "shortcuts", 0, "description"), "x" * 151, "150 characters"),
        (("features", "shortcuts", 0, "type"), "channel", "'global' or 'message'"),
        (("display_information", "name"), "x" * 36, "35 characters"),
        (("settings", "function_runtime"), None, "function_runtime: remote"),
        (("settings", "org_deploy_enabled"), False, "org_deploy_enabled: true"),
        (("settings", "event_subscriptions", "bot_events"), [], "function_executed"),
        (
            ("functions", "hss_container_export", "input_parameters", "properties", "risky"),
            {"type": "bool", "title": "Risky"},
            "slack#/types/channel_id",
        ),
        (
            ("functions", "hss_container_export", "input_parameters", "required"),
            ["channel"],
            "required names no property",
        ),
        (("functions", "hss_container_export", "title"), None, "Field required"),
        (("features", "app_home", "home_tab_enabled"), False, "home_tab_enabled: true"),
    ],
)
def test_schema_refuses_what_slack_would(
    path: tuple[str | int, ...], value: Any, complaint: str
) -> None:
    """Each documented rule refuses a manifest that breaks it (so the check above can fail)."""
    with pytest.raises(ValidationError) as refused:
        Manifest.model_validate(_broken(path, value))

    assert complaint in str(refused.value)
