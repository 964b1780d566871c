"""The demo province's city services: air stations whose data give a realistic daily VN_AQI
spread, traffic counters (free to jammed) and AI cameras with events, gauges rising with
rain, and two industrial parks with tenants' outlets (one exceeding its COD limit now and
then), plus the operations-centre rules that watch them.

Things and readings go over the SensorThings API like any client's (tenants create their own
stations with their own tokens, so they own them); rules go through the city service.
Deterministic for a seed and a `now`; does nothing when its stations already exist.
"""

from __future__ import annotations

import math
import random
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
from sqlalchemy.ext.asyncio import AsyncEngine

from cityhelix.auth.principal import Principal, Role
from cityhelix.auth.service import UserError, create_user
from cityhelix.city import service
from cityhelix.city.const import (
    KIND_AIR,
    KIND_CAMERA,
    KIND_PARK_OUTLET,
    KIND_PARK_TENANT,
    KIND_TRAFFIC,
    KIND_WATER_LEVEL,
)
from cityhelix.city.traffic.cameras import data as camera_data
from cityhelix.hub import service as hub

API = "/v1.1"
MEASUREMENT = "http://www.opengis.net/def/observationType/OGC-OM/2.0/OM_Measurement"
#: marks the Things this module made (and tells a second run to do nothing)
DEMO_MARK = "city_demo"
DEMO_PRINCIPAL = Principal("demo", Role.ADMIN)
DEFINITIONS = "https://demo.cityhelix.org/def/"
GATEWAY = "https://gateway.demo.cityhelix.org"

#: (name, district, lon, lat, PM2.5 base µg/m³): clean suburb to a busy industrial road
AIR_STATIONS = (
    ("Air station Tân Uyên", "Tan Uyen", 106.80, 11.06, 14.0),
    ("Air station Thủ Dầu Một", "Thu Dau Mot", 106.66, 10.98, 30.0),
    ("Air station Thuận An", "Thuan An", 106.71, 10.92, 48.0),
    ("Air station Dĩ An", "Di An", 106.77, 10.90, 75.0),
)
#: (name, road segment, district, lon, lat, speed as a share of free flow, vehicles / 5 min)
COUNTERS = (
    ("Counter ĐT743 km 3", "ĐT743 km 3", "Di An", 106.76, 10.91, 0.9, 60),
    ("Counter QL13 km 12", "QL13 km 12", "Thuan An", 106.70, 10.94, 0.5, 130),
    ("Counter Mỹ Phước-Tân Vạn", "Mỹ Phước-Tân Vạn km 8", "Thu Dau Mot", 106.68, 11.0, 0.2, 150),
)
CAMERAS = (
    ("Camera Ngã tư 550", "Di An", 106.75, 10.92),
    ("Camera Chợ Thủ Dầu Một", "Thu Dau Mot", 106.65, 10.98),
)
#: (name, station code in water/alert_levels.json, district, lon, lat, start m, rise m/h)
GAUGES = (
    ("Gauge Thủ Dầu Một (Sài Gòn)", "TDM-SG", "Thu Dau Mot", 106.64, 10.97, 1.08, 0.018),
    ("Gauge Bến Cát (Thị Tính)", "BC-DN", "Ben Cat", 106.59, 11.15, 1.70, 0.004),
)
#: park -> (outlet properties, [(tenant, user name, output per month, COD base, spikes)])
PARKS: dict[str, tuple[dict[str, Any], list[tuple[str, str, float, float, bool]]]] = {
    "VSIP II": (
        {
            "qcvn40_column": "A",
            "receiving_water": {"type": "river", "flow_m3s": 120},
            "discharge_m3_per_day": 4000,
            "lon": 106.69,
            "lat": 11.06,
        },
        [
            ("Kumho Tire", "tenant-kumho", 2400.0, 95.0, True),
            ("Minh Long Ceramics", "tenant-minhlong", 800.0, 60.0, False),
        ],
    ),
    "Mỹ Phước 3": (
        {
            "qcvn40_column": "B",
            "receiving_water": {"type": "river", "flow_m3s": 45},
            "discharge_m3_per_day": 3000,
            "lon": 106.60,
            "lat": 11.12,
        },
        [
            ("Colgate-Palmolive", "tenant-colgate", 1500.0, 70.0, False),
            ("Scancom", "tenant-scancom", 1200.0, 80.0, False),
        ],
    ),
}

#: how many Things the city demo adds (the demo command's test waits for all of them)
THINGS = (
    len(AIR_STATIONS)
    + len(COUNTERS)
    + len(CAMERAS)
    + len(GAUGES)
    + sum(1 + len(tenants) for _, tenants in PARKS.values())
)


def _stream(name: str, unit: str, definition: str | None = None, **extra: Any) -> dict[str, Any]:
    return {
        "name": name,
        "description": name,
        "observationType": extra.pop("observation_type", MEASUREMENT),
        "unitOfMeasurement": {"name": unit, "symbol": unit, "definition": "https://qudt.org/"},
        "Sensor": {
            "name": f"{name} analyser",
            "description": "demo sensor",
            "encodingType": "application/pdf",
            "metadata": "https://example.org/sensor.pdf",
        },
        "ObservedProperty": {
            "name": name,
            "description": name,
            "definition": definition or f"{DEFINITIONS}{name.replace(' ', '')}",
        },
        **extra,
    }


def _thing(
    name: str, kind: str, lon: float, lat: float, streams: list[dict[str, Any]], **properties: Any
) -> dict[str, Any]:
    return {
        "name": name,
        "description": f"{name} (demo)",
        "properties": {"kind": kind, DEMO_MARK: True, **properties},
        "Locations": [
            {
                "name": f"{name} site",
                "description": "demo site",
                "encodingType": "application/geo+json",
                "location": {"type": "Point", "coordinates": [lon, lat]},
            }
        ],
        "Datastreams": streams,
    }


def _time(value: datetime) -> str:
    return value.isoformat().replace("+00:00", "Z")


class _Loader:
    """Creates Things and posts readings; counts what it did."""

    def __init__(self, client: httpx.AsyncClient, engine: AsyncEngine) -> None:
        self.client = client
        self.engine = engine
        self.things = 0
        self.posted = 0
        self.pending: list[dict[str, Any]] = []

    async def thing(
        self, body: dict[str, Any], headers: dict[str, str] | None = None
    ) -> dict[str, int]:
        await self.flush()
        created = await self.client.post(f"{API}/Things", json=body, headers=headers)
        created.raise_for_status()
        thing_id = int(created.json()["@iot.id"])
        listed = await self.client.get(
            f"{API}/Things({thing_id})/Datastreams", params={"$expand": "ObservedProperty"}
        )
        listed.raise_for_status()
        self.things += 1
        ids = {d["ObservedProperty"]["name"]: int(d["@iot.id"]) for d in listed.json()["value"]}
        return {"": thing_id, **ids}

    async def readings(
        self,
        datastream_id: int,
        rows: list[tuple[datetime, Any]],
        parameters: list[dict[str, Any]] | None = None,
    ) -> None:
        """Queue a Datastream's readings; `flush` posts the queue in one request."""
        if not rows:
            return
        components = ["phenomenonTime", "result"] + (["parameters"] if parameters else [])
        data = [
            [_time(t), v] + ([parameters[i]] if parameters else []) for i, (t, v) in enumerate(rows)
        ]
        self.pending.append(
            {"Datastream": {"@iot.id": datastream_id}, "components": components, "dataArray": data}
        )
        self.posted += len(rows)

    async def flush(self) -> None:
        if self.pending:
            answer = await self.client.post(f"{API}/CreateObservations", json=self.pending)
            answer.raise_for_status()
            self.pending = []


def _hours(now: datetime, count: int) -> list[datetime]:
    last = now.replace(minute=0, second=0, microsecond=0)
    return [last - timedelta(hours=count - 1 - i) for i in range(count)]


def _diurnal(hour: int) -> float:
    """Traffic-shaped pollution: peaks at 7-8 h and 17-19 h local (UTC+7), low at night."""
    local = (hour + 7) % 24
    morning = 0.45 * math.exp(-((local - 7.5) ** 2) / 4)
    evening = 0.55 * math.exp(-((local - 18) ** 2) / 5)
    night = 0.25 * math.exp(-((local - 3) ** 2) / 6)
    return 1.0 + morning + evening - night


async def _air(loader: _Loader, now: datetime, rng: random.Random) -> None:
    hours = _hours(now, 48)
    for name, district, lon, lat, base in AIR_STATIONS:
        ids = await loader.thing(
            _thing(
                name,
                KIND_AIR,
                lon,
                lat,
                [
                    _stream(
                        "PM2.5", "ug/m3", "http://dd.eionet.europa.eu/vocabulary/aq/pollutant/6001"
                    ),
                    _stream(
                        "PM10", "ug/m3", "http://dd.eionet.europa.eu/vocabulary/aq/pollutant/5"
                    ),
                    _stream("NO2", "ug/m3", "http://dd.eionet.europa.eu/vocabulary/aq/pollutant/8"),
                    _stream("SO2", "ug/m3", "http://dd.eionet.europa.eu/vocabulary/aq/pollutant/1"),
                    _stream("CO", "ug/m3", "http://dd.eionet.europa.eu/vocabulary/aq/pollutant/10"),
                    _stream("O3", "ug/m3", "http://dd.eionet.europa.eu/vocabulary/aq/pollutant/7"),
                ],
                district=district,
            )
        )
        series: dict[str, list[tuple[datetime, Any]]] = {
            k: [] for k in ("PM2.5", "PM10", "NO2", "SO2", "CO", "O3")
        }
        for t in hours:
            shape = _diurnal(t.hour) * rng.uniform(0.85, 1.15)
            if rng.random() < 0.04:
                continue  # a missing hour now and then, as stations have
            pm25 = round(base * shape, 1)
            series["PM2.5"].append((t, pm25))
            series["PM10"].append((t, round(pm25 * rng.uniform(1.6, 1.9), 1)))
            series["NO2"].append((t, round(base * 1.4 * shape, 1)))
            series["SO2"].append((t, round(base * 0.5 * rng.uniform(0.8, 1.2), 1)))
            series["CO"].append((t, round(base * 60 * shape)))
            local = (t.hour + 7) % 24
            sun = max(0.0, math.sin(math.pi * (local - 6) / 12))
            series["O3"].append((t, round(20 + 110 * sun * rng.uniform(0.8, 1.1), 1)))
        for pollutant, rows in series.items():
            await loader.readings(ids[pollutant], rows)


async def _traffic(loader: _Loader, now: datetime, rng: random.Random) -> None:
    steps = [now - timedelta(minutes=5 * (11 - i)) for i in range(12)]
    for name, segment, district, lon, lat, share, volume in COUNTERS:
        ids = await loader.thing(
            _thing(
                name,
                KIND_TRAFFIC,
                lon,
                lat,
                [
                    _stream("Vehicle count", "vehicles"),
                    _stream("Mean vehicle speed", "km/h"),
                ],
                district=district,
                road_segment=segment,
                free_flow_speed_kmh=50,
                capacity_vph=1800,
            )
        )
        await loader.readings(
            ids["Vehicle count"], [(t, volume + rng.randint(-10, 10)) for t in steps]
        )
        await loader.readings(
            ids["Mean vehicle speed"],
            [(t, round(50 * share * rng.uniform(0.9, 1.1), 1)) for t in steps],
        )
    kinds = [row["key"] for row in camera_data()["events"]]
    classes = camera_data()["vehicle_classes"]
    for index, (name, district, lon, lat) in enumerate(CAMERAS):
        ids = await loader.thing(
            _thing(
                name,
                KIND_CAMERA,
                lon,
                lat,
                [
                    _stream(
                        "Camera event", "event", observation_type=camera_data()["observation_type"]
                    ),
                ],
                district=district,
                gateway=GATEWAY,
            )
        )
        rows: list[tuple[datetime, Any]] = []
        parameters: list[dict[str, Any]] = []
        for t in _hours(now, 24):
            for vehicle in classes:
                rows.append((t + timedelta(minutes=1), "vehicle_count"))
                parameters.append(
                    {
                        "vehicle_class": vehicle,
                        "count": rng.randint(5, 400 if vehicle == "motorbike" else 60),
                        "confidence": 0.95,
                    }
                )
            for minute in range(5, 60, 15):
                if rng.random() < 0.25:
                    kind = rng.choice(
                        [k for k in kinds if k not in ("vehicle_count", "fire_smoke")]
                    )
                    clip = f"{GATEWAY}/cam{index + 1}/{t:%Y%m%d%H}{minute:02d}"
                    rows.append((t + timedelta(minutes=minute), kind))
                    parameters.append(
                        {
                            "confidence": round(rng.uniform(0.55, 0.99), 2),
                            "snapshot_url": f"{clip}.jpg",
                            "clip_url": f"{clip}.mp4",
                        }
                    )
        await loader.readings(ids["Camera event"], rows, parameters)
        await service.watch_camera(loader.engine, DEMO_PRINCIPAL, ids[""], None, None, None)


async def _water(loader: _Loader, now: datetime, rng: random.Random) -> None:
    steps = [now - timedelta(minutes=15 * (47 - i)) for i in range(48)]  # 12 hours
    for name, code, district, lon, lat, start, rise in GAUGES:
        ids = await loader.thing(
            _thing(
                name,
                KIND_WATER_LEVEL,
                lon,
                lat,
                [
                    _stream("Water level", "m"),
                    _stream("Rainfall", "mm/h"),
                ],
                district=district,
                station_code=code,
            )
        )
        levels, rain = [], []
        for i, t in enumerate(steps):
            hours = i / 4
            raining = hours > 6
            # slow before the rain, three times faster in it
            level = start + rise * 0.6 * min(hours, 6) + rise * 3.0 * max(0.0, hours - 6)
            levels.append((t, round(level + rng.uniform(-0.003, 0.003), 3)))
            rain.append((t, round(rng.uniform(18, 40) if raining else rng.uniform(0, 3), 1)))
        await loader.readings(ids["Water level"], levels)
        await loader.readings(ids["Rainfall"], rain)
        engine = loader.engine
        await service.add_level_rule(engine, DEMO_PRINCIPAL, ids[""], "II")
        await service.add_rise_rule(engine, DEMO_PRINCIPAL, ids[""], 5.0, 20.0, None)


async def _tenant_token(engine: AsyncEngine, name: str) -> str | None:
    try:
        return await create_user(engine, name, Role.TENANT)
    except UserError:
        return None  # made by an earlier run: its stations are there too


async def _parks(loader: _Loader, now: datetime, rng: random.Random) -> None:
    engine = loader.engine
    hours = _hours(now, 48)
    for park, (outlet, tenants) in PARKS.items():
        outlet_props = {k: v for k, v in outlet.items() if k not in ("lon", "lat")}
        ids = await loader.thing(
            _thing(
                f"{park} central outlet",
                KIND_PARK_OUTLET,
                outlet["lon"],
                outlet["lat"],
                [
                    _stream("COD", "mg/l"),
                    _stream("BOD5", "mg/l"),
                    _stream("TSS", "mg/l"),
                    _stream("pH", ""),
                    _stream("Ammonium", "mg/l"),
                    _stream("Flow", "m3/h"),
                ],
                park=park,
                **outlet_props,
            )
        )
        await _wastewater(loader, ids, hours, rng, cod=45.0, spikes=False)
        await service.watch_park_station(engine, DEMO_PRINCIPAL, ids[""])
        for offset, (tenant, user, output, cod, spikes) in enumerate(tenants):
            token = await _tenant_token(engine, user)
            headers = None if token is None else {"Authorization": f"Bearer {token}"}
            ids = await loader.thing(
                _thing(
                    f"{tenant} connection",
                    KIND_PARK_TENANT,
                    outlet["lon"] + 0.01 * (offset + 1),
                    outlet["lat"] + 0.005,
                    [
                        _stream("COD", "mg/l"),
                        _stream("BOD5", "mg/l"),
                        _stream("TSS", "mg/l"),
                        _stream("pH", ""),
                        _stream("Ammonium", "mg/l"),
                        _stream("Flow", "m3/h"),
                        _stream("Water consumption", "m3"),
                        _stream("Energy consumption", "kWh"),
                    ],
                    park=park,
                    tenant=tenant,
                    qcvn40_column="B",
                    output_per_month=output,
                    output_unit="t",
                ),
                headers,
            )
            await _wastewater(loader, ids, hours, rng, cod=cod, spikes=spikes)
            await loader.readings(
                ids["Water consumption"],
                [(t, round(output / 720 * rng.uniform(2.5, 3.5), 2)) for t in hours],
            )
            await loader.readings(
                ids["Energy consumption"],
                [(t, round(output / 720 * rng.uniform(180, 260), 1)) for t in hours],
            )
            await service.watch_park_station(engine, DEMO_PRINCIPAL, ids[""])


async def _wastewater(
    loader: _Loader,
    ids: dict[str, int],
    hours: list[datetime],
    rng: random.Random,
    *,
    cod: float,
    spikes: bool,
) -> None:
    def series(make: Callable[[int], float]) -> list[tuple[datetime, Any]]:
        return [(t, round(make(i), 2)) for i, t in enumerate(hours)]

    await loader.readings(
        ids["COD"],
        series(lambda i: cod * rng.uniform(0.8, 1.2) * (1.9 if spikes and i % 11 == 7 else 1.0)),
    )
    await loader.readings(ids["BOD5"], series(lambda i: cod * 0.35 * rng.uniform(0.8, 1.2)))
    await loader.readings(ids["TSS"], series(lambda i: cod * 0.4 * rng.uniform(0.7, 1.3)))
    await loader.readings(ids["pH"], series(lambda i: rng.uniform(6.6, 7.8)))
    await loader.readings(ids["Ammonium"], series(lambda i: rng.uniform(1.0, 4.0)))
    await loader.readings(ids["Flow"], series(lambda i: rng.uniform(20, 60)))


async def load_demo(
    client: httpx.AsyncClient, engine: AsyncEngine, *, seed: int = 7, now: datetime | None = None
) -> str:
    """Load the city services' demo (once); a one-line summary of what it did."""
    if any(t.properties.get(DEMO_MARK) for t in await hub.things_of_kind(engine, KIND_AIR)):
        return "city services demo already loaded"
    rng = random.Random(seed)
    moment = now or datetime.now(UTC)
    loader = _Loader(client, engine)
    await _air(loader, moment, rng)
    await _traffic(loader, moment, rng)
    await _water(loader, moment, rng)
    await _parks(loader, moment, rng)
    await loader.flush()
    return (
        f"loaded the city services demo: {loader.things} stations, {loader.posted} readings "
        f"(air, traffic and cameras, gauges, two parks) and their rules"
    )
