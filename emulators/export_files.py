"""Real export files for the fake HSS: realistic, seeded containers that change between exports.

The fake keeps a population of containers per seed and lets it evolve one
step per export: each step some containers go, some appear and some see their
risk counts rise or fall, all decided by `random.Random(f"{seed}:{step}")`, so
export N with the same seed always holds the same rows. Filters the fake can
apply cheaply (`status`, `risky`, `cluster_type`) and `export_size` are
honoured; the columns are exactly the request's `export_headers`, in order,
under their display names.

Files are written with xlsxwriter (and the csv and zipfile modules), never
with the library the bot reads with, so the tests read what another writer
wrote. Values are written as HSS might: in an xlsx, counts as numbers,
creation times as date cells, `risky` as 是/否 under a Chinese header and as
boolean cells otherwise; in a CSV everything is text.
"""

from __future__ import annotations

import csv
import io
import random
import unicodedata
import zipfile
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from typing import Any, Final, Literal

import xlsxwriter

FileFormat = Literal["xlsx", "csv", "zip"]
Row = dict[str, Any]  # header key -> value as the fake means it (bool, int, datetime, str)

_CLUSTERS: Final = (
    ("prod-cce-01", "cce"),
    ("prod-cce-02", "cce"),
    ("staging-aws", "aws"),
    ("idc-edge", "self_built_idc"),
)
_APPS: Final = (
    ("web", "nginx:1.25.4"),
    ("api", "registry.example.com/shop/api:3.2.1"),
    ("worker", "registry.example.com/shop/worker:3.2.1"),
    ("redis", "redis:7.2"),
    ("postgres", "postgres:16.2"),
    ("envoy", "envoyproxy/envoy:v1.29"),
    ("fluent-bit", "fluent/fluent-bit:2.2"),
    ("legacy-php", "php:5.6-apache"),
)
_STATES: Final = ("Running",) * 8 + ("Waiting", "Terminated", "Paused")
_EPOCH: Final = datetime(2026, 1, 5, 8, 0, 0)
_EXPORT_SIZE_DEFAULT: Final = 100_000


@dataclass(frozen=True)
class FakeContainer:
    """One container of the fake's inventory."""

    container_id: str
    container_name: str
    image_name: str
    pod_name: str
    cluster_name: str
    cluster_type: str
    status: str
    low_risk: int
    medium_risk: int
    high_risk: int
    fatal_risk: int
    create_time: datetime
    restart_count: int
    cpu_limit: str
    memory_limit: str

    @property
    def risky(self) -> bool:
        """Tell whether the container has any risk."""
        return bool(self.low_risk or self.medium_risk or self.high_risk or self.fatal_risk)

    def row(self) -> Row:
        """Return all 16 columns by key."""
        values = {k: getattr(self, k) for k in self.__dataclass_fields__}
        return {**values, "risky": self.risky}


def population(seed: int, step: int, size: int = 40) -> list[FakeContainer]:
    """Return the inventory after `step` exports: deterministic for a (seed, step)."""
    rng = random.Random(f"{seed}:0")
    made = 0
    containers: list[FakeContainer] = []
    for _ in range(size):
        containers.append(_new_container(rng, seed, made))
        made += 1
    for current in range(1, step + 1):
        rng = random.Random(f"{seed}:{current}")
        share = max(1, len(containers) // 10)
        for _ in range(share):  # some go
            containers.pop(rng.randrange(len(containers)))
        risky = [p for p, c in enumerate(containers) if c.risky]
        fixed = rng.sample(risky, min(len(risky), max(1, share // 2)))
        for position in fixed:  # some get fixed: their most severe risk goes down
            containers[position] = _lower(rng, containers[position])
        others = [p for p in range(len(containers)) if p not in fixed]
        for position in rng.sample(others, min(len(others), share)):  # some get worse
            containers[position] = _raise(rng, containers[position])
        for _ in range(share):  # some appear
            containers.append(_new_container(rng, seed, made))
            made += 1
    return containers


def _new_container(rng: random.Random, seed: int, number: int) -> FakeContainer:
    app, image = rng.choice(_APPS)
    cluster, kind = rng.choice(_CLUSTERS)
    replica = rng.getrandbits(40)
    pod = f"{app}-{replica % 0xFFFFFFFFF:09x}-{rng.getrandbits(20):05x}"
    base = FakeContainer(
        container_id=f"{rng.getrandbits(128):032x}{seed % 0xFFFF:04x}{number:028x}",
        container_name=f"{app}-{number}",
        image_name=image,
        pod_name=pod,
        cluster_name=cluster,
        cluster_type=kind,
        status=rng.choice(_STATES),
        low_risk=0,
        medium_risk=0,
        high_risk=0,
        fatal_risk=0,
        create_time=_EPOCH + timedelta(minutes=rng.randrange(60 * 24 * 90)),
        restart_count=rng.choice((0, 0, 0, 1, 2, 7)),
        cpu_limit=rng.choice(("250m", "500m", "1000m")),
        memory_limit=rng.choice(("256Mi", "512Mi", "2Gi")),
    )
    return _rerisk(rng, base, fresh=True)


_LEVELS: Final = ("fatal_risk", "high_risk", "medium_risk", "low_risk")  # most severe first


def _rerisk(rng: random.Random, container: FakeContainer, *, fresh: bool = False) -> FakeContainer:
    """Give a new container its risk counts: risky 40% of the time."""
    if fresh and rng.random() < 0.6:
        return container
    return replace(
        container,
        low_risk=rng.randrange(1, 13),
        medium_risk=rng.randrange(7),
        high_risk=rng.choice((0, 0, 1, 2, 3)),
        fatal_risk=rng.choice((0, 0, 0, 1, 2)),
    )


def _lower(rng: random.Random, container: FakeContainer) -> FakeContainer:
    """Lower a risky container's most severe risk (a fix): strictly less risky."""
    level = next(level for level in _LEVELS if getattr(container, level))
    value = getattr(container, level)
    return replace(container, **{level: value - rng.randint(1, value)})


def _raise(rng: random.Random, container: FakeContainer) -> FakeContainer:
    """Add risks at one level (a new vulnerability): strictly more risky."""
    level = rng.choice(_LEVELS)
    return replace(container, **{level: getattr(container, level) + rng.randint(1, 3)})


def export_rows(
    containers: Sequence[FakeContainer], body: Mapping[str, Any], query: Mapping[str, str]
) -> list[Row]:
    """Apply the cheap filters and `export_size`; return every column of each row kept."""
    kept = [
        c
        for c in containers
        if ("status" not in body or c.status == body["status"])
        and ("risky" not in body or c.risky == body["risky"])
        and ("cluster_type" not in body or c.cluster_type == body["cluster_type"])
    ]
    size = int(query.get("export_size", _EXPORT_SIZE_DEFAULT))
    return [c.row() for c in kept[:size]]


def write_file(
    file_format: FileFormat, headers: Sequence[Sequence[str]], rows: Sequence[Row], stem: str
) -> tuple[str, bytes]:
    """Return (file name, content) of an export in the given format."""
    if file_format == "csv":
        return f"{stem}.csv", csv_bytes(headers, rows)
    content = xlsx_bytes(headers, rows)
    if file_format == "zip":
        return f"{stem}.zip", zip_bytes(f"{stem}.xlsx", content)
    return f"{stem}.xlsx", content


def xlsx_bytes(headers: Sequence[Sequence[str]], rows: Sequence[Row]) -> bytes:
    """Write an xlsx with xlsxwriter: header row of display names, then the rows."""
    buffer = io.BytesIO()
    book = xlsxwriter.Workbook(buffer, {"in_memory": True})
    sheet = book.add_worksheet("containers")
    stamp = book.add_format({"num_format": "yyyy-mm-dd hh:mm:ss"})
    for column, (_, name) in enumerate(headers):
        sheet.write_string(0, column, name)
    for line, row in enumerate(rows, start=1):
        for column, (key, name) in enumerate(headers):
            value = row[key]
            if key == "risky":
                if _is_chinese(name):
                    sheet.write_string(line, column, "是" if value else "否")
                else:
                    sheet.write_boolean(line, column, value)
            elif isinstance(value, datetime):
                sheet.write_datetime(line, column, value, stamp)
            elif isinstance(value, int):
                sheet.write_number(line, column, value)
            else:
                sheet.write_string(line, column, str(value))
    book.close()
    return buffer.getvalue()


def csv_bytes(
    headers: Sequence[Sequence[str]], rows: Sequence[Row], encoding: str = "gb18030"
) -> bytes:
    """Write a CSV, all values as text, in `encoding` (by default GB18030, as HSS might)."""
    buffer = io.StringIO(newline="")
    writer = csv.writer(buffer)
    writer.writerow([name for _, name in headers])
    for row in rows:
        writer.writerow([_as_text(key, name, row[key]) for key, name in headers])
    return buffer.getvalue().encode(encoding)


def zip_bytes(name: str, content: bytes) -> bytes:
    """Wrap one file in a zip, as HSS's other exports are delivered."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr(name, content)
    return buffer.getvalue()


def _as_text(key: str, name: str, value: Any) -> str:
    if key == "risky":
        return ("是" if value else "否") if _is_chinese(name) else ("true" if value else "false")
    if isinstance(value, datetime):
        return f"{value:%Y-%m-%d %H:%M:%S}"
    return str(value)


def _is_chinese(text: str) -> bool:
    return any(unicodedata.east_asian_width(ch) == "W" for ch in text)
