"""The public investor portal under /invest: parks and free land on a map, park pages, the
"find a site" wizard and the enquiry form. No sign-in; English, Vietnamese and Chinese.

Thin over `cityhelix.invest.service`: the wizard runs the same site matching (and so the
same ranking engine) as `/api/invest/sites/match` and `/api/invest/sites/rank`; the
enquiry form creates a lead through the same service as `POST /api/invest/enquiries`,
under the same per-address limit, and shows nothing of it back.
"""

from __future__ import annotations

from datetime import date
from typing import Any

import orjson
from fastapi import APIRouter, Request
from fastapi.responses import RedirectResponse, Response

from cityhelix.invest import service
from cityhelix.invest.service import CRITERIA, EnquiryIn, InvestError, Needs, SiteNeeds
from cityhelix.web.const import PORTAL_LANGUAGES
from cityhelix.web.i18n import choose_portal_language, format_datetime, format_number, translations
from cityhelix.web.routes.invest_forms import (
    CONSTRAINT_LABELS,
    CRITERION_LABELS,
    SECTOR_CHOICES,
    FormProblem,
    RowId,
    body_of,
    filled,
    number,
    parks_geojson,
)
from cityhelix.web.routes.public import remembered_language
from cityhelix.web.security import WebRoute, check_csrf
from cityhelix.web.templating import render

router = APIRouter(route_class=WebRoute, include_in_schema=False)

#: how each portal language names itself in the switcher (never translated)
PORTAL_LANGUAGE_NAMES = {"en": "EN", "vi": "VI", "zh": "中文"}
#: the wizard's need fields, in the order of the form
_NEED_FIELDS = ["land_ha", "power_mw", "wastewater_m3_day", "sector_vsic", "ready_by"]
#: the default weights on the wizard's 0-5 scale (matching's weights, which add up to 1, x 20)
DEFAULT_IMPORTANCE = {code: round(weight * 20, 1) for code, (_, weight, _) in CRITERIA.items()}
#: countries offered on the enquiry form (ISO 3166-1 alpha-2); others may leave it empty
_COUNTRIES = ["CN", "DE", "HK", "JP", "KR", "MY", "NL", "SG", "TW", "US", "VN"]


def render_portal(
    request: Request, template: str, context: dict[str, Any] | None = None, status: int = 200
) -> Response:
    """`render` in the portal's language (English, Vietnamese or Chinese).

    The web layer's `render` picks among the console's languages; its context is
    overridden here with the portal's choice, so the console's logic stays as it is.
    """
    language = choose_portal_language(request)
    catalogue = translations(language)
    values: dict[str, Any] = {
        "_": catalogue.gettext,
        "ngettext": catalogue.ngettext,
        "lang": language,
        "languages": [(code, PORTAL_LANGUAGE_NAMES[code]) for code in PORTAL_LANGUAGES],
        "number": lambda value: format_number(value, language),
        "moment": lambda value: format_datetime(value, language),
        "sector_choices": [(code, catalogue.gettext(name)) for code, name in SECTOR_CHOICES],
        "criterion_labels": {k: catalogue.gettext(v) for k, v in CRITERION_LABELS.items()},
        "constraint_labels": {k: catalogue.gettext(v) for k, v in CONSTRAINT_LABELS.items()},
    }
    values.update(context or {})
    return render(request, template, values, status)


def _park_filters(query: dict[str, str]) -> dict[str, Any]:
    """The map's filters from the query: free land, price, distance to seaport, sector."""
    filters: dict[str, Any] = {}
    if query.get("min_free_ha", "").strip():
        filters["min_free_ha"] = number(query, "min_free_ha", high=100_000)
    if query.get("max_price", "").strip():
        filters["max_price"] = number(query, "max_price", high=100_000)
    if query.get("max_seaport_km", "").strip():
        filters["max_seaport_km"] = number(query, "max_seaport_km", high=100_000)
    sector = query.get("sector_vsic", "").strip()
    if sector:
        if not (sector.isdigit() and 2 <= len(sector) <= 5):
            raise FormProblem("sector_vsic", "expected a VSIC code of 2 to 5 digits")
        filters["sector_vsic"] = sector
    return filters


def _within(value: float | None, limit: float | None) -> bool:
    return limit is None or (value is not None and value <= limit)


@router.get("/invest")
async def portal(request: Request) -> Response:
    """Parks and free land: the map and the list, filtered by what the visitor asks."""
    query = dict(request.query_params)
    try:
        filters = _park_filters(query)
    except FormProblem as problem:
        return render_portal(
            request,
            "invest/portal/home.html",
            {"parks": [], "query": query, "problem": problem, "shown_ids": "[]"},
            status=400,
        )
    parks = await service.list_parks(
        request.app.state.engine,
        min_free_ha=filters.get("min_free_ha"),
        sector_vsic=filters.get("sector_vsic"),
        limit=1000,
    )
    shown = [
        park
        for park in parks
        if _within(park.get("land_rent_usd_m2"), filters.get("max_price"))
        and _within(park.get("seaport_km"), filters.get("max_seaport_km"))
    ]
    shown.sort(key=lambda park: park["name"])
    return render_portal(
        request,
        "invest/portal/home.html",
        {
            "parks": shown,
            "query": query,
            "problem": None,
            "shown_ids": orjson.dumps([park["id"] for park in shown]).decode(),
        },
    )


@router.get("/invest/parks.geojson")
async def parks_map(request: Request) -> Response:
    """The parks' outlines and free land for the maps (public: nothing personal in it)."""
    collection = await parks_geojson(request.app.state.engine)
    return Response(orjson.dumps(collection), media_type="application/geo+json")


@router.get("/invest/parks/{park_id}")
async def park_page(request: Request, park_id: RowId) -> Response:
    engine = request.app.state.engine
    try:
        park = await service.get_park(engine, park_id)
    except InvestError:
        return render_portal(request, "invest/portal/missing.html", status=404)
    plots = await service.list_plots(engine, park_id=park_id, status="free", limit=1000)
    return render_portal(request, "invest/portal/park.html", {"park": park, "plots": plots})


def _needs(query: dict[str, str]) -> SiteNeeds:
    """The wizard's needs, validated as the API's `Needs` body (so the same bounds hold)."""
    values = filled(query, _NEED_FIELDS)
    needs = body_of(Needs, values)
    return SiteNeeds(
        land_ha=needs.land_ha,
        power_mw=needs.power_mw,
        wastewater_m3_day=needs.wastewater_m3_day,
        sector_vsic=needs.sector_vsic,
        ready_by=needs.ready_by,
    )


def _weights(query: dict[str, str]) -> dict[str, float] | None:
    """Importance 0-5 per criterion from the wizard's second step (none given: the default
    weights). A criterion left empty keeps its default, shown as the field's placeholder."""
    given = [code for code in CRITERIA if query.get(f"weight_{code}", "").strip()]
    if not given:
        return None
    weights = {code: DEFAULT_IMPORTANCE[code] for code in CRITERIA}
    weights.update({code: number(query, f"weight_{code}", high=5) for code in given})
    if not any(weights.values()):
        raise FormProblem(f"weight_{given[0]}", "give at least one criterion a weight above 0")
    return weights


@router.get("/invest/find-a-site")
async def find_a_site(request: Request) -> Response:
    """Step 1 (needs) and step 2 (what matters) in one form; with `run` the ranked sites."""
    query = dict(request.query_params)
    context: dict[str, Any] = {
        "query": query,
        "problem": None,
        "result": None,
        "default_weights": DEFAULT_IMPORTANCE,
        "criteria_codes": list(CRITERIA),
    }
    if "run" not in query:
        return render_portal(request, "invest/portal/wizard.html", context)
    try:
        needs = _needs(query)
        weights = _weights(query)
        result = await service.match_sites(request.app.state.engine, needs, weights=weights)
    except FormProblem as problem:
        context["problem"] = problem
        return render_portal(request, "invest/portal/wizard.html", context, status=400)
    except InvestError as error:
        context["problem"] = FormProblem(error.field or "form", error.message)
        return render_portal(request, "invest/portal/wizard.html", context, status=error.status)
    context["result"] = result
    context["today"] = date.today().isoformat()
    return render_portal(request, "invest/portal/wizard.html", context)


def _enquiry_context(form: dict[str, str], problem: FormProblem | None) -> dict[str, Any]:
    return {"form": form, "problem": problem, "countries": _COUNTRIES}


@router.get("/invest/enquiry")
async def enquiry_form(request: Request) -> Response:
    form = {k: v for k, v in request.query_params.items() if k in _NEED_FIELDS}
    return render_portal(request, "invest/portal/enquiry.html", _enquiry_context(form, None))


_ENQUIRY_FIELDS = ["organisation", "country", "name", "email", "phone", "message", "website"]


@router.post("/invest/enquiry")
async def send_enquiry(request: Request) -> Response:
    """The enquiry becomes a lead; a robot that filled the hidden field is thanked alike."""
    form = await check_csrf(request)
    values: dict[str, Any] = filled(form, _ENQUIRY_FIELDS)
    values["needs"] = filled(form, ["land_ha", "power_mw", "sector_vsic", "ready_by"])
    try:
        body = body_of(EnquiryIn, values)
    except FormProblem as problem:
        return render_portal(
            request, "invest/portal/enquiry.html", _enquiry_context(form, problem), status=400
        )
    # counted once the form is whole, as the API counts only bodies that validate
    client = request.client.host if request.client else "unknown"
    wait = service.enquiry_retry_after(request.app.state, client)
    if wait:
        response = render_portal(
            request,
            "invest/portal/enquiry.html",
            {**_enquiry_context(form, None), "wait_seconds": wait},
            status=429,
        )
        response.headers["Retry-After"] = str(wait)
        return response
    await service.submit_enquiry(request.app.state.engine, body, request.url.path)
    return RedirectResponse("/invest/enquiry/thanks", status_code=303)


@router.get("/invest/enquiry/thanks")
async def enquiry_thanks(request: Request) -> Response:
    return render_portal(request, "invest/portal/thanks.html")


@router.post("/invest/language")
async def choose_portal_language_route(request: Request) -> Response:
    """Remember the portal's language (English, Vietnamese or Chinese) and go back."""
    return await remembered_language(request, PORTAL_LANGUAGES, "/invest")
