"""The OpenAPI of every pillar's JSON API besides SensorThings and the hub's plain API
(tests/hub/test_openapi_plain.py): each operation lists the errors it answers with their
schema, and each write describes its body (issue 17).

The description is held to the server: every operation is called as an anonymous client,
as a public user and as an admin, on ids that do not exist or that no database integer
holds, without a body and (writes) with `{}`. Every 4xx it answers must be one it lists
(a 422 of the pillar's own, `{"detail": "..."}`, too: FastAPI lists only its own), and
none may answer a 5xx.
"""

from __future__ import annotations

import itertools
import re
from typing import Any

import httpx
import pytest

pytestmark = pytest.mark.asyncio

PILLARS = ("/api/ops/", "/open311/", "/api/city/", "/api/invest/", "/api/helix/", "/api/open-data/")
#: answers that never end for a caller let in (Server-Sent Events): called only by those
#: refused (`tests/ops/test_sse.py` reads the stream itself)
ENDLESS = {("get", "/api/ops/stream")}

#: writes that take no body: what they act on is in the path (and the query)
BODYLESS = {
    ("post", "/api/ops/incidents/{incident_id}/checklist/{step}"),
    ("post", "/api/ops/webhooks/dead-letters/{delivery_id}/replay"),
    ("post", "/api/city/parks/stations/{thing_id}/rules"),
    ("post", "/api/invest/projects/{project_id}/screenings"),
    ("post", "/api/invest/policies/{version}/adopt"),
    ("post", "/api/helix/scorecard/recompute"),
    ("post", "/api/ops/rules/{rule_id}/preview"),
}

#: what a path parameter is given when the operations are called
PARAMETERS = {"fmt": "json", "file_format": "json", "kind": "parks", "step": "screen"}

#: ids in paths: one that does not exist, one past what a database integer holds
IDS = ("987654", str(2**64))

REF = "#/components/schemas/"


def _operations(spec: dict[str, Any]) -> list[tuple[str, str, dict[str, Any]]]:
    return [
        (method, path, operation)
        for path, item in spec["paths"].items()
        if path.startswith(PILLARS)
        for method, operation in item.items()
    ]


def _errors(operation: dict[str, Any]) -> dict[str, Any]:
    return {
        code: answer
        for code, answer in operation["responses"].items()
        if code.startswith("4") and code != "422"
    }


async def test_every_pillar_operation_describes_its_errors_and_body(
    client: httpx.AsyncClient,
) -> None:
    spec = (await client.get("/openapi.json")).json()
    operations = _operations(spec)
    assert len(operations) >= 115
    for method, path, operation in operations:
        where = f"{method.upper()} {path}"
        errors = _errors(operation)
        assert "429" in errors, f"{where}: the rate limit's 429 is not listed"
        georeport = path.startswith("/open311/")
        for code, answer in errors.items():
            schema = answer["content"]["application/json"]["schema"]
            if code == "413":
                expected = "GeoReportTooLarge" if georeport else "PlainTooLarge"
            else:
                expected = "GeoReportErrors" if georeport else "PlainError"
            assert schema == {"$ref": REF + expected}, (where, code)
        if "422" in operation["responses"]:
            schema = operation["responses"]["422"]["content"]["application/json"]["schema"]
            assert schema["$ref"].endswith(("/HTTPValidationError", "/PlainUnprocessable")), where
        if method not in ("post", "put", "patch"):
            continue
        if (method, path) in BODYLESS:
            assert "requestBody" not in operation, f"{where}: takes no body"
            continue
        assert "requestBody" in operation, f"{where}: no request body schema"
        assert "413" in errors, f"{where}: the body limit's 413 is not listed"
        for media_type, content in operation["requestBody"]["content"].items():
            assert content.get("schema"), (where, media_type)
            assert "$defs" not in str(content["schema"]), (where, "unresolvable $defs")
    components = spec["components"]["schemas"]
    assert components["PlainError"]["required"] == ["detail"]
    assert components["GeoReportErrors"]["items"] == {"$ref": REF + "GeoReportError"}
    assert components["GeoReportError"]["required"] == ["code", "description"]
    assert components["BodyLimitError"]["required"] == ["code", "type", "message"]
    assert len(components["PlainUnprocessable"]["anyOf"]) == 2


async def test_every_error_a_pillar_operation_answers_is_described(
    client: httpx.AsyncClient, tokens: dict[str, str]
) -> None:
    spec = (await client.get("/openapi.json")).json()
    callers = {
        "anonymous": {},
        "public": {"Authorization": f"Bearer {tokens['public']}"},
        "admin": {"Authorization": f"Bearer {tokens['admin']}"},
    }
    undescribed = []
    for method, path, operation in _operations(spec):
        listed = set(_errors(operation))
        own_422 = operation["responses"].get("422", {}).get("content", {})
        own_422_listed = "PlainUnprocessable" in str(own_422)
        calls: list[tuple[str, dict[str, str], Any]] = [(w, h, None) for w, h in callers.items()]
        if method in ("post", "put", "patch") and (method, path) not in BODYLESS:
            calls.append(("admin with {}", callers["admin"], {}))
        urls = {
            re.sub(r"\{(\w+)\}", lambda m, given=given: PARAMETERS.get(m.group(1), given), path)
            for given in IDS
        }
        if (method, path) in ENDLESS:
            calls = [(w, h, b) for w, h, b in calls if w != "admin"]
        for url, (who, headers, body) in itertools.product(sorted(urls), calls):
            answer = await client.request(method, url, headers=headers, json=body)
            status = answer.status_code
            where = (f"{method.upper()} {url}", who, status, answer.text[:120])
            assert status < 500, where
            if 400 <= status < 500 and status != 422 and str(status) not in listed:
                undescribed.append(where)
            # a pillar's own 422 (`{"detail": "..."}`) is not FastAPI's: it must be listed
            own = status == 422 and isinstance(answer.json().get("detail"), str)
            if own and not own_422_listed:
                undescribed.append(where)
    assert not undescribed, "\n".join(map(str, undescribed))
