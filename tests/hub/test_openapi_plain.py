"""The OpenAPI of the hub's plain API (`/api/hub/...`): every operation describes the errors
it answers with their schema, and the body it takes (issue 17)."""

from __future__ import annotations

import httpx
import pytest

pytestmark = pytest.mark.asyncio

#: the pillars whose /api routes this holds for so far (the others: see the issue's report)
DESCRIBED = ("/api/hub/",)


async def test_every_plain_hub_operation_describes_its_errors_and_body(
    client: httpx.AsyncClient,
) -> None:
    spec = (await client.get("/openapi.json")).json()
    operations = [
        (method, path, operation)
        for path, item in spec["paths"].items()
        if path.startswith(DESCRIBED)
        for method, operation in item.items()
    ]
    assert len(operations) >= 4
    for method, path, operation in operations:
        where = f"{method.upper()} {path}"
        errors = {
            code: answer
            for code, answer in operation["responses"].items()
            if code.startswith("4") and code != "422"
        }
        assert errors, f"{where}: no error responses"
        for code, answer in errors.items():
            schema = answer["content"]["application/json"]["schema"]
            assert schema == {"$ref": "#/components/schemas/PlainError"}, (where, code)
        if method in ("post", "put", "patch"):
            assert "requestBody" in operation, f"{where}: no request body schema"
    assert spec["components"]["schemas"]["PlainError"]["required"] == ["detail"]
