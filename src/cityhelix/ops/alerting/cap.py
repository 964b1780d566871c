"""Alerts as CAP 1.2 (OASIS Common Alerting Protocol) messages and an Atom feed of the open
ones, for national warning systems and IOC products.

Element order, enumerations and formats follow CAP 1.2 section 3 (times with a numeric
offset, UTC as "-00:00"; a circle "lat,lon radius-km"; a polygon of closed lat,lon pairs).
An open alert is msgType Alert; a cleared or resolved one a Cancel that references it.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Any
from xml.etree import ElementTree as ET

from fastapi import APIRouter, Header, Path, Request, Response
from sqlalchemy import select

from cityhelix.openapi_errors import plain_errors
from cityhelix.ops.alerting import store
from cityhelix.ops.alerting.actions import alert_or_404
from cityhelix.ops.alerting.api import READERS, caller
from cityhelix.ops.alerting.rules import Rule
from cityhelix.ops.alerting.tables import ops_alerts, ops_rules
from cityhelix.ops.routes import OpsRoute
from cityhelix.settings import Settings

router = APIRouter(
    prefix="/api/ops",
    route_class=OpsRoute,
    tags=["operations centre"],
    responses=plain_errors(401, 403, 429),
)

CAP = "urn:oasis:names:tc:emergency:cap:1.2"
ATOM = "http://www.w3.org/2005/Atom"
MEDIA_TYPE = "application/cap+xml"
#: severities of CAP 1.2 for ours (Extreme is left to human authorities)
SEVERITY = {"info": "Minor", "warning": "Moderate", "critical": "Severe"}
FEED_SIZE = 1000

ET.register_namespace("", CAP)
ET.register_namespace("atom", ATOM)


def cap_time(value: datetime) -> str:
    """CAP's dateTime: seconds, a numeric offset, UTC written "-00:00" (3.3.2)."""
    return value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S-00:00")


def identifier(alert_id: int, ended: bool) -> str:
    return f"cityhelix-alert-{alert_id}{'-end' if ended else ''}"


def _add(parent: ET.Element, name: str, text: str | None = None) -> ET.Element:
    element = ET.SubElement(parent, f"{{{CAP}}}{name}")
    if text is not None:
        element.text = text
    return element


def _polygon(rule: Rule) -> str | None:
    """The rule's polygon's outer ring as CAP pairs (lat,lon; closed), if it has one."""
    polygon = rule.scope.polygon
    if polygon is None:
        return None
    coordinates = polygon["coordinates"]
    ring = coordinates[0] if polygon["type"] == "Polygon" else coordinates[0][0]
    pairs = [f"{float(lat):g},{float(lon):g}" for lon, lat, *_ in ring]
    if pairs[0] != pairs[-1]:
        pairs.append(pairs[0])
    return " ".join(pairs)


def cap_alert(row: Any, rule: Rule, sender: str) -> ET.Element:
    """The CAP 1.2 `alert` of one alert."""
    ended = row.state in ("cleared", "resolved")
    alert = ET.Element(f"{{{CAP}}}alert")
    _add(alert, "identifier", identifier(row.id, ended))
    _add(alert, "sender", sender)
    _add(alert, "sent", cap_time(row.ended_at if ended and row.ended_at else row.last_seen))
    _add(alert, "status", "Actual")
    _add(alert, "msgType", "Cancel" if ended else "Alert")
    _add(alert, "scope", "Public")
    if ended:
        _add(alert, "note", f"{row.state} {cap_time(row.ended_at or row.last_seen)}")
        _add(
            alert, "references", f"{sender},{identifier(row.id, False)},{cap_time(row.first_seen)}"
        )
    info = _add(alert, "info")
    _add(info, "language", "en-US")
    _add(info, "category", rule.cap_category)
    _add(info, "event", rule.name)
    _add(info, "responseType", "Monitor")
    _add(info, "urgency", "Past" if ended else "Immediate")
    _add(info, "severity", SEVERITY.get(row.severity, "Unknown"))
    _add(info, "certainty", "Observed")
    _add(info, "effective", cap_time(row.first_seen))
    _add(info, "senderName", "CityHelix operations centre")
    value = "" if row.value is None else f" {row.value:g}"
    _add(info, "headline", f"{rule.name}{value}"[:160])
    where = f" on Datastream {row.datastream_id}" if row.datastream_id is not None else ""
    _add(
        info,
        "description",
        f"{rule.name}{where}: {row.count} reading(s) from {cap_time(row.first_seen)} "
        f"to {cap_time(row.last_seen)}, last value{value or ' none'}; state {row.state}.",
    )
    for name, text in (
        ("rule_id", str(row.rule_id)),
        ("datastream_id", str(row.datastream_id or "")),
        ("count", str(row.count)),
        ("state", row.state),
    ):
        parameter = _add(info, "parameter")
        _add(parameter, "valueName", name)
        _add(parameter, "value", text)
    polygon = _polygon(rule)
    location = row.location
    if polygon is not None or location:
        area = _add(info, "area")
        _add(area, "areaDesc", row.district or (rule.scope.district or f"{rule.name} area"))
        if polygon is not None:
            _add(area, "polygon", polygon)
        if location:
            lon, lat = location[0], location[1]
            _add(area, "circle", f"{float(lat):g},{float(lon):g} 0")
    return alert


def _xml(element: ET.Element) -> bytes:
    data: bytes = ET.tostring(element, encoding="utf-8", xml_declaration=True)
    return data


async def _rules(connection: Any, rule_ids: set[int]) -> dict[int, Rule]:
    rows = await connection.execute(select(ops_rules).where(ops_rules.c.id.in_(sorted(rule_ids))))
    return {row.id: store.rule_of(row) for row in rows}


@router.get(
    "/alerts/{alert_id:int}.cap",
    response_class=Response,
    responses={200: {"content": {MEDIA_TYPE: {}}}, **plain_errors(404)},
)
async def alert_as_cap(
    request: Request,
    alert_id: Annotated[int, Path(ge=1, le=2**62)],
    authorization: Annotated[str | None, Header(alias="Authorization")] = None,
) -> Response:
    """One alert as a CAP 1.2 message (application/cap+xml)."""
    await caller(request, authorization, READERS)
    settings: Settings = request.app.state.settings
    async with request.app.state.engine.connect() as connection:
        row = await alert_or_404(connection, alert_id)
        rule = (await _rules(connection, {row.rule_id}))[row.rule_id]
    return Response(_xml(cap_alert(row, rule, settings.ops_cap_sender)), media_type=MEDIA_TYPE)


@router.get(
    "/alerts.atom",
    response_class=Response,
    responses={200: {"content": {"application/atom+xml": {}}}},
)
async def open_alerts_feed(
    request: Request,
    authorization: Annotated[str | None, Header(alias="Authorization")] = None,
) -> Response:
    """An Atom feed of the open (active, acknowledged) alerts, each entry a CAP message."""
    await caller(request, authorization, READERS)
    settings: Settings = request.app.state.settings
    async with request.app.state.engine.connect() as connection:
        rows = (
            await connection.execute(
                select(ops_alerts)
                .where(ops_alerts.c.state.in_(store.OPEN_STATES))
                .order_by(ops_alerts.c.last_seen.desc(), ops_alerts.c.id.desc())
                .limit(FEED_SIZE)
            )
        ).all()
        rules = await _rules(connection, {row.rule_id for row in rows})
    base = str(request.base_url).rstrip("/")
    feed = ET.Element(f"{{{ATOM}}}feed")
    ET.SubElement(feed, f"{{{ATOM}}}id").text = f"{base}/api/ops/alerts.atom"
    ET.SubElement(feed, f"{{{ATOM}}}title").text = "CityHelix open alerts (CAP 1.2)"
    updated = max((row.last_seen for row in rows), default=datetime.now(UTC))
    ET.SubElement(feed, f"{{{ATOM}}}updated").text = updated.astimezone(UTC).isoformat()
    author = ET.SubElement(feed, f"{{{ATOM}}}author")
    ET.SubElement(author, f"{{{ATOM}}}name").text = settings.ops_cap_sender
    for row in rows:
        entry = ET.SubElement(feed, f"{{{ATOM}}}entry")
        link = f"{base}/api/ops/alerts/{row.id}.cap"
        ET.SubElement(entry, f"{{{ATOM}}}id").text = link
        ET.SubElement(
            entry, f"{{{ATOM}}}title"
        ).text = f"{rules[row.rule_id].name} ({row.severity})"
        ET.SubElement(entry, f"{{{ATOM}}}updated").text = row.last_seen.astimezone(UTC).isoformat()
        ET.SubElement(entry, f"{{{ATOM}}}link", rel="alternate", type=MEDIA_TYPE, href=link)
        content = ET.SubElement(entry, f"{{{ATOM}}}content", type=MEDIA_TYPE)
        content.append(cap_alert(row, rules[row.rule_id], settings.ops_cap_sender))
    return Response(_xml(feed), media_type="application/atom+xml")
