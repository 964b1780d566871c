"""The open-data catalogue: the datasets the platform publishes, as a DCAT-AP catalogue in
JSON-LD, each downloadable as CSV, GeoJSON and Parquet with its licence, update frequency
and last update; the SensorThings API is listed as the live interface (a DataService).

Datasets are data (`DATASETS`); each names the function that yields its rows. People and
other personal data are never in a published dataset.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import orjson
import pyarrow as pa
import pyarrow.parquet as pq
from shapely.geometry import box
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncEngine

from cityhelix.db.engine import read_connection
from cityhelix.helix import registry
from cityhelix.helix.errors import NotFound
from cityhelix.helix.tables import helix_actors, helix_collaborations
from cityhelix.hub import service as hub

#: EU vocabularies: DCAT-AP's controlled values for frequency, format and licence
FREQUENCY = "http://publications.europa.eu/resource/authority/frequency/"
FILE_TYPE = "http://publications.europa.eu/resource/authority/file-type/"
MEDIA_TYPE = "https://www.iana.org/assignments/media-types/"
CC_BY_4 = "https://creativecommons.org/licenses/by/4.0/"
MAX_ROWS = 100_000

CONTEXT = {
    "dcat": "http://www.w3.org/ns/dcat#",
    "dct": "http://purl.org/dc/terms/",
    "foaf": "http://xmlns.com/foaf/0.1/",
    "xsd": "http://www.w3.org/2001/XMLSchema#",
    "vcard": "http://www.w3.org/2006/vcard/ns#",
}

#: format name -> (media type, EU file-type code)
FORMATS = {
    "csv": ("text/csv", "CSV"),
    "geojson": ("application/geo+json", "GEOJSON"),
    "parquet": ("application/vnd.apache.parquet", "PARQUET"),
}


@dataclass(frozen=True)
class Rows:
    """A dataset's content: flat records, a GeoJSON geometry per record (or None), and when
    it last changed (None: live)."""

    records: list[dict[str, Any]]
    geometries: list[dict[str, Any] | None]
    modified: datetime | None


Source = Callable[[AsyncEngine], Awaitable[Rows]]


async def _things(engine: AsyncEngine) -> Rows:
    found = await hub.things_within(engine, box(-180, -90, 180, 90))
    return Rows(
        [
            {
                "id": t.id,
                "name": t.name,
                "description": t.description,
                "kind": t.properties.get("kind"),
                "district": t.properties.get("district"),
            }
            for t in found
        ],
        [t.locations[0] if t.locations else None for t in found],
        None,
    )


async def _actors(engine: AsyncEngine) -> Rows:
    async with read_connection(engine) as connection:
        rows = (
            await connection.execute(
                select(helix_actors).order_by(helix_actors.c.id).limit(MAX_ROWS)
            )
        ).all()
        modified = (await connection.execute(select(func.max(helix_actors.c.updated_at)))).scalar()
    records = []
    geometries: list[dict[str, Any] | None] = []
    for row in rows:
        document = registry.actor_json(row, personal=False)
        location = document.pop("location") or {}
        records.append(
            {
                **{k: v for k, v in document.items() if k != "links"},
                "links": " ".join(document["links"]),
                "address": location.get("address"),
                "district": location.get("district"),
            }
        )
        geometries.append(
            {"type": "Point", "coordinates": [location["longitude"], location["latitude"]]}
            if "latitude" in location
            else None
        )
    return Rows(records, geometries, modified)


async def _collaborations(engine: AsyncEngine) -> Rows:
    async with read_connection(engine) as connection:
        rows = (
            await connection.execute(
                select(helix_collaborations).order_by(helix_collaborations.c.id).limit(MAX_ROWS)
            )
        ).all()
        participants = await registry.participants_of(connection, [row.id for row in rows])
        modified = (
            await connection.execute(select(func.max(helix_collaborations.c.updated_at)))
        ).scalar()
    records = []
    for row in rows:
        document = registry.collaboration_json(row, participants[row.id])
        records.append(
            {
                "id": row.id,
                "title": row.title,
                "kind": row.kind,
                "domain": row.domain,
                "status": row.status,
                "start_date": document["start_date"],
                "end_date": document["end_date"],
                "budget": row.budget,
                "currency": row.currency,
                "participants": "; ".join(
                    f"{p['name']} ({p['kind']}, {p['role']})" for p in participants[row.id]
                ),
                **{f"outputs_{name}": row.outputs.get(name, 0) for name in registry.OUTPUTS},
                "synthetic": row.synthetic,
            }
        )
    return Rows(records, [None] * len(records), modified)


@dataclass(frozen=True)
class Dataset:
    slug: str
    title: str
    description: str
    keywords: tuple[str, ...]
    #: an EU frequency code: CONT (continuously updated), DAILY, WEEKLY, ...
    frequency: str
    license: str
    publisher: str
    source: Source


DATASETS: tuple[Dataset, ...] = (
    Dataset(
        slug="sensors",
        title="Sensor network: Things and their locations",
        description="The devices of the data hub (streetlights, air-quality stations, traffic "
        "counters, water-level gauges) with their kind, district and location. Their live "
        "readings are served by the SensorThings API (the live interface of this catalogue).",
        keywords=("sensors", "IoT", "SensorThings"),
        frequency="CONT",
        license=CC_BY_4,
        publisher="Provincial data hub",
        source=_things,
    ),
    Dataset(
        slug="helix-actors",
        title="Triple Helix actors",
        description="State, enterprise, university and intermediary organisations of the "
        "province's innovation system (no personal data).",
        keywords=("Triple Helix", "innovation", "organisations"),
        frequency="WEEKLY",
        license=CC_BY_4,
        publisher="Smart-city programme office",
        source=_actors,
    ),
    Dataset(
        slug="helix-collaborations",
        title="Triple Helix collaborations",
        description="Joint projects, S&T research projects, labs, agreements and events with "
        "their participants and roles, dates, budget and outputs.",
        keywords=("Triple Helix", "collaboration", "S&T projects"),
        frequency="WEEKLY",
        license=CC_BY_4,
        publisher="Smart-city programme office",
        source=_collaborations,
    ),
)


def dataset(slug: str) -> Dataset:
    for candidate in DATASETS:
        if candidate.slug == slug:
            return candidate
    raise NotFound(f"dataset: no dataset {slug!r}", "dataset")


def _time(moment: datetime) -> dict[str, str]:
    return {"@value": moment.isoformat(), "@type": "xsd:dateTime"}


async def catalog(engine: AsyncEngine, base_url: str) -> dict[str, Any]:
    """The DCAT-AP catalogue as JSON-LD; `base_url` is the root clients see."""
    base = base_url.rstrip("/")
    now = datetime.now(UTC)
    datasets = []
    for entry in DATASETS:
        rows = await entry.source(engine)
        modified = rows.modified or now
        identifier = f"{base}/api/open-data/datasets/{entry.slug}"
        datasets.append(
            {
                "@id": identifier,
                "@type": "dcat:Dataset",
                "dct:identifier": entry.slug,
                "dct:title": entry.title,
                "dct:description": entry.description,
                "dcat:keyword": list(entry.keywords),
                "dct:publisher": {"@type": "foaf:Agent", "foaf:name": entry.publisher},
                "dct:accrualPeriodicity": {"@id": FREQUENCY + entry.frequency},
                "dct:modified": _time(modified),
                "dct:license": {"@id": entry.license},
                "dcat:distribution": [
                    {
                        "@id": f"{identifier}.{name}",
                        "@type": "dcat:Distribution",
                        "dct:title": f"{entry.title} ({file_type})",
                        "dcat:accessURL": {"@id": f"{identifier}.{name}"},
                        "dcat:downloadURL": {"@id": f"{identifier}.{name}"},
                        "dcat:mediaType": {"@id": MEDIA_TYPE + media_type},
                        "dct:format": {"@id": FILE_TYPE + file_type},
                        "dct:license": {"@id": entry.license},
                        "dct:modified": _time(modified),
                    }
                    for name, (media_type, file_type) in FORMATS.items()
                ],
            }
        )
    return {
        "@context": CONTEXT,
        "@id": f"{base}/api/open-data/catalog",
        "@type": "dcat:Catalog",
        "dct:title": "CityHelix open data",
        "dct:description": "The datasets the province's smart-city platform publishes.",
        "dct:publisher": {"@type": "foaf:Agent", "foaf:name": "Smart-city programme office"},
        "dct:license": {"@id": CC_BY_4},
        "dct:modified": _time(now),
        "dcat:dataset": datasets,
        "dcat:service": [
            {
                "@id": f"{base}/v1.1",
                "@type": "dcat:DataService",
                "dct:title": "OGC SensorThings API 1.1 (live readings)",
                "dct:description": "The live interface of the sensor network: Things, "
                "Datastreams and Observations, with MQTT notifications.",
                "dcat:endpointURL": {"@id": f"{base}/v1.1"},
                "dct:conformsTo": {"@id": "https://docs.ogc.org/is/18-088/18-088.html"},
                "dct:license": {"@id": CC_BY_4},
                "dcat:servesDataset": [{"@id": f"{base}/api/open-data/datasets/sensors"}],
            }
        ],
    }


def _flat(value: Any) -> Any:
    if isinstance(value, dict | list):
        return orjson.dumps(value).decode()
    return value


async def download(engine: AsyncEngine, slug: str, file_format: str) -> tuple[bytes, str]:
    """One distribution's bytes and media type."""
    entry = dataset(slug)
    if file_format not in FORMATS:
        raise NotFound(
            f"format: expected one of {', '.join(FORMATS)}, got {file_format!r}", "format"
        )
    rows = await entry.source(engine)
    media_type = FORMATS[file_format][0]
    records = [{k: _flat(v) for k, v in record.items()} for record in rows.records]
    if file_format == "geojson":
        collection = {
            "type": "FeatureCollection",
            "features": [
                {"type": "Feature", "id": record["id"], "geometry": geometry, "properties": record}
                for record, geometry in zip(rows.records, rows.geometries, strict=True)
            ],
        }
        return orjson.dumps(collection), media_type
    if file_format == "csv":
        out = io.StringIO()
        if records:
            writer = csv.DictWriter(out, fieldnames=list(records[0]))
            writer.writeheader()
            writer.writerows(records)
        return out.getvalue().encode(), media_type + "; charset=utf-8"
    sink = io.BytesIO()
    pq.write_table(pa.Table.from_pylist(records), sink)
    return sink.getvalue(), media_type
