"""The export form's inputs: one per request field, each saying how it is asked.

Pure. The field list, the value rules and the length limits are not repeated here:
each input's `block_id` is a grammar key (`bot.domain.grammar.fields`), its
`max_length` the model's (`bot.domain.model.MAX_LENGTHS`), its options the model's
enums. What is here is only the form's own: element kind, label, hint, placeholder.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final, Literal

from bot.domain.model import EXPORT_SIZE_MAX, MAX_LENGTHS, ClusterType, ContainerStatus

ACTION_ID: Final = "value"  # every input has one element; its block_id says which field
PROFILE_BLOCK: Final = "profile"  # the Profile select, shown when the user may use several
TRI_STATE_ANY: Final = "any"
LABEL_MAX: Final = 2000  # Slack's limit on an error or hint text

Kind = Literal["select", "tri", "text", "datetime", "number", "headers"]


@dataclass(frozen=True)
class Field:
    """One input of the form: the request field it fills, how it is asked, what it says."""

    key: str
    kind: Kind
    label: str
    hint: str | None = None
    placeholder: str | None = None
    options: tuple[str, ...] = ()

    @property
    def max_length(self) -> int | None:
        """The model's length limit of this field (`bot.domain.model.MAX_LENGTHS`), if any."""
        return MAX_LENGTHS.get(self.key)


FIELDS: Final[tuple[Field, ...]] = (
    Field("cluster_type", "select", "Cluster type", options=tuple(c.value for c in ClusterType)),
    Field("status", "select", "Container status", options=tuple(s.value for s in ContainerStatus)),
    Field(
        "cluster_container",
        "tri",
        "Containers in clusters?",
        hint="yes: only containers in clusters; no: only containers outside clusters",
    ),
    Field("risky", "tri", "Risky containers?", hint="yes: only risky; no: only not risky"),
    Field("cluster_name", "text", "Cluster name"),
    Field("container_name", "text", "Container name"),
    Field("pod_name", "text", "Pod name"),
    Field("image_name", "text", "Image name"),
    Field("cpu_limit", "text", "CPU limit", placeholder="e.g. 500m"),
    Field("memory_limit", "text", "Memory limit", placeholder="e.g. 512Mi or 2Gi"),
    # As the grammar reads them (grammar.FIELD_HELP): `[after, before)`, either end optional.
    Field(
        "created_after",
        "datetime",
        "Created at or after",
        hint="Inclusive. Empty: since 1970. In your Slack time zone.",
    ),
    Field(
        "created_before",
        "datetime",
        "Created before",
        hint="Exclusive: only containers created before this time (00:00 leaves that day out). "
        "Empty: up to now.",
    ),
    Field(
        "export_size",
        "number",
        "Rows to export at most",
        hint=f"1 to {EXPORT_SIZE_MAX}; empty means HSS's default ({EXPORT_SIZE_MAX})",
    ),
    Field("headers", "headers", "Columns", hint="all 16 by default"),
    Field(
        "enterprise_project_id",
        "text",
        "Enterprise project",
        hint="empty: the bot's default; all_granted_eps: every project the account may see",
    ),
)
BLOCK_IDS: Final[tuple[str, ...]] = tuple(f.key for f in FIELDS)

# Problems about a value no single input holds land on the nearest input.
ERROR_HOME: Final = {"create_time": "created_after", "export_headers": "headers"}
