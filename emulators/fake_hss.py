"""A fake Huawei Cloud HSS, with IAM's token endpoint, on loopback: for tests and the demo.

It behaves like the real service where the bot can tell the difference:

- AK/SK signatures are verified for real, by its own reading of the
  SDK-HMAC-SHA256 rules (it does not import the bot's signer): the canonical
  request is rebuilt from the bytes received. A wrong signature, an unknown
  key or an `X-Sdk-Date` more than 15 minutes off gives 401 `APIG.0301`.
- `POST /v3/auth/tokens` grants project-scoped tokens (`X-Subject-Token`,
  `token.expires_at`) for the configured domain/user/password; tokens expire
  after `token_ttl` and `revoke_tokens()` kills them (401 `APIG.0307`).
- The create body is checked against the API page's rules (unknown fields or
  header keys, wrong types: 400 with an HSS error body).
- Each task is `running` for `polls_until_done` status calls, then `success`
  with a file or `failure`. The file is, by `file_format`: `"pattern"` (the
  default) deterministic bytes of `file_size`, streamed in chunks, any size
  without holding it in memory; `"xlsx"`, `"csv"` (GB18030) or `"zip"` (one
  xlsx inside) a real export with exactly the requested columns and seeded
  containers that change from one export to the next (`emulators.export_files`;
  the rows written are kept in `Task.rows`).
- Every response carries `X-Request-Id`; every call is recorded in `calls`.

The module is longer than the project's 400-line habit because the fake is one
server: its routes, signature check, request rules and fault scripting share
the recorded `calls`; the export files it serves live in `export_files`.

Faults are scripted per operation (`op`: "create", "status", "download" or
"token"; `None` means any HSS call, not IAM): `fail_next`, `drop_next`,
`hang_next`, `delay`. Run it with `async with FakeHss() as fake: fake.url`.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import hmac
import json
import re
import secrets
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any, Literal, Self
from urllib.parse import quote, unquote

from aiohttp import web

from emulators.export_files import FileFormat, Row, export_rows, population, write_file

Op = Literal["create", "status", "download", "token"]
_Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]

HEADER_KEYS = frozenset(
    {
        "container_id", "container_name", "image_name", "pod_name", "cluster_name",
        "cluster_type", "status", "risky", "low_risk", "medium_risk", "high_risk",
        "fatal_risk", "create_time", "restart_count", "cpu_limit", "memory_limit",
    }
)  # fmt: skip
CLUSTER_TYPES = frozenset(
    {"cce", "ali", "tencent", "azure", "aws", "self_built_hw", "self_built_idc"}
)
CONTAINER_STATES = frozenset({"Running", "Waiting", "Terminated", "Isolated", "Paused"})
_AUTHORIZATION = re.compile(
    r"SDK-HMAC-SHA256 Access=(?P<ak>[^,\s]+), SignedHeaders=(?P<names>[^,\s]+), "
    r"Signature=(?P<sig>[0-9a-f]{64})"
)


@dataclass
class Call:
    """One request the fake received (header names lower-case) and the status it answered."""

    op: str
    method: str
    path: str
    query: dict[str, str]
    headers: dict[str, str]
    body: Any
    request_id: str
    status: int | None = None  # None: the fake dropped the connection without answering


_CALL = web.RequestKey("call", Call)
_DROPPED = web.ResponseKey("dropped", bool)


@dataclass
class Task:
    """One export task and how it will end."""

    task_id: str
    polls_left: int
    outcome: Literal["success", "failure"]
    file_id: str
    file_name: str
    file_size: int
    content: bytes | None = None  # a real export file; None: the deterministic pattern
    rows: list[Row] = field(default_factory=list)  # what the real file holds, every column


@dataclass
class _Fault:
    op: str | None
    times: int
    kind: Literal["respond", "drop", "hang"]
    status: int = 500
    headers: dict[str, str] = field(default_factory=dict)
    body: bytes = b""
    seconds: float = 0.0


class FakeHss:
    """HSS's export API and IAM's token endpoint, on 127.0.0.1, with scripted faults."""

    def __init__(
        self,
        *,
        ak: str = "fake-ak",
        sk: str = "fake-sk",
        project_id: str = "fake-project",
        security_token: str | None = None,
        iam_domain: str = "fake-domain",
        iam_user: str = "fake-user",
        iam_password: str = "fake-password",  # noqa: S107 - the fake's own test account
        token_ttl: timedelta = timedelta(hours=24),
        polls_until_done: int = 1,
        outcome: Literal["success", "failure"] = "success",
        file_size: int = 200 * 1024,
        chunk_size: int = 64 * 1024,
        max_clock_skew: timedelta = timedelta(minutes=15),
        file_format: Literal["pattern"] | FileFormat = "pattern",
        seed: int = 13,
        population_size: int = 40,
        task_prefix: str = "task",
    ) -> None:
        self.ak, self.sk, self.project_id = ak, sk, project_id
        self.security_token = security_token
        self.iam_domain, self.iam_user, self.iam_password = iam_domain, iam_user, iam_password
        self.token_ttl = token_ttl
        # Read when a task is created, so a test can change them between creates.
        self.polls_until_done = polls_until_done
        self.outcome: Literal["success", "failure"] = outcome
        self.file_size = file_size
        self.chunk_size = chunk_size
        self.max_clock_skew = max_clock_skew
        self.file_format = file_format
        self.seed, self.population_size = seed, population_size
        # When set, every task created from now on serves these bytes (a damaged export).
        self.file_override: bytes | None = None
        # Real task ids are unique across accounts; two fakes of two accounts need two prefixes.
        self.task_prefix = task_prefix
        self.calls: list[Call] = []
        self.tasks: dict[str, Task] = {}
        self.tokens: dict[str, datetime] = {}  # live token -> expires_at
        self.granted_tokens: list[str] = []  # every token ever granted, revoked ones included
        self._faults: list[_Fault] = []
        self._delays: dict[str, float] = {}
        self._stopping = asyncio.Event()
        self._runner: web.AppRunner | None = None
        self.url = ""

    # --- lifecycle -------------------------------------------------------------------

    async def start(self) -> Self:
        """Listen on 127.0.0.1 on a free port; `url` says where."""
        app = web.Application(middlewares=[self._middleware])
        app.router.add_post("/v3/auth/tokens", self._token, name="token")
        app.router.add_post("/v5/{project_id}/container/export-task", self._create, name="create")
        app.router.add_get("/v5/{project_id}/export-task/{task_id}", self._status, name="status")
        app.router.add_get("/v5/{project_id}/download/{file_id}", self._download, name="download")
        app.on_response_prepare.append(self._stamp_request_id)
        self._runner = web.AppRunner(
            app, shutdown_timeout=1.0, handler_cancellation=True, access_log=None
        )
        await self._runner.setup()
        await web.TCPSite(self._runner, "127.0.0.1", 0).start()
        host, port = self._runner.addresses[0][:2]
        self.url = f"http://{host}:{port}"
        return self

    async def stop(self) -> None:
        """Release hung calls and stop listening."""
        self._stopping.set()
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    async def __aenter__(self) -> Self:
        return await self.start()

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()

    # --- scripting -------------------------------------------------------------------

    def fail_next(
        self,
        status: int = 500,
        *,
        headers: dict[str, str] | None = None,
        body: bytes | str | dict[str, Any] | None = None,
        times: int = 1,
        op: Op | None = None,
    ) -> None:
        """Answer the next `times` matching calls with `status` (default: an HSS error body)."""
        if body is None:
            body = {"error_code": f"HSS.{status}", "error_msg": f"scripted failure {status}"}
        raw = json.dumps(body).encode() if isinstance(body, dict) else _bytes(body)
        self._faults.append(_Fault(op, times, "respond", status, dict(headers or {}), raw))

    def drop_next(self, *, times: int = 1, op: Op | None = None) -> None:
        """Close the connection of the next `times` matching calls without answering."""
        self._faults.append(_Fault(op, times, "drop"))

    def hang_next(self, *, times: int = 1, op: Op | None = None, seconds: float = 3600) -> None:
        """Answer nothing to the next matching calls for `seconds` (or until stop), then drop."""
        self._faults.append(_Fault(op, times, "hang", seconds=seconds))

    def delay(self, seconds: float, *, op: Op = "create") -> None:
        """Wait `seconds` before handling every `op` call normally (0 to stop)."""
        self._delays[op] = seconds

    def revoke_tokens(self) -> None:
        """Make every token granted so far invalid (HSS answers 401 APIG.0307)."""
        self.tokens.clear()

    def calls_for(self, op: str) -> list[Call]:
        """Return the recorded calls of one operation, in order."""
        return [call for call in self.calls if call.op == op]

    @staticmethod
    def file_chunks(file_id: str, size: int, chunk_size: int = 64 * 1024) -> Iterator[bytes]:
        """Yield a file's deterministic content: each chunk its offset, then a file pattern."""
        pattern = hashlib.sha256(file_id.encode()).digest() * (chunk_size // 32 + 1)
        for offset in range(0, size, chunk_size):
            yield (offset.to_bytes(8, "big") + pattern)[: min(chunk_size, size - offset)]

    # --- the pipeline every request goes through -----------------------------------------

    @web.middleware
    async def _middleware(self, request: web.Request, handler: _Handler) -> web.StreamResponse:
        raw = await request.read()
        call = Call(
            op=request.match_info.route.name or "unknown",
            method=request.method,
            path=request.path,
            query=dict(_query_pairs(request.raw_path)),
            headers={name.lower(): value for name, value in request.headers.items()},
            body=_parse_body(raw),
            request_id=secrets.token_hex(16),
        )
        request[_CALL] = call
        self.calls.append(call)
        response = await self._answer(request, call, raw, handler)
        if not response.get(_DROPPED, False):
            call.status = response.status
        return response

    async def _answer(
        self, request: web.Request, call: Call, raw: bytes, handler: _Handler
    ) -> web.StreamResponse:
        if call.op == "unknown":
            return _error(404, "APIG.0101", "The API does not exist or has not been published")
        fault = self._take_fault(call.op)
        if fault is not None:
            return await self._apply(fault, request)
        if seconds := self._delays.get(call.op):
            await asyncio.sleep(seconds)
        if call.op != "token":
            problem = self._authenticate(request, raw)
            if problem is not None:
                return _error(401, *problem)
            if request.match_info["project_id"] != self.project_id:
                return _error(403, "APIG.0302", "The credentials do not grant this project")
        return await handler(request)

    def _take_fault(self, op: str) -> _Fault | None:
        for fault in self._faults:
            if fault.times > 0 and (fault.op == op or (fault.op is None and op != "token")):
                fault.times -= 1
                return fault
        return None

    async def _apply(self, fault: _Fault, request: web.Request) -> web.StreamResponse:
        if fault.kind == "respond":
            return web.Response(status=fault.status, body=fault.body, headers=fault.headers)
        if fault.kind == "hang":
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._stopping.wait(), fault.seconds)
        if request.transport is not None:
            request.transport.close()
        response = web.Response(status=499)  # never reaches the client: the connection is gone
        response[_DROPPED] = True
        return response

    async def _stamp_request_id(self, request: web.Request, response: web.StreamResponse) -> None:
        call = request.get(_CALL)
        response.headers.setdefault("X-Request-Id", call.request_id if call else "no-call")

    # --- authentication ------------------------------------------------------------------

    def _authenticate(self, request: web.Request, raw: bytes) -> tuple[str, str] | None:
        """Return (error_code, error_msg) when the caller is not authenticated."""
        if "Authorization" in request.headers:
            return self._check_signature(request, raw)
        token = request.headers.get("X-Auth-Token")
        if token is None:
            return "APIG.0301", "Incorrect IAM authentication information: no credentials"
        expires_at = self.tokens.get(token)
        if expires_at is None or expires_at <= datetime.now(UTC):
            return "APIG.0307", "The token must be updated."
        return None

    def _check_signature(self, request: web.Request, raw: bytes) -> tuple[str, str] | None:
        def refused(why: str) -> tuple[str, str]:
            return "APIG.0301", f"Incorrect IAM authentication information: {why}"

        match = _AUTHORIZATION.fullmatch(request.headers["Authorization"])
        if match is None:
            return refused("malformed Authorization header")
        if match["ak"] != self.ak:
            return refused("unknown access key")
        names = match["names"].split(";")
        if "host" not in names or "x-sdk-date" not in names:
            return refused("host and x-sdk-date must be signed")
        if any(name not in request.headers for name in names):
            return refused("a signed header is missing")
        try:
            signed_at = datetime.strptime(request.headers["X-Sdk-Date"], "%Y%m%dT%H%M%SZ")
        except ValueError:
            return refused("malformed X-Sdk-Date")
        if abs(datetime.now(UTC) - signed_at.replace(tzinfo=UTC)) > self.max_clock_skew:
            return refused("X-Sdk-Date is more than 15 minutes off")
        if request.headers.get("X-Project-Id") != self.project_id:
            return refused("X-Project-Id does not match the project")
        if self.security_token is not None and (
            request.headers.get("X-Security-Token") != self.security_token
            or "x-security-token" not in names
        ):
            return refused("missing or wrong X-Security-Token")

        path, _, _ = request.raw_path.partition("?")
        uri = "/".join(quote(part, safe="~") for part in unquote(path).split("/"))
        query = "&".join(
            f"{quote(k, safe='~')}={quote(v, safe='~')}"
            for k, v in sorted(_query_pairs(request.raw_path))
        )
        canonical = "\n".join(
            [
                request.method,
                uri if uri.endswith("/") else uri + "/",
                query,
                "".join(f"{name}:{request.headers[name].strip()}\n" for name in names),
                ";".join(names),
                hashlib.sha256(raw).hexdigest(),
            ]
        )
        digest = hashlib.sha256(canonical.encode()).hexdigest()
        to_sign = f"SDK-HMAC-SHA256\n{request.headers['X-Sdk-Date']}\n{digest}"
        expected = hmac.new(self.sk.encode(), to_sign.encode(), hashlib.sha256).hexdigest()
        if not hmac.compare_digest(expected, match["sig"]):
            return refused("the signature does not match")
        return None

    # --- the operations ------------------------------------------------------------------

    async def _token(self, request: web.Request) -> web.StreamResponse:
        body = request[_CALL].body
        try:
            identity = body["auth"]["identity"]
            user = identity["password"]["user"]
            scope = body["auth"]["scope"]["project"]["id"]
            wanted = (["password"], self.iam_domain, self.iam_user, self.iam_password)
            given = (identity["methods"], user["domain"]["name"], user["name"], user["password"])
        except (KeyError, TypeError):
            return _keystone_error(400, "The request body is malformed.", "Bad Request")
        if given != wanted:
            return _keystone_error(401, "The username or password is wrong.", "Unauthorized")
        if scope != self.project_id:
            return _keystone_error(401, "The project is not accessible.", "Unauthorized")
        token = "fake-token-" + secrets.token_hex(24)
        now = datetime.now(UTC)
        self.tokens[token] = expires_at = now + self.token_ttl
        self.granted_tokens.append(token)
        stamp = "%Y-%m-%dT%H:%M:%S.%fZ"
        answer = {
            "token": {
                "expires_at": expires_at.strftime(stamp),
                "issued_at": now.strftime(stamp),
                "methods": ["password"],
                "project": {"id": self.project_id},
                "user": {"name": self.iam_user, "domain": {"name": self.iam_domain}},
            }
        }
        return web.json_response(answer, status=201, headers={"X-Subject-Token": token})

    async def _create(self, request: web.Request) -> web.StreamResponse:
        call = request[_CALL]
        problems = _query_problems(call.query) + _body_problems(call.body)
        if problems:
            return _error(400, "HSS.0001", "Invalid parameter: " + "; ".join(problems))
        step = len(self.tasks)  # the inventory moves on one step per export
        task_id = f"{self.task_prefix}-{step + 1:04d}"
        task = Task(
            task_id=task_id,
            polls_left=self.polls_until_done,
            outcome=self.outcome,
            file_id=f"file-{task_id}",
            file_name=f"container-export-{task_id}.xlsx",
            file_size=self.file_size,
        )
        if self.file_format != "pattern":
            task.rows = export_rows(
                population(self.seed, step, self.population_size), call.body, call.query
            )
            task.file_name, task.content = write_file(
                self.file_format, call.body["export_headers"], task.rows, task.file_name[:-5]
            )
            task.file_size = len(task.content)
        if self.file_override is not None:
            task.content, task.file_size = self.file_override, len(self.file_override)
        self.tasks[task_id] = task
        return web.json_response({"task_id": task_id})

    async def _status(self, request: web.Request) -> web.StreamResponse:
        task = self.tasks.get(request.match_info["task_id"])
        if task is None:
            return _error(404, "HSS.0002", "The export task does not exist")
        if task.polls_left > 0:
            task.polls_left -= 1
            state = "running"
        else:
            state = task.outcome
        done = state == "success"
        return web.json_response(
            {
                "task_id": task.task_id,
                "task_name": "export_container_list",
                "task_status": state,
                "file_id": task.file_id if done else None,
                "file_name": task.file_name if done else None,
            }
        )

    async def _download(self, request: web.Request) -> web.StreamResponse:
        file_id = request.match_info["file_id"]
        task = next((t for t in self.tasks.values() if t.file_id == file_id), None)
        if task is None or task.outcome != "success" or task.polls_left > 0:
            return _error(404, "HSS.0003", "The file does not exist")
        response = web.StreamResponse(
            headers={
                "Content-Type": "application/octet-stream",
                "Content-Disposition": f'attachment; filename="{task.file_name}"',
            }
        )
        response.content_length = task.file_size
        await response.prepare(request)
        if task.content is not None:
            chunks: Iterator[bytes] = (
                task.content[at : at + self.chunk_size]
                for at in range(0, len(task.content), self.chunk_size)
            )
        else:
            chunks = self.file_chunks(file_id, task.file_size, self.chunk_size)
        for chunk in chunks:
            await response.write(chunk)
        await response.write_eof()
        return response


# --- request checks and answers ---------------------------------------------------------


def _query_pairs(raw_path: str) -> list[tuple[str, str]]:
    """Decode the query strictly: `%XX` only; a `+` stays a plus, as the SDK sends it."""
    _, _, query = raw_path.partition("?")
    pairs = []
    for item in query.split("&") if query else []:
        key, _, value = item.partition("=")
        pairs.append((unquote(key), unquote(value)))
    return pairs


def _query_problems(query: dict[str, str]) -> list[str]:
    problems = []
    eps = query.get("enterprise_project_id")
    if eps is not None and not 1 <= len(eps) <= 256:
        problems.append("enterprise_project_id must be 1-256 characters")
    size = query.get("export_size")
    if size is not None and not (size.isdigit() and 1 <= int(size) <= 100_000):
        problems.append("export_size must be an integer from 1 to 100000")
    return problems


def _text(low: int, high: int) -> Callable[[Any], bool]:
    return lambda v: isinstance(v, str) and low <= len(v) <= high


def _is_bool(value: Any) -> bool:
    return isinstance(value, bool)


def _is_time_window(value: Any) -> bool:
    return (
        isinstance(value, dict)
        and set(value) <= {"start_time", "end_time"}
        and all(type(v) is int for v in value.values())
    )


_BODY_RULES: dict[str, Callable[[Any], bool]] = {
    "cluster_container": _is_bool,
    "cluster_type": lambda v: v in CLUSTER_TYPES,
    "cluster_name": _text(1, 255),
    "container_name": _text(1, 255),
    "pod_name": _text(1, 512),
    "image_name": _text(1, 255),
    "status": lambda v: v in CONTAINER_STATES,
    "risky": _is_bool,
    "create_time": _is_time_window,
    "cpu_limit": _text(0, 64),
    "memory_limit": _text(0, 64),
}


def _body_problems(body: Any) -> list[str]:
    if not isinstance(body, dict):
        return ["the body must be a JSON object"]
    problems = [
        f"unknown field {k}" for k in body if k not in _BODY_RULES and k != "export_headers"
    ]
    problems += [
        f"invalid {k}" for k, rule in _BODY_RULES.items() if k in body and not rule(body[k])
    ]
    headers = body.get("export_headers")
    if not isinstance(headers, list) or not headers:
        return [*problems, "export_headers is required: a list of [key, name] pairs"]
    for pair in headers:
        if not (
            isinstance(pair, list) and len(pair) == 2 and all(isinstance(p, str) for p in pair)
        ):
            problems.append("each export_headers item must be [key, name]")
        elif pair[0] not in HEADER_KEYS:
            problems.append(f"unknown export_headers key {pair[0]}")
    return problems


def _parse_body(raw: bytes) -> Any:
    if not raw:
        return None
    try:
        return json.loads(raw)
    except ValueError:
        return raw.decode(errors="replace")


def _bytes(body: bytes | str) -> bytes:
    return body.encode() if isinstance(body, str) else body


def _error(status: int, code: str, message: str) -> web.Response:
    return web.json_response({"error_code": code, "error_msg": message}, status=status)


def _keystone_error(status: int, message: str, title: str) -> web.Response:
    return web.json_response(
        {"error": {"code": status, "message": message, "title": title}}, status=status
    )
