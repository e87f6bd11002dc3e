"""The numbers people open an export for, computed in one pass over its rows.

Only what the exported columns allow: without a status column there are no
counts by status, without risk columns no sums and no riskiest containers
(the summary then says which `headers=` to add). Nothing is inferred from a
column's position or values, only from its mapped key.

"Risky" is the file's own `risky` column when exported; without it, a
container with any risk counted is risky (the summary says which it used).
"""

from __future__ import annotations

import heapq
from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime
from typing import Final, Literal

from bot.domain.model import EXPORT_SIZE_MAX, HEADER_KEYS
from bot.reading.columns import ColumnMap
from bot.reading.records import RISK_KEYS, Container, RowReader

TOP_CONTAINERS: Final = 10
TOP_CLUSTERS: Final = 10
BLANK: Final = "(blank)"
# Columns a summary uses beyond the risk counts, suggested with them when absent.
_FOR_RISKS: Final = ("container_name", "image_name", "cluster_name", "risky", *RISK_KEYS)


@dataclass(frozen=True)
class TopContainer:
    """One of the riskiest containers: most fatal risks, then most high risks."""

    container: str
    image: str | None
    cluster: str | None
    fatal: int
    high: int


@dataclass(frozen=True)
class ClusterRisk:
    """A cluster and how many of its exported containers are risky."""

    cluster: str
    risky: int
    containers: int


@dataclass(frozen=True)
class Summary:
    """What an export holds, within what its columns say."""

    rows: int
    export_size: int  # the most rows the export could hold (the request's, else the API's)
    file_format: str  # e.g. "xlsx", "CSV (GB18030) in a zip"
    columns: tuple[str, ...]  # the keys found in the file, in the documentation's order
    missing: tuple[str, ...] = ()  # keys asked for that the file lacks
    by_status: tuple[tuple[str, int], ...] | None = None  # most frequent first
    risky: int | None = None
    not_risky: int | None = None
    risky_unknown: int | None = None  # rows whose risk could not be told
    risky_basis: Literal["risky", "counts"] | None = None
    risk_sums: tuple[tuple[str, int], ...] | None = None  # (risk key, sum), low to fatal
    top: tuple[TopContainer, ...] | None = None  # None: no fatal/high column exported
    clusters: tuple[ClusterRisk, ...] | None = None  # None: no cluster or risk column
    created: tuple[datetime, datetime] | None = None  # oldest and newest creation time
    unreadable: int = 0
    unreadable_example: str | None = None

    @property
    def capped(self) -> bool:
        """Tell whether the export is full: HSS stopped at `export_size` rows."""
        return self.rows >= self.export_size

    def suggested_headers(self) -> str | None:
        """Return a `headers=` value adding the risk columns when none was exported."""
        if self.risk_sums is not None:
            return None
        wanted = set(self.columns) | set(_FOR_RISKS)
        return ",".join(key for key in HEADER_KEYS if key in wanted)


@dataclass
class SummaryBuilder:
    """Accumulate a `Summary` row by row, holding only counters and a small heap."""

    columns: ColumnMap
    export_size: int | None
    file_format: str
    rows: int = 0
    _status: Counter[str] = field(default_factory=Counter)
    _risky: Counter[bool | None] = field(default_factory=Counter)
    _sums: list[int] = field(default_factory=lambda: [0, 0, 0, 0])
    _top: list[tuple[int, int, int, Container]] = field(default_factory=list)
    _cluster_all: Counter[str] = field(default_factory=Counter)
    _cluster_risky: Counter[str] = field(default_factory=Counter)
    _oldest: datetime | None = None
    _newest: datetime | None = None

    def __post_init__(self) -> None:
        present = self.columns.index
        self._has_status = "status" in present
        self._risk_present = tuple(key in present for key in RISK_KEYS)
        self._basis: Literal["risky", "counts"] | None = (
            "risky" if "risky" in present else "counts" if any(self._risk_present) else None
        )
        self._has_top = "high_risk" in present or "fatal_risk" in present
        self._has_clusters = "cluster_name" in present and self._basis is not None

    def add(self, container: Container) -> None:  # noqa: C901  one tally per exported column, each a line
        """Count one container."""
        self.rows += 1
        if self._has_status:
            self._status[container.status or BLANK] += 1
        risky = self.is_risky(container)
        if self._basis is not None:
            self._risky[risky] += 1
        for position, value in enumerate(container.risks):
            self._sums[position] += value or 0
        if self._has_top:
            fatal, high = container.risks[3] or 0, container.risks[2] or 0
            if fatal or high:
                # Min-heap of the best ten; -row keeps the earlier row on ties.
                item = (fatal, high, -container.row, container)
                if len(self._top) < TOP_CONTAINERS:
                    heapq.heappush(self._top, item)
                elif item[:3] > self._top[0][:3]:
                    heapq.heapreplace(self._top, item)
        if self._has_clusters:
            cluster = container.cluster_name or BLANK
            self._cluster_all[cluster] += 1
            if risky:
                self._cluster_risky[cluster] += 1
        if container.created is not None:
            if self._oldest is None or container.created < self._oldest:
                self._oldest = container.created
            if self._newest is None or container.created > self._newest:
                self._newest = container.created

    def is_risky(self, container: Container) -> bool | None:
        """Tell whether a container is risky, on the basis this file allows (None: unknown)."""
        if self._basis == "risky":
            return container.risky
        if self._basis == "counts":
            known = [value for value in container.risks if value is not None]
            return any(known) if known else None
        return None

    def finish(self, reader: RowReader) -> Summary:
        """Return the summary of every row added."""
        top = sorted(self._top, key=lambda item: item[:3], reverse=True)
        return Summary(
            rows=self.rows,
            export_size=self.export_size or EXPORT_SIZE_MAX,
            file_format=self.file_format,
            columns=self.columns.keys(),
            missing=self.columns.missing,
            by_status=_ranked(self._status) if self._has_status else None,
            risky=self._risky[True] if self._basis else None,
            not_risky=self._risky[False] if self._basis else None,
            risky_unknown=self._risky[None] if self._basis else None,
            risky_basis=self._basis,
            risk_sums=tuple(
                (key, total)
                for key, total, found in zip(RISK_KEYS, self._sums, self._risk_present, strict=True)
                if found
            )
            or None,
            top=tuple(
                TopContainer(c.label(), c.image_name, c.cluster_name, fatal, high)
                for fatal, high, _, c in top
            )
            if self._has_top
            else None,
            clusters=tuple(
                ClusterRisk(name, risky, self._cluster_all[name])
                for name, risky in sorted(
                    self._cluster_risky.items(),
                    key=lambda item: (-item[1], -self._cluster_all[item[0]], item[0]),
                )[:TOP_CLUSTERS]
            )
            if self._has_clusters
            else None,
            created=(self._oldest, self._newest)
            if self._oldest is not None and self._newest is not None
            else None,
            unreadable=reader.unreadable,
            unreadable_example=reader.example,
        )


def _ranked(counter: Counter[str]) -> tuple[tuple[str, int], ...]:
    return tuple(sorted(counter.items(), key=lambda item: (-item[1], item[0])))
