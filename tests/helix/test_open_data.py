"""The open-data catalogue over HTTP: valid DCAT-AP in shape once expanded as JSON-LD
(the classes and mandatory properties), the SensorThings API as its live service, and
every distribution downloadable with the dataset's rows, without personal data."""

from __future__ import annotations

import csv
import io

import httpx
import orjson
import pyarrow.parquet as pq
from pyld import jsonld

from tests.conftest import bearer
from tests.helix.factories import actor, collaboration

DCAT = "http://www.w3.org/ns/dcat#"
DCT = "http://purl.org/dc/terms/"


def _nodes(expanded: list[dict], type_: str) -> list[dict]:
    found: list[dict] = []

    def walk(node: object) -> None:
        if isinstance(node, dict):
            if type_ in node.get("@type", []):
                found.append(node)
            for value in node.values():
                walk(value)
        elif isinstance(node, list):
            for value in node:
                walk(value)

    walk(expanded)
    return found


def _has(node: dict, *properties: str) -> None:
    for name in properties:
        assert node.get(name), f"{node.get('@id')} lacks {name}"


async def test_the_catalogue_is_dcat_ap_and_every_distribution_downloads(
    client: httpx.AsyncClient, tokens: dict[str, str], admin: dict[str, str]
) -> None:
    analyst = bearer(tokens["analyst"])
    university = await actor(
        client,
        analyst,
        "Eastern International University",
        "university",
        location={"address": "Nam Ky Khoi Nghia", "latitude": 11.05, "longitude": 106.67},
        people=[{"name": "Private Person", "role": "rector", "email": "p@example.org"}],
    )
    company = await actor(client, analyst, "Becamex IDC", "enterprise")
    await collaboration(client, analyst, [university, company], outputs={"patents": 2})
    thing = await client.post(
        "/v1.1/Things",
        json={
            "name": "AQ station",
            "description": "station",
            "properties": {"kind": "air_quality", "district": "di_an"},
            "Locations": [
                {
                    "name": "Di An",
                    "description": "site",
                    "encodingType": "application/geo+json",
                    "location": {"type": "Point", "coordinates": [106.77, 10.91]},
                }
            ],
        },
        headers=admin,
    )
    assert thing.status_code == 201, thing.text

    answer = await client.get("/api/open-data/catalog")
    assert answer.status_code == 200
    assert answer.headers["content-type"].startswith("application/ld+json")
    expanded = jsonld.expand(answer.json())

    catalogs = _nodes(expanded, DCAT + "Catalog")
    assert len(catalogs) == 1
    _has(catalogs[0], DCT + "title", DCT + "description", DCT + "publisher", DCAT + "dataset")
    datasets = _nodes(expanded, DCAT + "Dataset")
    assert {d[DCT + "identifier"][0]["@value"] for d in datasets} == {
        "sensors",
        "helix-actors",
        "helix-collaborations",
    }
    for node in datasets:
        _has(node, DCT + "title", DCT + "description", DCT + "license", DCT + "modified")
        _has(node, DCT + "accrualPeriodicity", DCAT + "distribution")
    services = _nodes(expanded, DCAT + "DataService")
    assert services[0][DCAT + "endpointURL"][0]["@id"] == "http://testserver/v1.1"
    _has(services[0], DCT + "title", DCAT + "servesDataset")

    distributions = _nodes(expanded, DCAT + "Distribution")
    assert len(distributions) == 3 * len(datasets)
    expected_rows = {"sensors": 1, "helix-actors": 2, "helix-collaborations": 1}
    for node in distributions:
        _has(node, DCAT + "accessURL", DCAT + "mediaType", DCT + "format", DCT + "license")
        url = node[DCAT + "downloadURL"][0]["@id"]
        download = await client.get(url)
        assert download.status_code == 200, url
        slug, _, file_format = url.rsplit("/", 1)[1].rpartition(".")
        if file_format == "csv":
            rows = list(csv.DictReader(io.StringIO(download.text)))
        elif file_format == "geojson":
            rows = orjson.loads(download.content)["features"]
        else:
            rows = pq.read_table(io.BytesIO(download.content)).to_pylist()
        assert len(rows) == expected_rows[slug], url
        assert (
            b"Private Person" not in download.content and b"p@example.org" not in download.content
        )

    geo = orjson.loads((await client.get("/api/open-data/datasets/helix-actors.geojson")).content)
    eiu = next(f for f in geo["features"] if f["id"] == university)
    assert eiu["geometry"] == {"type": "Point", "coordinates": [106.67, 11.05]}
    sensors = orjson.loads((await client.get("/api/open-data/datasets/sensors.geojson")).content)
    assert sensors["features"][0]["geometry"]["coordinates"] == [106.77, 10.91]
    table = pq.read_table(
        io.BytesIO(
            (await client.get("/api/open-data/datasets/helix-collaborations.parquet")).content
        )
    )
    assert table.to_pylist()[0]["outputs_patents"] == 2


async def test_unknown_datasets_and_formats_are_404_detail(client: httpx.AsyncClient) -> None:
    missing = await client.get("/api/open-data/datasets/secrets.csv")
    assert missing.status_code == 404 and "secrets" in missing.json()["detail"]
    wrong = await client.get("/api/open-data/datasets/helix-actors.xls")
    assert wrong.status_code == 404 and "format" in wrong.json()["detail"]
    empty = await client.get("/api/open-data/datasets/helix-actors.parquet")
    assert empty.status_code == 200
    assert pq.read_table(io.BytesIO(empty.content)).num_rows == 0


async def test_a_department_dataset_is_listed_and_downloadable_only_once_marked_public(
    client: httpx.AsyncClient, tokens: dict[str, str]
) -> None:
    department = bearer(tokens["department"])
    body = {
        "slug": "flood-points",
        "title": "Flood-prone points",
        "description": "Points the water department watches in the rainy season.",
        "publisher": "Department of Natural Resources and Environment",
        "frequency": "MONTHLY",
        "keywords": ["flood", "water"],
        "records": [
            {"name": "Underpass A", "depth_cm": 40, "latitude": 10.91, "longitude": 106.77},
            {"name": "Market B", "depth_cm": 25.5, "latitude": None, "longitude": None},
        ],
    }
    made = await client.post("/api/open-data/datasets", json=body, headers=department)
    assert made.status_code == 201, made.text
    assert made.json()["public"] is False and made.json()["records"] == 2

    async def listed() -> set[str]:
        catalog = jsonld.expand((await client.get("/api/open-data/catalog")).json())
        return {d[DCT + "identifier"][0]["@value"] for d in _nodes(catalog, DCAT + "Dataset")}

    assert "flood-points" not in await listed()
    hidden = await client.get("/api/open-data/datasets/flood-points.csv")
    assert hidden.status_code == 404

    marked = await client.patch(
        "/api/open-data/datasets/flood-points", json={"public": True}, headers=department
    )
    assert marked.status_code == 200, marked.text
    assert "flood-points" in await listed()
    rows = list(
        csv.DictReader(
            io.StringIO((await client.get("/api/open-data/datasets/flood-points.csv")).text)
        )
    )
    assert [(r["name"], r["depth_cm"]) for r in rows] == [
        ("Underpass A", "40"),
        ("Market B", "25.5"),
    ]
    geo = orjson.loads((await client.get("/api/open-data/datasets/flood-points.geojson")).content)
    assert [f["geometry"] for f in geo["features"]] == [
        {"type": "Point", "coordinates": [106.77, 10.91]},
        None,
    ]
    table = pq.read_table(
        io.BytesIO((await client.get("/api/open-data/datasets/flood-points.parquet")).content)
    )
    assert table.column("depth_cm").to_pylist() == [40, 25.5]


async def test_bad_department_datasets_are_refused_naming_the_field(
    client: httpx.AsyncClient, tokens: dict[str, str]
) -> None:
    department = bearer(tokens["department"])
    body = {"slug": "ok-slug", "title": "T", "description": "D", "publisher": "P", "records": []}
    for wrong, field in (
        ({"slug": "Bad Slug"}, "slug"),
        ({"slug": "sensors"}, "slug"),
        ({"frequency": "HOURLY"}, "frequency"),
        ({"records": [{"nested": {"a": 1}}]}, "records[0].nested"),
        ({"records": "rows"}, "records"),
        ({"license": "free"}, "license"),
        ({"title": ""}, "title"),
    ):
        answer = await client.post(
            "/api/open-data/datasets", json={**body, **wrong}, headers=department
        )
        assert answer.status_code in (400, 422), wrong
        assert field in answer.json()["detail"]
    assert (
        await client.post("/api/open-data/datasets", json=body, headers=department)
    ).status_code == 201
    again = await client.post("/api/open-data/datasets", json=body, headers=department)
    assert again.status_code == 409
    tenant = await client.post(
        "/api/open-data/datasets", json={**body, "slug": "other"}, headers=bearer(tokens["tenant"])
    )
    assert tenant.status_code == 403
