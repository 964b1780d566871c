"""Rules in the console: the list, and a form to create or edit one that is checked as the
operator types (the same check as `POST /api/ops/rules`, through `ops.service`) and
previewed over the last 24 hours on a chart before it is saved.

The form's text becomes the API's JSON body here, value by value: a number that does not
read as one is passed on as the text it is, so the operations centre's own check names it.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from typing import Any

import orjson
from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse, RedirectResponse, Response

from cityhelix.auth.principal import Principal
from cityhelix.hub import service as hub
from cityhelix.ops import service as ops
from cityhelix.web.kinds import N_
from cityhelix.web.routes.ops_common import engine_of, refusal_page, render_ops, settings_of
from cityhelix.web.security import WebRoute, check_csrf
from cityhelix.web.signin import StaffApi, StaffPage

router = APIRouter(route_class=WebRoute, include_in_schema=False)

#: the form's kinds (a composite rule combines others by id)
FORM_KINDS = ("threshold", "range", "rate", "stale", "anomaly", "composite")
#: the members of each kind's body besides the common ones
KIND_FIELDS: dict[str, tuple[str, ...]] = {
    "threshold": ("operator", "value", "clear_value", "escalation_value", "escalation_severity"),
    "rate": ("operator", "value", "clear_value", "escalation_value", "escalation_severity"),
    "anomaly": ("value", "clear_value", "window", "min_samples"),
    "range": ("low", "high", "clear_low", "clear_high"),
    "stale": ("minutes",),
    "composite": ("combine", "rule_ids"),
}
SCOPE_FIELDS = ("datastream_ids", "district", "observed_property_id")
#: optional members an edit may empty (sent as null so the stored value goes)
_NULLABLE = frozenset(
    {"clear_value", "escalation_value", "escalation_severity", "clear_low", "clear_high"}
    | set(SCOPE_FIELDS)
)
_TEXT = frozenset({"name", "kind", "severity", "operator", "combine", "district"})
_ID_LISTS = frozenset({"datastream_ids", "rule_ids"})
#: what each field is called on the form (source strings for the catalogue)
FIELD_LABELS: dict[str, str] = {
    "name": N_("Name"),
    "kind": N_("Kind of rule"),
    "severity": N_("Severity"),
    "datastream_ids": N_("Datastream ids"),
    "district": N_("District"),
    "observed_property_id": N_("Observed property id"),
    "operator": N_("Operator"),
    "value": N_("Trigger value"),
    "clear_value": N_("Clear value"),
    "escalation_value": N_("Escalation value"),
    "escalation_severity": N_("Escalation severity"),
    "low": N_("Low"),
    "high": N_("High"),
    "clear_low": N_("Clear low"),
    "clear_high": N_("Clear high"),
    "minutes": N_("Minutes without a reading"),
    "window": N_("Window (readings)"),
    "min_samples": N_("Minimum readings"),
    "combine": N_("Combine"),
    "rule_ids": N_("Rule ids"),
    "for_seconds": N_("Holds for (seconds)"),
    "enabled": N_("Enabled"),
}
#: Datastreams the preview chart draws at most
_CHARTED = 5


def _number(text: str) -> int | float | str:
    """The number `text` reads as, or the text itself (for the check to name)."""
    try:
        return int(text)
    except ValueError:
        pass
    try:
        return float(text)
    except ValueError:
        return text


def _ids(text: str) -> list[int | float | str]:
    return [_number(part) for part in re.split(r"[,\s]+", text) if part]


def rule_body_of(form: dict[str, str], *, editing: bool) -> dict[str, Any]:
    """The API body the form says (only the members of its kind)."""
    kind = form.get("kind", "")
    names = ["name", "kind", "severity", "for_seconds", *KIND_FIELDS.get(kind, ())]
    if kind != "composite":
        names += SCOPE_FIELDS
    body: dict[str, Any] = {}
    for name in names:
        text = form.get(name, "").strip()
        if not text:
            if editing and name in _NULLABLE:
                body[name] = None
            continue
        if name in _TEXT:
            body[name] = text if name != "name" else form.get(name, "")
        elif name in _ID_LISTS:
            body[name] = _ids(text)
        else:
            body[name] = _number(text)
    if "escalation_value" not in body or body["escalation_value"] is None:
        body.pop("escalation_severity", None)
    body["enabled"] = form.get("enabled") == "on"
    return body


def _form_values(rule: dict[str, Any]) -> dict[str, str]:
    """A stored rule as the form's text."""
    values: dict[str, str] = {}
    for name, value in rule.items():
        if value is None or isinstance(value, dict):
            continue
        if isinstance(value, list):
            values[name] = ", ".join(str(v) for v in value)
        elif isinstance(value, float) and value.is_integer():
            values[name] = str(int(value))
        else:
            values[name] = str(value)
    values["enabled"] = "on" if rule.get("enabled") else ""
    return values


def _editor(
    request: Request,
    values: dict[str, str],
    rule_id: int | None,
    error: ops.OpsError | None = None,
    status: int = 200,
) -> Response:
    return render_ops(
        request,
        "ops/rule_form.html",
        {
            "values": values,
            "rule_id": rule_id,
            "kinds": FORM_KINDS,
            "kind_fields": KIND_FIELDS,
            "severities": ops.SEVERITIES,
            "operators": ops.RULE_OPERATORS,
            "labels": FIELD_LABELS,
            "error": error,
        },
        status=status,
    )


def _may_write(user: Principal) -> ops.OpsError | None:
    if ops.may_change_rules(user):
        return None
    return ops.Forbidden(f"role {user.role.value} may not change rules")


@router.get("/console/rules")
async def rules_page(request: Request, user: StaffPage) -> Response:
    rules = await ops.list_rules(engine_of(request))
    return render_ops(
        request,
        "ops/rules.html",
        {"rules": rules, "may_write": ops.may_change_rules(user), "labels": FIELD_LABELS},
    )


@router.get("/console/rules/new")
async def new_rule(request: Request, user: StaffPage) -> Response:
    refused = _may_write(user)
    if refused is not None:
        return refusal_page(request, refused)
    values = {
        "kind": "threshold",
        "severity": "warning",
        "operator": "gt",
        "for_seconds": "0",
        "escalation_severity": "critical",
    }
    return _editor(request, values | {"enabled": "on"}, None)


@router.get("/console/rules/{rule_id}")
async def edit_rule(request: Request, rule_id: int, user: StaffPage) -> Response:
    refused = _may_write(user)
    try:
        if refused is not None:
            raise refused
        rule = await ops.read_rule(engine_of(request), rule_id)
    except ops.OpsError as error:
        return refusal_page(request, error)
    return _editor(request, _form_values(rule), rule_id)


def _rule_id_of(form: dict[str, str]) -> int:
    text = form.get("rule_id", "")
    return int(text) if text.isdigit() and len(text) < 12 else 0


@router.post("/console/rules/check")
async def check(request: Request, user: StaffApi) -> Response:
    """The form checked as the API would check it: a fragment naming the field, or "ok"."""
    form = await check_csrf(request)
    rule_id = _rule_id_of(form)
    error: ops.OpsError | None = None
    try:
        await ops.check_rule(engine_of(request), rule_body_of(form, editing=bool(rule_id)), rule_id)
    except ops.OpsError as refused:
        error = refused
    return render_ops(request, "ops/rule_check.html", {"error": error, "labels": FIELD_LABELS})


async def _series(request: Request, datastream_ids: list[int]) -> dict[str, Any]:
    """Minute means of the last 24 hours per Datastream, from the hub's aggregates."""
    end = datetime.now(UTC)
    series: dict[str, Any] = {}
    for datastream_id in datastream_ids[:_CHARTED]:
        try:
            buckets = await hub.minute_buckets(
                engine_of(request), datastream_id, end - timedelta(hours=24), end
            )
        except hub.HubError:
            continue
        series[str(datastream_id)] = [[hub.format_time(b.start), round(b.mean, 4)] for b in buckets]
    return series


@router.post("/console/rules/preview")
async def preview(request: Request, user: StaffApi) -> Response:
    """When the form's rule would have fired over the last 24 hours, and the readings."""
    form = await check_csrf(request)
    rule_id = _rule_id_of(form)
    body = rule_body_of(form, editing=bool(rule_id))
    try:
        result = await ops.preview_rule(engine_of(request), settings_of(request), body, 24, rule_id)
    except ops.OpsError as error:
        return JSONResponse(
            {"detail": error.message, "field": error.field}, status_code=error.status
        )
    listed = [i for i in body.get("datastream_ids") or [] if isinstance(i, int)]
    fired = [a["datastream_id"] for a in result["alerts"] if a["datastream_id"]]
    charted = list(dict.fromkeys([*listed, *fired]))
    result["series"] = await _series(request, charted)
    result["levels"] = {
        name: body[name]
        for name in ("value", "clear_value", "low", "high")
        if isinstance(body.get(name), int | float)
    }
    return Response(orjson.dumps(result), media_type="application/json")


async def _save(request: Request, user: Principal, rule_id: int | None) -> Response:
    form = await check_csrf(request)
    refused = _may_write(user)
    if refused is not None:
        return refusal_page(request, refused)
    body = rule_body_of(form, editing=rule_id is not None)
    engine = engine_of(request)
    try:
        if rule_id is None:
            await ops.create_rule_checked(engine, user, body)
        else:
            await ops.update_rule(engine, user, rule_id, body)
    except ops.OpsError as error:
        if error.status in (403, 404):
            return refusal_page(request, error)
        return _editor(request, dict(form), rule_id, error, status=error.status)
    return RedirectResponse("/console/rules", status_code=303)


@router.post("/console/rules")
async def create(request: Request, user: StaffPage) -> Response:
    return await _save(request, user, None)


@router.post("/console/rules/{rule_id}")
async def update(request: Request, rule_id: int, user: StaffPage) -> Response:
    return await _save(request, user, rule_id)
