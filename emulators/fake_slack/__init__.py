"""A fake Slack on 127.0.0.1: the Web API calls the bot makes, response_urls, uploads, Socket Mode.

It plays both sides Slack plays: the server the bot calls (`/api/<method>`,
checked against the bot token and, if given, the bot's scopes; every call
recorded, errors injectable per method and channel, answers delayable per
method), and the client that calls the bot (`slash_command` and
`view_submission` build requests signed with the signing secret, like Slack's;
`deliver` posts one with Slack's 3-second patience; `socket_dispatch` sends an
envelope over Socket Mode and returns the ack). Files go through Slack's
external upload flow: the upload URL is read as a stream (any size, hashed on
the fly, bytes kept only if asked), a completed upload is recorded in `files`,
and `files.info` says where a file is shared. As in Slack, `chat.postMessage`
to a user id posts in that user's DM with the app and answers with the DM's
`D…` id (`dm_with`), the id `files.completeUploadExternal` needs: it refuses a
user id. Every view, message, response_url post and ack is checked with
slack_sdk's Block Kit models (`emulators.slack_models`) and refused as Slack
would; each refusal is kept in `refusals`, and leaving the fake with any raises,
so a test cannot pass over Block Kit that Slack would refuse
(`check_block_kit=False` for a test that sends such Block Kit on purpose).
`manifest_scopes()` reads the bot scopes the app manifest grants, so tests and
the demo can refuse what the real app could not do. Tests and the
local demo use it; it imports nothing from `bot`.

Workflow Builder steps and shortcuts (issue 16): `function_executed` builds
a step execution's signed event, `global_shortcut` a shortcut run from
anywhere; `functions.completeSuccess`/`completeError` are recorded in
`step_completions` with the kind of token used, and `chat.getPermalink` links
posted messages (see the section of that name below).

The App Home tab (issue 15) is `FakeSlack.home` (`emulators.fake_slack.home`):
`views.publish` checked as Slack checks a home view, the signed
`app_home_opened` event and clicks in a published home.

One module per Slack API family, each a part of `FakeSlack` (`server`): `chat`
(chat.* and response_urls), `views` (views.open, views.publish), `files` (the
external upload flow, files.info), `users` (usergroups, users.info),
`socket_mode`, `workflow` (function_executed, functions.complete*) and
`interactions` (the signed requests Slack sends the app), over the state they
share (`state`); `records` holds what a test reads, `wire` how a call is read and
answered, `manifest` the manifest's scopes. This package only re-exports.
"""

from __future__ import annotations

from emulators.fake_slack.manifest import MANIFEST, manifest_scopes
from emulators.fake_slack.records import (
    DEFAULT_APP_TOKEN,
    DEFAULT_BOT_TOKEN,
    DEFAULT_SIGNING_SECRET,
    Call,
    Delivery,
    OpenedView,
    Posted,
    ResponsePost,
    SignedRequest,
    StepCompletion,
    UploadedFile,
    sign,
)
from emulators.fake_slack.server import METHOD_SCOPES, FakeSlack

__all__ = [
    "DEFAULT_APP_TOKEN",
    "DEFAULT_BOT_TOKEN",
    "DEFAULT_SIGNING_SECRET",
    "MANIFEST",
    "METHOD_SCOPES",
    "Call",
    "Delivery",
    "FakeSlack",
    "OpenedView",
    "Posted",
    "ResponsePost",
    "SignedRequest",
    "StepCompletion",
    "UploadedFile",
    "manifest_scopes",
    "sign",
]
