"""The public open-data page: every dataset of the DCAT-AP catalogue with its licence,
update frequency, last update and its downloads (CSV, GeoJSON, Parquet), and the
SensorThings API as the live interface. Anyone may open it; nothing here needs a session.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import Response

from cityhelix.helix import service as helix
from cityhelix.web.kinds import N_
from cityhelix.web.routes.helix import engine_of
from cityhelix.web.security import WebRoute
from cityhelix.web.signin import MaybeUser
from cityhelix.web.templating import render

router = APIRouter(route_class=WebRoute, include_in_schema=False)

#: EU frequency vocabulary (the catalogue's `dct:accrualPeriodicity`) as the page says it
FREQUENCY_LABELS = {
    "CONT": N_("Continuously"),
    "DAILY": N_("Daily"),
    "WEEKLY": N_("Weekly"),
    "MONTHLY": N_("Monthly"),
    "QUARTERLY": N_("Quarterly"),
    "ANNUAL": N_("Yearly"),
    "IRREG": N_("Irregularly"),
    "UPDATE_CONT": N_("Continuously"),
}


#: how the page names the catalogue's file types and licences
FILE_TYPE_NAMES = {"CSV": "CSV", "GEOJSON": "GeoJSON", "PARQUET": "Parquet"}
LICENCE_NAMES = {"https://creativecommons.org/licenses/by/4.0/": "CC BY 4.0"}


def _last(identifier: dict[str, Any] | None) -> str:
    """The last path segment of a JSON-LD `{"@id": ...}` (a vocabulary's code)."""
    return "" if not identifier else str(identifier["@id"]).rstrip("/").rsplit("/", 1)[-1]


def dataset_rows(catalogue: dict[str, Any]) -> list[dict[str, Any]]:
    """The catalogue's datasets as the page lists them, downloads as same-origin paths."""
    rows = []
    for dataset in catalogue["dcat:dataset"]:
        slug = dataset["dct:identifier"]
        rows.append(
            {
                "slug": slug,
                "title": dataset["dct:title"],
                "description": dataset["dct:description"],
                "publisher": dataset["dct:publisher"]["foaf:name"],
                "keywords": dataset.get("dcat:keyword", []),
                "frequency": _last(dataset.get("dct:accrualPeriodicity")),
                # a typed literal, {"@value": ..., "@type": "xsd:dateTime"}, or plain text
                "modified": dataset["dct:modified"].get("@value")
                if isinstance(dataset["dct:modified"], dict)
                else dataset["dct:modified"],
                "license": dataset["dct:license"]["@id"],
                "license_name": LICENCE_NAMES.get(
                    dataset["dct:license"]["@id"], dataset["dct:license"]["@id"]
                ),
                "downloads": [
                    (
                        FILE_TYPE_NAMES.get(_last(d["dct:format"]), _last(d["dct:format"])),
                        f"/open-data/datasets/{slug}.{d['@id'].rsplit('.', 1)[-1]}",
                    )
                    for d in dataset["dcat:distribution"]
                ],
            }
        )
    return rows


@router.get("/open-data")
async def open_data_page(request: Request, user: MaybeUser) -> Response:
    base = request.app.state.settings.public_url or str(request.base_url)
    catalogue = await helix.open_data_catalog(engine_of(request), base)
    return render(
        request,
        "helix/open_data.html",
        {
            "datasets": dataset_rows(catalogue),
            "frequency_names": FREQUENCY_LABELS,
            "services": catalogue["dcat:service"],
        },
    )


@router.get("/open-data/datasets/{slug}.{file_format}")
async def download(request: Request, slug: str, file_format: str) -> Response:
    """One distribution, as the API serves it, for browsers without a token."""
    try:
        content, media_type = await helix.open_data_download(engine_of(request), slug, file_format)
    except helix.HelixError as error:
        return Response(error.message, status_code=error.status, media_type="text/plain")
    return Response(
        content,
        media_type=media_type,
        headers={"Content-Disposition": f'attachment; filename="{slug}.{file_format}"'},
    )
