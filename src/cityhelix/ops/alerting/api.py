"""HTTP for rules and alerts under `/api/ops`: translates requests to `actions` and back.

Writes need an admin or operator, are audited and announce themselves on the outbox
(ops.Rule.* so every process's evaluator reloads its rules in stream order); `actions`
does the checks and the writes, the same for the web console.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Body, Header, Path, Query, Request, Response
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncEngine

from cityhelix.auth.deps import principal_from_header
from cityhelix.auth.principal import Principal, Role
from cityhelix.openapi_errors import object_body, plain_errors
from cityhelix.ops.alerting import actions, store
from cityhelix.ops.alerting.rules import Rule
from cityhelix.ops.alerting.scope import HubView
from cityhelix.ops.alerting.tables import ops_alerts
from cityhelix.ops.errors import Forbidden
from cityhelix.ops.routes import OpsRoute
from cityhelix.settings import Settings

#: every route needs a staff token
router = APIRouter(
    prefix="/api/ops",
    route_class=OpsRoute,
    tags=["operations centre"],
    responses=plain_errors(401, 403, 429),
)

WRITERS = frozenset({Role.ADMIN, Role.OPERATOR})
READERS = frozenset({Role.ADMIN, Role.OPERATOR, Role.ANALYST, Role.DEPARTMENT})
MAX_PREVIEW_HOURS = 24 * 31


def _engine(request: Request) -> AsyncEngine:
    engine: AsyncEngine = request.app.state.engine
    return engine


def _view(request: Request) -> HubView:
    view: HubView | None = getattr(request.app.state, "ops_hub_view", None)
    if view is None:
        view = request.app.state.ops_hub_view = HubView(_engine(request))
    return view


async def caller(request: Request, header: str | None, roles: frozenset[Role]) -> Principal:
    settings: Settings = request.app.state.settings
    principal = await principal_from_header(_engine(request), settings, header, write=True)
    if principal.role not in roles:
        raise Forbidden(f"role {principal.role.value} may not do this here")
    return principal


Auth = Annotated[str | None, Header(alias="Authorization")]
#: an id in a path: past 2**62 nothing exists, and the database is never asked (no overflow)
PathId = Annotated[int, Path(ge=1, le=2**62)]

_RULE_CHANGE = "The rule's members to change (not its kind: docs/operations-centre.md)"
_RULE = "A rule (kind, name, severity, datastream or scope, levels, ...: docs/operations-centre.md)"
#: the optional body of an alert's step: a comment recorded on its timeline
_COMMENT = {
    "requestBody": {
        **object_body('`{"comment": "..."}`, recorded on the alert\'s timeline')["requestBody"],
        "required": False,
    }
}


@router.post(
    "/rules",
    status_code=201,
    responses=plain_errors(400, 413),
    openapi_extra=object_body(_RULE),
)
async def create_rule(
    request: Request, body: Annotated[Any, Body()], authorization: Auth = None
) -> dict[str, Any]:
    principal = await caller(request, authorization, WRITERS)
    return await actions.create_rule(_view(request), principal, body)


@router.get("/rules")
async def list_rules(request: Request, authorization: Auth = None) -> dict[str, Any]:
    await caller(request, authorization, READERS)
    return {"value": await actions.list_rules(_engine(request))}


@router.post("/rules/preview", responses=plain_errors(400, 413), openapi_extra=object_body(_RULE))
async def preview_body(
    request: Request,
    body: Annotated[Any, Body()],
    hours: Annotated[float, Query(gt=0, le=MAX_PREVIEW_HOURS)] = 24,
    authorization: Auth = None,
) -> dict[str, Any]:
    await caller(request, authorization, READERS)
    rule = await actions.checked_rule(_view(request), body)
    return await _preview(request, rule, hours)


async def _preview(request: Request, rule: Rule, hours: float) -> dict[str, Any]:
    settings: Settings = request.app.state.settings
    return await actions.preview_rule(
        _view(request), rule, hours, min_reraise_seconds=settings.ops_alert_min_reraise_seconds
    )


@router.post("/rules/{rule_id}/preview", responses=plain_errors(400, 404))
async def preview_rule(
    request: Request,
    rule_id: PathId,
    hours: Annotated[float, Query(gt=0, le=MAX_PREVIEW_HOURS)] = 24,
    authorization: Auth = None,
) -> dict[str, Any]:
    await caller(request, authorization, READERS)
    async with _engine(request).connect() as connection:
        rule = store.rule_of(await actions.rule_row(connection, rule_id))
    return await _preview(request, rule, hours)


@router.get("/rules/{rule_id}", responses=plain_errors(404))
async def get_rule(request: Request, rule_id: PathId, authorization: Auth = None) -> dict[str, Any]:
    await caller(request, authorization, READERS)
    async with _engine(request).connect() as connection:
        return actions.rule_json(await actions.rule_row(connection, rule_id))


@router.patch(
    "/rules/{rule_id}",
    responses=plain_errors(400, 404, 413),
    openapi_extra=object_body(_RULE_CHANGE),
)
async def patch_rule(
    request: Request, rule_id: PathId, body: Annotated[Any, Body()], authorization: Auth = None
) -> dict[str, Any]:
    principal = await caller(request, authorization, WRITERS)
    return await actions.update_rule(_view(request), principal, rule_id, body)


@router.delete("/rules/{rule_id}", status_code=204, responses=plain_errors(404, 409))
async def delete_rule(request: Request, rule_id: PathId, authorization: Auth = None) -> Response:
    principal = await caller(request, authorization, WRITERS)
    await actions.delete_rule(_engine(request), principal, rule_id)
    return Response(status_code=204)


# --- alerts ---------------------------------------------------------------------------


@router.get("/alerts")
async def list_alerts(
    request: Request,
    state: Annotated[str | None, Query(pattern="^(active|acknowledged|cleared|resolved)$")] = None,
    rule_id: Annotated[int | None, Query(ge=1, le=2**62)] = None,
    datastream_id: Annotated[int | None, Query(ge=1, le=2**62)] = None,
    severity: Annotated[str | None, Query(pattern="^(info|warning|critical)$")] = None,
    limit: Annotated[int, Query(ge=1, le=10_000)] = 1000,
    authorization: Auth = None,
) -> dict[str, Any]:
    await caller(request, authorization, READERS)
    query = select(ops_alerts).order_by(ops_alerts.c.id.desc()).limit(limit)
    if state is not None:
        query = query.where(ops_alerts.c.state == state)
    if rule_id is not None:
        query = query.where(ops_alerts.c.rule_id == rule_id)
    if datastream_id is not None:
        query = query.where(ops_alerts.c.datastream_id == datastream_id)
    if severity is not None:
        query = query.where(ops_alerts.c.severity == severity)
    async with _engine(request).connect() as connection:
        rows = (await connection.execute(query)).all()
    return {"value": [store.alert_json(row) for row in rows]}


@router.get("/alerts/{alert_id}", responses=plain_errors(404))
async def get_alert(
    request: Request, alert_id: PathId, authorization: Auth = None
) -> dict[str, Any]:
    await caller(request, authorization, READERS)
    async with _engine(request).connect() as connection:
        row = await actions.alert_or_404(connection, alert_id)
        timeline = await actions.alert_timeline(connection, alert_id)
    return {**store.alert_json(row), "timeline": timeline}


async def _step(
    request: Request, alert_id: int, body: object, authorization: str | None, step: str
) -> dict[str, Any]:
    principal = await caller(request, authorization, WRITERS)
    comment = actions.checked_comment(body)
    return await actions.change_alert(
        _engine(request), request.app.state.stream, principal, alert_id, step, comment
    )


@router.post(
    "/alerts/{alert_id}/acknowledge",
    responses=plain_errors(400, 404, 409, 413),
    openapi_extra=_COMMENT,
)
async def acknowledge_alert(
    request: Request,
    alert_id: PathId,
    body: Annotated[Any, Body()] = None,
    authorization: Auth = None,
) -> dict[str, Any]:
    return await _step(request, alert_id, body, authorization, "acknowledged")


@router.post(
    "/alerts/{alert_id}/resolve",
    responses=plain_errors(400, 404, 409, 413),
    openapi_extra=_COMMENT,
)
async def resolve_alert(
    request: Request,
    alert_id: PathId,
    body: Annotated[Any, Body()] = None,
    authorization: Auth = None,
) -> dict[str, Any]:
    return await _step(request, alert_id, body, authorization, "resolved")
