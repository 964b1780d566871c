"""The published FROST Python client (frost-sta-client) against a real `cityhelix serve`."""

from __future__ import annotations

from collections.abc import Iterator

import frost_sta_client as fsc
import pytest
from geojson import Point

from tests.conftest import ADMIN_TOKEN, Backend
from tests.served import served


@pytest.fixture(scope="module")
def frost_service(
    backend: Backend, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[fsc.SensorThingsService]:
    # SQLite: a file of its own. These tests are synchronous, so the session app's event loop
    # stands still while they run, and a background write of that app caught mid-transaction
    # would hold the shared file's write lock until they end.
    url = backend.url
    if backend.name == "sqlite":
        url = f"sqlite+aiosqlite:///{tmp_path_factory.mktemp('frost') / 'frost.db'}"
    with served(url, CITYHELIX_ADMIN_TOKEN=ADMIN_TOKEN) as base:
        auth = fsc.service.auth_handler.AuthHandler(username="admin", password=ADMIN_TOKEN)
        yield fsc.SensorThingsService(f"{base}/v1.1", auth_handler=auth)


@pytest.mark.slow
def test_frost_client_creates_and_reads_back(frost_service: fsc.SensorThingsService) -> None:
    location = fsc.Location(
        name="Di An gauge site",
        description="riverbank",
        encoding_type="application/geo+json",
        location=Point((106.77, 10.90)),
    )
    thing = fsc.Thing(name="Water gauge DA-1", description="water level", locations=[location])
    frost_service.create(thing)
    assert thing.id is not None
    sensor = fsc.Sensor(
        name="radar gauge",
        description="radar",
        encoding_type="application/pdf",
        metadata="https://example.org/radar.pdf",
    )
    observed = fsc.ObservedProperty(
        name="water level",
        definition="https://qudt.org/vocab/quantitykind/Height",
        description="water level above datum",
    )
    datastream = fsc.Datastream(
        name="DA-1 level",
        description="water level every 10 minutes",
        observation_type="http://www.opengis.net/def/observationType/OGC-OM/2.0/OM_Measurement",
        unit_of_measurement=fsc.UnitOfMeasurement(name="metre", symbol="m", definition="ucum:m"),
        thing=thing,
        sensor=sensor,
        observed_property=observed,
    )
    frost_service.create(datastream)
    assert datastream.id is not None
    for minute, level in enumerate((1.2, 1.25, 1.31)):
        observation = fsc.Observation(
            result=level, phenomenon_time=f"2026-11-01T00:{minute:02d}:00Z", datastream=datastream
        )
        frost_service.create(observation)
        assert observation.id is not None
    read_thing = frost_service.things().find(thing.id)
    assert read_thing.name == "Water gauge DA-1"
    stream = frost_service.datastreams().find(datastream.id)
    assert stream.name == "DA-1 level"
    results = [o.result for o in stream.get_observations().query().list()]
    assert sorted(results) == [1.2, 1.25, 1.31]
    locations = frost_service.things().find(thing.id).get_locations().query().list()
    assert [loc.name for loc in locations] == ["Di An gauge site"]


@pytest.mark.slow
def test_frost_client_query_builder_filters_expands_orders_and_pages(
    frost_service: fsc.SensorThingsService,
) -> None:
    sensor = fsc.Sensor(
        name="counter",
        description="loop",
        encoding_type="application/pdf",
        metadata="https://example.org/loop.pdf",
    )
    observed = fsc.ObservedProperty(
        name="vehicles",
        definition="https://example.org/vehicles",
        description="vehicles per 5 minutes",
    )
    thing = fsc.Thing(
        name="Traffic counter QB-1",
        description="query builder",
        properties={"district": "Tan Uyen"},
        locations=[
            fsc.Location(
                name="QB-1 site",
                description="junction",
                encoding_type="application/geo+json",
                location=Point((106.80, 11.05)),
            )
        ],
    )
    frost_service.create(thing)
    datastream = fsc.Datastream(
        name="QB-1 vehicles",
        description="count",
        observation_type="http://www.opengis.net/def/observationType/OGC-OM/2.0/OM_CountObservation",
        unit_of_measurement=fsc.UnitOfMeasurement(
            name="vehicle", symbol="{vehicle}", definition="ucum:{vehicle}"
        ),
        thing=thing,
        sensor=sensor,
        observed_property=observed,
    )
    frost_service.create(datastream)
    for minute in range(25):
        frost_service.create(
            fsc.Observation(
                result=minute * 10,
                phenomenon_time=f"2026-11-02T00:{minute:02d}:00Z",
                datastream=datastream,
            )
        )
    found = frost_service.things().query().filter("properties/district eq 'Tan Uyen'").list()
    assert [t.name for t in found] == ["Traffic counter QB-1"]
    observations = (
        datastream.get_observations()
        .query()
        .filter("result ge 100 and phenomenonTime lt 2026-11-02T00:20:00Z")
        .orderby("phenomenonTime", "desc")
        .top(4)
        .list()
    )
    results = [o.result for o in observations]  # iterating follows the nextLinks
    assert results == [190, 180, 170, 160, 150, 140, 130, 120, 110, 100]
    expanded = (
        frost_service.things()
        .query()
        .filter("name eq 'Traffic counter QB-1'")
        .expand("Datastreams($select=name;$expand=Observations($top=2;$orderby=result desc))")
        .list()
    )
    stream = expanded.get(0).datastreams.get(0)
    assert stream.name == "QB-1 vehicles"
    assert [o.result for o in stream.observations.entities] == [240, 230]
