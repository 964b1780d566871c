"""The demo province as typed data, its value model, and the SensorThings bodies built from it.

`province.json` says what exists; `value_at` says what a device reads at a given moment (the
history and the live simulator both use it), and `catalog`/`build_things` turn that into JSON.
"""

from __future__ import annotations

import functools
import json
import math
import random
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from importlib import resources
from typing import Any, Literal, Protocol

JSONDict = dict[str, Any]

OM_MEASUREMENT = "http://www.opengis.net/def/observationType/OGC-OM/2.0/OM_Measurement"
GEOJSON = "application/geo+json"
_KM_PER_DEGREE = 111.32


# --- profiles: the shape of a quantity over the day, as a fraction of its range ------------


class Profile(Protocol):
    """A daily shape: the expected level at a moment, 0 = bottom of the range, 1 = top."""

    def fraction(self, local_hour: float, epoch_hours: float) -> float: ...


def _in_window(hour: float, start: float, end: float) -> bool:
    """Whether `hour` lies in [start, end), the window possibly wrapping past midnight."""
    if start <= end:
        return start <= hour < end
    return hour >= start or hour < end


def _logistic(hours: float) -> float:
    """A soft step over about two hours around zero."""
    return 1.0 / (1.0 + math.exp(-2.0 * hours))


def _hours_apart(hour: float, centre: float) -> float:
    """Signed distance on the 24-hour clock, in (-12, 12]."""
    return (hour - centre + 12.0) % 24.0 - 12.0


@dataclass(frozen=True)
class NightProfile:
    """On between `on_hour` and `off_hour` (dimmed from `dim_from` to `dim_to`), off by day."""

    on_hour: float
    off_hour: float
    dim_from: float
    dim_to: float
    on_level: float = 1.0
    dim_level: float = 0.6

    def fraction(self, local_hour: float, epoch_hours: float) -> float:
        if not _in_window(local_hour, self.on_hour, self.off_hour):
            return 0.0
        if _in_window(local_hour, self.dim_from, self.dim_to):
            return self.dim_level
        return self.on_level


@dataclass(frozen=True)
class RushProfile:
    """A night floor, a daytime plateau and Gaussian rush-hour peaks `(hour, height, width)`.

    `invert` turns it upside down (speeds fall when traffic peaks).
    """

    night: float
    day: float
    day_start: float
    day_end: float
    peaks: tuple[tuple[float, float, float], ...] = ()
    invert: bool = False

    def fraction(self, local_hour: float, epoch_hours: float) -> float:
        daylight = max(  # smooth edges; yesterday's and tomorrow's days count near midnight
            _logistic(hour - self.day_start) * _logistic(self.day_end - hour)
            for hour in (local_hour - 24.0, local_hour, local_hour + 24.0)
        )
        level = self.night + (self.day - self.night) * daylight
        for centre, height, width in self.peaks:
            level += height * math.exp(-0.5 * (_hours_apart(local_hour, centre) / width) ** 2)
        level = min(max(level, 0.0), 1.0)
        return 1.0 - level if self.invert else level


@dataclass(frozen=True)
class DiurnalProfile:
    """A smooth day cycle from `low` at `min_hour` to `high` at `max_hour` and back."""

    min_hour: float
    max_hour: float
    low: float
    high: float

    def fraction(self, local_hour: float, epoch_hours: float) -> float:
        rising = (self.max_hour - self.min_hour) % 24.0
        since_min = (local_hour - self.min_hour) % 24.0
        if since_min < rising:
            shape = 0.5 - 0.5 * math.cos(math.pi * since_min / rising)
        else:
            shape = 0.5 + 0.5 * math.cos(math.pi * (since_min - rising) / (24.0 - rising))
        return self.low + (self.high - self.low) * shape


@dataclass(frozen=True)
class TideProfile:
    """A tide-like sine on absolute time, so it runs on continuously across days."""

    mid: float
    amplitude: float
    period_hours: float = 12.42
    phase_hours: float = 0.0

    def fraction(self, local_hour: float, epoch_hours: float) -> float:
        angle = 2.0 * math.pi * (epoch_hours - self.phase_hours) / self.period_hours
        return self.mid + self.amplitude * math.sin(angle)


_PROFILE_SHAPES: dict[str, type[NightProfile | RushProfile | DiurnalProfile | TideProfile]] = {
    "night": NightProfile,
    "rush": RushProfile,
    "diurnal": DiurnalProfile,
    "tide": TideProfile,
}


# --- the province as typed data ---------------------------------------------------------


@dataclass(frozen=True)
class District:
    """An area devices are scattered in: a centre point and a radius."""

    key: str
    name: str
    code: str
    lon: float
    lat: float
    radius_km: float


@dataclass(frozen=True)
class SensorSpec:
    """A device model, created once as a SensorThings Sensor."""

    key: str
    name: str
    description: str
    encoding_type: str
    metadata: str


@dataclass(frozen=True)
class ObservedPropertySpec:
    """A measured quantity, created once as a SensorThings ObservedProperty."""

    key: str
    name: str
    definition: str
    description: str


@dataclass(frozen=True)
class Unit:
    """A unit of measurement (UCUM symbol)."""

    name: str
    symbol: str
    definition: str


@dataclass(frozen=True)
class Fault:
    """An occasional misreading of the live feed: `zero` while active, or a `spike`."""

    type: Literal["zero", "spike"]
    probability: float
    factor: tuple[float, float] = (1.0, 1.0)
    ceiling: float = math.inf


@dataclass(frozen=True)
class StreamSpec:
    """One Datastream of a device kind; `key` is `<kind>.<stream>`, e.g. `streetlight.power`."""

    key: str
    name: str
    description: str
    observed_property: str
    unit: Unit
    value_range: tuple[float, float]
    decimals: int
    noise: float
    profile: Profile
    scale_spread: tuple[float, float] = (1.0, 1.0)
    fault: Fault | None = None
    observation_type: str = OM_MEASUREMENT


@dataclass(frozen=True)
class KindSpec:
    """A kind of device, how many of it the province has, and what each one measures."""

    key: str
    name: str
    description: str
    count: int
    sensor: str
    datastreams: tuple[StreamSpec, ...]
    districts: tuple[str, ...] = ()


@dataclass(frozen=True)
class Province:
    """The whole demo province; `streams` indexes every StreamSpec by its key."""

    name: str
    description: str
    utc_offset_hours: float
    districts: tuple[District, ...]
    sensors: tuple[SensorSpec, ...]
    observed_properties: tuple[ObservedPropertySpec, ...]
    kinds: tuple[KindSpec, ...]
    streams: Mapping[str, StreamSpec] = field(default_factory=dict, compare=False, repr=False)


def _pair(value: Sequence[float]) -> tuple[float, float]:
    if len(value) != 2:
        raise ValueError(f"expected [low, high], got {value!r}")
    return float(value[0]), float(value[1])


def _parse_profile(raw: Mapping[str, Any]) -> Profile:
    params = dict(raw)
    shape = params.pop("shape", None)
    cls = _PROFILE_SHAPES.get(str(shape))
    if cls is None:
        raise ValueError(f"unknown profile shape {shape!r}; known: {sorted(_PROFILE_SHAPES)}")
    if "peaks" in params:
        params["peaks"] = tuple((float(c), float(h), float(w)) for c, h, w in params["peaks"])
    try:
        profile: Profile = cls(**params)
    except TypeError as exc:
        raise ValueError(f"bad parameters for profile shape {shape!r}: {exc}") from exc
    return profile


def _parse_fault(raw: Mapping[str, Any] | None) -> Fault | None:
    if raw is None:
        return None
    kind = raw["type"]
    if kind not in ("zero", "spike"):
        raise ValueError(f"unknown fault type {kind!r}")
    return Fault(
        type=kind,
        probability=float(raw["probability"]),
        factor=_pair(raw.get("factor", (1.0, 1.0))),
        ceiling=float(raw.get("ceiling", math.inf)),
    )


def _parse_stream(kind: str, raw: Mapping[str, Any]) -> StreamSpec:
    unit = raw["unit"]
    low, high = _pair(raw["range"])
    if not low < high:
        raise ValueError(f"{kind}.{raw['key']}: empty range {raw['range']!r}")
    return StreamSpec(
        key=f"{kind}.{raw['key']}",
        name=raw["name"],
        description=raw["description"],
        observed_property=raw["observed_property"],
        unit=Unit(name=unit["name"], symbol=unit["symbol"], definition=unit["definition"]),
        value_range=(low, high),
        decimals=int(raw.get("decimals", 2)),
        noise=float(raw.get("noise", 0.0)),
        profile=_parse_profile(raw["profile"]),
        scale_spread=_pair(raw.get("scale_spread", (1.0, 1.0))),
        fault=_parse_fault(raw.get("fault")),
        observation_type=raw.get("observation_type", OM_MEASUREMENT),
    )


def parse_province(raw: Mapping[str, Any]) -> Province:
    """Build a Province from its JSON form, checking every cross-reference by key."""
    districts = tuple(
        District(
            d["key"],
            d["name"],
            d["code"],
            float(d["lon"]),
            float(d["lat"]),
            float(d.get("radius_km", 2.0)),
        )
        for d in raw["districts"]
    )
    sensors = tuple(
        SensorSpec(s["key"], s["name"], s["description"], s["encodingType"], s["metadata"])
        for s in raw["sensors"]
    )
    observed = tuple(
        ObservedPropertySpec(o["key"], o["name"], o["definition"], o["description"])
        for o in raw["observed_properties"]
    )
    kinds = tuple(
        KindSpec(
            key=k["key"],
            name=k["name"],
            description=k["description"],
            count=int(k["count"]),
            sensor=k["sensor"],
            datastreams=tuple(_parse_stream(k["key"], s) for s in k["datastreams"]),
            districts=tuple(k.get("districts", ())),
        )
        for k in raw["kinds"]
    )
    district_keys = {d.key for d in districts}
    sensor_keys = {s.key for s in sensors}
    observed_keys = {o.key for o in observed}
    streams: dict[str, StreamSpec] = {}
    for kind in kinds:
        if kind.sensor not in sensor_keys:
            raise ValueError(f"kind {kind.key!r}: unknown sensor {kind.sensor!r}")
        unknown = set(kind.districts) - district_keys
        if unknown:
            raise ValueError(f"kind {kind.key!r}: unknown districts {sorted(unknown)}")
        for stream in kind.datastreams:
            if stream.observed_property not in observed_keys:
                raise ValueError(
                    f"{stream.key}: unknown observed property {stream.observed_property!r}"
                )
            if stream.key in streams:
                raise ValueError(f"duplicate datastream key {stream.key!r}")
            streams[stream.key] = stream
    if not districts:
        raise ValueError("a province needs at least one district")
    return Province(
        name=raw["name"],
        description=raw.get("description", ""),
        utc_offset_hours=float(raw.get("utc_offset_hours", 0)),
        districts=districts,
        sensors=sensors,
        observed_properties=observed,
        kinds=kinds,
        streams=streams,
    )


@functools.cache
def read_province() -> Province:
    """The packaged demo province (`cityhelix/demo/province.json`), read once."""
    text = (
        resources.files(__package__ or "cityhelix.demo")
        .joinpath("province.json")
        .read_text(encoding="utf-8")
    )
    return parse_province(json.loads(text))


# --- the value model --------------------------------------------------------------------


def iso_z(when: datetime) -> str:
    """ISO 8601 UTC to the second with a `Z`, as phenomenonTime is written everywhere here."""
    return _as_utc(when).replace(microsecond=0).isoformat().replace("+00:00", "Z")


def _as_utc(when: datetime) -> datetime:
    """Aware UTC datetime; a naive one is taken to be UTC already."""
    if when.tzinfo is None:
        return when.replace(tzinfo=UTC)
    return when.astimezone(UTC)


def value_at(
    stream_key: str,
    when: datetime,
    rng: random.Random,
    *,
    scale: float = 1.0,
    faults: bool = False,
    province: Province | None = None,
) -> float | int:
    """What the datastream `stream_key` (e.g. `air_quality.pm25`) reads at `when`.

    The profile gives the expected level in local time, `scale` stretches it for one device,
    seeded Gaussian noise is added and the result is kept within the stream's range. With
    `faults`, the stream's fault (a dead lamp, a dust spike) strikes with its probability and
    may leave the range. `rng` is always advanced by the same amount for a given call.
    """
    province = province or read_province()
    spec = province.streams[stream_key]
    utc = _as_utc(when)
    local = utc + timedelta(hours=province.utc_offset_hours)
    local_hour = local.hour + local.minute / 60.0 + local.second / 3600.0
    expected = spec.profile.fraction(local_hour, utc.timestamp() / 3600.0)
    noise = rng.gauss(0.0, 1.0)
    # an exact zero means idle (a lamp by day): it stays zero, without noise
    level = 0.0 if expected <= 0.0 else min(max(expected * scale + spec.noise * noise, 0.0), 1.0)
    low, high = spec.value_range
    value = low + (high - low) * level
    if faults and spec.fault is not None:
        strikes = rng.random() < spec.fault.probability
        factor = rng.uniform(*spec.fault.factor)
        if strikes and spec.fault.type == "zero":
            value = low
        elif strikes and spec.fault.type == "spike":
            value = min(max(value, low + (high - low) * 0.1) * factor, spec.fault.ceiling)
    if spec.decimals <= 0:
        return round(value)
    return round(value, spec.decimals)


# --- SensorThings bodies ----------------------------------------------------------------


def catalog(province: Province) -> tuple[list[JSONDict], list[JSONDict]]:
    """The Sensor and ObservedProperty bodies to create before any Thing.

    Each carries `properties.key`, so the ids the server assigns can be mapped back by key.
    """
    sensors = [
        {
            "name": s.name,
            "description": s.description,
            "encodingType": s.encoding_type,
            "metadata": s.metadata,
            "properties": {"key": s.key, "demo": True},
        }
        for s in province.sensors
    ]
    observed = [
        {
            "name": o.name,
            "definition": o.definition,
            "description": o.description,
            "properties": {"key": o.key, "demo": True},
        }
        for o in province.observed_properties
    ]
    return sensors, observed


def _scatter(district: District, rng: random.Random) -> list[float]:
    """A point uniformly inside the district's disc, as GeoJSON [lon, lat]."""
    distance = district.radius_km * math.sqrt(rng.random())
    bearing = rng.uniform(0.0, 2.0 * math.pi)
    dlat = distance * math.cos(bearing) / _KM_PER_DEGREE
    dlon = distance * math.sin(bearing) / (_KM_PER_DEGREE * math.cos(math.radians(district.lat)))
    return [round(district.lon + dlon, 6), round(district.lat + dlat, 6)]


def history_times(now: datetime, history_hours: int, step_minutes: int) -> list[datetime]:
    """The history's sample times: every `step_minutes`, aligned, ending at or before `now`."""
    if step_minutes <= 0 or history_hours <= 0:
        raise ValueError("history_hours and step_minutes must be positive")
    utc = _as_utc(now).replace(second=0, microsecond=0)
    end = utc - timedelta(minutes=utc.minute % step_minutes)
    count = history_hours * 60 // step_minutes
    step = timedelta(minutes=step_minutes)
    return [end - step * (count - 1 - i) for i in range(count)]


def _datastream(
    stream: StreamSpec,
    thing_name: str,
    *,
    sensor_id: int,
    observed_property_id: int,
    times: Sequence[datetime],
    rng: random.Random,
    province: Province,
) -> JSONDict:
    scale = round(rng.uniform(*stream.scale_spread), 3)
    observations = [
        {
            "phenomenonTime": iso_z(t),
            "result": value_at(stream.key, t, rng, scale=scale, province=province),
        }
        for t in times
    ]
    return {
        "name": f"{thing_name} {stream.name}",
        "description": f"{stream.description} at {thing_name}",
        "observationType": stream.observation_type,
        "unitOfMeasurement": {
            "name": stream.unit.name,
            "symbol": stream.unit.symbol,
            "definition": stream.unit.definition,
        },
        "properties": {"key": stream.key, "scale": scale, "demo": True},
        "Sensor": {"@iot.id": sensor_id},
        "ObservedProperty": {"@iot.id": observed_property_id},
        "Observations": observations,
    }


def build_things(
    province: Province,
    *,
    seed: int,
    now: datetime,
    history_hours: int = 24,
    step_minutes: int = 10,
    sensor_ids: Mapping[str, int],
    observed_property_ids: Mapping[str, int],
) -> list[JSONDict]:
    """One SensorThings deep-insert body per Thing, with `history_hours` of Observations.

    Deterministic: the same seed, `now` and maps give the same bodies. Devices of a kind are
    dealt round-robin over its districts and scattered inside each district's radius.
    `sensor_ids`/`observed_property_ids` map catalog keys to the ids the server assigned.
    """
    rng = random.Random(seed)
    times = history_times(now, history_hours, step_minutes)
    by_key = {d.key: d for d in province.districts}
    numbers: dict[tuple[str, str], int] = {}
    things: list[JSONDict] = []
    for kind in province.kinds:
        districts = [by_key[k] for k in kind.districts] or list(province.districts)
        for index in range(kind.count):
            district = districts[index % len(districts)]
            number = numbers.get((kind.key, district.key), 0) + 1
            numbers[(kind.key, district.key)] = number
            name = f"{kind.name} {district.code}-{number:02d}"
            lon_lat = _scatter(district, rng)
            properties: JSONDict = {
                "district": district.name,
                "district_key": district.key,
                "kind": kind.key,
                "province": province.name,
                "serial": f"{kind.key[:3].upper()}-{rng.randrange(16**6):06X}",
                "demo": True,
            }
            if kind.key == "streetlight":
                # the helix scorecard's ISO 37122 share: every fourth lamp not yet retrofitted
                # to the central management system (by index, so the seed's draws stay put)
                properties["remote_managed"] = index % 4 != 3
            things.append(
                {
                    "name": name,
                    "description": f"{kind.description} in {district.name}",
                    "properties": properties,
                    "Locations": [
                        {
                            "name": f"{name} site",
                            "description": f"Installation site of {name}, {district.name}",
                            "encodingType": GEOJSON,
                            "location": {"type": "Point", "coordinates": lon_lat},
                        }
                    ],
                    "Datastreams": [
                        _datastream(
                            stream,
                            name,
                            sensor_id=sensor_ids[kind.sensor],
                            observed_property_id=observed_property_ids[stream.observed_property],
                            times=times,
                            rng=rng,
                            province=province,
                        )
                        for stream in kind.datastreams
                    ],
                }
            )
    return things
