"""Preview replays stored readings through the live evaluator, with no side effect: on the
same readings it gives the alerts live evaluation gave."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest

from tests.ops.conftest import Watch
from tests.ops.readings import alerts, new_datastream, new_rule, send, threshold

pytestmark = pytest.mark.asyncio

#: up, repeat, between the levels, down, up again held for the duration, down
SERIES = [30, 55, 60, 45, 39, 52, 53, 58, 20, 70, 71]


def _recent(minutes_ago: float) -> float:
    """A minute offset (from tests.ops.readings.START) that lies `minutes_ago` before now."""
    start = datetime(2026, 11, 1, tzinfo=UTC)
    return (datetime.now(UTC) - timedelta(minutes=minutes_ago) - start).total_seconds() / 60


async def test_preview_equals_live_evaluation_on_the_same_readings(
    ops_client: httpx.AsyncClient, admin: dict[str, str], watch: Watch
) -> None:
    ds = await new_datastream(ops_client, admin)
    body = threshold(ds, for_seconds=120)
    rule_id = await new_rule(ops_client, admin, **body)
    first = _recent(120)
    for step, value in enumerate(SERIES):
        await send(ops_client, admin, ds, first + 2 * step, value)
    # the last reading's evaluation is done once this sentinel fires after it
    sentinel = await new_rule(
        ops_client, admin, **threshold(ds, name="sentinel", value=10, clear_value=None)
    )
    await send(ops_client, admin, ds, first + 2 * len(SERIES), 71)
    await watch.alert("raise", rule_id=sentinel)
    live = sorted(await alerts(ops_client, admin, rule_id=rule_id), key=lambda a: a["id"])
    assert len(live) == 3  # at minutes 4, 12 and 20 (each after 2 minutes held)

    def fired(alert: dict[str, Any]) -> tuple[Any, ...]:
        return (alert["first_seen"], alert["ended_at"], alert["count"], alert["severity"])

    saved = await ops_client.post(f"/api/ops/rules/{rule_id}/preview?hours=3", headers=admin)
    assert saved.status_code == 200, saved.text
    unsaved = await ops_client.post("/api/ops/rules/preview?hours=3", json=body, headers=admin)
    assert unsaved.status_code == 200, unsaved.text
    for answer in (saved.json(), unsaved.json()):
        previewed = [
            (a["fired_at"], a["cleared_at"], a["count"], a["severity"]) for a in answer["alerts"]
        ]
        # the sentinel's reading (71) is one more repeat the live alert counted too
        assert previewed == [fired(a) for a in live]
        assert answer["readings"] == len(SERIES) + 1
    # no side effect: no alert, no rule more
    assert len(await alerts(ops_client, admin)) == 4
    assert len((await ops_client.get("/api/ops/rules", headers=admin)).json()["value"]) == 2


async def test_preview_of_a_bad_rule_is_refused_naming_the_field(
    ops_client: httpx.AsyncClient, admin: dict[str, str]
) -> None:
    ds = await new_datastream(ops_client, admin)
    answer = await ops_client.post(
        "/api/ops/rules/preview", json=threshold(ds, clear_value=70), headers=admin
    )
    assert answer.status_code == 400 and "clear_value" in answer.json()["detail"]
    too_long = await ops_client.post(
        "/api/ops/rules/preview?hours=100000", json=threshold(ds), headers=admin
    )
    assert too_long.status_code == 422
    missing = await ops_client.post("/api/ops/rules/4242/preview", headers=admin)
    assert missing.status_code == 404


def _fired(alert: dict[str, Any]) -> tuple[Any, ...]:
    return (alert["first_seen"], alert["ended_at"], alert["severity"])


def _previewed(answer: dict[str, Any]) -> list[tuple[Any, ...]]:
    return [(a["fired_at"], a["cleared_at"], a["severity"]) for a in answer["alerts"]]


async def test_composite_preview_equals_live_evaluation(
    ops_client: httpx.AsyncClient, admin: dict[str, str], watch: Watch
) -> None:
    rain = await new_datastream(ops_client, admin, "Rain gauge")
    level = await new_datastream(ops_client, admin, "Water level")
    heavy = await new_rule(
        ops_client, admin, **threshold(rain, name="heavy rain", value=20, clear_value=None)
    )
    rising = await new_rule(
        ops_client, admin, name="rising", kind="rate", datastream_ids=[level], value=1
    )
    body = {
        "name": "flood risk", "kind": "composite", "combine": "and",
        "rule_ids": [heavy, rising], "severity": "critical",
    }  # fmt: skip
    flood = await new_rule(ops_client, admin, **body)
    first = _recent(60)
    # rain, then the level rises (the composite fires), rain stops (it clears), rain again
    # while the level still rises (fires again), the level steadies (clears)
    steps: list[tuple[int, float, float, str, int]] = [
        (rain, 0, 30, "raise", heavy),
        (level, 1, 1.0, "", 0),
        (level, 2, 3.0, "raise", flood),
        (rain, 3, 5, "cleared", flood),
        (rain, 4, 40, "raise", flood),
        (level, 5, 3.1, "cleared", flood),
    ]
    for datastream, minute, value, change, rule in steps:
        await send(ops_client, admin, datastream, first + minute, value)
        if change:
            await watch.alert(change, rule_id=rule)
    live = sorted(await alerts(ops_client, admin, rule_id=flood), key=lambda a: a["id"])
    assert len(live) == 2 and all(a["ended_at"] for a in live)
    saved = await ops_client.post(f"/api/ops/rules/{flood}/preview?hours=2", headers=admin)
    unsaved = await ops_client.post("/api/ops/rules/preview?hours=2", json=body, headers=admin)
    for answer in (saved, unsaved):
        assert answer.status_code == 200, answer.text
        assert _previewed(answer.json()) == [_fired(a) for a in live]
        assert answer.json()["alerts"][0]["datastream_id"] is None


async def test_anomaly_rule_starts_from_stored_history_and_preview_equals_live(
    ops_client: httpx.AsyncClient, admin: dict[str, str], watch: Watch
) -> None:
    ds = await new_datastream(ops_client, admin)
    history = _recent(60)
    for minute, value in enumerate([10, 11, 10, 11, 10]):
        await send(ops_client, admin, ds, history + minute, value)
    body = {
        "name": "odd", "kind": "anomaly", "datastream_ids": [ds], "value": 3,
        "window": 5, "min_samples": 5, "severity": "info",
    }  # fmt: skip
    odd = await new_rule(ops_client, admin, **body)
    now = _recent(10)
    # the first new reading is judged at once against the five stored ones
    await send(ops_client, admin, ds, now, 50)
    raised = await watch.alert("raise", rule_id=odd)
    assert raised.payload["value"] == 50
    await send(ops_client, admin, ds, now + 1, 10.5)  # |z| ~ 0.5 against [11, 10, 11, 10, 50]
    await watch.alert("cleared", rule_id=odd)
    live = [_fired(a) for a in await alerts(ops_client, admin, rule_id=odd)]
    assert len(live) == 1
    # replayed over the span with the history (it fills the window) or from after it
    # (the window comes from the readings before the span, as at the rule's creation)
    for hours in (2, 0.5):
        saved = await ops_client.post(f"/api/ops/rules/{odd}/preview?hours={hours}", headers=admin)
        unsaved = await ops_client.post(
            f"/api/ops/rules/preview?hours={hours}", json=body, headers=admin
        )
        for answer in (saved, unsaved):
            assert answer.status_code == 200, answer.text
            assert _previewed(answer.json()) == live, hours
    # a Datastream added to the scope later starts from its own history as well
    other = await new_datastream(ops_client, admin, "Air station 2")
    for minute, value in enumerate([20, 21, 20, 21, 20]):
        await send(ops_client, admin, other, history + minute, value)
    patched = await ops_client.patch(
        f"/api/ops/rules/{odd}", json={"datastream_ids": [ds, other]}, headers=admin
    )
    assert patched.status_code == 200, patched.text
    await send(ops_client, admin, other, now + 2, 90)
    assert (await watch.alert("raise", rule_id=odd)).payload["datastream_id"] == other
