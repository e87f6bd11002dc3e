"""Workflow Builder steps (issue 16): the `function_executed` event and functions.complete*.

`function_executed` events are shaped like Slack's documented event and bolt-python's
own test payload (tests/scenario_tests_async/test_function.py): a JSON event_callback
whose event carries the function, its inputs, the execution ids and a workflow token
(`xwfp-…`). As in Slack, that token works only while the execution runs, and only
for the step's own calls here (functions.complete*); the bot token works any time.
"""

from __future__ import annotations

import hmac
import json
import secrets
import time
from collections.abc import Mapping
from typing import Any, Literal

from aiohttp import web

from emulators.fake_slack.records import SignedRequest, StepCompletion, _Execution
from emulators.fake_slack.state import SlackState
from emulators.fake_slack.wire import _error, _ok


class WorkflowApi(SlackState):
    """function_executed events, and functions.completeSuccess / completeError."""

    def function_executed(  # noqa: PLR0913  one keyword per field of the payload
        self,
        inputs: Mapping[str, Any],
        *,
        function: Mapping[str, Any] | None = None,
        execution_id: str | None = None,
        event_id: str | None = None,
        enterprise_id: str | None = None,
        timestamp: int | None = None,
        secret: str | None = None,
    ) -> SignedRequest:
        """Build the signed event Slack sends when a workflow reaches the app's step.

        `function` is the step's definition as the manifest declares it
        (`callback_id`, `title`, `input_parameters`, `output_parameters`); its
        required outputs are what `functions.completeSuccess` must then receive.
        The same `execution_id` and `event_id` again make a retry of the event.
        """
        definition = dict(function or {"callback_id": "hss_container_export"})
        execution_id = execution_id or f"Fx{next(self._ids):010d}"
        execution = self._executions.get(execution_id)
        if execution is None:
            outputs = _parameter_list(definition.get("output_parameters"))
            required = tuple(p["name"] for p in outputs if p.get("is_required"))
            declared = tuple(p["name"] for p in outputs)
            token = f"xwfp-{secrets.token_hex(12)}"
            execution = _Execution(token, required, declared, event_id, int(time.time()))
            self._executions[execution_id] = execution
        now = int(time.time())
        started = execution.started
        event = {
            "type": "function_executed",
            "function": {
                "id": f"Fn{definition['callback_id'][:8].upper()}",
                "callback_id": definition["callback_id"],
                "title": definition.get("title", ""),
                "description": definition.get("description", ""),
                "type": "app",
                "input_parameters": _parameter_list(definition.get("input_parameters")),
                "output_parameters": _parameter_list(definition.get("output_parameters")),
                "app_id": "A0FAKE",
                "date_created": started - 3600,
                "date_updated": started - 60,
                "date_deleted": 0,
            },
            "inputs": dict(inputs),
            "function_execution_id": execution_id,
            "workflow_execution_id": f"Wx{execution_id[2:]}",
            "event_ts": f"{now}.000100",
            "bot_access_token": execution.token,
        }
        body: dict[str, Any] = {
            "token": "deprecated-verification-token",
            "team_id": self.team_id,
            "api_app_id": "A0FAKE",
            "event": event,
            "type": "event_callback",
            "event_id": execution.event_id or event_id or f"Ev{next(self._ids):010d}",
            "event_time": started,
            "authorizations": [
                {
                    "enterprise_id": enterprise_id,
                    "team_id": None if enterprise_id else self.team_id,
                    "user_id": self.bot_user_id,
                    "is_bot": True,
                    "is_enterprise_install": enterprise_id is not None,
                }
            ],
            "is_ext_shared_channel": False,
        }
        if enterprise_id:
            body["enterprise_id"] = enterprise_id
        execution.event_id = str(body["event_id"])
        raw = json.dumps(body).encode()
        signed = self._signed(raw, timestamp, secret, None, None)
        return signed.with_headers(**{"Content-Type": "application/json"})

    def completions_of(self, execution_id: str) -> list[StepCompletion]:
        """Return every functions.complete* call the app made for one execution."""
        return [c for c in self.step_completions if c.execution_id == execution_id]

    def _workflow_token_ok(self, method: str, token: str) -> bool:
        """Accept a running execution's workflow token for the step's own calls."""
        if not method.startswith("functions.complete"):
            return False
        return any(
            e.running and hmac.compare_digest(e.token, token) for e in self._executions.values()
        )

    def _token_kind(self, token: str) -> Literal["bot", "workflow"]:
        return "workflow" if token.startswith("xwfp-") else "bot"

    async def _m_functions_completeSuccess(self, params: dict[str, Any]) -> web.Response:
        return self._complete("functions.completeSuccess", params)

    async def _m_functions_completeError(self, params: dict[str, Any]) -> web.Response:
        return self._complete("functions.completeError", params)

    def _complete(self, method: str, params: dict[str, Any]) -> web.Response:
        execution_id = str(params.get("function_execution_id") or "")
        execution = self._executions.get(execution_id)
        token = str(params.get("_token") or "")
        if execution is None:
            return _error("function_execution_not_found")
        if not execution.running:
            return _error("execution_not_in_running_state")
        outputs: dict[str, Any] = {}
        error: str | None = None
        if method == "functions.completeSuccess":
            raw = params.get("outputs")
            loaded = json.loads(raw) if isinstance(raw, str) else raw
            if not isinstance(loaded, dict):
                return _error("invalid_arguments")
            missing = [name for name in execution.required if name not in loaded]
            unknown = [
                name for name in loaded if execution.declared and name not in execution.declared
            ]
            if missing or unknown:
                return _error(
                    "parameter_validation_failed",
                    errors=[f"missing output {n}" for n in missing]
                    + [f"unknown output {n}" for n in unknown],
                )
            outputs = loaded
        else:
            error = str(params.get("error") or "")
            if not error:
                return _error("invalid_arguments")
        execution.running = False  # its workflow token dies with it, as in Slack
        self.step_completions.append(
            StepCompletion(method, execution_id, outputs, error, self._token_kind(token))
        )
        return _ok()


def _parameter_list(parameters: Any) -> list[dict[str, Any]]:
    """Turn the manifest's parameters into the event's list of specs, each with `is_required`.

    The manifest says `{properties: {name: spec}, required: [names]}` (Slack's
    manifest reference; an older form puts `is_required` in each spec instead).
    """
    if not isinstance(parameters, Mapping):
        return []
    properties = parameters.get("properties", parameters)
    required = set(parameters.get("required") or ())
    if not isinstance(properties, Mapping):
        return []
    return [
        {
            **{k: v for k, v in spec.items() if k != "name"},
            "name": name,
            "is_required": bool(spec.get("is_required")) or name in required,
        }
        for name, spec in properties.items()
        if isinstance(spec, Mapping)
    ]
