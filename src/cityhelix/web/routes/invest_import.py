"""The import page under /invest/staff/import: a CSV or XLSX table of parks, plots, projects
or leads, imported all or nothing by `invest.service.import_table` (what
`POST /api/invest/import/{kind}` calls); a refused file's problems listed by row and column.

Analysts and admins only. The upload is bounded before it is read (the request's length,
then the file's bytes), and its form carries the CSRF token like every staff form.
"""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import RedirectResponse, Response
from starlette.datastructures import UploadFile

from cityhelix.invest import service
from cityhelix.invest.service import InvestError, Unprocessable
from cityhelix.web.i18n import choose_language, translations
from cityhelix.web.routes.invest_forms import N_, FormProblem
from cityhelix.web.routes.invest_staff import InvestStaff, render_staff_page
from cityhelix.web.security import CsrfRefused, WebRoute, csrf_matches

router = APIRouter(route_class=WebRoute, include_in_schema=False)

#: what a file may hold, as the page names it (the keys are the API's kinds)
KIND_LABELS: dict[str, str] = {
    "parks": N_("Industrial parks"),
    "plots": N_("Plots of land"),
    "projects": N_("Projects of the FDI registry"),
    "leads": N_("Leads of the pipeline"),
}
#: a file's type by its name's ending (browsers disagree on a CSV's Content-Type)
_TYPES = {
    ".csv": "text/csv",
    ".xlsx": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
}
#: room in the request for the form's other fields and the multipart framing
_FRAMING_BYTES = 64 * 1024


def _import_page(
    request: Request,
    kind: str,
    *,
    problem: FormProblem | None = None,
    problems: list[dict[str, object]] | None = None,
    status: int = 200,
) -> Response:
    catalogue = translations(choose_language(request))
    imported = request.query_params.get("imported", "")
    return render_staff_page(
        request,
        "invest/staff/import.html",
        {
            "kinds": {k: catalogue.gettext(v) for k, v in KIND_LABELS.items()},
            "kind": kind,
            "columns": {k: service.import_columns(k) for k in KIND_LABELS},
            "max_mb": service.IMPORT_MAX_BYTES // (1024 * 1024),
            "imported": int(imported) if imported.isdigit() and len(imported) < 9 else None,
            "problem": problem,
            "problems": problems,
        },
        status,
    )


@router.get("/invest/staff/import")
async def import_form(request: Request, user: InvestStaff) -> Response:
    """The upload form, the columns of each kind, and the outcome of the last import."""
    kind = request.query_params.get("kind", "parks")
    return _import_page(request, kind if kind in KIND_LABELS else "parks")


@router.post("/invest/staff/import")
async def import_file(request: Request, user: InvestStaff) -> Response:
    """Import the uploaded table: all rows or, with any problem, none."""
    limit = service.IMPORT_MAX_BYTES
    too_large = FormProblem("file", f"at most {limit // (1024 * 1024)} MB")
    length = request.headers.get("content-length", "")
    if length.isdigit() and int(length) > limit + _FRAMING_BYTES:
        return _import_page(request, "parks", problem=too_large, status=413)
    async with request.form(max_files=1, max_fields=10, max_part_size=64 * 1024) as form:
        fields = {key: value for key, value in form.items() if isinstance(value, str)}
        if not csrf_matches(request, fields):
            raise CsrfRefused("the form's CSRF token is missing or stale: reload the page")
        kind = fields.get("kind", "")
        upload = form.get("file")
        try:
            if kind not in KIND_LABELS:
                raise FormProblem("kind", f"expected one of {', '.join(KIND_LABELS)}")
            if not isinstance(upload, UploadFile) or not upload.filename:
                raise FormProblem("file", "choose a CSV or XLSX file")
            ending = "." + upload.filename.rsplit(".", 1)[-1].lower()
            if ending not in _TYPES:
                raise FormProblem("file", "expected a file ending in .csv or .xlsx")
            content = await upload.read(limit + 1)
            if len(content) > limit:
                return _import_page(request, kind, problem=too_large, status=413)
        except FormProblem as problem:
            return _import_page(request, kind or "parks", problem=problem, status=400)
    try:
        done = await service.import_table(
            request.app.state.engine,
            user,
            kind,
            content,
            _TYPES[ending],
            f"/api/invest/import/{kind}",
        )
    except Unprocessable as refused:
        return _import_page(request, kind, problems=refused.problems, status=422)
    except InvestError as error:
        named = FormProblem(error.field or "file", error.message)
        return _import_page(request, kind, problem=named, status=error.status)
    return RedirectResponse(
        f"/invest/staff/import?kind={kind}&imported={done['imported']}", status_code=303
    )
