"""Small builders of helix bodies and records for the tests, through HTTP."""

from __future__ import annotations

from typing import Any

import httpx


async def actor(
    client: httpx.AsyncClient, headers: dict[str, str], name: str, kind: str, **more: Any
) -> int:
    answer = await client.post(
        "/api/helix/actors", json={"name": name, "kind": kind, **more}, headers=headers
    )
    assert answer.status_code == 201, answer.text
    actor_id: int = answer.json()["id"]
    return actor_id


async def collaboration(
    client: httpx.AsyncClient,
    headers: dict[str, str],
    participants: list[int],
    start_date: str = "2026-03-01",
    **more: Any,
) -> int:
    body = {
        "title": more.pop("title", f"Project of {participants}"),
        "kind": more.pop("kind", "joint_project"),
        "start_date": start_date,
        "participants": [
            {"actor_id": actor_id, "role": "lead" if n == 0 else "partner"}
            for n, actor_id in enumerate(participants)
        ],
        **more,
    }
    answer = await client.post("/api/helix/collaborations", json=body, headers=headers)
    assert answer.status_code == 201, answer.text
    collaboration_id: int = answer.json()["id"]
    return collaboration_id
