"""The open-data catalogue: the datasets the platform publishes, as a DCAT-AP catalogue in
JSON-LD, each downloadable as CSV, GeoJSON and Parquet with its licence, update frequency
and last update; the SensorThings API is listed as the live interface (a DataService).

Datasets are data (`DATASETS`); each names the function that yields its rows. People and
other personal data are never in a published dataset.
"""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import orjson
import pyarrow as pa
import pyarrow.parquet as pq
from shapely.geometry import box
from sqlalchemy import func, insert, select, update
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from cityhelix.db.engine import read_connection
from cityhelix.exports import csv_cell
from cityhelix.helix import fields, registry
from cityhelix.helix.errors import BadRequest, Conflict, Invalid, NotFound
from cityhelix.helix.tables import helix_actors, helix_collaborations, helix_open_datasets
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


# --- what a department marks public ---------------------------------------------------

FREQUENCIES = ("CONT", "DAILY", "WEEKLY", "MONTHLY", "QUARTERLY", "ANNUAL", "IRREG")
MAX_RECORDS = 10_000
MAX_COLUMNS = 50
SLUG = re.compile(r"^[a-z0-9][a-z0-9-]{1,79}$")
DATASET_FIELDS = (
    "slug",
    "title",
    "description",
    "publisher",
    "license",
    "frequency",
    "keywords",
    "records",
    "public",
)


def _records(body: dict[str, Any]) -> list[dict[str, Any]]:
    records = body.get("records", [])
    if not isinstance(records, list) or len(records) > MAX_RECORDS:
        raise BadRequest(f"records: expected a list of at most {MAX_RECORDS} objects", "records")
    for index, record in enumerate(records):
        where = f"records[{index}]"
        if not isinstance(record, dict) or len(record) > MAX_COLUMNS:
            raise BadRequest(f"{where}: expected an object of at most {MAX_COLUMNS} columns", where)
        for name, value in record.items():
            if len(name) > 64 or not name:
                raise BadRequest(f"{where}: a column name of 1 to 64 characters", where)
            scalar = value is None or isinstance(value, bool | int | float)
            if not scalar and not (isinstance(value, str) and len(value) <= 2000):
                raise BadRequest(
                    f"{where}.{name}: expected a number, text (at most 2000), true/false or null",
                    f"{where}.{name}",
                )
    return records


def dataset_values(body: object, *, creating: bool) -> dict[str, Any]:
    """A department's dataset from its body; on PATCH only the fields given."""
    body = fields.body_object(body)
    fields.unknown_fields(body, DATASET_FIELDS)
    values: dict[str, Any] = {}
    if creating or "slug" in body:
        slug = fields.required_text(body, "slug", max_length=80)
        if not SLUG.match(slug) or any(d.slug == slug for d in DATASETS):
            raise Invalid(f"slug: {slug!r}: lower-case letters, digits and -, not taken", "slug")
        values["slug"] = slug
    for name, limit in (("title", 300), ("description", 10_000), ("publisher", 300)):
        if creating or name in body:
            values[name] = fields.required_text(body, name, max_length=limit)
    if creating or "license" in body:
        license_url = fields.text(body, "license", max_length=300) or CC_BY_4
        if not license_url.startswith(("http://", "https://")):
            raise BadRequest("license: expected the licence's URL", "license")
        values["license"] = license_url
    if creating or "frequency" in body:
        values["frequency"] = fields.choice(body, "frequency", FREQUENCIES) or "IRREG"
    if creating or "keywords" in body:
        keywords = body.get("keywords", [])
        if not isinstance(keywords, list) or len(keywords) > 20:
            raise BadRequest("keywords: expected at most 20 words", "keywords")
        if not all(isinstance(k, str) and 0 < len(k) <= 100 for k in keywords):
            raise BadRequest("keywords: each a text of 1 to 100 characters", "keywords")
        values["keywords"] = keywords
    if creating or "records" in body:
        values["records"] = _records(body)
    if creating or "public" in body:
        public = body.get("public", False)
        if not isinstance(public, bool):
            raise BadRequest("public: expected true or false", "public")
        values["public"] = public
    return values


async def create_dataset(connection: AsyncConnection, values: dict[str, Any], who: str) -> int:
    taken = (
        await connection.execute(
            select(helix_open_datasets.c.id).where(helix_open_datasets.c.slug == values["slug"])
        )
    ).first()
    if taken is not None:
        raise Conflict(f"slug: a dataset {values['slug']!r} exists already", "slug")
    dataset_id: int = (
        await connection.execute(
            insert(helix_open_datasets)
            .values(**values, created_by=who, updated_at=datetime.now(UTC))
            .returning(helix_open_datasets.c.id)
        )
    ).scalar_one()
    return dataset_id


async def change_dataset(connection: AsyncConnection, slug: str, values: dict[str, Any]) -> int:
    row = (
        await connection.execute(
            select(helix_open_datasets.c.id).where(helix_open_datasets.c.slug == slug)
        )
    ).first()
    if row is None:
        raise NotFound(f"dataset: no dataset {slug!r}", "dataset")
    if "slug" in values and values["slug"] != slug:
        raise Invalid("slug: a dataset's slug does not change (its URLs are published)", "slug")
    await connection.execute(
        update(helix_open_datasets)
        .where(helix_open_datasets.c.id == row.id)
        .values(**values, updated_at=datetime.now(UTC))
    )
    return int(row.id)


def _department_dataset(row: Any) -> Dataset:
    async def source(engine: AsyncEngine) -> Rows:
        records = list(row.records)
        geometries: list[dict[str, Any] | None] = [
            {"type": "Point", "coordinates": [r["longitude"], r["latitude"]]}
            if isinstance(r.get("latitude"), int | float)
            and isinstance(r.get("longitude"), int | float)
            else None
            for r in records
        ]
        return Rows([{"id": n + 1, **r} for n, r in enumerate(records)], geometries, row.updated_at)

    return Dataset(
        slug=row.slug,
        title=row.title,
        description=row.description,
        keywords=tuple(row.keywords),
        frequency=row.frequency,
        license=row.license,
        publisher=row.publisher,
        source=source,
    )


async def published(engine: AsyncEngine) -> list[Dataset]:
    """The platform's own datasets, then those departments have marked public."""
    async with read_connection(engine) as connection:
        rows = await connection.execute(
            select(helix_open_datasets)
            .where(helix_open_datasets.c.public.is_(True))
            .order_by(helix_open_datasets.c.slug)
            .limit(1000)
        )
        return [*DATASETS, *(_department_dataset(row) for row in rows)]


async def dataset(engine: AsyncEngine, slug: str) -> Dataset:
    for candidate in await published(engine):
        if candidate.slug == slug:
            return candidate
    raise NotFound(f"dataset: no public dataset {slug!r}", "dataset")


def _time(moment: datetime) -> dict[str, str]:
    return {"@value": moment.isoformat(), "@type": "xsd:dateTime"}


async def catalog(engine: AsyncEngine, base_url: str) -> dict[str, Any]:
    """The DCAT-AP catalogue as JSON-LD; `base_url` is the root clients see."""
    base = base_url.rstrip("/")
    now = datetime.now(UTC)
    datasets = []
    for entry in await published(engine):
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
    entry = await dataset(engine, slug)
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
            columns = list(dict.fromkeys(name for record in records for name in record))
            writer = csv.DictWriter(out, fieldnames=columns)
            writer.writeheader()
            writer.writerows({k: csv_cell(v) for k, v in record.items()} for record in records)
        return out.getvalue().encode(), media_type + "; charset=utf-8"
    sink = io.BytesIO()
    columns = list(dict.fromkeys(name for record in records for name in record))
    pq.write_table(pa.Table.from_pylist([{c: r.get(c) for c in columns} for r in records]), sink)
    return sink.getvalue(), media_type
