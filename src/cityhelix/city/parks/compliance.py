"""A park's compliance from its stations' readings: each reading of a limited parameter
against its limit, exceedances counted per tenant and month, the park's compliance rate,
tenants' water and energy per unit of output, and the eco-industrial-park indicators that
these data allow (`eip_indicators.json`)."""

from __future__ import annotations

import functools
import json
from collections import Counter
from dataclasses import dataclass
from datetime import datetime, timedelta, tzinfo
from pathlib import Path
from typing import Any

from sqlalchemy.ext.asyncio import AsyncEngine

from cityhelix.city.const import KIND_PARK_OUTLET, KIND_PARK_STACK, KIND_PARK_TENANT
from cityhelix.city.days import local_month
from cityhelix.city.hourly import number
from cityhelix.city.parks.limits import Limit, edition_key, station_limits
from cityhelix.city.recognition import is_one_of
from cityhelix.hub import service as hub

INDICATORS_FILE = Path(__file__).with_name("eip_indicators.json")
STATION_KINDS = (KIND_PARK_OUTLET, KIND_PARK_TENANT, KIND_PARK_STACK)
WATER_NAMES = ("waterconsumption", "wateruse", "waterintake")
ENERGY_NAMES = ("energyconsumption", "electricityconsumption", "energyuse", "electricity")


@functools.cache
def indicators() -> dict[str, Any]:
    raw: dict[str, Any] = json.loads(INDICATORS_FILE.read_text(encoding="utf-8"))
    return raw


async def park_stations(engine: AsyncEngine, park: str | None = None) -> list[hub.ThingSummary]:
    """The monitoring Things of every park (or of `park`), by id."""
    found: list[hub.ThingSummary] = []
    for kind in STATION_KINDS:
        found.extend(await hub.things_of_kind(engine, kind))
    if park is not None:
        found = [t for t in found if t.properties.get("park") == park]
    return sorted(found, key=lambda t: t.id)


def tenant_of(thing: hub.ThingSummary) -> str:
    """The tenant a station belongs to (the park's own outlet is the park operator's)."""
    tenant = thing.properties.get("tenant")
    return str(tenant) if tenant else f"{thing.properties.get('park', '')} (operator)"


@dataclass(frozen=True)
class StationCheck:
    """A station's readings of limited parameters over a period, judged."""

    thing: hub.ThingSummary
    limits: dict[int, Limit]
    checked: int
    #: (month "YYYY-MM", parameter) -> exceedances
    exceedances: Counter[tuple[str, str]]
    latest: dict[int, hub.Reading]


async def check_station(
    engine: AsyncEngine, thing: hub.ThingSummary, start: datetime, end: datetime, zone: tzinfo
) -> StationCheck:
    """The station's readings of start <= time < end judged by the limits of their time,
    exceedances counted per the province's month (`zone`)."""
    facts = await hub.datastreams_of_things(engine, [thing.id])
    # the limits in force at the period's end; each reading is judged by those of its time
    limits = station_limits(thing, facts, end - timedelta(microseconds=1), zone)
    by_edition: dict[str, dict[int, Limit]] = {}
    checked = 0
    exceedances: Counter[tuple[str, str]] = Counter()
    for datastream_id in limits:
        for reading in await hub.readings_between(engine, datastream_id, start, end):
            value = number(reading.result)
            if value is None:
                continue
            key = edition_key(thing, reading.phenomenon_time, zone)
            if key not in by_edition:
                by_edition[key] = station_limits(thing, facts, reading.phenomenon_time, zone)
            limit = by_edition[key].get(datastream_id)
            if limit is None:
                continue
            checked += 1
            if limit.exceeded(value):
                month = local_month(reading.phenomenon_time, zone)
                exceedances[(month, limit.parameter)] += 1
    latest = await hub.latest_readings(engine, list(limits))
    return StationCheck(thing, limits, checked, exceedances, latest)


def station_json(check: StationCheck) -> dict[str, Any]:
    """A station with its limits, latest values and exceedances in the period."""
    parameters = []
    for datastream_id, limit in sorted(check.limits.items()):
        reading = check.latest.get(datastream_id)
        value = None if reading is None else number(reading.result)
        parameters.append(
            {
                "datastream_id": datastream_id,
                **limit.as_json(),
                "latest": value,
                "time": None if reading is None else hub.reading_time(reading),
                "exceeded": None if value is None else limit.exceeded(value),
            }
        )
    by_month: dict[str, dict[str, int]] = {}
    for (month, parameter), count in sorted(check.exceedances.items()):
        by_month.setdefault(month, {})[parameter] = count
    return {
        "thing_id": check.thing.id,
        "name": check.thing.name,
        "kind": check.thing.properties.get("kind"),
        "park": check.thing.properties.get("park"),
        "tenant": tenant_of(check.thing),
        "readings_checked": check.checked,
        "exceedances": sum(check.exceedances.values()),
        "exceedances_by_month": by_month,
        "parameters": parameters,
    }


async def _total(engine: AsyncEngine, datastream_id: int, start: datetime, end: datetime) -> float:
    return sum(
        v
        for r in await hub.readings_between(engine, datastream_id, start, end)
        if (v := number(r.result)) is not None
    )


async def resource_use(
    engine: AsyncEngine, thing: hub.ThingSummary, start: datetime, end: datetime
) -> dict[str, Any]:
    """A tenant's water (m³) and energy (kWh) in the period, and per unit of its output
    (`properties.output_per_month` times the months of the period)."""
    facts = await hub.datastreams_of_things(engine, [thing.id])
    water_id = next((f.id for f in facts if is_one_of(f, WATER_NAMES)), None)
    energy_id = next((f.id for f in facts if is_one_of(f, ENERGY_NAMES)), None)
    water = None if water_id is None else await _total(engine, water_id, start, end)
    energy = None if energy_id is None else await _total(engine, energy_id, start, end)
    monthly = number(thing.properties.get("output_per_month"))
    months = (end - start).total_seconds() / (30.44 * 86400)
    output = None if monthly is None or monthly <= 0 else monthly * months
    return {
        "water_m3": water,
        "energy_kwh": energy,
        "output": None if output is None else round(output, 3),
        "output_unit": thing.properties.get("output_unit"),
        "water_per_output": None if water is None or not output else round(water / output, 4),
        "energy_per_output": None if energy is None or not output else round(energy / output, 4),
    }


def exceedances_by_tenant(checks: list[StationCheck]) -> dict[str, dict[str, int]]:
    """Exceedances per tenant and month ("YYYY-MM"), all parameters together."""
    table: dict[str, Counter[str]] = {}
    for check in checks:
        counts = table.setdefault(tenant_of(check.thing), Counter())
        for (month, _), count in check.exceedances.items():
            counts[month] += count
    return {tenant: dict(sorted(counts.items())) for tenant, counts in sorted(table.items())}
