"""Rollups over HTTP on both backends: every bucket equals a GROUP BY over the raw rows.

Data goes in through SensorThings (DataArray, single POSTs of late data, PATCH, DELETE)
and comes out of `GET /api/hub/datastreams/{id}/aggregates`; the expected buckets are
computed by the database itself from the `observations` table.
"""

from __future__ import annotations

import asyncio
import random
import uuid
from collections.abc import AsyncIterator, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import ColumnElement, Table, delete, event, func, insert, select
from sqlalchemy.engine.default import NO_CACHE_KEY
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from cityhelix.app import create_app
from cityhelix.db.engine import create_engine
from cityhelix.db.migrate import upgrade
from cityhelix.hub.rollup_tables import observation_rollups
from cityhelix.hub.rollups import backfill_sync
from cityhelix.hub.tables import (
    RESULT_FLOAT,
    RESULT_STRING,
    datastreams,
    features_of_interest,
    observations,
    observed_properties,
    sensors,
    things,
)
from cityhelix.pillars import SCHEMA
from cityhelix.settings import Settings
from tests.conftest import ADMIN_TOKEN, Backend, _run_outside_loop
from tests.hub.factories import OM_OBSERVATION, make_datastream

pytestmark = pytest.mark.asyncio

AGGREGATES = "/api/hub/datastreams/{}/aggregates"
#: how many characters of an ISO time name a bucket of each interval: 2026-11-01T00:00
KEY_LENGTH = {"1m": 16, "1h": 13, "1d": 10}


@pytest.fixture
async def hub(backend: Backend, engine: AsyncEngine) -> AsyncIterator[httpx.AsyncClient]:
    """A client of an app serving both SensorThings and the aggregates, on emptied tables."""
    app = create_app(backend.settings, migrate=False)
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as http:
            yield http


async def _post_rows(
    hub: httpx.AsyncClient, admin: dict[str, str], stream: int, rows: list[list[Any]]
) -> list[int]:
    body = [
        {
            "Datastream": {"@iot.id": stream},
            "components": ["phenomenonTime", "result"],
            "dataArray": rows,
        }
    ]
    response = await hub.post("/v1.1/CreateObservations", json=body, headers=admin)
    assert response.status_code == 201, response.text
    links = response.json()
    assert "error" not in links
    return [int(link.rsplit("(", 1)[1].rstrip(")")) for link in links]


async def _post_one(
    hub: httpx.AsyncClient, admin: dict[str, str], stream: int, time: str, result: object
) -> int:
    response = await hub.post(
        f"/v1.1/Datastreams({stream})/Observations",
        json={"phenomenonTime": time, "result": result},
        headers=admin,
    )
    assert response.status_code == 201, response.text
    return int(response.json()["@iot.id"])


def _bucket_key(dialect: str, interval: str, time: Any) -> ColumnElement[Any]:
    """The bucket of `time` as ISO text cut to the interval, computed by the database."""
    if dialect == "sqlite":  # times are stored as fixed-width UTC text
        return func.substr(time, 1, KEY_LENGTH[interval])
    pattern = {"1m": 'YYYY-MM-DD"T"HH24:MI', "1h": 'YYYY-MM-DD"T"HH24', "1d": "YYYY-MM-DD"}
    return func.to_char(func.timezone("UTC", time), pattern[interval])


async def _expected(
    engine: AsyncEngine, stream: int, interval: str
) -> dict[str, tuple[int, float, float, float, float]]:
    """(count, min, max, sum, last) per bucket, by GROUP BY and a window over the raw rows."""
    o = observations.c
    raw = (
        select(
            _bucket_key(engine.dialect.name, interval, o.phenomenon_time_start).label("key"),
            o.phenomenon_time_start.label("time"),
            o.id,
            o.result_number.label("value"),
        )
        .where(o.datastream_id == stream, o.result_number.is_not(None))
        .subquery()
    )
    grouped = select(
        raw.c.key,
        func.count(),
        func.min(raw.c.value),
        func.max(raw.c.value),
        func.sum(raw.c.value),
    ).group_by(raw.c.key)
    lasts = select(
        raw.c.key,
        func.first_value(raw.c.value).over(
            partition_by=raw.c.key, order_by=(raw.c.time.desc(), raw.c.id.desc())
        ),
    ).distinct()
    async with engine.connect() as connection:
        last = {key: value for key, value in await connection.execute(lasts)}
        return {
            key: (count, low, high, total, last[key])
            for key, count, low, high, total in await connection.execute(grouped)
        }


async def _served(
    hub: httpx.AsyncClient, stream: int, interval: str, **params: str
) -> list[dict[str, Any]]:
    response = await hub.get(AGGREGATES.format(stream), params={"interval": interval, **params})
    assert response.status_code == 200, response.text
    document = response.json()
    assert document["datastream"] == stream and document["interval"] == interval
    value: list[dict[str, Any]] = document["value"]
    return value


async def assert_rollups_match(
    hub: httpx.AsyncClient, engine: AsyncEngine, stream: int, *, exact: bool = True
) -> None:
    """Every bucket of every interval equals the direct aggregate; none is missing or extra."""
    for interval, length in KEY_LENGTH.items():
        served = await _served(hub, stream, interval)
        assert [b["start"] for b in served] == sorted(b["start"] for b in served)
        by_key = {b["start"][:length]: b for b in served}
        expected = await _expected(engine, stream, interval)
        assert by_key.keys() == expected.keys(), interval
        for key, (count, low, high, total, last) in expected.items():
            bucket = by_key[key]
            got = (bucket["count"], bucket["min"], bucket["max"], bucket["last"])
            assert got == (count, low, high, last), (interval, key)
            if exact:
                assert bucket["sum"] == total and bucket["mean"] == total / count
            else:
                assert bucket["sum"] == pytest.approx(total, rel=1e-12, abs=1e-9)
                assert bucket["mean"] == pytest.approx(total / count, rel=1e-12, abs=1e-9)


async def test_a_write_runs_only_statements_sqlalchemy_compiles_once(
    backend: Backend, admin: dict[str, str], engine: AsyncEngine
) -> None:
    """Every statement of a second DataArray write (its rollup rebuild included) comes from
    SQLAlchemy's compiled cache: a construct without a cache key in a statement makes it
    compile anew for every write (the rebuild's bucket function cost 5 of a 30-row write's
    14.5 ms this way)."""
    # the hub alone: no pillar's background loop runs statements of its own meanwhile
    app = create_app(backend.settings.model_copy(update={"pillars": "hub"}), migrate=False)
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as http:
            stream = await make_datastream(http, admin)
            seen: list[str] = []
            uncached: list[str] = []

            def note(*args: Any) -> None:
                statement, context = args[2], args[4]
                seen.append(statement)
                if context.compiled is not None and context.cache_hit is NO_CACHE_KEY:
                    uncached.append(statement)

            event.listen(app.state.engine.sync_engine, "before_cursor_execute", note)
            for day in (1, 2):
                seen.clear()
                uncached.clear()
                rows = [[f"2026-11-0{day}T{m // 60:02d}:{m % 60:02d}:00Z", m] for m in range(90)]
                await _post_rows(http, admin, stream, rows)
            assert any(sql.startswith("INSERT INTO observation_rollups") for sql in seen)
            assert uncached == []


async def test_rollups_equal_raw_aggregates_through_late_data_patches_and_deletes(
    hub: httpx.AsyncClient, admin: dict[str, str], engine: AsyncEngine
) -> None:
    stream = await make_datastream(hub, admin, "Station A", observation_type=OM_OBSERVATION)
    other = await make_datastream(hub, admin, "Station B", observation_type=OM_OBSERVATION)
    # values are multiples of 1/4, so every sum is exact in any order
    ids = await _post_rows(
        hub,
        admin,
        stream,
        [
            ["2026-11-01T00:00:10Z", 1.5],
            ["2026-11-01T00:00:20Z", 2.25],
            ["2026-11-01T00:00:20Z", 4],  # same time, later id: this one is the last
            ["2026-11-01T00:00:50Z", -3],
            ["2026-11-01T00:01:00Z", 7],
            ["2026-11-01T00:59:59.999Z", 0.5],
            ["2026-11-01T01:00:00Z", 10],
            ["2026-11-01T13:30:00Z", "offline"],  # not a number: not counted
            ["2026-11-01T13:31:00Z", {"code": 3}],
            ["2026-11-01T23:59:59Z", 8],
            ["2026-11-02T00:00:00Z", 100],
            ["2026-11-02T05:00:00Z/2026-11-02T06:00:00Z", 5],  # bucketed by its start
            ["2026-11-03T06:30:00+07:00", 12],  # 2026-11-02T23:30Z
        ],
    )
    await _post_rows(hub, admin, other, [["2026-11-01T00:00:30Z", 1000], ["2026-11-05T00:00Z", 1]])
    await assert_rollups_match(hub, engine, stream)
    minute = (await _served(hub, stream, "1m"))[0]
    assert minute == {
        "start": "2026-11-01T00:00:00Z",
        "end": "2026-11-01T00:01:00Z",
        "count": 4,
        "min": -3.0,
        "max": 4.0,
        "mean": 1.1875,
        "sum": 4.75,
        "last": -3.0,
    }

    # late data into minutes and hours that are rolled up already
    await _post_one(hub, admin, stream, "2026-11-01T00:00:30Z", 6)
    late_last = await _post_one(hub, admin, stream, "2026-11-01T00:00:55Z", -10)
    await _post_one(hub, admin, stream, "2026-11-01T00:30:00Z", 3)
    await _post_one(hub, admin, stream, "2026-10-31T23:00:00Z", 0.25)
    await assert_rollups_match(hub, engine, stream)
    assert (await _served(hub, stream, "1m"))[1]["last"] == -10

    # deletes: the last of a minute, and the only reading of an hour
    assert (await hub.delete(f"/v1.1/Observations({late_last})", headers=admin)).status_code == 200
    assert (await hub.delete(f"/v1.1/Observations({ids[6]})", headers=admin)).status_code == 200
    await assert_rollups_match(hub, engine, stream)
    hours = [b["start"] for b in await _served(hub, stream, "1h")]
    assert "2026-11-01T01:00:00Z" not in hours

    # updates: a new value, a number turned into text, a reading moved to another day
    patches = [
        (ids[4], {"result": 7.75}),
        (ids[10], {"result": "sensor fault"}),
        (ids[9], {"phenomenonTime": "2026-11-04T12:00:00Z"}),
        (ids[7], {"result": 2.5}),  # text turned into a number
    ]
    for observation, body in patches:
        response = await hub.patch(f"/v1.1/Observations({observation})", json=body, headers=admin)
        assert response.status_code == 200, response.text
    await assert_rollups_match(hub, engine, stream)
    days = [b["start"] for b in await _served(hub, stream, "1d")]
    assert days == [
        "2026-10-31T00:00:00Z",
        "2026-11-01T00:00:00Z",
        "2026-11-02T00:00:00Z",
        "2026-11-04T00:00:00Z",
    ]

    # the other Datastream was never touched
    await assert_rollups_match(hub, engine, other)
    assert [b["sum"] for b in await _served(hub, other, "1d")] == [1000, 1]

    # deleting the FeatureOfInterest cascades to every Observation of the stream
    feature = (await hub.get(f"/v1.1/Observations({ids[0]})/FeatureOfInterest")).json()
    deleted = await hub.delete(f"/v1.1/FeaturesOfInterest({feature['@iot.id']})", headers=admin)
    assert deleted.status_code == 200
    for interval in KEY_LENGTH:
        assert await _served(hub, stream, interval) == []
    await assert_rollups_match(hub, engine, other)


async def test_rollups_of_random_late_readings_match_raw_aggregates(
    hub: httpx.AsyncClient, admin: dict[str, str], engine: AsyncEngine
) -> None:
    stream = await make_datastream(hub, admin, "Station R", observation_type=OM_OBSERVATION)
    rng = random.Random(20261101)

    def rows(count: int) -> list[list[Any]]:
        made = []
        for _ in range(count):
            second = rng.randrange(3 * 86_400)
            stamp = f"2026-11-{1 + second // 86_400:02d}T{second // 3600 % 24:02d}:"
            stamp += f"{second // 60 % 60:02d}:{second % 60:02d}Z"
            made.append([stamp, round(rng.uniform(-50, 50), 3)])
        return made

    ids = await _post_rows(hub, admin, stream, rows(400))
    for _ in range(5):  # batches of late data anywhere in the three days
        ids += await _post_rows(hub, admin, stream, rows(40))
    for observation in rng.sample(ids, 30):
        assert (await hub.delete(f"/v1.1/Observations({observation})", headers=admin)).is_success
    await assert_rollups_match(hub, engine, stream, exact=False)


async def test_concurrent_writes_to_one_minute_are_all_rolled_up(
    hub: httpx.AsyncClient, admin: dict[str, str], engine: AsyncEngine
) -> None:
    stream = await make_datastream(hub, admin, "Station C", observation_type=OM_OBSERVATION)

    async def post(i: int) -> int:
        if i % 4 == 0:
            await _post_rows(hub, admin, stream, [[f"2026-11-01T00:00:{i % 60:02d}Z", i]] * 3)
            return 3
        await _post_one(hub, admin, stream, f"2026-11-01T00:0{i % 2}:{i % 60:02d}Z", i)
        return 1

    written = await asyncio.gather(*(post(i) for i in range(120)))
    await assert_rollups_match(hub, engine, stream)
    assert (await _served(hub, stream, "1d"))[0]["count"] == sum(written)


async def test_aggregates_window_and_refusals(
    hub: httpx.AsyncClient, admin: dict[str, str], engine: AsyncEngine
) -> None:
    stream = await make_datastream(hub, admin, "Station W", observation_type=OM_OBSERVATION)
    await _post_rows(
        hub,
        admin,
        stream,
        [[f"2026-11-0{day}T{hour:02d}:15:00Z", day * hour] for day in (1, 2) for hour in (0, 23)],
    )
    window = await _served(
        hub, stream, "1h", start="2026-11-01T01:00:00+01:00", end="2026-11-02T00:00:00Z"
    )
    assert [(b["start"], b["end"], b["count"]) for b in window] == [
        ("2026-11-01T00:00:00Z", "2026-11-01T01:00:00Z", 1),
        ("2026-11-01T23:00:00Z", "2026-11-02T00:00:00Z", 1),
    ]
    default = (await hub.get(AGGREGATES.format(stream))).json()
    assert default["interval"] == "1h" and len(default["value"]) == 4

    refusals = [
        ({"interval": "5m"}, 400, "interval"),
        ({"start": "yesterday"}, 400, "start"),
        ({"end": "2026-11-02T00:00:00"}, 400, "end"),  # no offset
        ({"start": "2026-11-02T00:00:00Z", "end": "2026-11-01T00:00:00Z"}, 400, "end"),
    ]
    for params, status, field in refusals:
        response = await hub.get(AGGREGATES.format(stream), params=params)
        assert response.status_code == status, response.text
        assert field in response.json()["detail"]  # the plain API's errors: {"detail": ...}
    missing = await hub.get(AGGREGATES.format(999_999))
    assert missing.status_code == 404 and "999999" in missing.json()["detail"]


async def test_aggregates_need_a_token_when_public_reading_is_off(
    backend: Backend, hub: httpx.AsyncClient, admin: dict[str, str]
) -> None:
    stream = await make_datastream(hub, admin, "Station P", observation_type=OM_OBSERVATION)
    private = create_app(backend.settings.model_copy(update={"public_read": False}), migrate=False)
    async with private.router.lifespan_context(private):
        transport = httpx.ASGITransport(app=private)
        async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as http:
            anonymous = await http.get(AGGREGATES.format(stream))
            assert anonymous.status_code == 401
            bad = await http.get(AGGREGATES.format(stream), headers={"Authorization": "Bearer x"})
            assert bad.status_code == 401
            allowed = await http.get(
                AGGREGATES.format(stream), headers={"Authorization": f"Bearer {ADMIN_TOKEN}"}
            )
            assert allowed.status_code == 200 and allowed.json()["value"] == []


@pytest.fixture
def fresh_url(backend: Backend, tmp_path: Path) -> Iterator[str]:
    """An empty database of the backend's kind, for migrating by hand."""
    if backend.name == "sqlite":
        yield f"sqlite+aiosqlite:///{tmp_path / 'old.db'}"
        return
    name = f"cityhelix_old_{uuid.uuid4().hex[:10]}"
    _run_outside_loop(f'CREATE DATABASE "{name}"')
    yield backend.url.rsplit("/", 1)[0] + f"/{name}"
    _run_outside_loop(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


async def test_migration_rolls_up_the_observations_stored_before_it(fresh_url: str) -> None:
    await asyncio.to_thread(upgrade, fresh_url, SCHEMA, "0001")
    engine = create_engine(Settings(database_url=fresh_url))
    try:
        async with engine.begin() as connection:
            streams = await _old_observations(connection)
        await asyncio.to_thread(upgrade, fresh_url, SCHEMA, "0004")
        for stream in streams:
            for interval in KEY_LENGTH:
                await _assert_table_matches(engine, stream, interval)
    finally:
        await engine.dispose()


async def test_backfill_builds_what_the_writes_built(
    hub: httpx.AsyncClient, admin: dict[str, str], engine: AsyncEngine
) -> None:
    stream = await make_datastream(hub, admin, "Station M", observation_type=OM_OBSERVATION)
    await _post_rows(
        hub,
        admin,
        stream,
        [[f"2026-11-01T{h:02d}:{m:02d}:07Z", h * 0.1 - m] for h in range(24) for m in (1, 59)]
        + [["2026-11-02T00:00:00Z", 4], ["2026-11-02T00:00:00Z", 5]],
    )
    await _post_one(hub, admin, stream, "2026-11-01T05:01:00Z", 0.3)
    async with engine.begin() as connection:
        built = (await connection.execute(select(observation_rollups))).all()
        await connection.execute(delete(observation_rollups))
        await connection.run_sync(backfill_sync, stream)
        backfilled = (await connection.execute(select(observation_rollups))).all()
    assert built and sorted(backfilled) == sorted(built)


async def _old_observations(connection: AsyncConnection) -> list[int]:
    """Two Datastreams with readings, written as they were before the rollups existed."""
    thing = await _insert_id(connection, things, name="old station")
    sensor = await _insert_id(
        connection, sensors, name="s", encoding_type="text/plain", metadata="-"
    )
    prop = await _insert_id(connection, observed_properties, name="p", definition="urn:p")
    feature = await _insert_id(
        connection,
        features_of_interest,
        name="f",
        encoding_type="application/geo+json",
        feature={"type": "Point", "coordinates": [106.65, 10.98]},
    )
    streams = [
        await _insert_id(
            connection,
            datastreams,
            name=f"old {n}",
            unit_of_measurement={},
            observation_type="OM_Measurement",
            thing_id=thing,
            sensor_id=sensor,
            observed_property_id=prop,
        )
        for n in range(2)
    ]
    rng = random.Random(7)
    base = datetime(2026, 10, 30, 22, tzinfo=UTC)
    rows = [
        {
            "datastream_id": streams[n % 2],
            "feature_of_interest_id": feature,
            "phenomenon_time_start": base + timedelta(seconds=rng.randrange(10 * 86_400)),
            "result_type": RESULT_FLOAT if n % 7 else RESULT_STRING,
            "result_number": rng.uniform(-5, 5) if n % 7 else None,
            "result_string": None if n % 7 else "offline",
        }
        for n in range(20_000)  # more buckets than one insert batch of the backfill
    ]
    await connection.execute(insert(observations), rows)
    return streams


async def _insert_id(connection: AsyncConnection, table: Table, **values: Any) -> int:
    inserted = await connection.execute(insert(table).values(values).returning(table.c.id))
    return int(inserted.scalar_one())


async def _assert_table_matches(engine: AsyncEngine, stream: int, interval: str) -> None:
    expected = await _expected(engine, stream, interval)
    r = observation_rollups.c
    async with engine.connect() as connection:
        rows = (
            await connection.execute(
                select(observation_rollups).where(r.datastream_id == stream, r.interval == interval)
            )
        ).all()
    stored = {
        row.bucket_start.strftime("%Y-%m-%dT%H:%M")[: KEY_LENGTH[interval]]: (
            row._mapping["count"],
            row.min,
            row.max,
            row.sum,
            row.last,
        )
        for row in rows
    }
    assert stored.keys() == expected.keys()
    for key, (count, low, high, total, last) in expected.items():
        assert stored[key][:3] == (count, low, high) and stored[key][4] == last
        assert stored[key][3] == pytest.approx(total, rel=1e-12, abs=1e-9)
