"""The naive baseline the benchmark compares against: a Slack bot written the way tutorials do it.

Deliberately everything the style guide (STYLE.md) says not to copy, because this is the
code the issue asks us to beat: a synchronous Bolt `App` with its defaults (a
5-thread listener pool, 3 s ack timeout), the official `huaweicloudsdkhss`
client built once, HSS called *before* `ack()`, the task id put in the ack and
posted with `say()`. Served by a thread-per-request WSGI server (the shape of
Flask's threaded dev server; `--server bolt` uses Bolt's own single-threaded
`app.start()` instead, which is far worse). No audit log, no tracking, no
validation beyond `key=value` splitting.

Configured from the same environment as the real bot (HSS_ENDPOINT, HSS_PROJECT_ID,
CLOUD_SDK_AK, CLOUD_SDK_SK, SLACK_BOT_TOKEN, SLACK_SIGNING_SECRET, SLACK_API_URL),
so `bench_ack.py` points both at the same fakes. Not part of the bot.
"""

from __future__ import annotations

import argparse
import os
from socketserver import ThreadingMixIn
from typing import Any
from wsgiref.simple_server import WSGIRequestHandler, WSGIServer, make_server

from huaweicloudsdkcore.auth.credentials import BasicCredentials
from huaweicloudsdkhss.v5 import (
    ExportContainerListRequest,
    ExportContainerListRequestBody,
    HssClient,
)
from slack_bolt import App
from slack_bolt.adapter.wsgi import SlackRequestHandler
from slack_sdk import WebClient

HEADERS = [["container_name", "Container name"], ["image_name", "Image name"], ["status", "Status"]]


def build_app() -> App:
    """Build the tutorial bot: module-level-style clients, HSS called before the ack."""
    hss = (
        HssClient.new_builder()
        .with_credentials(
            BasicCredentials(
                os.environ["CLOUD_SDK_AK"], os.environ["CLOUD_SDK_SK"], os.environ["HSS_PROJECT_ID"]
            )
        )
        .with_endpoint(os.environ["HSS_ENDPOINT"])
        .build()
    )
    app = App(
        client=WebClient(token=os.environ["SLACK_BOT_TOKEN"], base_url=os.environ["SLACK_API_URL"]),
        signing_secret=os.environ["SLACK_SIGNING_SECRET"],
    )

    @app.command("/hss-export")
    def export(ack: Any, command: dict[str, Any], say: Any) -> None:
        args = dict(word.split("=", 1) for word in command["text"].split() if "=" in word)
        body = ExportContainerListRequestBody(export_headers=HEADERS)
        if "status" in args:
            body.status = args["status"].capitalize()
        if "cluster_type" in args:
            body.cluster_type = args["cluster_type"]
        if "risky" in args:
            body.risky = args["risky"] in ("yes", "true")
        response = hss.export_container_list(ExportContainerListRequest(body=body))
        ack(f"Export task {response.task_id} created")
        say(f"HSS export task {response.task_id} requested by <@{command['user_id']}>")

    return app


class _ThreadingWSGIServer(ThreadingMixIn, WSGIServer):
    daemon_threads = True
    request_queue_size = 128


class _QuietHandler(WSGIRequestHandler):
    def log_message(self, format: str, *args: Any) -> None:
        """Stay quiet: one access-log line per request would be the benchmark's bottleneck."""


def main() -> None:
    """Serve the baseline bot on 127.0.0.1 until killed."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--server", choices=("threaded", "bolt"), default="threaded")
    args = parser.parse_args()
    app = build_app()
    if args.server == "bolt":
        app.start(port=args.port)  # http.server.HTTPServer: one request at a time
        return
    server = make_server(
        "127.0.0.1",
        args.port,
        SlackRequestHandler(app),
        server_class=_ThreadingWSGIServer,
        handler_class=_QuietHandler,
    )
    server.serve_forever()


if __name__ == "__main__":
    main()
