"""The HSS "create container export task" request, to the letter of the API page.

Pure: no I/O, no Slack, no HTTP. Every rule of `export-container-list.zh.txt`
lives here, so the slash grammar, the modal and the CLI cannot disagree.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from enum import StrEnum
from typing import Annotated, Any, Final, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    StringConstraints,
    field_validator,
    model_validator,
)

from bot.domain.saved import NAME_RULE, SCHEDULE_ID_RULE

EXPORT_SIZE_MAX: Final = 100_000
LONG_MAX: Final = 2**63 - 1  # the page types create_time's ends as Long (signed 64-bit)


class ClusterType(StrEnum):
    """Cluster types the API accepts, in its spelling."""

    CCE = "cce"
    ALI = "ali"
    TENCENT = "tencent"
    AZURE = "azure"
    AWS = "aws"
    SELF_BUILT_HW = "self_built_hw"
    SELF_BUILT_IDC = "self_built_idc"


CLUSTER_TYPE_LABELS_ZH: Final[dict[str, str]] = {
    "cce": "CCE集群",
    "ali": "阿里云集群",
    "tencent": "腾讯云集群",
    "azure": "微软云集群",
    "aws": "亚马逊集群",
    "self_built_hw": "华为云自建集群",
    "self_built_idc": "IDC自建集群",
}
"""The page's Chinese names of the cluster types (its 取值范围): accepted as synonyms."""


class ContainerStatus(StrEnum):
    """Container states the API accepts, in its spelling."""

    RUNNING = "Running"
    WAITING = "Waiting"
    TERMINATED = "Terminated"
    ISOLATED = "Isolated"
    PAUSED = "Paused"


STATUS_LABELS_ZH: Final[dict[str, str]] = {
    "Running": "运行中",
    "Waiting": "等待",
    "Terminated": "终止",
    "Isolated": "已隔离",
    "Paused": "已暂停",
}
"""The page's Chinese names of the container states (取值范围 of `status`): accepted as synonyms."""

# The page's length limits, by request field: the model enforces them, the grammar
# reports them, the form sets them as `max_length`. Written here only.
MAX_LENGTHS: Final[dict[str, int]] = {
    "cluster_name": 255,
    "container_name": 255,
    "pod_name": 512,
    "image_name": 255,
    "cpu_limit": 64,
    "memory_limit": 64,
    "enterprise_project_id": 256,
}
# The path's project_id (one per account and region, from 'My Credentials'): the same 1-256
# the page gives enterprise_project_id; checked in the settings and each profile.
PROJECT_ID_MAX_LENGTH: Final = 256


# The 16 legal export_headers keys, in the page's order, with the page's display
# names (zh) and plain English ones (en, for HSS_EXPORT_HEADER_LANG=en).
HEADER_NAMES: Final[dict[str, dict[str, str]]] = {
    "container_id": {"zh": "容器id", "en": "Container ID"},
    "container_name": {"zh": "容器名称", "en": "Container name"},
    "image_name": {"zh": "镜像名称", "en": "Image name"},
    "pod_name": {"zh": "所属POD", "en": "Pod"},
    "cluster_name": {"zh": "所属集群", "en": "Cluster"},
    "cluster_type": {"zh": "集群类型", "en": "Cluster type"},
    "status": {"zh": "状态", "en": "Status"},
    "risky": {"zh": "是否有安全风险", "en": "Security risk"},
    "low_risk": {"zh": "低危风险", "en": "Low risks"},
    "medium_risk": {"zh": "中危风险", "en": "Medium risks"},
    "high_risk": {"zh": "高危风险", "en": "High risks"},
    "fatal_risk": {"zh": "致命风险", "en": "Critical risks"},
    "create_time": {"zh": "创建时间", "en": "Created at"},
    "restart_count": {"zh": "重启次数", "en": "Restart count"},
    "cpu_limit": {"zh": "CPU限制", "en": "CPU limit"},
    "memory_limit": {"zh": "内存限制", "en": "Memory limit"},
}
HEADER_KEYS: Final[tuple[str, ...]] = tuple(HEADER_NAMES)
HeaderLang = Literal["zh", "en"]

# `\Z`, not `$`: Python's `$` also matches before a trailing newline, so "100m\n" would pass.
CPU_LIMIT_PATTERN: Final = re.compile(r"^[0-9]+m\Z")
MEMORY_LIMIT_PATTERN: Final = re.compile(r"^[0-9]+(Mi|Gi)\Z")


def _length(key: str, pattern: re.Pattern[str] | None = None) -> StringConstraints:
    """Field `key`'s string rule: 1 to `MAX_LENGTHS[key]` characters, and the pattern if any."""
    return StringConstraints(min_length=1, max_length=MAX_LENGTHS[key], pattern=pattern)


def default_headers(lang: HeaderLang = "zh") -> list[tuple[str, str]]:
    """Return all 16 header keys with the documentation's display names."""
    return [(key, names[lang]) for key, names in HEADER_NAMES.items()]


class _Strict(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid", strict=True)


class CreateTime(_Strict):
    """Creation-time window, epoch milliseconds, both ends inclusive."""

    start_time: Annotated[int, Field(ge=0, le=LONG_MAX)]
    end_time: Annotated[int, Field(ge=0, le=LONG_MAX)]

    @model_validator(mode="after")
    def _start_not_after_end(self) -> CreateTime:
        if self.start_time > self.end_time:
            raise ValueError("start_time must not be after end_time")
        return self


class ExportQuery(_Strict):
    """Query string of the create call."""

    enterprise_project_id: Annotated[str, _length("enterprise_project_id")] | None = None
    export_size: Annotated[int, Field(ge=1, le=EXPORT_SIZE_MAX)] | None = None


class ExportBody(_Strict):
    """JSON body of the create call; `None` means the field is not sent."""

    cluster_container: bool | None = None
    cluster_type: ClusterType | None = None
    cluster_name: Annotated[str, _length("cluster_name")] | None = None
    container_name: Annotated[str, _length("container_name")] | None = None
    pod_name: Annotated[str, _length("pod_name")] | None = None
    image_name: Annotated[str, _length("image_name")] | None = None
    status: ContainerStatus | None = None
    risky: bool | None = None
    create_time: CreateTime | None = None
    cpu_limit: Annotated[str, _length("cpu_limit", CPU_LIMIT_PATTERN)] | None = None
    memory_limit: Annotated[str, _length("memory_limit", MEMORY_LIMIT_PATTERN)] | None = None
    export_headers: Annotated[list[tuple[str, str]], Field(min_length=1)]

    @field_validator("export_headers")
    @classmethod
    def _known_unique_headers(cls, headers: list[tuple[str, str]]) -> list[tuple[str, str]]:
        seen: set[str] = set()
        for key, name in headers:
            if key not in HEADER_NAMES:
                raise ValueError(f"unknown header key {key!r}; accepted: {', '.join(HEADER_KEYS)}")
            if key in seen:
                raise ValueError(f"header key {key!r} appears twice")
            if not name.strip():
                raise ValueError(f"header {key!r} has an empty display name")
            seen.add(key)
        return headers


PROFILE_NAME_PATTERN: Final = re.compile(r"^[a-z0-9_-]{1,32}\Z")  # as `bot.profiles` names them
# A saved export's or a schedule's name (`bot.domain.saved.NAME_RULE`, anchored).
PRESET_NAME_PATTERN: Final = re.compile(rf"^{NAME_RULE.pattern}\Z")
# Where a request came from: carried by `as_audit_record`, never sent to HSS.
PROVENANCE_KEYS: Final = ("saved_export", "schedule", "schedule_id")
PresetName = Annotated[str, StringConstraints(pattern=PRESET_NAME_PATTERN)]
SCHEDULE_ID_PATTERN: Final = re.compile(rf"^{SCHEDULE_ID_RULE.pattern}\Z")
ScheduleId = Annotated[str, StringConstraints(pattern=SCHEDULE_ID_PATTERN)]


class HssTarget(_Strict):
    """Where a resolved profile sends the call: shown in `preview`, kept in the audit record."""

    region: str
    project_id: str
    endpoint: str


class ExportRequest(_Strict):
    """One create-export-task call: what goes in the query and in the body.

    `profile` names the HSS profile (account, project, region) the call goes to:
    the one asked for (`profile=`), or, once resolved, the channel's or the
    default. `target` is set when it is resolved. Neither is sent to HSS.

    `saved_export` and `schedule` say where the request came from (issue 15): the
    saved export it was built from and the schedule that ran it (`schedule_id`:
    that schedule's id, which its runs are compared and charted by, as a name
    may be deleted and scheduled again). They are not sent
    to HSS either; they travel with the request into the audit entry (inside the
    chain) and, through `as_audit_record`, into a held approval.
    """

    query: ExportQuery = ExportQuery()
    body: ExportBody
    profile: Annotated[str, StringConstraints(pattern=PROFILE_NAME_PATTERN)] | None = None
    target: HssTarget | None = None
    saved_export: PresetName | None = None
    schedule: PresetName | None = None
    schedule_id: ScheduleId | None = None

    def query_params(self) -> dict[str, str]:
        """Return the query string values as sent, absent ones left out."""
        return {k: str(v) for k, v in self.query.model_dump(exclude_none=True).items()}

    def body_json(self) -> dict[str, Any]:
        """Return the body as the API takes it: absent fields absent, booleans as booleans."""
        body: dict[str, Any] = self.body.model_dump(mode="json", exclude_none=True)
        body["export_headers"] = [list(pair) for pair in self.body.export_headers]
        return body

    def body_bytes(self) -> bytes:
        """Return the exact bytes sent (and signed) as the body."""
        return json.dumps(self.body_json(), ensure_ascii=False, separators=(",", ":")).encode()

    def as_audit_record(self) -> dict[str, Any]:
        """Return `{"query": ..., "body": ...}` exactly as sent, for the audit log.

        A resolved request adds `profile`, `region`, `project_id` and `endpoint`, so
        where the call went is inside the hash chain too; a request from a saved
        export adds `saved_export` (and `schedule`, `schedule_id`), which the audit
        log lifts into the entry itself.
        """
        record: dict[str, Any] = {"query": self.query_params(), "body": self.body_json()}
        if self.profile is not None:
            record["profile"] = self.profile
        if self.target is not None:
            record["region"] = self.target.region
            record["project_id"] = self.target.project_id
            record["endpoint"] = self.target.endpoint
        for key in PROVENANCE_KEYS:
            if (value := getattr(self, key)) is not None:
                record[key] = value
        return record

    @classmethod
    def from_audit_record(cls, record: Mapping[str, Any]) -> ExportRequest:
        """Rebuild the request `as_audit_record()` wrote, so a held request runs exactly as shown.

        The record's query holds strings (as sent); the body is the JSON sent. Read
        as JSON, so the model's strict rules apply as they did when it was built;
        a record that is no request raises `ValueError` (pydantic's). The profile
        and where it went come back too, so an approved export goes where it was shown,
        and so do the saved export and schedule it came from.
        """
        query = dict(record.get("query") or {})
        if "export_size" in query:
            query["export_size"] = int(query["export_size"])
        data: dict[str, Any] = {"query": query, "body": record.get("body")}
        data["profile"] = record.get("profile")
        data |= {key: record.get(key) for key in PROVENANCE_KEYS}
        if all(record.get(k) for k in ("region", "project_id", "endpoint")):
            data["target"] = {k: record[k] for k in ("region", "project_id", "endpoint")}
        return cls.model_validate_json(json.dumps(data, ensure_ascii=False))
