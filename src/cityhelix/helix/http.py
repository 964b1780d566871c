"""`/api/helix/...` over HTTP: credentials, query parameters and JSON bodies in, the
service's answers out, errors as `{"detail": ...}` (`HelixRoute`). No logic lives here."""

from __future__ import annotations

from datetime import UTC, date, datetime
from typing import Annotated, Any

import orjson
from fastapi import APIRouter, Path, Request
from fastapi.responses import Response
from sqlalchemy.ext.asyncio import AsyncEngine

from cityhelix.auth.deps import principal_from_header
from cityhelix.auth.principal import Principal
from cityhelix.helix import service
from cityhelix.helix.errors import BadRequest, NotFound
from cityhelix.helix.fields import parse_day
from cityhelix.helix.routes import HelixRoute
from cityhelix.openapi_errors import object_body, plain_errors

#: every route reads credentials and may be rate-limited
router = APIRouter(tags=["Triple Helix"], route_class=HelixRoute, responses=plain_errors(401, 429))


#: an id in a path: past 2**62 nothing exists, and the database is never asked (no overflow)
PathId = Annotated[int, Path(ge=1, le=2**62)]


def json_response(document: Any, status: int = 200) -> Response:
    return Response(orjson.dumps(document), status_code=status, media_type="application/json")


def engine_of(request: Request) -> AsyncEngine:
    engine: AsyncEngine = request.app.state.engine
    return engine


async def caller(request: Request, *, write: bool) -> Principal:
    return await principal_from_header(
        engine_of(request),
        request.app.state.settings,
        request.headers.get("authorization"),
        write=write,
    )


async def json_body(request: Request) -> object:
    try:
        return orjson.loads(await request.body())
    except orjson.JSONDecodeError:
        raise BadRequest("body: expected JSON", "body") from None


def day_parameter(request: Request, name: str) -> date | None:
    value = request.query_params.get(name)
    return None if value is None else parse_day(value, name)


def int_parameter(request: Request, name: str) -> int | None:
    value = request.query_params.get(name)
    if value is None:
        return None
    try:
        return int(value)
    except ValueError:
        raise BadRequest(f"{name}: expected a whole number", name) from None


def text_parameter(request: Request, name: str) -> str | None:
    value = request.query_params.get(name)
    if value is not None and len(value) > 200:
        raise BadRequest(f"{name}: at most 200 characters", name)
    return value or None


@router.post(
    "/api/helix/actors",
    responses=plain_errors(400, 403, 409, 413, 422),
    openapi_extra=object_body("An actor (docs/helix.md)"),
    status_code=201,
    summary="Register an actor",
)
async def create_actor(request: Request) -> Response:
    principal = await caller(request, write=True)
    body = await json_body(request)
    actor = await service.create_actor(engine_of(request), principal, body, request.url.path)
    return json_response(actor, 201)


@router.get(
    "/api/helix/actors",
    responses=plain_errors(400),
    summary="List and search actors (q, kind, limit, offset)",
)
async def list_actors(request: Request) -> Response:
    principal = await caller(request, write=False)
    return json_response(
        await service.list_actors(
            engine_of(request),
            principal,
            q=text_parameter(request, "q"),
            kind=text_parameter(request, "kind"),
            limit=int_parameter(request, "limit"),
            offset=int_parameter(request, "offset"),
        )
    )


@router.get("/api/helix/actors/{actor_id}", responses=plain_errors(404), summary="One actor")
async def read_actor(request: Request, actor_id: PathId) -> Response:
    principal = await caller(request, write=False)
    return json_response(await service.read_actor(engine_of(request), principal, actor_id))


@router.patch(
    "/api/helix/actors/{actor_id}",
    responses=plain_errors(400, 403, 404, 409, 413, 422),
    openapi_extra=object_body("The actor's fields to change (docs/helix.md)"),
    summary="Change some fields of an actor",
)
async def update_actor(request: Request, actor_id: PathId) -> Response:
    principal = await caller(request, write=True)
    body = await json_body(request)
    return json_response(
        await service.update_actor(engine_of(request), principal, actor_id, body, request.url.path)
    )


@router.get(
    "/api/helix/actors/{actor_id}/history",
    responses=plain_errors(403, 404),
    summary="Every change of an actor",
)
async def actor_history(request: Request, actor_id: PathId) -> Response:
    principal = await caller(request, write=True)  # personal data: credentials required
    return json_response(await service.history(engine_of(request), principal, "actor", actor_id))


@router.post(
    "/api/helix/collaborations",
    responses=plain_errors(400, 403, 404, 409, 413, 422),
    openapi_extra=object_body("A collaboration of actors (docs/helix.md)"),
    status_code=201,
    summary="Register a collaboration",
)
async def create_collaboration(request: Request) -> Response:
    principal = await caller(request, write=True)
    body = await json_body(request)
    created = await service.create_collaboration(
        engine_of(request), principal, body, request.url.path
    )
    return json_response(created, 201)


@router.get(
    "/api/helix/collaborations",
    responses=plain_errors(400),
    summary="List and search collaborations (q, kind, status, domain, actor_id, from, to)",
)
async def list_collaborations(request: Request) -> Response:
    await caller(request, write=False)
    return json_response(
        await service.list_collaborations(
            engine_of(request),
            q=text_parameter(request, "q"),
            kind=text_parameter(request, "kind"),
            status=text_parameter(request, "status"),
            domain=text_parameter(request, "domain"),
            actor_id=int_parameter(request, "actor_id"),
            start_from=day_parameter(request, "from"),
            start_to=day_parameter(request, "to"),
            limit=int_parameter(request, "limit"),
            offset=int_parameter(request, "offset"),
        )
    )


@router.get(
    "/api/helix/collaborations/{collaboration_id}",
    responses=plain_errors(404),
    summary="One collaboration",
)
async def read_collaboration(request: Request, collaboration_id: PathId) -> Response:
    await caller(request, write=False)
    return json_response(await service.read_collaboration(engine_of(request), collaboration_id))


@router.patch(
    "/api/helix/collaborations/{collaboration_id}",
    responses=plain_errors(400, 403, 404, 409, 413, 422),
    openapi_extra=object_body("The collaboration's fields to change (docs/helix.md)"),
    summary="Change some fields of a collaboration",
)
async def update_collaboration(request: Request, collaboration_id: PathId) -> Response:
    principal = await caller(request, write=True)
    body = await json_body(request)
    return json_response(
        await service.update_collaboration(
            engine_of(request), principal, collaboration_id, body, request.url.path
        )
    )


@router.get(
    "/api/helix/collaborations/{collaboration_id}/history",
    responses=plain_errors(403, 404),
    summary="Every change of a collaboration",
)
async def collaboration_history(request: Request, collaboration_id: PathId) -> Response:
    principal = await caller(request, write=True)  # personal data: credentials required
    return json_response(
        await service.history(engine_of(request), principal, "collaboration", collaboration_id)
    )


@router.get(
    "/api/helix/synergy",
    responses=plain_errors(400),
    summary="Triple Helix mutual information (bits) over collaborations starting in a period",
)
async def synergy(request: Request) -> Response:
    await caller(request, write=False)
    return json_response(
        await service.synergy_between(
            engine_of(request), day_parameter(request, "from"), day_parameter(request, "to")
        )
    )


@router.get(
    "/api/helix/network",
    responses=plain_errors(400),
    summary="Actors as nodes and co-participation as edges, over a period",
)
async def network(request: Request) -> Response:
    await caller(request, write=False)
    return json_response(
        await service.network_between(
            engine_of(request), day_parameter(request, "from"), day_parameter(request, "to")
        )
    )


@router.post(
    "/api/helix/programmes",
    responses=plain_errors(400, 403, 409, 413, 422),
    openapi_extra=object_body("A funding programme (docs/helix.md)"),
    status_code=201,
    summary="Register a programme",
)
async def create_programme(request: Request) -> Response:
    principal = await caller(request, write=True)
    body = await json_body(request)
    created = await service.create_programme(engine_of(request), principal, body, request.url.path)
    return json_response(created, 201)


@router.get("/api/helix/programmes", summary="Programmes with their calls")
async def list_programmes(request: Request) -> Response:
    await caller(request, write=False)
    return json_response({"value": await service.list_programmes(engine_of(request))})


@router.post(
    "/api/helix/programmes/{programme_id}/calls",
    responses=plain_errors(400, 403, 404, 409, 413, 422),
    openapi_extra=object_body("A call for applications (docs/helix.md)"),
    status_code=201,
    summary="Open a call",
)
async def create_call(request: Request, programme_id: PathId) -> Response:
    principal = await caller(request, write=True)
    body = await json_body(request)
    created = await service.create_call(
        engine_of(request), principal, programme_id, body, request.url.path
    )
    return json_response(created, 201)


@router.get(
    "/api/helix/calls/{call_id}",
    responses=plain_errors(404),
    summary="A call and its applications by status",
)
async def read_call(request: Request, call_id: PathId) -> Response:
    await caller(request, write=False)
    return json_response(await service.read_call(engine_of(request), call_id))


@router.post(
    "/api/helix/calls/{call_id}/applications",
    responses=plain_errors(400, 403, 404, 409, 413, 422),
    openapi_extra=object_body("An application to the call (docs/helix.md)"),
    status_code=201,
    summary="Submit an application",
)
async def submit_application(request: Request, call_id: PathId) -> Response:
    principal = await caller(request, write=True)
    body = await json_body(request)
    created = await service.submit_application(
        engine_of(request), principal, call_id, body, request.url.path
    )
    return json_response(created, 201)


@router.get(
    "/api/helix/applications/{application_id}",
    responses=plain_errors(403, 404),
    summary="An application, in full",
)
async def read_application(request: Request, application_id: PathId) -> Response:
    principal = await caller(request, write=True)  # reviews are confidential
    return json_response(
        await service.read_application(engine_of(request), principal, application_id)
    )


@router.post(
    "/api/helix/applications/{application_id}/{step}",
    responses=plain_errors(400, 403, 404, 409, 413, 422),
    openapi_extra=object_body(
        "The step's fields: a declaration, scores, a tranche, a report or a decision"
    ),
    status_code=201,
    summary="Declare a conflict of interest, score, add a funding tranche or a report",
    description="`step` is one of: " + ", ".join(service.APPLICATION_STEPS) + ".",
)
async def application_step(request: Request, application_id: PathId, step: str) -> Response:
    principal = await caller(request, write=True)
    if step == "decision":
        body = await json_body(request)
        return json_response(
            await service.decide(
                engine_of(request), principal, application_id, body, request.url.path
            )
        )
    if step not in service.APPLICATION_STEPS:
        raise NotFound(f"step: expected decision or one of {', '.join(service.APPLICATION_STEPS)}")
    body = await json_body(request)
    return json_response(
        await service.application_step(
            engine_of(request), principal, application_id, step, body, request.url.path
        ),
        201,
    )


@router.post(
    "/api/helix/tranches/{tranche_id}/paid",
    responses=plain_errors(400, 403, 404, 409, 413, 422),
    openapi_extra=object_body("The payment: its date and amount (docs/helix.md)"),
    summary="Record a tranche's payment",
)
async def pay_tranche(request: Request, tranche_id: PathId) -> Response:
    principal = await caller(request, write=True)
    body = await json_body(request)
    return json_response(
        await service.pay_tranche(engine_of(request), principal, tranche_id, body, request.url.path)
    )


@router.get(
    "/api/helix/deadlines",
    responses=plain_errors(400),
    summary="Call deadlines and unpaid tranches due within `days` (default 30) of today",
)
async def deadlines(request: Request) -> Response:
    await caller(request, write=False)
    days = int_parameter(request, "days")
    today = day_parameter(request, "today") or datetime.now(UTC).date()
    return json_response(
        await service.upcoming_deadlines(engine_of(request), today, 30 if days is None else days)
    )


@router.get(
    "/api/helix/scorecard",
    responses=plain_errors(400),
    summary="Every indicator for a period: value, target, status, trend, provenance, quality",
)
async def scorecard(request: Request) -> Response:
    await caller(request, write=False)
    return json_response(
        await service.scorecard(
            engine_of(request), request.app.state.settings, request.query_params.get("period")
        )
    )


@router.get(
    "/api/helix/scorecard.xlsx",
    responses=plain_errors(400),
    summary="The scorecard of a period as XLSX",
)
async def scorecard_xlsx(request: Request) -> Response:
    await caller(request, write=False)
    period = request.query_params.get("period")
    content = await service.scorecard_xlsx(engine_of(request), request.app.state.settings, period)
    return Response(
        content,
        media_type="application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
        headers={
            "Content-Disposition": f'attachment; filename="scorecard-{period or "current"}.xlsx"'
        },
    )


@router.get(
    "/api/helix/scorecard.pdf",
    responses=plain_errors(400),
    summary="The scorecard of a period as a printable PDF report, with its chart and provenance",
)
async def scorecard_pdf(request: Request) -> Response:
    await caller(request, write=False)
    period = request.query_params.get("period")
    content = await service.scorecard_pdf(engine_of(request), request.app.state.settings, period)
    return Response(
        content,
        media_type="application/pdf",
        headers={
            "Content-Disposition": f'attachment; filename="scorecard-{period or "current"}.pdf"'
        },
    )


@router.get(
    "/api/helix/calls/{call_id}/applications",
    responses=plain_errors(403, 404),
    summary="A call's applications with status, score and decision (analysts)",
)
async def list_applications(request: Request, call_id: PathId) -> Response:
    principal = await caller(request, write=True)  # scores are confidential
    return json_response(
        {"value": await service.list_applications(engine_of(request), principal, call_id)}
    )


@router.post(
    "/api/helix/scorecard/recompute",
    responses=plain_errors(400, 403),
    summary="Recompute the computed indicators of a period (default: the current year)",
)
async def recompute(request: Request) -> Response:
    principal = await caller(request, write=True)
    computed = await service.recompute_scorecard(
        engine_of(request),
        request.app.state.settings,
        principal,
        request.query_params.get("period"),
        request.url.path,
    )
    return json_response({"value": computed})


@router.post(
    "/api/helix/scorecard/values",
    responses=plain_errors(400, 403, 404, 409, 413, 422),
    openapi_extra=object_body("An indicator's value with its period, source and date"),
    status_code=201,
    summary="Enter a manual indicator's value with its source and date",
)
async def enter_value(request: Request) -> Response:
    principal = await caller(request, write=True)
    body = await json_body(request)
    entered = await service.enter_indicator_value(
        engine_of(request), principal, body, request.url.path
    )
    return json_response(entered, 201)


@router.get(
    "/api/helix/scorecard/indicators/{code}",
    responses=plain_errors(404),
    summary="An indicator and its values, per period",
)
async def indicator(request: Request, code: str) -> Response:
    await caller(request, write=False)
    return json_response(await service.indicator_history(engine_of(request), code))


def base_url(request: Request) -> str:
    configured: str = request.app.state.settings.public_url
    return configured or str(request.base_url)


@router.get(
    "/api/open-data/catalog",
    summary="The open-data catalogue, DCAT-AP as JSON-LD",
)
async def open_data_catalog(request: Request) -> Response:
    await caller(request, write=False)
    document = await service.open_data_catalog(engine_of(request), base_url(request))
    return Response(orjson.dumps(document), media_type="application/ld+json")


@router.get(
    "/api/open-data/datasets/{slug}.{file_format}",
    responses=plain_errors(400, 404),
    summary="A published dataset as CSV, GeoJSON or Parquet",
)
async def open_data_download(request: Request, slug: str, file_format: str) -> Response:
    await caller(request, write=False)
    content, media_type = await service.open_data_download(engine_of(request), slug, file_format)
    return Response(
        content,
        media_type=media_type,
        headers={"Content-Disposition": f'attachment; filename="{slug}.{file_format}"'},
    )


@router.post(
    "/api/open-data/datasets",
    responses=plain_errors(400, 403, 404, 409, 413, 422),
    openapi_extra=object_body("A dataset: the table it publishes and its metadata (docs/helix.md)"),
    status_code=201,
    summary="Publish a department's table as a dataset (listed once `public` is true)",
)
async def publish_dataset(request: Request) -> Response:
    principal = await caller(request, write=True)
    body = await json_body(request)
    created = await service.publish_dataset(engine_of(request), principal, body, request.url.path)
    return json_response(created, 201)


@router.patch(
    "/api/open-data/datasets/{slug}",
    responses=plain_errors(400, 403, 404, 409, 413, 422),
    openapi_extra=object_body("`public`, or the dataset's new records"),
    summary="Mark a department's dataset public or not, or replace its records",
)
async def change_dataset(request: Request, slug: str) -> Response:
    principal = await caller(request, write=True)
    body = await json_body(request)
    return json_response(
        await service.change_dataset(engine_of(request), principal, slug, body, request.url.path)
    )
