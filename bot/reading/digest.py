"""A compact digest of an export, and what changed between two of them.

The database keeps a digest per export, never the file: per container, its key
and its four risk counts, the riskiest `DIGEST_CONTAINERS` first, plus the
totals. A container is keyed by `container_id` when the export has that column,
else by its (container, pod, cluster) names, and the digest says which: two
digests keyed differently are not compared. A digest that had to drop
containers says so, and so does any diff made from it.

The JSON shape is versioned (`"v": 1`) and stable: keys sorted, entries in a
fixed order, so the same export always gives the same text. Typical size is
about 100 bytes per container (5000 containers: about half a megabyte).
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Final, Literal, NamedTuple, cast

from bot.reading.columns import ColumnMap
from bot.reading.errors import UnreadableExport
from bot.reading.records import RISK_KEYS, Container, Risks

DIGEST_VERSION: Final = 1
DIGEST_CONTAINERS: Final = 5000
NAME_MAX: Final = 253  # Kubernetes' longest name: clipping beyond it merges nothing real
Identity = Literal["container_id", "names"]


class DigestError(UnreadableExport):
    """A stored digest is not one this version of the bot can read."""


class Entry(NamedTuple):
    """One container of a digest: its key, a name for people, its risk counts."""

    key: tuple[str, ...]  # (container_id,) or (container, pod, cluster)
    name: str | None  # the container name, when exported
    risks: Risks

    def label(self) -> str:
        """Return how a person recognizes the container."""
        if len(self.key) == 1:
            return self.name or self.key[0]
        container, pod, cluster = self.key
        where = ", ".join(part for part in (pod and f"pod {pod}", cluster) if part)
        return f"{container} ({where})" if where else container


@dataclass(frozen=True)
class Digest:
    """What later exports are compared with: keys and risk counts, bounded."""

    identity: Identity | None  # None: no column to key containers by
    rows: int
    containers: int  # distinct keys in the export (before the cap)
    risk_columns: tuple[str, ...]
    sums: tuple[tuple[str, int], ...]
    entries: tuple[Entry, ...]  # riskiest first, at most the cap
    merged: int = 0  # rows that shared their key with an earlier row (risks added up)
    unkeyed: int = 0  # rows without a value in the key column(s)

    @property
    def truncated(self) -> bool:
        """Tell whether the digest kept only the riskiest of its containers."""
        return len(self.entries) < self.containers

    def to_json(self) -> str:
        """Serialize to the stable, versioned JSON shape."""
        return json.dumps(
            {
                "v": DIGEST_VERSION,
                "identity": self.identity,
                "rows": self.rows,
                "containers": self.containers,
                "merged": self.merged,
                "unkeyed": self.unkeyed,
                "risk_columns": list(self.risk_columns),
                "sums": dict(self.sums),
                "entries": [[list(e.key), e.name, *e.risks] for e in self.entries],
            },
            ensure_ascii=False,
            sort_keys=True,
            separators=(",", ":"),
        )

    @classmethod
    def from_json(cls, text: str) -> Digest:
        """Read a stored digest; raise `DigestError` when it is not version 1 or malformed."""
        try:
            raw = json.loads(text)
            if raw.get("v") != DIGEST_VERSION:
                raise DigestError(f"a digest of version {raw.get('v')!r}, not {DIGEST_VERSION}")
            identity = raw["identity"]
            if identity not in ("container_id", "names", None):
                raise DigestError(f"a digest keyed by {identity!r}")
            return cls(
                identity=identity,
                rows=int(raw["rows"]),
                containers=int(raw["containers"]),
                merged=int(raw["merged"]),
                unkeyed=int(raw["unkeyed"]),
                risk_columns=tuple(str(k) for k in raw["risk_columns"]),
                # JSON keys are stored sorted: put the sums back in severity order.
                sums=tuple((k, int(raw["sums"][k])) for k in RISK_KEYS if k in raw["sums"]),
                entries=tuple(_entry(item) for item in raw["entries"]),
            )
        except (ValueError, KeyError, TypeError, AttributeError) as exc:
            raise DigestError(f"a malformed digest ({type(exc).__name__})") from None


def _entry(item: Sequence[Any]) -> Entry:
    key, name, *risks = item
    if not isinstance(key, list) or len(key) not in (1, 3) or len(risks) != 4:
        raise ValueError("entry shape")
    counts = tuple(None if r is None else int(r) for r in risks)
    label = None if name is None else str(name)
    return Entry(tuple(str(k) for k in key), label, cast(Risks, counts))


@dataclass
class DigestBuilder:
    """Collect every container's key and risks, then keep the riskiest `limit`."""

    columns: ColumnMap
    limit: int = DIGEST_CONTAINERS
    rows: int = 0
    merged: int = 0
    unkeyed: int = 0
    _seen: dict[tuple[str, ...], Entry] = field(default_factory=dict)

    def __post_init__(self) -> None:
        present = self.columns.index
        self.identity: Identity | None = (
            "container_id"
            if "container_id" in present
            else "names"
            if "container_name" in present
            else None
        )
        self._risk_columns = tuple(key for key in RISK_KEYS if key in present)

    def add(self, container: Container) -> None:
        """Record one container."""
        self.rows += 1
        key = self._key(container)
        if key is None:
            if self.identity is not None:
                self.unkeyed += 1
            return
        earlier = self._seen.get(key)
        name = container.container_name
        if earlier is None:
            self._seen[key] = Entry(key, name and name[:NAME_MAX], container.risks)
            return
        self.merged += 1
        added = tuple(
            None if a is None and b is None else (a or 0) + (b or 0)
            for a, b in zip(earlier.risks, container.risks, strict=True)
        )
        self._seen[key] = Entry(key, earlier.name or (name and name[:NAME_MAX]), cast(Risks, added))

    def _key(self, container: Container) -> tuple[str, ...] | None:
        if self.identity == "container_id":
            found = container.container_id
            return (found[:NAME_MAX],) if found else None
        if self.identity == "names" and container.container_name:
            return (
                container.container_name[:NAME_MAX],
                (container.pod_name or "")[:NAME_MAX],
                (container.cluster_name or "")[:NAME_MAX],
            )
        return None

    def finish(self) -> Digest:
        """Return the digest: totals, and the riskiest `limit` containers."""
        # Most containers have no risk: rank the others, then fill up with those by key alone.
        risky = [e for e in self._seen.values() if any(e.risks)]
        ranked = sorted(risky, key=_rank)
        if len(ranked) < self.limit:
            calm = sorted((e for e in self._seen.values() if not any(e.risks)), key=_key)
            ranked += calm[: self.limit - len(ranked)]
        sums = [0, 0, 0, 0]
        for entry in risky:
            for position, value in enumerate(entry.risks):
                sums[position] += value or 0
        return Digest(
            identity=self.identity,
            rows=self.rows,
            containers=len(self._seen),
            risk_columns=self._risk_columns,
            sums=tuple((k, sums[RISK_KEYS.index(k)]) for k in self._risk_columns),
            entries=tuple(ranked[: self.limit]),
            merged=self.merged,
            unkeyed=self.unkeyed,
        )


def _key(entry: Entry) -> tuple[str, ...]:
    return entry.key


def _rank(entry: Entry) -> tuple[int, int, int, int, tuple[str, ...]]:
    """Sort key, riskiest first: most fatal, then high, medium, low; then by key."""
    low, medium, high, fatal = entry.risks
    return (-(fatal or 0), -(high or 0), -(medium or 0), -(low or 0), entry.key)


# --- comparing two digests ----------------------------------------------------------------


@dataclass(frozen=True)
class Change:
    """A container in both exports whose risk counts differ."""

    before: Entry
    after: Entry


@dataclass(frozen=True)
class DigestDiff:
    """What changed from an earlier export to a later one with the same filters."""

    identity: Identity | None
    reason: str | None = None  # why the two could not be compared (then nothing else is set)
    new: tuple[Entry, ...] = ()
    gone: tuple[Entry, ...] = ()
    up: tuple[Change, ...] = ()  # riskier: more of the most severe risk that changed
    down: tuple[Change, ...] = ()
    unchanged: int = 0
    partial: bool = False  # a digest kept only its riskiest containers
    compared: tuple[str, ...] = ()  # the risk columns both exports have
    rows: tuple[int, int] = (0, 0)  # rows before, after
    sums: tuple[tuple[str, int, int], ...] = ()  # (risk key, before, after) for `compared`

    @property
    def comparable(self) -> bool:
        """Tell whether the two exports could be compared at all."""
        return self.reason is None


def diff(before: Digest, after: Digest) -> DigestDiff:
    """Compare two digests of exports with the same filters, `before` the earlier one."""
    if before.identity is None or after.identity is None:
        return DigestDiff(
            identity=None,
            reason="no container_id or container_name column to match containers by "
            "(add container_id to `headers=`)",
        )
    if before.identity != after.identity:
        return DigestDiff(
            identity=after.identity,
            reason=f"the earlier export matched containers by {_by(before.identity)}, "
            f"this one by {_by(after.identity)}",
        )
    compared = tuple(k for k in RISK_KEYS if k in before.risk_columns and k in after.risk_columns)
    positions = [RISK_KEYS.index(k) for k in compared]

    def severity(entry: Entry) -> tuple[int, ...]:
        return tuple(entry.risks[p] or 0 for p in reversed(positions))  # fatal first

    old = {entry.key: entry for entry in before.entries}
    current = {entry.key: entry for entry in after.entries}
    up: list[Change] = []
    down: list[Change] = []
    unchanged = 0
    for key, entry in current.items():
        earlier = old.get(key)
        if earlier is None:
            continue
        if severity(entry) > severity(earlier):
            up.append(Change(earlier, entry))
        elif severity(entry) < severity(earlier):
            down.append(Change(earlier, entry))
        else:
            unchanged += 1
    old_sums, new_sums = dict(before.sums), dict(after.sums)
    return DigestDiff(
        identity=after.identity,
        new=tuple(e for k, e in current.items() if k not in old),
        gone=tuple(e for k, e in old.items() if k not in current),
        up=tuple(up),
        down=tuple(down),
        unchanged=unchanged,
        partial=before.truncated or after.truncated,
        compared=compared,
        rows=(before.rows, after.rows),
        sums=tuple((k, old_sums.get(k, 0), new_sums.get(k, 0)) for k in compared),
    )


def _by(identity: Identity) -> str:
    return "container_id" if identity == "container_id" else "container, pod and cluster name"
