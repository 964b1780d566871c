"""The screening policy editor under /invest/staff/policies: every version (the one in force
marked) with its rules, a draft made from the one in force with changed severities and
thresholds, the what-if view of the registry under a draft, and its adoption.

Any staff member may read the policy (it is public through the API); drafting, the what-if
view (it screens the registry) and adopting are for analysts and admins. Thin over
`invest.service`: `draft_policy` validates a draft as `POST /api/invest/policies` does.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Path, Request
from fastapi.responses import RedirectResponse, Response

from cityhelix.auth.principal import Principal
from cityhelix.invest import service
from cityhelix.invest.service import InvestError
from cityhelix.web.i18n import choose_language, translations
from cityhelix.web.routes.invest_forms import N_, FormProblem
from cityhelix.web.routes.invest_staff import VERDICT_LABELS, InvestStaff, render_staff_page
from cityhelix.web.security import CsrfRefused, WebRoute, csrf_matches
from cityhelix.web.signin import StaffPage

router = APIRouter(route_class=WebRoute, include_in_schema=False)

PolicyVersion = Annotated[int, Path(ge=1, le=2**31 - 1)]
#: the most form fields the editor takes (a severity and a few numbers per rule, 100 rules)
_MAX_FIELDS = 800
#: the projects whose verdict changes that the what-if view lists (the counts cover all)
WHAT_IF_ROWS = 500

#: rule severities as the editor offers them
SEVERITY_LABELS: dict[str, str] = {
    "block": N_("Block"),
    "flag": N_("Flag"),
    "priority": N_("Priority test"),
}
#: a rule's numbers, by the last part of their path
NUMBER_LABELS: dict[str, str] = {
    "threshold": N_("Threshold"),
    "threshold_polluting": N_("Threshold for a polluting type"),
    "threshold_other": N_("Threshold for other projects"),
}


def _can_edit(user: Principal) -> bool:
    return user.role in service.STAFF


def plain_number(value: float) -> str:
    """A number as a form field shows it: no grouping, no exponent, no trailing `.0`."""
    if float(value).is_integer():
        return str(int(value))
    return repr(float(value))


def _rule_rows(document: dict[str, Any]) -> list[dict[str, Any]]:
    """Each rule with its editable numbers labelled (size bands by their names)."""
    rows = []
    for rule in document["rules"]:
        numbers = []
        bands = [band["name"] for band in rule.get("bands") or []]
        for path, value in service.editable_numbers(rule):
            parts = path.split(".")
            band = bands[int(parts[3])] if parts[2] == "bands" else None
            numbers.append(
                {
                    "path": path,
                    "value": plain_number(value),
                    "label": NUMBER_LABELS.get(parts[-1], parts[-1]),
                    "band": band,
                }
            )
        rows.append({"rule": rule, "numbers": numbers})
    return rows


def _differences(policy: dict[str, Any], in_force: dict[str, Any]) -> dict[str, list[str]]:
    """Per rule code, the paths whose severity or number differs from the policy in force."""
    now = {rule["code"]: rule for rule in in_force["document"]["rules"]}
    changed: dict[str, list[str]] = {}
    for rule in policy["document"]["rules"]:
        code = rule["code"]
        before = now.get(code)
        if before is None:
            changed[code] = [f"rules.{code}"]
            continue
        paths = [f"rules.{code}.severity"] if rule["severity"] != before["severity"] else []
        old = dict(service.editable_numbers(before))
        paths += [p for p, v in service.editable_numbers(rule) if old.get(p) != v]
        if paths:
            changed[code] = paths
    return changed


async def _checked_form(request: Request) -> dict[str, str]:
    """The POSTed fields when the CSRF field matches the cookie (as `check_csrf`, with room
    for a field per rule)."""
    form = await request.form(max_files=0, max_fields=_MAX_FIELDS, max_part_size=64 * 1024)
    fields = {key: value for key, value in form.items() if isinstance(value, str)}
    if not csrf_matches(request, fields):
        raise CsrfRefused("the form's CSRF token is missing or stale: reload the page")
    return fields


def _labels(request: Request) -> dict[str, Any]:
    catalogue = translations(choose_language(request))
    return {"severity_labels": {k: catalogue.gettext(v) for k, v in SEVERITY_LABELS.items()}}


async def _editor(
    request: Request,
    user: Principal,
    values: dict[str, str] | None = None,
    problem: FormProblem | None = None,
    status: int = 200,
) -> Response:
    engine = request.app.state.engine
    versions = await service.list_policies(engine)
    in_force = next(policy for policy in versions if policy["in_force"])
    return render_staff_page(
        request,
        "invest/staff/policies.html",
        {
            **_labels(request),
            "versions": list(reversed(versions)),
            "in_force": in_force,
            "rows": _rule_rows(in_force["document"]),
            "can_edit": _can_edit(user),
            "values": values or {},
            "problem": problem,
        },
        status,
    )


@router.get("/invest/staff/policies")
async def policies(request: Request, user: StaffPage) -> Response:
    """Every version, the rules in force, and (for analysts) the form of a new draft."""
    return await _editor(request, user)


def _changes(form: dict[str, str]) -> dict[str, object]:
    """The form's rule fields: severities as given, numbers read (or FormProblem)."""
    changes: dict[str, object] = {}
    for name, text in form.items():
        if not name.startswith("rules."):
            continue
        if name.endswith(".severity"):
            changes[name] = text.strip()
            continue
        cleaned = text.strip().replace(" ", "")
        try:
            changes[name] = float(cleaned)
        except ValueError:
            raise FormProblem(name, f"expected a number, got {cleaned[:40]!r}") from None
    return changes


@router.post("/invest/staff/policies")
async def make_draft(request: Request, user: InvestStaff) -> Response:
    """A new draft: the policy in force with the form's severities and thresholds."""
    form = await _checked_form(request)
    try:
        draft = await service.draft_policy(
            request.app.state.engine,
            user,
            _changes(form),
            form.get("note"),
            "/api/invest/policies",
        )
    except FormProblem as problem:
        return await _editor(request, user, form, problem, 400)
    except InvestError as error:
        named = FormProblem(error.field or "form", error.message)
        return await _editor(request, user, form, named, error.status)
    return RedirectResponse(f"/invest/staff/policies/{draft['version']}?made=1", status_code=303)


@router.get("/invest/staff/policies/{version}")
async def policy_version(request: Request, version: PolicyVersion, user: StaffPage) -> Response:
    """One version's rules, what differs from the policy in force, and for a version not in
    force the what-if view: the registry's verdicts under it beside those in force."""
    engine = request.app.state.engine
    try:
        policy = await service.get_policy(engine, version)
    except InvestError as error:
        return render_staff_page(
            request,
            "invest/staff/problem.html",
            {"field": "version", "message": error.message, "back": "/invest/staff/policies"},
            error.status,
        )
    in_force = await service.get_policy(engine, None)
    what_if = None
    if _can_edit(user) and not policy["in_force"]:
        what_if = await service.portfolio(engine, user, version)
    return render_staff_page(
        request,
        "invest/staff/policy.html",
        {
            **_labels(request),
            "policy": policy,
            "in_force": in_force,
            "rows": _rule_rows(policy["document"]),
            "differences": _differences(policy, in_force),
            "what_if": what_if,
            "what_if_rows": WHAT_IF_ROWS,
            "verdict_order": list(VERDICT_LABELS),
            "can_edit": _can_edit(user),
            "made": request.query_params.get("made") == "1",
            "adopted": request.query_params.get("adopted") == "1",
        },
    )


@router.post("/invest/staff/policies/{version}/adopt")
async def adopt(request: Request, version: PolicyVersion, user: InvestStaff) -> Response:
    """Put a draft in force; screenings stored under older versions keep theirs."""
    await _checked_form(request)
    try:
        await service.adopt_policy(
            request.app.state.engine, user, version, f"/api/invest/policies/{version}/adopt"
        )
    except InvestError as error:
        return render_staff_page(
            request,
            "invest/staff/problem.html",
            {
                "field": error.field or "version",
                "message": error.message,
                "back": f"/invest/staff/policies/{version}",
            },
            error.status,
        )
    return RedirectResponse(f"/invest/staff/policies/{version}?adopted=1", status_code=303)
