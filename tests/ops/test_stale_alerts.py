"""A stale rule raises one alert per silence, over HTTP and SSE on both databases: the
scheduler's later checks of a Datastream that stays silent neither raise again nor
announce anything, and the next reading clears the alert."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from fastapi import FastAPI

from tests.ops.conftest import client_of
from tests.ops.readings import alerts, new_datastream, new_rule, send
from tests.ops.test_sse import Frames, listening

pytestmark = pytest.mark.asyncio

#: stale rules made one after the other, each raised by a later check than the one before
CHECKS = 3


def stale(datastream_id: int, name: str) -> dict[str, object]:
    return {
        "name": name,
        "kind": "stale",
        "datastream_ids": [datastream_id],
        "minutes": 10,
        "severity": "warning",
    }


async def alert_frames(frames: Frames, count: int) -> list[tuple[int, str, str | None]]:
    """(rule, action, change) of the next `count` alert frames."""
    seen = []
    for _ in range(count):
        data = (await frames.alert())["data"]
        seen.append((data["rule_id"], data["action"], data.get("change")))
    return seen


async def test_silent_datastream_gives_one_stale_alert_and_one_event_until_a_reading_clears_it(
    sse_app: tuple[FastAPI, str], admin: dict[str, str]
) -> None:
    app, url = sse_app
    async with client_of(app) as client, listening(url, admin, kind="alert") as frames:
        silent = await new_datastream(client, admin, "silent")
        await send(client, admin, silent, 0, 1.0)  # 2026-11: long ago
        watched = await new_rule(client, admin, **stale(silent, "silent station"))
        assert await alert_frames(frames, 1) == [(watched, "create", None)]
        # each rule below is made after the one before it raised, so the scheduler raises
        # it in a later check, each of which finds `silent` still silent
        witnesses = []
        for n in range(CHECKS):
            other = await new_datastream(client, admin, f"witness {n}")
            await send(client, admin, other, 0, 1.0)
            witnesses.append(await new_rule(client, admin, **stale(other, f"witness {n}")))
            assert await alert_frames(frames, 1) == [(witnesses[-1], "create", None)]
        [alert] = await alerts(client, admin, rule_id=watched)
        assert (alert["state"], alert["count"]) == ("active", 1)

        now = datetime.now(UTC).isoformat().replace("+00:00", "Z")
        answer = await client.post(
            f"/v1.1/Datastreams({silent})/Observations",
            json={"phenomenonTime": now, "result": 2.0},
            headers=admin,
        )
        assert answer.status_code == 201, answer.text
        assert await alert_frames(frames, 1) == [(watched, "update", "cleared")]
        [alert] = await alerts(client, admin, rule_id=watched)
        assert (alert["state"], alert["count"]) == ("cleared", 1)
        # the witnesses' Datastreams stay silent: still one alert each, still active
        for rule_id in witnesses:
            [alert] = await alerts(client, admin, rule_id=rule_id)
            assert (alert["state"], alert["count"]) == ("active", 1)
