"""A property-based generator of hostile SensorThings requests, against a real `serve`.

The shapes the hand-made cases of issue 17 found (deep JSON, times at the calendar's
edges, ids past int64, deep and long query options, nested `$expand` with large `$top`,
`$batch` dependency graphs, odd media types), drawn at random and combined. Whatever is
drawn, the server answers without a 5xx and is still answering afterwards.
"""

from __future__ import annotations

from typing import Any

import httpx
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.fuzz.conftest import AUTH, Budget

SETS = ("Things", "Locations", "Datastreams", "Observations", "Sensors", "MultiDatastreams")
EDGE_TIMES = st.sampled_from(
    [
        "0001-01-01T00:00:00Z",
        "0001-01-01T00:30:00+01:00",
        "9999-12-31T23:59:59Z",
        "9999-12-31T23:59:59.999999Z",
        "9999-12-31T23:59:59-01:00",
        "0500-01-01T00:00:00Z",
        "2026-02-30T00:00:00Z",
        "2026-01-01T00:00:00+14:00",
    ]
)
HUGE_IDS = st.sampled_from(
    ["9223372036854775807", "9223372036854775808", "-9223372036854775809", "0", "1e3", "-1"]
)


def _nested(levels: int) -> Any:
    value: Any = {}
    for _ in range(levels):
        value = {"a": value}
    return value


def _deep_expand(levels: int, top: int) -> str:
    text = f"Observations($top={top})"
    for _ in range(levels):
        text = f"Datastream($expand={text})" if levels % 2 else f"Datastreams($expand={text})"
    return text


@st.composite
def hostile_request(draw: st.DrawFn) -> tuple[str, str, dict[str, str], Any, dict[str, str]]:
    """(method, path, query, JSON body or raw bytes, headers)."""
    kind = draw(
        st.sampled_from(
            ["time", "deep", "id", "filter", "orderby", "expand", "batch", "media", "ref"]
        )
    )
    set_name = draw(st.sampled_from(SETS))
    if kind == "time":
        field = draw(st.sampled_from(["phenomenonTime", "resultTime", "validTime"]))
        body = {field: draw(EDGE_TIMES), "result": 1, "Datastream": {"@iot.id": 1}}
        return "POST", "/v1.1/Observations", {}, body, {}
    if kind == "deep":
        levels = draw(st.integers(60, 300))
        body = {"name": "t", "description": "d", "properties": _nested(levels)}
        return "POST", "/v1.1/Things", {}, body, {}
    if kind == "id":
        return "GET", f"/v1.1/{set_name}({draw(HUGE_IDS)})", {}, None, {}
    if kind == "filter":
        depth = draw(st.integers(1, 120))
        atom = draw(st.sampled_from(["concat('a',", "length(", "(", "not ", "round("]))
        close = "" if atom == "not " else ")"
        inner = draw(
            st.sampled_from(
                [
                    "id mul 9223372036854775807 gt 0",
                    "phenomenonTime sub duration'P99999999D' lt now()",
                    "id add 9223372036854775807 gt 0",
                    "id div 0 eq 1",
                    "name eq 'x'",
                ]
            )
        )
        text = atom * depth + inner + close * depth
        return "GET", "/v1.1/Observations", {"$filter": text}, None, {}
    if kind == "orderby":
        keys = draw(st.integers(1, 1200))
        key = draw(st.sampled_from(["name", "properties/nosuch/deeper desc", "id asc"]))
        return "GET", "/v1.1/Things", {"$orderby": ",".join([key] * keys)}, None, {}
    if kind == "expand":
        levels, top = draw(st.integers(1, 60)), draw(st.sampled_from([1, 1000, 10000]))
        query = {
            "$top": str(draw(st.sampled_from([1, 1000]))),
            "$expand": _deep_expand(levels, top),
        }
        return "GET", "/v1.1/Observations", query, None, {}
    if kind == "batch":
        size = draw(st.integers(1, 30))
        requests = [
            {
                "id": str(i),
                "method": draw(st.sampled_from(["get", "post", "delete", "trace"])),
                "url": draw(st.sampled_from(["Things", "Things(1)", "$0/Datastreams", "//x"])),
                "body": {"name": "n", "description": "d"},
                "dependsOn": [str(draw(st.integers(0, size)))],
                **({"atomicityGroup": "g"} if draw(st.booleans()) else {}),
            }
            for i in range(size)
        ]
        return "POST", "/v1.1/$batch", {}, {"requests": requests}, {}
    if kind == "media":
        media_type = draw(st.sampled_from(["text/plain", "multipart/mixed", "application/xml"]))
        raw = draw(st.binary(max_size=200))
        return "POST", f"/v1.1/{set_name}", {}, raw, {"content-type": media_type}
    link = draw(st.sampled_from(["http://evil.example/v1.1/Things(1)", "Things(x)", "", "//"]))
    return "POST", "/v1.1/Datastreams(1)/Thing/$ref", {}, {"@iot.selfLink": link}, {}


@pytest.fixture(scope="module")
def http() -> Any:
    with httpx.Client(timeout=60) as client:
        yield client


@settings(
    max_examples=15,
    deadline=None,
    derandomize=True,
    database=None,
    suppress_health_check=list(HealthCheck),
)
@given(request=hostile_request())
def test_hostile_requests_never_answer_5xx(
    request: tuple[str, str, dict[str, str], Any, dict[str, str]],
    served_hub: str,
    fuzz_budget: Budget,
    http: httpx.Client,
) -> None:
    if fuzz_budget.left(served_hub) <= 0:
        return  # the stage's time budget is spent: the remaining examples pass unsent
    method, path, query, body, headers = request
    content = body if isinstance(body, bytes) else None
    json_body = None if isinstance(body, bytes) else body
    response = http.request(
        method,
        served_hub + path,
        params=query,
        json=json_body,
        content=content,
        headers={**AUTH, **headers},
    )
    assert response.status_code < 500, (method, path, query, response.text[:300])
    assert http.get(served_hub + "/v1.1/Things", params={"$top": "1"}).status_code == 200
