"""Alerts as CAP 1.2 messages, checked against the structure of CAP 1.2 section 3: the
elements of alert, info and area in the standard's order, its enumerations and its
formats; a resolved alert becomes a Cancel referring to the original; the Atom feed."""

from __future__ import annotations

import re
from xml.etree import ElementTree as ET

import httpx
import pytest

from tests.ops.conftest import Watch
from tests.ops.readings import new_datastream, new_rule, send, threshold

pytestmark = pytest.mark.asyncio

NS = "{urn:oasis:names:tc:emergency:cap:1.2}"
ATOM = "{http://www.w3.org/2005/Atom}"
#: CAP 1.2 3.2: the order of each block's elements (optional ones may be absent)
ALERT_ORDER = [
    "identifier", "sender", "sent", "status", "msgType", "source", "scope", "restriction",
    "addresses", "code", "note", "references", "incidents", "info",
]  # fmt: skip
INFO_ORDER = [
    "language", "category", "event", "responseType", "urgency", "severity", "certainty",
    "audience", "eventCode", "effective", "onset", "expires", "senderName", "headline",
    "description", "instruction", "web", "contact", "parameter", "resource", "area",
]  # fmt: skip
AREA_ORDER = ["areaDesc", "polygon", "circle", "geocode", "altitude", "ceiling"]
ENUMS = {
    "status": {"Actual", "Exercise", "System", "Test", "Draft"},
    "msgType": {"Alert", "Update", "Cancel", "Ack", "Error"},
    "scope": {"Public", "Restricted", "Private"},
    "category": {"Geo", "Met", "Safety", "Security", "Rescue", "Fire", "Health", "Env",
                 "Transport", "Infra", "CBRNE", "Other"},
    "responseType": {"Shelter", "Evacuate", "Prepare", "Execute", "Avoid", "Monitor", "Assess",
                     "AllClear", "None"},
    "urgency": {"Immediate", "Expected", "Future", "Past", "Unknown"},
    "severity": {"Extreme", "Severe", "Moderate", "Minor", "Unknown"},
    "certainty": {"Observed", "Likely", "Possible", "Unlikely", "Unknown"},
}  # fmt: skip
#: CAP 1.2 3.3.2: no fractional seconds, a numeric offset, never "Z"
CAP_TIME = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d[-+]\d\d:\d\d$")
PAIR = r"-?\d+(\.\d+)?,-?\d+(\.\d+)?"


def _names(element: ET.Element) -> list[str]:
    return [child.tag.removeprefix(NS) for child in element]


def _in_order(names: list[str], order: list[str]) -> None:
    assert all(name in order for name in names), names
    positions = [order.index(name) for name in names]
    assert positions == sorted(positions), names


def check_cap(alert: ET.Element) -> None:
    """Raise unless `alert` has CAP 1.2's structure."""
    assert alert.tag == f"{NS}alert"
    names = _names(alert)
    _in_order(names, ALERT_ORDER)
    for required in ("identifier", "sender", "sent", "status", "msgType", "scope"):
        assert names.count(required) == 1, required
    identifier = alert.findtext(f"{NS}identifier") or ""
    assert identifier and not re.search(r"[\s,<&]", identifier)
    assert CAP_TIME.match(alert.findtext(f"{NS}sent") or "")
    for info in alert.findall(f"{NS}info"):
        info_names = _names(info)
        _in_order(info_names, INFO_ORDER)
        for required in ("category", "event", "urgency", "severity", "certainty"):
            assert required in info_names, required
        for child in info:
            name = child.tag.removeprefix(NS)
            if name in ENUMS:
                assert child.text in ENUMS[name], (name, child.text)
            if name in ("effective", "onset", "expires"):
                assert CAP_TIME.match(child.text or "")
        for area in info.findall(f"{NS}area"):
            _in_order(_names(area), AREA_ORDER)
            assert area.findtext(f"{NS}areaDesc")
            for circle in area.findall(f"{NS}circle"):
                assert re.match(rf"^{PAIR} \d+(\.\d+)?$", circle.text or "")
            for polygon in area.findall(f"{NS}polygon"):
                pairs = (polygon.text or "").split(" ")
                assert len(pairs) >= 4 and pairs[0] == pairs[-1]
                assert all(re.match(rf"^{PAIR}$", pair) for pair in pairs)
    assert alert.findtext(f"{NS}status") in ENUMS["status"]
    assert alert.findtext(f"{NS}msgType") in ENUMS["msgType"]
    assert alert.findtext(f"{NS}scope") in ENUMS["scope"]


async def test_alert_as_cap_has_the_cap_structure_and_a_resolved_one_is_a_cancel(
    ops_client: httpx.AsyncClient, admin: dict[str, str], watch: Watch
) -> None:
    ds = await new_datastream(ops_client, admin)
    square = [[[106.6, 10.9], [106.7, 10.9], [106.7, 11.0], [106.6, 11.0], [106.6, 10.9]]]
    rule = threshold(
        ds,
        severity="critical",
        cap_category="Env",
        polygon={"type": "Polygon", "coordinates": square},
    )
    del rule["datastream_ids"]
    rule_id = await new_rule(ops_client, admin, **rule)
    await send(ops_client, admin, ds, 0, 80)
    raised = await watch.alert("raise", rule_id=rule_id)
    answer = await ops_client.get(f"/api/ops/alerts/{raised.id}.cap", headers=admin)
    assert answer.status_code == 200, answer.text
    assert answer.headers["content-type"].startswith("application/cap+xml")
    alert = ET.fromstring(answer.content)
    check_cap(alert)
    assert alert.findtext(f"{NS}msgType") == "Alert"
    info = alert.find(f"{NS}info")
    assert info is not None
    assert (info.findtext(f"{NS}severity"), info.findtext(f"{NS}category")) == ("Severe", "Env")
    assert info.findtext(f"{NS}event") == "PM2.5 high"
    assert info.findtext(f"{NS}effective") == "2026-11-01T00:00:00-00:00"
    assert info.findtext(f"{NS}area/{NS}circle") == "10.98,106.65 0"
    assert (info.findtext(f"{NS}area/{NS}polygon") or "").startswith("10.9,106.6 ")

    feed = await ops_client.get("/api/ops/alerts.atom", headers=admin)
    assert feed.headers["content-type"].startswith("application/atom+xml")
    entries = ET.fromstring(feed.content).findall(f"{ATOM}entry")
    assert len(entries) == 1
    embedded = entries[0].find(f"{ATOM}content/{NS}alert")
    assert embedded is not None
    check_cap(embedded)

    await ops_client.post(f"/api/ops/alerts/{raised.id}/resolve", json={}, headers=admin)
    cancel = ET.fromstring(
        (await ops_client.get(f"/api/ops/alerts/{raised.id}.cap", headers=admin)).content
    )
    check_cap(cancel)
    assert cancel.findtext(f"{NS}msgType") == "Cancel"
    references = (cancel.findtext(f"{NS}references") or "").split(",")
    assert references[1] == alert.findtext(f"{NS}identifier")
    assert cancel.findtext(f"{NS}identifier") != alert.findtext(f"{NS}identifier")
    feed = await ops_client.get("/api/ops/alerts.atom", headers=admin)
    assert ET.fromstring(feed.content).findall(f"{ATOM}entry") == []
    missing = await ops_client.get("/api/ops/alerts/4242.cap", headers=admin)
    assert missing.status_code == 404
