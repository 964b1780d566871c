"""The city pillar's door: plain async functions over the hub's readings and the operations
centre's rules, for the HTTP routes, the web pages, the demo and other pillars (the KPI page
reads `current_aqi_by_district`).

Every function reads the hub through `cityhelix.hub.service` and makes rules and alerts
through `cityhelix.ops.service`; the domain numbers come from each subpackage's data files.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta, tzinfo
from typing import Any

from sqlalchemy import and_, insert, or_, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncEngine

from cityhelix.auth.principal import Principal, Role
from cityhelix.city.air import stations as air_stations
from cityhelix.city.air.index import AqiResult, table
from cityhelix.city.const import KIND_AIR, KIND_CAMERA, KIND_WATER_LEVEL
from cityhelix.city.days import day_start, local_date, zone_of
from cityhelix.city.errors import BadRequest as BadRequest
from cityhelix.city.errors import CityError as CityError  # the web pages catch it
from cityhelix.city.errors import Forbidden, NotFound, Unprocessable
from cityhelix.city.hourly import number
from cityhelix.city.lighting import errors as lighting_errors
from cityhelix.city.lighting import faults as lighting_faults
from cityhelix.city.lighting import schedule as lighting_schedule
from cityhelix.city.lighting import service as lighting
from cityhelix.city.lighting.tables import lighting_schedules
from cityhelix.city.parks import compliance
from cityhelix.city.parks.limits import station_limits
from cityhelix.city.tables import city_rules
from cityhelix.city.traffic import cameras, level
from cityhelix.city.water import gauges
from cityhelix.db.engine import read_connection
from cityhelix.hub import service as hub
from cityhelix.ops import service as ops
from cityhelix.settings import Settings

#: roles that see every park station (a tenant sees its own only)
PARK_STAFF = frozenset({Role.ADMIN, Role.OPERATOR, Role.ANALYST})
#: roles that may make the operations centre's rules from city data
RULE_WRITERS = frozenset({Role.ADMIN, Role.OPERATOR})


def _time(value: datetime | None) -> str | None:
    return None if value is None else value.isoformat().replace("+00:00", "Z")


# ------------------------------------------------------------------------------ air quality


def aqi_json(result: AqiResult) -> dict[str, Any]:
    """An index as the API answers it (the Decision's category, colour and advice)."""
    category = result.category
    return {
        "aqi": result.aqi,
        "category": None if category is None else category.key,
        "category_en": None if category is None else category.name_en,
        "category_vi": None if category is None else category.name_vi,
        "colour": None if category is None else category.colour,
        "advice_en": None if category is None else category.advice_en,
        "advice_vi": None if category is None else category.advice_vi,
        "advice_sensitive_en": None if category is None else category.advice_sensitive_en,
        "advice_sensitive_vi": None if category is None else category.advice_sensitive_vi,
        "dominant": result.dominant,
        "sub_indices": {k: round(v, 2) for k, v in result.sub_indices.items()},
        "inputs": {k: None if v is None else round(v, 3) for k, v in result.inputs.items()},
        "missing": result.missing,
        "source": table().source,
    }


async def _station_streams(engine: AsyncEngine, thing_id: int) -> dict[str, int]:
    if not await hub.things_by_id(engine, [thing_id]):
        raise NotFound(f"thing_id: no Thing {thing_id}", field="thing_id")
    streams = (await air_stations.pollutant_streams(engine, [thing_id]))[thing_id]
    if "PM2.5" not in streams and "PM10" not in streams:
        raise Unprocessable(
            f"thing_id: Thing {thing_id} has no PM2.5 or PM10 Datastream; VN_AQI needs one",
            field="thing_id",
        )
    return streams


async def hourly_aqi(engine: AsyncEngine, thing_id: int, hour: datetime) -> dict[str, Any]:
    """The station's hourly VN_AQI for the UTC hour starting at `hour`."""
    streams = await _station_streams(engine, thing_id)
    result = await air_stations.station_hourly(engine, streams, hour)
    return {"thing_id": thing_id, "hour": _time(hour), **aqi_json(result)}


async def daily_aqi(engine: AsyncEngine, thing_id: int, day: date, zone: tzinfo) -> dict[str, Any]:
    """The station's daily VN_AQI for the province's day `day` (its midnight in `zone`)."""
    streams = await _station_streams(engine, thing_id)
    result = await air_stations.station_daily(engine, streams, day, zone)
    return {"thing_id": thing_id, "date": day.isoformat(), **aqi_json(result)}


async def air_stations_now(engine: AsyncEngine) -> list[dict[str, Any]]:
    """Every air-quality station with its current hourly index, for the map."""
    things = await hub.things_of_kind(engine, KIND_AIR)
    answer = []
    for station in await air_stations.current_indices(engine, things):
        result = station.result
        body = aqi_json(result) if result is not None else {"aqi": None, "colour": None}
        answer.append(
            {
                "thing_id": station.thing_id,
                "name": station.name,
                "district": station.district,
                "lon": station.lon,
                "lat": station.lat,
                "hour": _time(station.hour),
                **body,
            }
        )
    return answer


@dataclass(frozen=True)
class DistrictAqi:
    """A district's current air quality: its worst station's hourly index."""

    district: str
    aqi: int | None
    category: str | None
    colour: str | None
    stations: int
    worst_station_id: int | None
    #: the category's name in the Decision's two languages (None without an index)
    category_en: str | None = None
    category_vi: str | None = None


async def current_aqi_by_district(engine: AsyncEngine) -> dict[str, DistrictAqi]:
    """Each district's current VN_AQI (the highest of its stations' current hourly indices;
    None when no station has one), by district name."""
    things = await hub.things_of_kind(engine, KIND_AIR)
    by_district: dict[str, list[air_stations.StationIndex]] = {}
    for station in await air_stations.current_indices(engine, things):
        by_district.setdefault(station.district, []).append(station)
    answer = {}
    for district, found in sorted(by_district.items()):
        indexed = [s for s in found if s.result is not None and s.result.aqi is not None]
        worst = (
            max(indexed, key=lambda s: (s.result.aqi or 0) if s.result else 0) if indexed else None
        )
        category = None if worst is None or worst.result is None else worst.result.category
        answer[district] = DistrictAqi(
            district,
            None if worst is None or worst.result is None else worst.result.aqi,
            None if category is None else category.key,
            None if category is None else category.colour,
            len(found),
            None if worst is None else worst.thing_id,
            None if category is None else category.name_en,
            None if category is None else category.name_vi,
        )
    return answer


# ------------------------------------------------------------------- rules derived from data


def _writer(principal: Principal) -> None:
    if principal.role not in RULE_WRITERS:
        raise Forbidden(f"role {principal.role.value} may not make rules")


async def _derived_rule(
    engine: AsyncEngine,
    principal: Principal,
    *,
    purpose: str,
    thing_id: int,
    datastream_id: int,
    subject: str,
    body: dict[str, Any],
    min_confidence: float | None = None,
) -> tuple[int, bool]:
    """The ops rule for (purpose, Datastream, subject): the existing one, or one made now
    through the operations centre's service; (rule id, made now)."""
    query = select(city_rules.c.rule_id).where(
        city_rules.c.purpose == purpose,
        city_rules.c.datastream_id == datastream_id,
        city_rules.c.subject == subject,
    )
    async with engine.connect() as connection:
        existing = (await connection.execute(query)).scalar_one_or_none()
    if existing is not None:
        return int(existing), False
    try:
        rule_id = await ops.create_rule(engine, body, principal)
    except ops.OpsError as error:
        raise BadRequest(error.message, field=error.field) from None
    try:
        async with engine.begin() as connection:
            await connection.execute(
                insert(city_rules).values(
                    purpose=purpose,
                    thing_id=thing_id,
                    datastream_id=datastream_id,
                    subject=subject,
                    rule_id=rule_id,
                    min_confidence=min_confidence,
                    details=body,
                    created_at=datetime.now(UTC),
                )
            )
    except IntegrityError:  # made at the same moment by another request: use that one
        async with engine.connect() as connection:
            return int((await connection.execute(query)).scalar_one()), False
    return rule_id, True


# --------------------------------------------------------------------------------- traffic


def _segment_json(segment: level.SegmentLevel) -> dict[str, Any]:
    found = segment.level
    return {
        "thing_id": segment.thing_id,
        "name": segment.name,
        "segment": segment.segment,
        "district": segment.district,
        "lon": segment.lon,
        "lat": segment.lat,
        "time": _time(segment.at),
        "volume_vph": None if segment.volume_vph is None else round(segment.volume_vph, 1),
        "speed_kmh": None if segment.speed_kmh is None else round(segment.speed_kmh, 1),
        "level": None if found is None else found.key,
        "hcm": None if found is None else found.hcm,
        "colour": None if found is None else found.colour,
    }


async def traffic_levels(engine: AsyncEngine, thing_id: int | None = None) -> list[dict[str, Any]]:
    """Every counter's road segment (or one) with its level of service now."""
    things = None
    if thing_id is not None:
        things = await hub.things_by_id(engine, [thing_id])
        if not things:
            raise NotFound(f"thing_id: no Thing {thing_id}", field="thing_id")
    return [_segment_json(s) for s in await level.segment_levels(engine, things)]


async def add_traffic_rule(
    engine: AsyncEngine, principal: Principal, thing_id: int, level_key: str
) -> dict[str, Any]:
    """The ops rule "segment at `level_key` or worse": the counter's speed at or below that
    level's share of the segment's free-flow speed (the data file's boundary), held 5 minutes."""
    _writer(principal)
    levels = {found.key: found for found in level.levels()}
    if (
        level_key not in levels
        or levels[level_key].min_speed_ratio == level.levels()[0].min_speed_ratio
    ):
        worse = [k for k in levels if k != level.levels()[0].key]
        raise BadRequest(f"level: expected one of {', '.join(worse)}", field="level")
    found = await hub.things_by_id(engine, [thing_id])
    if not found:
        raise NotFound(f"thing_id: no Thing {thing_id}", field="thing_id")
    speed = await level.speed_stream(engine, thing_id)
    if speed is None:
        raise Unprocessable(f"thing_id: Thing {thing_id} has no speed Datastream", field="thing_id")
    keys = list(levels)
    # "congested or worse" begins where the level above it ends
    boundary = levels[keys[keys.index(level_key) - 1]].min_speed_ratio
    free_flow = level.free_flow_speed(found[0])
    body = {
        "name": f"{found[0].name}: {level_key} or worse",
        "kind": "threshold",
        "datastream_ids": [speed],
        "operator": "le",
        "value": round(free_flow * boundary, 3),
        "for_seconds": 300,
        "severity": "critical" if level_key == keys[-1] else "warning",
        "cap_category": "Transport",
    }
    rule_id, new = await _derived_rule(
        engine, principal, purpose="traffic_level", thing_id=thing_id,
        datastream_id=speed, subject=level_key, body=body,
    )  # fmt: skip
    return {"rule_id": rule_id, "created": new, "speed_kmh_at_most": body["value"]}


async def camera_events(
    engine: AsyncEngine, thing_id: int, start: datetime, end: datetime
) -> list[dict[str, Any]]:
    """A camera's analytics events in [start, end), oldest first."""
    _period(start, end)
    return await cameras.events_between(engine, thing_id, start, end)


async def camera_events_per_hour(
    engine: AsyncEngine, thing_id: int, start: datetime, end: datetime
) -> list[dict[str, Any]]:
    """A camera's events counted per hour and kind (vehicles per class)."""
    return cameras.hourly_counts(await camera_events(engine, thing_id, start, end))


async def watch_camera(
    engine: AsyncEngine,
    principal: Principal,
    thing_id: int,
    events: list[str] | None,
    min_confidence: float | None,
    severity: str | None,
) -> list[dict[str, Any]]:
    """Make the camera's events of the kinds `events` (default: every alerting kind) raise
    alerts: one ops threshold rule per event Datastream, judged by the city's consumer."""
    _writer(principal)
    kinds = cameras.event_kinds()
    chosen = events if events is not None else [k for k, v in kinds.items() if v.alerting]
    unknown = [e for e in chosen if e not in kinds]
    if unknown or not chosen:
        raise BadRequest(f"events: expected kinds among {', '.join(kinds)}", field="events")
    confidence = (
        float(cameras.data()["default_min_confidence"])
        if min_confidence is None
        else min_confidence
    )
    if not 0 <= confidence <= 1:
        raise BadRequest("min_confidence: expected 0 to 1", field="min_confidence")
    worst = max(
        (kinds[e] for e in chosen), key=lambda k: ("info", "warning", "critical").index(k.severity)
    )
    streams = await cameras.event_streams(engine, thing_id)
    if not streams:
        raise Unprocessable(f"thing_id: Thing {thing_id} has no event Datastream", field="thing_id")
    subject = ",".join(sorted(chosen))
    made = []
    for datastream_id in streams:
        body = {
            "name": f"Camera {thing_id}: {', '.join(kinds[e].name_en for e in sorted(chosen))}",
            "kind": "threshold",
            "datastream_ids": [datastream_id],
            "operator": "gt",
            "value": 0.5,
            "severity": severity or worst.severity,
            "cap_category": worst.cap_category,
        }
        rule_id, new = await _derived_rule(
            engine,
            principal,
            purpose="camera_events",
            thing_id=thing_id,
            datastream_id=datastream_id,
            subject=subject,
            body=body,
            min_confidence=confidence,
        )
        made.append(
            {
                "datastream_id": datastream_id,
                "rule_id": rule_id,
                "created": new,
                "events": sorted(chosen),
            }
        )
    return made


#: the rules the camera and park consumer judges a Datastream's readings by: its camera
#: rules and its park limits on a ratio (subject `...:ratio`)
_CAMERA_RULES = city_rules.c.purpose == "camera_events"
_PARK_RATIO_RULES = and_(city_rules.c.purpose == "park_limit", city_rules.c.subject.like("%:ratio"))


async def judged_datastreams(engine: AsyncEngine, datastream_ids: set[int]) -> set[int]:
    """Those of `datastream_ids` whose readings the camera and park consumer judges (a camera
    rule or a park limit on them): one query, so that a bulk write on other Datastreams
    costs the consumer nothing more."""
    if not datastream_ids:
        return set()
    async with read_connection(engine) as connection:  # one round trip: after every commit
        found = await connection.execute(
            select(city_rules.c.datastream_id)
            .where(
                city_rules.c.datastream_id.in_(sorted(datastream_ids)),
                or_(_CAMERA_RULES, _PARK_RATIO_RULES),
            )
            .distinct()
        )
        return {int(datastream_id) for (datastream_id,) in found}


async def camera_rules_of(engine: AsyncEngine, datastream_ids: set[int]) -> dict[int, list[Any]]:
    """The camera rules on each of `datastream_ids` (one query for a batch of readings)."""
    if not datastream_ids:
        return {}
    async with engine.connect() as connection:
        rows = (
            await connection.execute(
                select(city_rules).where(
                    _CAMERA_RULES, city_rules.c.datastream_id.in_(sorted(datastream_ids))
                )
            )
        ).all()
    found: dict[int, list[Any]] = {}
    for row in rows:
        found.setdefault(int(row.datastream_id), []).append(row)
    return found


async def judge_camera_readings(
    engine: AsyncEngine, settings: Settings, readings: list[tuple[int, dict[str, Any]]]
) -> int:
    """Judge a batch of committed readings (Observation id, event payload) for the camera
    rules on their Datastreams (the consumer's step); how many alert changes it made."""
    streams = {p["datastream_id"] for _, p in readings if isinstance(p.get("datastream_id"), int)}
    rules = await camera_rules_of(engine, streams)
    changes = 0
    for observation_id, payload in readings:
        key = payload.get("datastream_id")
        found = rules.get(key) if isinstance(key, int) else None
        if found:
            changes += await judge_camera_reading(engine, settings, observation_id, payload, found)
    return changes


async def judge_camera_reading(
    engine: AsyncEngine,
    settings: Settings,
    observation_id: int,
    payload: dict[str, Any],
    rows: list[Any],
) -> int:
    """Judge one committed reading for the camera rules `rows` on its Datastream."""
    datastream_id = payload.get("datastream_id")
    if not isinstance(datastream_id, int) or not rows:
        return 0
    try:
        document = await hub.read_document(
            engine, f"/Observations({observation_id})", {"$select": "parameters"}, max_rows=1
        )
    except hub.HubError:
        return 0  # deleted since
    parameters = document.get("parameters")
    parameters = parameters if isinstance(parameters, dict) else {}
    phenomenon = str(payload.get("phenomenonTime", "")).split("/")[0]
    time = datetime.fromisoformat(phenomenon.replace("Z", "+00:00")).astimezone(UTC)
    thing_id = payload.get("thing_id")
    changes = 0
    for row in rows:
        value = cameras.alert_value(
            payload.get("result"),
            parameters,
            set(row.subject.split(",")),
            row.min_confidence if row.min_confidence is not None else 0.0,
        )
        changes += await ops.evaluate_reading(
            engine,
            settings,
            int(row.rule_id),
            datastream_id=datastream_id,
            thing_id=thing_id if isinstance(thing_id, int) else None,
            observation_id=observation_id,
            time=time,
            value=value,
        )
    return changes


# ----------------------------------------------------------------------------------- water


async def water_gauges(engine: AsyncEngine) -> list[dict[str, Any]]:
    """Every water-level gauge with alert levels on record, with its state now."""
    answer = []
    for thing in await hub.things_of_kind(engine, KIND_WATER_LEVEL):
        try:
            answer.append(await gauges.gauge_status(engine, thing.id))
        except Unprocessable:
            continue  # no alert levels on record: not a flood gauge yet
    return answer


async def water_gauge(engine: AsyncEngine, thing_id: int) -> dict[str, Any]:
    """A gauge's level against its alert levels, rising rate and time to the next level."""
    return await gauges.gauge_status(engine, thing_id)


async def add_level_rule(
    engine: AsyncEngine, principal: Principal, thing_id: int, alert_level: str
) -> dict[str, Any]:
    """The ops rule "level above `alert_level`" (I, II or III) on the gauge's level."""
    _writer(principal)
    if alert_level not in gauges.LEVEL_NAMES:
        raise BadRequest("level: expected I, II or III", field="level")
    streams = await gauges.gauge_streams(engine, thing_id)
    levels = gauges.alert_levels(streams.thing)
    if streams.level is None:
        raise Unprocessable(
            f"thing_id: Thing {thing_id} has no water-level Datastream", field="thing_id"
        )
    scale = gauges.TO_METRES.get(streams.level.unit_symbol, 1.0)
    value = levels[alert_level] / scale  # in the Datastream's own unit
    body = {
        "name": f"{streams.thing.name}: level above alert level {alert_level}",
        "kind": "threshold",
        "datastream_ids": [streams.level.id],
        "operator": "gt",
        "value": round(value, 6),
        "severity": "critical" if alert_level == "III" else "warning",
        "cap_category": "Met",
    }
    rule_id, new = await _derived_rule(
        engine,
        principal,
        purpose="water_level",
        thing_id=thing_id,
        datastream_id=streams.level.id,
        subject=alert_level,
        body=body,
    )
    return {"rule_id": rule_id, "created": new, "value": body["value"], "level": alert_level}


async def add_rise_rule(
    engine: AsyncEngine,
    principal: Principal,
    thing_id: int,
    rise_cm_per_h: float,
    rain_mm_per_h: float,
    rain_thing_id: int | None,
) -> dict[str, Any]:
    """The ops rule "rising faster than X cm/h while rain over Y mm/h": a rate rule on the
    level, a threshold rule on the rain intensity, and a composite AND of the two."""
    _writer(principal)
    if not 0 < rise_cm_per_h <= 1000:
        raise BadRequest("rise_cm_per_h: expected more than 0, at most 1000", field="rise_cm_per_h")
    if not 0 <= rain_mm_per_h <= 1000:
        raise BadRequest("rain_mm_per_h: expected 0 to 1000", field="rain_mm_per_h")
    streams = await gauges.gauge_streams(engine, thing_id)
    if streams.level is None:
        raise Unprocessable(
            f"thing_id: Thing {thing_id} has no water-level Datastream", field="thing_id"
        )
    rain = streams.rain
    if rain_thing_id is not None:
        rain = (await gauges.gauge_streams(engine, rain_thing_id)).rain
    if rain is None:
        raise Unprocessable(
            "rain_thing_id: no rain Datastream on the gauge or the rain gauge",
            field="rain_thing_id",
        )
    scale = gauges.TO_METRES.get(streams.level.unit_symbol, 1.0)
    per_minute = rise_cm_per_h / 100 / scale / 60  # the rate rule's unit: per minute
    name = streams.thing.name
    subject = f"{rise_cm_per_h:g}cm/h|{rain_mm_per_h:g}mm/h|{rain.id}"
    rate_id, _ = await _derived_rule(
        engine, principal, purpose="water_rise", thing_id=thing_id, datastream_id=streams.level.id,
        subject=subject,
        body={"name": f"{name}: rising faster than {rise_cm_per_h:g} cm/h", "kind": "rate",
              "datastream_ids": [streams.level.id], "operator": "gt", "value": per_minute,
              "severity": "warning", "cap_category": "Met"},
    )  # fmt: skip
    rain_id, _ = await _derived_rule(
        engine, principal, purpose="water_rain", thing_id=thing_id, datastream_id=rain.id,
        subject=subject,
        body={"name": f"{name}: rain over {rain_mm_per_h:g} mm/h", "kind": "threshold",
              "datastream_ids": [rain.id], "operator": "gt", "value": rain_mm_per_h,
              "severity": "info", "cap_category": "Met"},
    )  # fmt: skip
    flood_id, new = await _derived_rule(
        engine, principal, purpose="water_flood", thing_id=thing_id, datastream_id=streams.level.id,
        subject=subject,
        body={"name": f"{name}: rising faster than {rise_cm_per_h:g} cm/h while rain over "
              f"{rain_mm_per_h:g} mm/h", "kind": "composite", "combine": "and",
              "rule_ids": [rate_id, rain_id], "severity": "critical", "cap_category": "Met"},
    )  # fmt: skip
    return {"rule_id": flood_id, "created": new, "rate_rule_id": rate_id, "rain_rule_id": rain_id}


# ----------------------------------------------------------------------------------- parks


def _period(start: datetime, end: datetime) -> None:
    if end <= start:
        raise BadRequest("to: must be after from", field="to")
    if end - start > timedelta(days=366):
        raise BadRequest("to: at most 366 days after from", field="to")


async def _visible_station(
    engine: AsyncEngine, principal: Principal, thing_id: int
) -> hub.ThingSummary:
    found = await hub.things_by_id(engine, [thing_id])
    if not found or found[0].properties.get("kind") not in compliance.STATION_KINDS:
        raise NotFound(f"thing_id: no park monitoring station {thing_id}", field="thing_id")
    thing = found[0]
    if principal.role in PARK_STAFF:
        return thing
    if (
        principal.is_tenant
        and principal.user_id is not None
        and thing.owner_id == principal.user_id
    ):
        return thing
    raise Forbidden(f"thing_id: station {thing_id} is not yours to see")


async def park_station(
    engine: AsyncEngine,
    principal: Principal,
    thing_id: int,
    start: datetime,
    end: datetime,
    zone: tzinfo,
) -> dict[str, Any]:
    """A station's limits, latest values and exceedances per the province's month (`zone`)
    (a tenant: its own stations only)."""
    _period(start, end)
    thing = await _visible_station(engine, principal, thing_id)
    check = await compliance.check_station(engine, thing, start, end, zone)
    body = compliance.station_json(check)
    body["resources"] = await compliance.resource_use(engine, thing, start, end)
    return body


async def park_stations_of(engine: AsyncEngine, principal: Principal) -> list[dict[str, Any]]:
    """The stations the caller may see (staff: all; a tenant: its own), without readings."""
    if principal.role not in PARK_STAFF and not principal.is_tenant:
        raise Forbidden(f"role {principal.role.value} may not see park stations")
    things = await compliance.park_stations(engine)
    if principal.is_tenant:
        things = [t for t in things if t.owner_id is not None and t.owner_id == principal.user_id]
    return [
        {
            "thing_id": t.id,
            "name": t.name,
            "kind": t.properties.get("kind"),
            "park": t.properties.get("park"),
            "tenant": compliance.tenant_of(t),
        }
        for t in things
    ]


async def park_overview(
    engine: AsyncEngine,
    principal: Principal,
    park: str,
    start: datetime,
    end: datetime,
    zone: tzinfo,
) -> dict[str, Any]:
    """The park operator's view: compliance rate, exceedances per tenant and month, tenants'
    water and energy per unit of output, and the EIP indicators these data allow."""
    if principal.role not in PARK_STAFF:
        raise Forbidden(f"role {principal.role.value} may not see a park's overview")
    _period(start, end)
    things = await compliance.park_stations(engine, park)
    if not things:
        raise NotFound(f"park: no monitoring stations in park {park!r}", field="park")
    checks = [await compliance.check_station(engine, t, start, end, zone) for t in things]
    checked = sum(c.checked for c in checks)
    exceeded = sum(sum(c.exceedances.values()) for c in checks)
    tenants = [t for t in things if t.properties.get("tenant")]
    monitored = {
        compliance.tenant_of(c.thing)
        for c in checks
        if c.limits and c.thing.properties.get("tenant")
    }
    names = {compliance.tenant_of(t) for t in tenants}
    uses = {
        compliance.tenant_of(t): await compliance.resource_use(engine, t, start, end)
        for t in tenants
    }
    water = [u["water_per_output"] for u in uses.values() if u["water_per_output"] is not None]
    energy = [u["energy_per_output"] for u in uses.values() if u["energy_per_output"] is not None]
    rate = None if checked == 0 else round(100 * (checked - exceeded) / checked, 2)
    values = {
        "wastewater_compliance_rate": rate,
        "tenants_monitored_share": None
        if not names
        else round(100 * len(monitored & names) / len(names), 2),
        "water_per_output": None if not water else round(sum(water) / len(water), 4),
        "energy_per_output": None if not energy else round(sum(energy) / len(energy), 4),
    }
    return {
        "park": park,
        "from": _time(start),
        "to": _time(end),
        "readings_checked": checked,
        "exceedances": exceeded,
        "compliance_rate": rate,
        "exceedances_by_tenant": compliance.exceedances_by_tenant(checks),
        "tenants": {name: uses[name] for name in sorted(uses)},
        "eip_indicators": [
            {**row, "value": values.get(row["key"])}
            for row in compliance.indicators()["indicators"]
        ],
        "eip_source": compliance.indicators()["source"],
    }


async def watch_park_station(
    engine: AsyncEngine, principal: Principal, thing_id: int
) -> list[dict[str, Any]]:
    """Make every limited parameter of a station raise alerts through the operations centre
    above the limit in force at each reading's time (QCVN 40:2011 or 2025 by date and permit).

    The rule is judged by the city's consumer, not live: its number is the reading divided
    by the limit of the reading's time (above 1 raises; for a range, as pH, the nearer bound's
    ratio), as a limit that changes with the edition cannot be one fixed threshold."""
    _writer(principal)
    thing = await _visible_station(engine, principal, thing_id)
    facts = await hub.datastreams_of_things(engine, [thing_id])
    limits = station_limits(thing, facts)
    if not limits:
        raise Unprocessable(
            f"thing_id: station {thing_id} has no parameter a regulation limits", field="thing_id"
        )
    made = []
    for datastream_id, limit in sorted(limits.items()):
        body: dict[str, Any] = {
            "name": f"{thing.name}: {limit.parameter} beyond its limit (reading ÷ limit in force)",
            "datastream_ids": [datastream_id],
            "severity": "warning",
            "cap_category": "Env",
            "kind": "threshold",
            "operator": "gt",
            "value": 1,
            "enabled": False,
        }
        rule_id, new = await _derived_rule(
            engine, principal, purpose="park_limit", thing_id=thing_id,
            datastream_id=datastream_id, subject=f"{limit.parameter}:ratio", body=body,
        )  # fmt: skip
        made.append({"datastream_id": datastream_id, "parameter": limit.parameter,
                     "limit": limit.as_json(), "rule_id": rule_id, "created": new})  # fmt: skip
    return made


async def judge_park_readings(
    engine: AsyncEngine, settings: Settings, readings: list[tuple[int, dict[str, Any]]]
) -> int:
    """Judge a batch of committed readings (Observation id, event payload) of park stations
    against the limit in force at each reading's time (the consumer's step); how many alert
    changes it made."""
    streams = {p["datastream_id"] for _, p in readings if isinstance(p.get("datastream_id"), int)}
    if not streams:
        return 0
    async with engine.connect() as connection:
        rows = (
            await connection.execute(
                select(city_rules).where(
                    _PARK_RATIO_RULES, city_rules.c.datastream_id.in_(sorted(streams))
                )
            )
        ).all()
    if not rows:
        return 0
    zone = zone_of(settings)
    rule_of = {int(r.datastream_id): int(r.rule_id) for r in rows}
    things = {
        t.id: t for t in await hub.things_by_id(engine, sorted({int(r.thing_id) for r in rows}))
    }
    thing_of = {int(r.datastream_id): things.get(int(r.thing_id)) for r in rows}
    facts = {thing_id: await hub.datastreams_of_things(engine, [thing_id]) for thing_id in things}
    changes = 0
    for observation_id, payload in readings:
        datastream_id = payload.get("datastream_id")
        if not isinstance(datastream_id, int) or datastream_id not in rule_of:
            continue
        thing = thing_of.get(datastream_id)
        value = number(payload.get("result"))
        if thing is None or value is None:
            continue
        phenomenon = str(payload.get("phenomenonTime", "")).split("/")[0]
        time = datetime.fromisoformat(phenomenon.replace("Z", "+00:00")).astimezone(UTC)
        try:
            limit = station_limits(thing, facts[thing.id], time, zone).get(datastream_id)
        except Unprocessable:
            continue  # the station's properties no longer name a valid column or edition
        if limit is None:
            continue
        changes += await ops.evaluate_reading(
            engine,
            settings,
            rule_of[datastream_id],
            datastream_id=datastream_id,
            thing_id=thing.id,
            observation_id=observation_id,
            time=time,
            value=round(limit.ratio(value), 6),
        )
    return changes


async def park_alerts(
    engine: AsyncEngine, principal: Principal, park: str | None
) -> list[dict[str, Any]]:
    """The alerts of the park-limit rules (for the parks the caller may see), newest first,
    each with its station's tenant."""
    things = {t.id: t for t in await compliance.park_stations(engine, park)}
    if principal.is_tenant:
        things = {i: t for i, t in things.items() if t.owner_id == principal.user_id}
    elif principal.role not in PARK_STAFF:
        raise Forbidden(f"role {principal.role.value} may not see park alerts")
    async with engine.connect() as connection:
        rows = (
            await connection.execute(
                select(city_rules.c.rule_id, city_rules.c.thing_id).where(
                    city_rules.c.purpose == "park_limit", city_rules.c.thing_id.in_(list(things))
                )
            )
        ).all()
    tenant_of_rule = {int(r.rule_id): compliance.tenant_of(things[int(r.thing_id)]) for r in rows}
    alerts = await ops.alerts_of_rules(engine, list(tenant_of_rule))
    return [{**a, "tenant": tenant_of_rule.get(int(a["rule_id"]))} for a in alerts]


def as_number(value: object, field: str) -> float:
    """A body member that must be a number (BadRequest names it otherwise)."""
    found = number(value)
    if found is None:
        raise BadRequest(f"{field}: expected a number", field=field)
    return found


def aqi_categories() -> list[dict[str, Any]]:
    """The Decision's categories (range, names, colour, advice) for legends."""
    return [
        {
            "key": c.key,
            "low": c.low,
            "high": c.high,
            "name_en": c.name_en,
            "name_vi": c.name_vi,
            "colour": c.colour,
            "advice_en": c.advice_en,
            "advice_vi": c.advice_vi,
        }
        for c in table().categories
    ]


def aqi_source() -> str:
    """The legal source of the index's numbers."""
    return table().source


# ------------------------------------------------------------------ reads for the web pages


async def water_level_day(engine: AsyncEngine, thing_id: int, end: datetime) -> dict[str, Any]:
    """A gauge's level over the 24 hours before `end` as minute means in metres (the hub's
    rollups), with its alert levels: the water page's chart."""
    streams = await gauges.gauge_streams(engine, thing_id)
    levels = gauges.alert_levels(streams.thing)
    if streams.level is None:
        raise Unprocessable(
            f"thing_id: Thing {thing_id} has no water-level Datastream", field="thing_id"
        )
    scale = gauges.TO_METRES.get(streams.level.unit_symbol, 1.0)
    buckets = await hub.minute_buckets(engine, streams.level.id, end - timedelta(hours=24), end)
    return {
        "thing_id": thing_id,
        "unit": "m",
        "alert_levels_m": levels,
        "points": [[_time(b.start), round(b.mean * scale, 4)] for b in buckets],
    }


async def traffic_cameras(engine: AsyncEngine) -> list[dict[str, Any]]:
    """Every camera Thing (`properties.kind` camera) with its district, by id."""
    return [
        {
            "thing_id": thing.id,
            "name": thing.name,
            "district": thing.properties.get("district"),
            "site": thing.properties.get("site") or thing.properties.get("road"),
        }
        for thing in await hub.things_of_kind(engine, KIND_CAMERA)
    ]


def _lighting_error(error: lighting_errors.LightingError) -> CityError:
    kinds: dict[int, type[CityError]] = {403: Forbidden, 404: NotFound, 422: Unprocessable}
    return kinds.get(error.status, BadRequest)(error.message, field=error.field)


async def lighting_schedules_now(engine: AsyncEngine, now: datetime) -> list[dict[str, Any]]:
    """Every lighting schedule as the API lists it, with the lamps of its group and its next
    switching after `now` (the earliest among its lamps, each at its own dusk and dawn)."""
    async with engine.connect() as connection:
        rows = (
            await connection.execute(select(lighting_schedules).order_by(lighting_schedules.c.id))
        ).all()
    if not rows:
        return []
    every = await lighting.lamps(engine)
    listed = {s["id"]: s for s in await lighting.list_schedules(engine)}
    answer = []
    for row in rows:
        plan = lighting_schedule.schedule_of(row)
        members = [
            lamp
            for lamp in every
            if lamp.capability_id is not None and lamp.group(plan.group_kind) == plan.group_value
        ]
        today = now.astimezone(plan.timezone).date()
        upcoming = [
            switching
            for lamp in members
            for day in (today - timedelta(days=1), today, today + timedelta(days=1))
            for switching in lighting_schedule.night_plan(plan, lamp.lat, lamp.lon, day)
            if switching.due_at > now
        ]
        first = min(upcoming, key=lambda s: s.due_at, default=None)
        answer.append(
            listed[plan.id]
            | {
                "lamps": len(members),
                "next_switching": None
                if first is None
                else {"due_at": _time(first.due_at), "level": first.level},
            }
        )
    return answer


async def lighting_open_faults(engine: AsyncEngine) -> list[dict[str, Any]]:
    """The lighting fault alerts still open (active or acknowledged), newest first, each with
    its lamp's name and district and the fault's label from the criteria file."""
    alerts = [
        a for a in await lighting.fault_alerts(engine) if a["state"] in ("active", "acknowledged")
    ]
    lamps = {lamp.thing_id: lamp for lamp in await lighting.lamps(engine)} if alerts else {}
    labels = lighting_faults.criteria()
    answer = []
    for alert in alerts:
        lamp = lamps.get(alert["thing_id"]) if alert["thing_id"] is not None else None
        fault = alert.get("fault")
        answer.append(
            alert
            | {
                "label": labels.get(str(fault), {}).get("label"),
                "lamp_name": None if lamp is None else lamp.name,
                "lamp_kind": None if lamp is None else lamp.kind,
                "district": None if lamp is None else lamp.district,
            }
        )
    return answer


async def lighting_energy(
    engine: AsyncEngine, start: datetime, end: datetime, zone: tzinfo, group: str = "district"
) -> dict[str, Any]:
    """kWh per group (district by default) in [start, end) and the savings against full power,
    as `GET /api/city/lighting/energy` answers (BadRequest naming the field otherwise)."""
    try:
        return await lighting.energy(engine, start, end, group, zone)
    except lighting_errors.LightingError as error:
        raise _lighting_error(error) from None


def province_zone(settings: Settings) -> tzinfo:
    """The province's time zone (its days and months are the ones the figures count in)."""
    return zone_of(settings)


def province_days(
    settings: Settings,
    first: date | None,
    last: date | None,
    now: datetime,
    default_days: int,
    max_days: int = 366,
) -> tuple[date, date, datetime, datetime]:
    """The province's days `first` to `last`, both included (default: the `default_days`
    days up to today), and the UTC instants [start, end) they span; BadRequest naming `to`
    when they are reversed or more than `max_days` days."""
    zone = zone_of(settings)
    last = last or local_date(now, zone)
    first = first or last - timedelta(days=default_days - 1)
    if last < first:
        raise BadRequest("to: must not be before from", field="to")
    if (last - first).days + 1 > max_days:
        raise BadRequest(f"to: at most {max_days} days after from", field="to")
    return first, last, day_start(first, zone), day_start(last + timedelta(days=1), zone)
