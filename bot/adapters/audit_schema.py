"""Define the audit log's tables and the hash chain that makes edits visible.

The log is a table of append-only *records*, each hashed over its content and
the previous record's hash. A command is one `request` record; what became of
it is told by later `outcome` and `delivery` records that name it by
`entry_id`. Pruning leaves an `anchor` record saying where the chain resumes.
A single-row chain head holds the last sequence number and hash, so removing
the newest records is as visible as removing any other.

Schema version 2 (issue 15) adds the `saved_export` and `schedule` columns:
copies, like `user_id`, of the names a request record's payload carries when
its export came from a saved export or a schedule (records written before
hold neither, in payload or column, so they verify as they did). A schedule's
run also names the schedule's id (`schedule_id`), in the payload only: no
column, no new schema version.

Kept free of I/O so that `verify` and the tests can recompute hashes exactly; the
checks of what a record may hold (no credentials, no headers) live here too.
"""

from __future__ import annotations

import hashlib
import json
import re
from datetime import UTC, datetime
from typing import Any, Final, Literal, get_args

from sqlalchemy import (
    BigInteger,
    CheckConstraint,
    Column,
    Index,
    Integer,
    MetaData,
    String,
    Table,
    Text,
)

from bot.domain.model import PROVENANCE_KEYS
from bot.domain.saved import NAME_RULE, SCHEDULE_ID_RULE
from bot.domain.types import Actor, Source

SCHEMA_VERSION: Final = 2
GENESIS_HASH: Final = "0" * 64
HEAD_ID: Final = 1
MAX_KEY_LENGTH: Final = 255

RecordKind = Literal["request", "outcome", "delivery", "anchor"]
RECORD_KINDS: Final[tuple[RecordKind, ...]] = ("request", "outcome", "delivery", "anchor")

metadata = MetaData()

records = Table(
    "audit_records",
    metadata,
    # Position in the chain, assigned under the append lock: contiguous from 1.
    Column("seq", BigInteger, primary_key=True, autoincrement=False),
    # The command this record belongs to: the `seq` of its `request` record.
    Column("entry_id", BigInteger, nullable=False),
    Column("kind", String(16), nullable=False),
    # ISO-8601 UTC with microseconds and a `Z`: sorts as text, hashes exactly.
    Column("at", String(32), nullable=False),
    # Copies of hashed payload fields, for filtering and for the unique constraint.
    Column("user_id", String(MAX_KEY_LENGTH), nullable=True),
    Column("dedupe_key", String(MAX_KEY_LENGTH), nullable=True, unique=True),
    # Schema version 2: where a request came from (issue 15), copies of its payload's.
    Column("saved_export", String(MAX_KEY_LENGTH), nullable=True),
    Column("schedule", String(MAX_KEY_LENGTH), nullable=True),
    Column("payload", Text, nullable=False),
    Column("prev_hash", String(64), nullable=False),
    Column("hash", String(64), nullable=False),
    CheckConstraint(
        "kind IN ('request', 'outcome', 'delivery', 'anchor')", name="audit_records_kind"
    ),
    Index("audit_records_entry", "entry_id"),
    Index("audit_records_user", "user_id", "seq"),
    Index("audit_records_at", "at"),
    Index("audit_records_saved_export", "saved_export", "seq"),
    Index("audit_records_schedule", "schedule", "seq"),
)
# The columns a request record copies from its payload; `verify` checks that they agree.
COPIED_COLUMNS: Final = ("user_id", "dedupe_key", "saved_export", "schedule")
# Where an export came from (`PROVENANCE_KEYS`) is lifted from the request record into
# the entry (issue 15); the names have columns, the schedule's id is in the payload only.
PROVENANCE_COLUMNS: Final = ("saved_export", "schedule")

chain_head = Table(
    "audit_chain_head",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=False),
    Column("seq", BigInteger, nullable=False),
    Column("hash", String(64), nullable=False),
    CheckConstraint(f"id = {HEAD_ID}", name="audit_chain_head_single_row"),
)

schema_meta = Table(
    "audit_meta",
    metadata,
    Column("key", String(64), primary_key=True),
    Column("value", String(255), nullable=False),
)


def canonical_json(value: Any) -> str:
    """Serialize `value` the one way the chain hashes it (sorted keys, no spaces, UTF-8)."""
    return json.dumps(
        value, sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False
    )


def record_hash(  # noqa: PLR0913  one keyword per hashed column
    prev_hash: str, *, seq: int, entry_id: int, kind: str, at: str, payload: str
) -> str:
    """Return the hash of a record: sha256 over the previous hash and its canonical content."""
    content = canonical_json(
        {"seq": seq, "entry_id": entry_id, "kind": kind, "at": at, "payload": json.loads(payload)}
    )
    return hashlib.sha256(f"{prev_hash}\n{content}".encode()).hexdigest()


def format_at(moment: datetime) -> str:
    """Render a moment as the log stores it: `2026-01-02T03:04:05.000006Z`."""
    if moment.tzinfo is None:
        raise ValueError("audit timestamps must be timezone-aware")
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def parse_at(text: str) -> datetime:
    """Read a stored timestamp back as an aware UTC datetime."""
    return datetime.strptime(text, "%Y-%m-%dT%H:%M:%S.%fZ").replace(tzinfo=UTC)


# Keys that would only appear if someone passed credentials or HTTP headers by mistake.
_SECRET_KEY = re.compile(
    r"authorization|token|secret|password|passwd|signature|cookie|api[-_]?key|x-sdk-|^ak$|^sk$",
    re.IGNORECASE,
)
_SOURCES: Final = frozenset(get_args(Source))


# Where a request bound to a profile went (issue 12): beside query and body, text only.
PROFILE_KEYS: Final = frozenset({"profile", "region", "project_id", "endpoint"})


def checked_request(request: dict[str, Any]) -> dict[str, Any]:
    """Accept only the `{"query", "body"}` audit record of a request (and where it went)."""
    if (
        not isinstance(request, dict)
        or not {"query", "body"} <= set(request)
        or not set(request) <= {"query", "body"} | PROFILE_KEYS | set(PROVENANCE_KEYS)
        or not all(isinstance(request[k], str) for k in PROFILE_KEYS & set(request))
    ):
        raise ValueError(
            'the audited request is {"query": {...}, "body": {...}} '
            "(ExportRequest.as_audit_record()), with at most its profile, region, "
            "project_id, saved export, schedule and schedule id as text, nothing else"
        )
    if not isinstance(request["query"], dict) or not isinstance(request["body"], dict):
        raise ValueError("the audited request's query and body must be objects")
    refuse_secrets(request, "request")
    canonical_json(request)  # raises if it is not plain JSON
    return request


def refuse_secrets(value: Any, where: str) -> None:
    if isinstance(value, dict):
        for key, item in value.items():
            if not isinstance(key, str) or _SECRET_KEY.search(key):
                raise ValueError(f"{where} has a key that looks like a credential or header")
            refuse_secrets(item, where)
    elif isinstance(value, list | tuple):
        for item in value:
            refuse_secrets(item, where)


def provenance(
    request: dict[str, Any] | None, *, saved_export: str | None, schedule: str | None
) -> tuple[dict[str, Any] | None, dict[str, str]]:
    """Split a request record from where it came from; return both (names checked).

    The names come from the record (`ExportRequest.as_audit_record()`) or from the
    caller (a refusal with no request, a change); given both ways, they must agree.
    A schedule's id comes only with the record of one of its runs.
    """
    given = dict.fromkeys(PROVENANCE_KEYS) | {"saved_export": saved_export, "schedule": schedule}
    if request is not None:
        request = dict(request)
        for key in PROVENANCE_KEYS:
            carried = request.pop(key, None)
            if carried is not None and given[key] not in (None, carried):
                raise ValueError(f"{key} is {given[key]!r} but the request says {carried!r}")
            given[key] = given[key] or carried
    names = {key: value for key, value in given.items() if value is not None}
    for key, value in names.items():
        rule = SCHEDULE_ID_RULE if key == "schedule_id" else NAME_RULE
        if not isinstance(value, str) or not rule.fullmatch(value):
            raise ValueError(f"{key} must match {rule.pattern}, not {value!r}")
    return request, names


def request_payload(
    actor: Actor,
    request: dict[str, Any] | None,
    outcome: str,
    error: str | None,
    names: dict[str, str] | None = None,
) -> dict[str, Any]:
    """Return the payload of a command record; `names` (from `provenance`) join it if any.

    An entry with no saved export or schedule has neither key, so its payload (and
    hash) is exactly what it was before they existed.
    """
    for name in ("team_id", "user_id", "channel_id"):
        value = getattr(actor, name)
        if not isinstance(value, str) or len(value) > MAX_KEY_LENGTH:
            raise ValueError(f"actor.{name} must be a string of at most {MAX_KEY_LENGTH}")
    if actor.source not in _SOURCES:
        raise ValueError(f"actor.source is one of {sorted(_SOURCES)}, not {actor.source!r}")
    return {
        "team_id": actor.team_id,
        "user_id": actor.user_id,
        "channel_id": actor.channel_id,
        "source": actor.source,
        "request": request,
        "outcome": outcome,
        "error": error,
    } | (names or {})
