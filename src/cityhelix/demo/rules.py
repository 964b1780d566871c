"""The demo province's rules for the operations centre (`rules.json`, each with its
source), created through the rules API once the province is loaded."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import httpx

RULES_FILE = Path(__file__).with_name("rules.json")


def read_rules() -> list[dict[str, Any]]:
    entries: list[dict[str, Any]] = json.loads(RULES_FILE.read_text())["rules"]
    return entries


async def load_rules(client: httpx.AsyncClient) -> int:
    """Create the demo rules unless the hub already has rules; how many were created.

    `client` has its base_url at the server root and an admin or operator token.
    """
    existing = await client.get("/api/ops/rules")
    existing.raise_for_status()
    if existing.json()["value"]:
        return 0
    listed = await client.get(
        "/v1.1/ObservedProperties", params={"$select": "id,properties", "$top": "1000"}
    )
    listed.raise_for_status()
    by_key = {
        (item.get("properties") or {}).get("key"): item["@iot.id"]
        for item in listed.json()["value"]
    }
    created = 0
    for entry in read_rules():
        property_id = by_key.get(entry["observed_property"])
        if property_id is None:
            continue  # a hub loaded with another catalogue
        answer = await client.post(
            "/api/ops/rules", json={**entry["rule"], "observed_property_id": property_id}
        )
        answer.raise_for_status()
        created += 1
    return created
