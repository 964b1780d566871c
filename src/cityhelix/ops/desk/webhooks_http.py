"""`/api/ops/webhooks`: subscriptions, their deliveries, the dead-letter list and replay
(admins and operators only: a subscription receives every matching event)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, Request
from fastapi.responses import Response
from sqlalchemy import select

from cityhelix.auth.principal import Principal, Role
from cityhelix.auth.service import record_write
from cityhelix.openapi_errors import object_body, plain_errors
from cityhelix.ops.desk import webhooks as hooks
from cityhelix.ops.desk.http import PathId, engine_of, json_body, json_response, settings_of, staff
from cityhelix.ops.desk.tables import webhook_deliveries, webhooks
from cityhelix.ops.desk.webhook_targets import check_target
from cityhelix.ops.errors import Forbidden, NotFound
from cityhelix.ops.routes import OpsRoute

router = APIRouter(
    prefix="/api/ops/webhooks",
    route_class=OpsRoute,
    tags=["ops: webhooks"],
    responses=plain_errors(401, 403, 429),
)


async def _operator(request: Request) -> Principal:
    principal = await staff(request)
    if principal.role not in (Role.ADMIN, Role.OPERATOR):
        raise Forbidden("webhooks are managed by admins and operators")
    return principal


@router.post(
    "",
    responses=plain_errors(400, 413),
    openapi_extra=object_body('`{"url", "events", "secret"}`: docs/operations-centre.md'),
)
async def create(request: Request) -> Response:
    principal = await _operator(request)
    fields = hooks.subscription_from_body(await json_body(request))
    await check_target(fields["url"], settings_of(request).ops_webhook_allowed_hosts)
    async with engine_of(request).begin() as connection:
        webhook_id = await hooks.create_webhook(connection, fields, principal.name)
        await record_write(
            connection, principal, "POST", request.url.path, [("Webhook", webhook_id)]
        )
        row = (await connection.execute(select(webhooks).where(webhooks.c.id == webhook_id))).one()
    return json_response(
        hooks.webhook_json(row), 201, headers={"Location": f"/api/ops/webhooks/{webhook_id}"}
    )


@router.get("")
async def listing(request: Request) -> Response:
    await _operator(request)
    async with engine_of(request).connect() as connection:
        rows = await connection.execute(select(webhooks).order_by(webhooks.c.id))
        return json_response({"value": [hooks.webhook_json(r) for r in rows]})


@router.get("/dead-letters")
async def dead_letters(
    request: Request, top: Annotated[int, Query(alias="$top", ge=1, le=1000)] = 100
) -> Response:
    await _operator(request)
    async with engine_of(request).connect() as connection:
        rows = await connection.execute(
            select(webhook_deliveries)
            .where(webhook_deliveries.c.status == "dead")
            .order_by(webhook_deliveries.c.id)
            .limit(top)
        )
        return json_response({"value": [hooks.delivery_json(r) for r in rows]})


@router.post("/dead-letters/{delivery_id}/replay", responses=plain_errors(404, 409))
async def replay(request: Request, delivery_id: PathId) -> Response:
    principal = await _operator(request)
    async with engine_of(request).begin() as connection:
        await hooks.replay(connection, delivery_id)
        await record_write(
            connection, principal, "POST", request.url.path, [("WebhookDelivery", delivery_id)]
        )
        row = (
            await connection.execute(
                select(webhook_deliveries).where(webhook_deliveries.c.id == delivery_id)
            )
        ).one()
    return json_response(hooks.delivery_json(row))


@router.get("/{webhook_id}", responses=plain_errors(404))
async def one(request: Request, webhook_id: PathId) -> Response:
    await _operator(request)
    async with engine_of(request).connect() as connection:
        row = (
            await connection.execute(select(webhooks).where(webhooks.c.id == webhook_id))
        ).first()
    if row is None:
        raise NotFound(f"no webhook {webhook_id}")
    return json_response(hooks.webhook_json(row))


@router.delete("/{webhook_id}", responses=plain_errors(404))
async def remove(request: Request, webhook_id: PathId) -> Response:
    principal = await _operator(request)
    async with engine_of(request).begin() as connection:
        await hooks.delete_webhook(connection, webhook_id)
        await record_write(
            connection, principal, "DELETE", request.url.path, [("Webhook", webhook_id)]
        )
    return Response(status_code=204)


@router.get("/{webhook_id}/deliveries")
async def deliveries(
    request: Request,
    webhook_id: PathId,
    status: Annotated[str | None, Query(pattern="^(pending|delivered|dead)$")] = None,
    top: Annotated[int, Query(alias="$top", ge=1, le=1000)] = 100,
) -> Response:
    await _operator(request)
    query = select(webhook_deliveries).where(webhook_deliveries.c.webhook_id == webhook_id)
    if status:
        query = query.where(webhook_deliveries.c.status == status)
    async with engine_of(request).connect() as connection:
        rows = await connection.execute(query.order_by(webhook_deliveries.c.id).limit(top))
        return json_response({"value": [hooks.delivery_json(r) for r in rows]})
