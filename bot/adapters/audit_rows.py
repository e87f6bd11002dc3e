"""An audit entry from its records, and the entry as `audit list --json` and CSV show it.

Pure: `fold` is the one place an `AuditEntry` is built from records (stored
rows, just-written ones, rows of a CSV export); `entry_as_json` and `csv_row`
render it for the CLI and the export, which `audit verify --file` recomputes.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from typing import Any, Final, Protocol

from bot.adapters.audit_schema import canonical_json, format_at, parse_at
from bot.domain.types import AuditEntry, StoredRequest

CSV_FIELDS: Final = (
    "id",
    "at",
    "team_id",
    "user_id",
    "channel_id",
    "source",
    "outcome",
    "task_id",
    "hss_request_id",
    "error",
    "request",
    "delivery",
    # The chain: this entry's request record hashes, every record it was folded from
    # (exact hashed payloads), and, on the first row, the chain head at export time.
    "prev_hash",
    "hash",
    "records",
    "chain_head",
    # Where the export came from, and what a change did (issue 15): last, so every
    # column of older exports keeps its place.
    "saved_export",
    "schedule",
    "detail",
)
# The header of exports written before issue 15: they verify as they did.
LEGACY_CSV_FIELDS: Final = CSV_FIELDS[: CSV_FIELDS.index("saved_export")]


class _Record(Protocol):
    """What folding needs of a record: a stored row, a just-written one, or an exported one."""

    @property
    def seq(self) -> int: ...
    @property
    def at(self) -> str: ...
    @property
    def payload(self) -> str: ...


class _Later(_Record, Protocol):
    @property
    def kind(self) -> str: ...


def fold(
    request: _Record, later: Iterable[_Later], extra: dict[str, Any] | None = None
) -> AuditEntry:
    """Build the entry a request record and its later records tell (the latest of each wins)."""
    p = json.loads(request.payload)
    outcome, task_id, hss_request_id, error = p["outcome"], None, None, p["error"]
    delivery: dict[str, Any] | None = None
    approver = p.get("approved_by")
    for row in later:
        q = json.loads(row.payload)
        if row.kind == "outcome":
            outcome, task_id, hss_request_id = q["outcome"], q["task_id"], q["hss_request_id"]
            error = q["error"]
            approver = q.get("decided_by", approver)
        else:
            delivery = dict(q["delivery"] or {})
            if q["error"] is not None:
                delivery["error"] = q["error"]
    return AuditEntry(
        id=int(request.seq),
        at=parse_at(request.at),
        team_id=p["team_id"],
        user_id=p["user_id"],
        channel_id=p["channel_id"],
        source=p["source"],
        request=StoredRequest.from_record(p["request"]),
        outcome=outcome,
        task_id=task_id,
        hss_request_id=hss_request_id,
        error=error,
        delivery=delivery,
        extra=extra or {},
        approver=approver,
        saved_export=p.get("saved_export"),
        schedule=p.get("schedule"),
        detail=p.get("detail"),
    )


def entry_as_json(entry: AuditEntry) -> dict[str, Any]:
    """Return an entry as the plain JSON object `audit list --json` prints."""
    return {
        "id": entry.id,
        "at": format_at(entry.at),
        "team_id": entry.team_id,
        "user_id": entry.user_id,
        "channel_id": entry.channel_id,
        "source": entry.source,
        "request": None if entry.request is None else entry.request.as_record(),
        "outcome": entry.outcome,
        "task_id": entry.task_id,
        "hss_request_id": entry.hss_request_id,
        "error": entry.error,
        "delivery": entry.delivery,
        "approver": entry.approver,
        "saved_export": entry.saved_export,
        "schedule": entry.schedule,
        "detail": entry.detail,
    }


def csv_row(entry: AuditEntry, recs: Sequence[Any], head: str | None) -> dict[str, Any]:
    """Return an entry's export row: its readable cells and the chain records behind them."""
    row = entry_as_json(entry)
    row["request"] = None if entry.request is None else canonical_json(entry.request.as_record())
    row["delivery"] = None if entry.delivery is None else canonical_json(entry.delivery)
    own = next((r for r in recs if int(r.seq) == entry.id), None)
    row["prev_hash"] = None if own is None else own.prev_hash
    row["hash"] = None if own is None else own.hash
    row["records"] = canonical_json([chain_json(r) for r in recs])
    row["chain_head"] = head
    return {k: row.get(k) for k in CSV_FIELDS}


def chain_json(r: Any) -> dict[str, Any]:
    """Render a record as an export's `records` cell holds it: all the hash covers, and more."""
    return {
        "seq": int(r.seq),
        "entry_id": int(r.entry_id),
        "kind": r.kind,
        "at": r.at,
        "payload": r.payload,
        "prev_hash": r.prev_hash,
        "hash": r.hash,
    }
