"""The request model against every rule of the API page, and against the official SDK."""

from __future__ import annotations

import json
from typing import Any

import pytest
from huaweicloudsdkcore.client import Client as SdkClient
from huaweicloudsdkcore.utils.http_utils import sanitize_for_serialization
from huaweicloudsdkhss.v5 import (
    ExportContainerListRequest,
    ExportContainerListRequestBody,
    ExportContainerListRequestBodyCreateTime,
    HssClient,
)
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pydantic import ValidationError

from bot.domain.model import (
    EXPORT_SIZE_MAX,
    HEADER_KEYS,
    HEADER_NAMES,
    LONG_MAX,
    ClusterType,
    ContainerStatus,
    CreateTime,
    ExportBody,
    ExportQuery,
    ExportRequest,
    default_headers,
)

ONE_HEADER = [("status", "状态")]


def body(**fields: Any) -> ExportBody:
    """Build a body with one header unless the test gives its own."""
    fields.setdefault("export_headers", ONE_HEADER)
    return ExportBody(**fields)


def accepts(build: Any) -> bool:
    """Tell whether building raises no ValidationError."""
    try:
        build()
    except ValidationError:
        return False
    return True


# --- Field rules -----------------------------------------------------------------------

NAME_LIMITS = {"cluster_name": 255, "container_name": 255, "image_name": 255, "pod_name": 512}
NAME_CASES = [
    pytest.param(key, length, 1 <= length <= limit, id=f"{key}-{length}")
    for key, limit in NAME_LIMITS.items()
    for length in (0, 1, 255, 256, 512, 513)
]


@pytest.mark.parametrize(("key", "length", "ok"), NAME_CASES)
def test_name_lengths_follow_the_page(key: str, length: int, ok: bool) -> None:
    """Names are 1-255 characters (pod_name 1-512), counted in characters, not bytes."""
    assert accepts(lambda: body(**{key: "容" * length})) is ok


@pytest.mark.parametrize(
    ("length", "ok"), [(0, False), (1, True), (256, True), (257, False)], ids=str
)
def test_enterprise_project_id_is_1_to_256_characters(length: int, ok: bool) -> None:
    """The query's enterprise_project_id is 1-256 characters."""
    assert accepts(lambda: ExportQuery(enterprise_project_id="e" * length)) is ok


@pytest.mark.parametrize(
    ("size", "ok"),
    [(0, False), (1, True), (EXPORT_SIZE_MAX, True), (EXPORT_SIZE_MAX + 1, False), (-1, False)],
    ids=str,
)
def test_export_size_is_1_to_100000(size: int, ok: bool) -> None:
    """export_size takes 1..100000 and nothing else."""
    assert accepts(lambda: ExportQuery(export_size=size)) is ok


@pytest.mark.parametrize("member", list(ClusterType), ids=str)
def test_every_cluster_type_of_the_page_is_accepted(member: ClusterType) -> None:
    """All seven cluster types are sent in the page's spelling."""
    assert body(cluster_type=member).model_dump(mode="json")["cluster_type"] == member.value


@pytest.mark.parametrize("member", list(ContainerStatus), ids=str)
def test_every_container_status_of_the_page_is_accepted(member: ContainerStatus) -> None:
    """All five container states are sent in the page's spelling."""
    assert body(status=member).model_dump(mode="json")["status"] == member.value


def test_enums_list_exactly_the_page_values() -> None:
    """The enums hold the page's values, no more, no fewer."""
    assert {m.value for m in ClusterType} == {
        "cce",
        "ali",
        "tencent",
        "azure",
        "aws",
        "self_built_hw",
        "self_built_idc",
    }
    assert {m.value for m in ContainerStatus} == {
        "Running",
        "Waiting",
        "Terminated",
        "Isolated",
        "Paused",
    }


@pytest.mark.parametrize(
    ("payload", "ok"),
    [
        ('{"cluster_type": "cce"}', True),
        ('{"cluster_type": "CCE"}', False),
        ('{"status": "Running"}', True),
        ('{"status": "running"}', False),
        ('{"cluster_type": "k8s"}', False),
    ],
    ids=["cce", "CCE", "Running", "running", "k8s"],
)
def test_enums_from_json_take_the_exact_api_spelling(payload: str, ok: bool) -> None:
    """Read back from JSON (e.g. the audit log), enum values must be spelled as the API does."""
    data = json.loads(payload) | {"export_headers": [["status", "状态"]]}
    assert accepts(lambda: ExportBody.model_validate_json(json.dumps(data))) is ok


CPU_CASES = [
    ("100m", True),
    ("0m", True),
    ("9" * 63 + "m", True),
    ("9" * 64 + "m", False),
    ("", False),
    ("100", False),
    ("100M", False),
    ("1.5m", False),
    ("m", False),
    ("100m\n", False),
    (" 100m", False),
    ("١٠٠m", False),
]


@pytest.mark.parametrize(("value", "ok"), CPU_CASES, ids=[repr(v[:12]) for v, _ in CPU_CASES])
def test_cpu_limit_is_millicores(value: str, ok: bool) -> None:
    """cpu_limit is ASCII digits then `m`, at most 64 characters; no trailing newline slips by."""
    assert accepts(lambda: body(cpu_limit=value)) is ok


MEMORY_CASES = [
    ("300Mi", True),
    ("2Gi", True),
    ("0Mi", True),
    ("9" * 62 + "Gi", True),
    ("9" * 63 + "Gi", False),
    ("", False),
    ("300", False),
    ("300mi", False),
    ("300M", False),
    ("300MB", False),
    ("2Ti", False),
    ("300Mi\n", False),
]


@pytest.mark.parametrize(("value", "ok"), MEMORY_CASES, ids=[repr(v[:12]) for v, _ in MEMORY_CASES])
def test_memory_limit_is_mi_or_gi(value: str, ok: bool) -> None:
    """memory_limit is digits then `Mi` or `Gi` exactly, at most 64 characters."""
    assert accepts(lambda: body(memory_limit=value)) is ok


def test_all_sixteen_header_keys_are_accepted_together() -> None:
    """The page's 16 keys, in its order, with its display names, make a valid header list."""
    assert HEADER_KEYS == (
        "container_id",
        "container_name",
        "image_name",
        "pod_name",
        "cluster_name",
        "cluster_type",
        "status",
        "risky",
        "low_risk",
        "medium_risk",
        "high_risk",
        "fatal_risk",
        "create_time",
        "restart_count",
        "cpu_limit",
        "memory_limit",
    )
    assert body(export_headers=default_headers("zh")).export_headers[0] == (
        "container_id",
        "容器id",
    )
    assert body(export_headers=default_headers("en")).export_headers[-1] == (
        "memory_limit",
        "Memory limit",
    )


@pytest.mark.parametrize("key", HEADER_KEYS)
def test_each_header_key_is_accepted_alone(key: str) -> None:
    """Any single legal key, with any display name, is a valid header list."""
    assert body(export_headers=[(key, "Mine")]).export_headers == [(key, "Mine")]


@pytest.mark.parametrize(
    "headers",
    [
        pytest.param([], id="empty"),
        pytest.param([("container", "x")], id="unknown-key"),
        pytest.param([("Status", "x")], id="key-case"),
        pytest.param([("status", "a"), ("status", "b")], id="duplicate"),
        pytest.param([("status", "")], id="empty-name"),
        pytest.param([("status", "  ")], id="blank-name"),
        pytest.param([["status", "x"]], id="list-not-tuple"),
    ],
)
def test_bad_header_lists_are_refused(headers: Any) -> None:
    """Unknown, repeated or unnamed header keys, and an empty list, are refused."""
    assert not accepts(lambda: body(export_headers=headers))


def test_export_headers_are_required() -> None:
    """The SDK marks export_headers required, so the model does too."""
    assert not accepts(lambda: ExportBody())  # type: ignore[call-arg]


@pytest.mark.parametrize(
    ("start", "end", "ok"),
    [
        (0, 0, True),
        (5, 5, True),
        (5, 6, True),
        (6, 5, False),
        (-1, 5, False),
        (0, LONG_MAX, True),
        (0, LONG_MAX + 1, False),
    ],
    ids=["zero", "equal", "ordered", "reversed", "negative", "long-max", "past-long"],
)
def test_create_time_is_an_ordered_window_of_longs(start: int, end: int, ok: bool) -> None:
    """start_time <= end_time, both non-negative signed 64-bit milliseconds."""
    assert accepts(lambda: CreateTime(start_time=start, end_time=end)) is ok


@pytest.mark.parametrize(
    "build",
    [
        pytest.param(lambda: body(risky="true"), id="risky-str"),
        pytest.param(lambda: body(risky=1), id="risky-int"),
        pytest.param(lambda: body(cluster_container="yes"), id="cluster_container-str"),
        pytest.param(lambda: body(cluster_type="cce"), id="enum-as-str"),
        pytest.param(lambda: body(cluster_name=5), id="name-int"),
        pytest.param(lambda: ExportQuery(export_size="5"), id="size-str"),
        pytest.param(lambda: ExportQuery(export_size=5.0), id="size-float"),
        pytest.param(lambda: ExportQuery(export_size=True), id="size-bool"),
        pytest.param(lambda: CreateTime(start_time=True, end_time=2), id="time-bool"),
        pytest.param(lambda: CreateTime(start_time="1", end_time=2), id="time-str"),
        pytest.param(lambda: body(colour="red"), id="extra-field"),
    ],
)
def test_types_are_strict(build: Any) -> None:
    """No coercion: strings are not booleans, numbers or enum members; unknown fields fail."""
    assert not accepts(build)


def test_models_are_frozen() -> None:
    """A validated request cannot be changed after the fact."""
    request = ExportRequest(body=body())
    with pytest.raises(ValidationError):
        request.body.risky = True  # type: ignore[misc]


# --- Serialization ---------------------------------------------------------------------


def test_absent_fields_are_left_out() -> None:
    """Fields not given are not sent at all, not sent as null."""
    request = ExportRequest(body=body())
    assert request.body_json() == {"export_headers": [["status", "状态"]]}
    assert request.query_params() == {}


def test_booleans_and_numbers_keep_their_json_types() -> None:
    """Booleans go as JSON booleans (false too), times as JSON numbers."""
    request = ExportRequest(
        body=body(
            risky=False,
            cluster_container=True,
            create_time=CreateTime(start_time=0, end_time=1714521600000),
        )
    )
    sent = json.loads(request.body_bytes())
    assert sent["risky"] is False
    assert sent["cluster_container"] is True
    assert sent["create_time"] == {"start_time": 0, "end_time": 1714521600000}
    assert b'"risky":false' in request.body_bytes()


def test_export_headers_go_as_a_list_of_lists() -> None:
    """export_headers is Array<Array<String>> on the wire, order kept."""
    request = ExportRequest(body=body(export_headers=[("risky", "R"), ("status", "S")]))
    assert json.loads(request.body_bytes())["export_headers"] == [["risky", "R"], ["status", "S"]]


def test_non_ascii_is_sent_as_utf8_not_escaped() -> None:
    """Chinese display names and names go as UTF-8 bytes, compact, with no \\u escapes."""
    request = ExportRequest(body=body(pod_name="网页 1", export_headers=[("status", "状态")]))
    assert request.body_bytes() == (
        '{"pod_name":"网页 1","export_headers":[["status","状态"]]}'.encode()
    )


def test_query_params_are_strings_and_audit_record_matches_the_wire() -> None:
    """The query goes as strings; the audit record is exactly what is sent."""
    request = ExportRequest(
        query=ExportQuery(enterprise_project_id="all_granted_eps", export_size=500),
        body=body(status=ContainerStatus.RUNNING),
    )
    assert request.query_params() == {
        "enterprise_project_id": "all_granted_eps",
        "export_size": "500",
    }
    assert request.as_audit_record() == {
        "query": request.query_params(),
        "body": json.loads(request.body_bytes()),
    }


# --- The official SDK as oracle ----------------------------------------------------------


def sdk_wire(request: ExportRequest) -> tuple[list[tuple[str, str]], Any]:
    """Build the same call with the official SDK; return its query pairs and its JSON body."""
    fields = request.body.model_dump(mode="json", exclude_none=True)
    window = fields.pop("create_time", None)
    sdk_body = ExportContainerListRequestBody(
        **fields,
        create_time=None if window is None else ExportContainerListRequestBodyCreateTime(**window),
    )
    sdk_body.export_headers = [list(pair) for pair in request.body.export_headers]
    sdk_request = ExportContainerListRequest(
        enterprise_project_id=request.query.enterprise_project_id,
        export_size=request.query.export_size,
        body=sdk_body,
    )
    info = HssClient._export_container_list_http_info(sdk_request)
    assert info["method"] == "POST"
    assert info["resource_path"] == "/v5/{project_id}/container/export-task"
    pairs = SdkClient._post_process_params(info["query_params"])
    query = [(k, str(v)) for k, v in sanitize_for_serialization(pairs)]
    return query, json.loads(SdkClient._parse_body(info["body"]))


def test_the_page_example_serializes_as_the_sdk_does() -> None:
    """The page's own request example gives the same JSON as the SDK builds."""
    request = ExportRequest(
        body=ExportBody(
            export_headers=[
                ("container_name", "容器名称"),
                ("image_name", "镜像名称"),
                ("risky", "是否有安全风险"),
            ]
        )
    )
    query, sdk_body = sdk_wire(request)
    assert query == []
    assert sdk_body == json.loads(request.body_bytes())
    assert sdk_body == {
        "export_headers": [
            ["container_name", "容器名称"],
            ["image_name", "镜像名称"],
            ["risky", "是否有安全风险"],
        ]
    }


def test_every_field_serializes_as_the_sdk_does() -> None:
    """A request with every field set is, on the wire, what the SDK would send."""
    request = ExportRequest(
        query=ExportQuery(enterprise_project_id="0", export_size=100000),
        body=ExportBody(
            cluster_container=False,
            cluster_type=ClusterType.SELF_BUILT_IDC,
            cluster_name="prod",
            container_name="web",
            pod_name="web 1",
            image_name="nginx:1.27",
            status=ContainerStatus.PAUSED,
            risky=True,
            create_time=CreateTime(start_time=1714521600000, end_time=1714607999999),
            cpu_limit="100m",
            memory_limit="300Mi",
            export_headers=default_headers("en"),
        ),
    )
    query, sdk_body = sdk_wire(request)
    assert dict(query) == request.query_params()
    assert sdk_body == json.loads(request.body_bytes())
    assert set(sdk_body) == set(ExportContainerListRequestBody.openapi_types)


names = st.text(min_size=1, max_size=255)
header_lists = st.lists(
    st.tuples(st.sampled_from(HEADER_KEYS), st.text(min_size=1).filter(str.strip)),
    min_size=1,
    unique_by=lambda pair: pair[0],
)


@st.composite
def requests(draw: st.DrawFn) -> ExportRequest:
    """Draw any valid request: each optional field present or absent."""

    def maybe(strategy: st.SearchStrategy[Any]) -> Any:
        return draw(st.none() | strategy)

    start = maybe(st.integers(0, LONG_MAX))
    window = None
    if start is not None:
        window = CreateTime(start_time=start, end_time=draw(st.integers(start, LONG_MAX)))
    return ExportRequest(
        query=ExportQuery(
            enterprise_project_id=maybe(st.text(min_size=1, max_size=256)),
            export_size=maybe(st.integers(1, EXPORT_SIZE_MAX)),
        ),
        body=ExportBody(
            cluster_container=maybe(st.booleans()),
            cluster_type=maybe(st.sampled_from(ClusterType)),
            cluster_name=maybe(names),
            container_name=maybe(names),
            pod_name=maybe(st.text(min_size=1, max_size=512)),
            image_name=maybe(names),
            status=maybe(st.sampled_from(ContainerStatus)),
            risky=maybe(st.booleans()),
            create_time=window,
            cpu_limit=maybe(st.from_regex(r"\A[0-9]{1,63}m\Z")),
            memory_limit=maybe(st.from_regex(r"\A[0-9]{1,62}(Mi|Gi)\Z")),
            export_headers=draw(header_lists),
        ),
    )


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(requests())
def test_any_valid_request_serializes_as_the_sdk_does(export_request: ExportRequest) -> None:
    """For any valid input, our query and body bytes decode to what the SDK sends."""
    query, sdk_body = sdk_wire(export_request)
    assert dict(query) == export_request.query_params()
    assert sdk_body == json.loads(export_request.body_bytes())
    assert json.loads(export_request.body_bytes()) == export_request.body_json()


def test_header_names_cover_both_languages() -> None:
    """Every header key has a Chinese (the page's) and an English display name."""
    assert all(
        set(names) == {"zh", "en"} and all(names.values()) for names in HEADER_NAMES.values()
    )
    assert HEADER_NAMES["pod_name"]["zh"] == "所属POD"


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(requests())
def test_any_request_rebuilds_from_its_audit_record(export_request: ExportRequest) -> None:
    """A held request (approvals) is rebuilt from its audit record into the same call, exactly."""
    record = json.loads(json.dumps(export_request.as_audit_record()))  # as the database holds it
    rebuilt = ExportRequest.from_audit_record(record)
    assert rebuilt == export_request
    assert rebuilt.body_bytes() == export_request.body_bytes()
    assert rebuilt.query_params() == export_request.query_params()
