"""The investment pillar's door: plain async functions over the engine, for HTTP, CLI, web.

Every write is one transaction, checks the caller's role (analyst or admin) and is audited
in it; reads of the registry and the pipeline are staff-only, parks, plots, policies,
screening and site matching are public.
"""

from __future__ import annotations

import json
from datetime import date
from typing import Any

from sqlalchemy import insert, select
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from cityhelix.auth.principal import Principal
from cityhelix.auth.service import record_write
from cityhelix.db.engine import read_connection
from cityhelix.invest import analytics, demo_data, exchange
from cityhelix.invest.drafts import draft_policy, editable_numbers
from cityhelix.invest.errors import BadInput, InvestError, NotFound, Unprocessable
from cityhelix.invest.leads import (
    add_activity,
    create_lead,
    get_lead,
    insert_lead,
    list_leads,
    move_lead,
    overdue,
    stage_deadlines,
    submit_enquiry,
)
from cityhelix.invest.matching import CRITERIA, SiteNeeds
from cityhelix.invest.parks import (
    add_admin_unit_mapping,
    admin_unit_mappings,
    create_park,
    create_plot,
    delete_park,
    delete_plot,
    get_park,
    get_plot,
    insert_park,
    insert_plot,
    list_parks,
    list_plots,
    park_values,
    update_park,
    update_plot,
)
from cityhelix.invest.policies import (
    adopt_policy,
    create_policy,
    get_policy,
    list_policies,
    policy_in_force,
    portfolio,
    project_screenings,
    screen_project,
    screen_proposal,
)
from cityhelix.invest.registry import (
    change_project,
    check_project_links,
    create_investor,
    create_project,
    delete_project,
    get_project,
    insert_project,
    investor_exists,
    list_investors,
    list_projects,
    project_columns,
    project_history,
)
from cityhelix.invest.schemas import (
    STAGES,
    EnquiryIn,
    LeadIn,
    Needs,
    ParkIn,
    PlotIn,
    ProjectIn,
    ScreenIn,
    StageMove,
)
from cityhelix.invest.sites import (
    lead_needs,
    match_sites,
    rank,
)
from cityhelix.invest.store import STAFF, geometry_columns, require_staff, utc_now, writing
from cityhelix.invest.tables import parks, plots, project_versions, projects
from cityhelix.invest.throttle import SlidingWindow

#: the door: what the adapters (HTTP, CLI, web) and other pillars may call
__all__ = [
    "CRITERIA",
    "IMPORT_MAX_BYTES",
    "STAFF",
    "STAGES",
    "EnquiryIn",
    "InvestError",
    "Needs",
    "ScreenIn",
    "SiteNeeds",
    "StageMove",
    "Unprocessable",
    "add_activity",
    "add_admin_unit_mapping",
    "admin_unit_mappings",
    "adopt_policy",
    "change_project",
    "create_investor",
    "create_lead",
    "create_park",
    "create_plot",
    "create_policy",
    "create_project",
    "delete_park",
    "delete_plot",
    "delete_project",
    "draft_policy",
    "editable_numbers",
    "enquiry_retry_after",
    "export_registry",
    "fdi_analytics",
    "get_lead",
    "get_park",
    "get_plot",
    "get_policy",
    "get_project",
    "import_columns",
    "import_table",
    "lead_needs",
    "list_investors",
    "list_leads",
    "list_parks",
    "list_plots",
    "list_policies",
    "list_projects",
    "load_demo",
    "match_sites",
    "move_lead",
    "overdue",
    "policy_in_force",
    "portfolio",
    "project_history",
    "project_screenings",
    "rank",
    "require_staff",
    "screen_project",
    "screen_proposal",
    "stage_deadlines",
    "submit_enquiry",
    "update_park",
    "update_plot",
]


#: the largest file one import takes
IMPORT_MAX_BYTES = exchange.MAX_BYTES

#: enquiries one client address may send, through the API or the portal: 5 in 10 minutes
#: (per process)
ENQUIRIES_PER_WINDOW = 5
ENQUIRY_WINDOW_SECONDS = 600.0


def enquiry_retry_after(app_state: object, client: str) -> int:
    """0 when `client` may send an enquiry now (and it is counted), else the seconds to wait.

    The window lives on the app's state, so the web portal's form and
    `POST /api/invest/enquiries` share one limit per address.
    """
    window: SlidingWindow | None = getattr(app_state, "invest_enquiries", None)
    if window is None:
        window = SlidingWindow(ENQUIRIES_PER_WINDOW, ENQUIRY_WINDOW_SECONDS)
        setattr(app_state, "invest_enquiries", window)  # noqa: B010
    return window.retry_after(client)


async def fdi_analytics(
    engine: AsyncEngine, principal: Principal, statuses: list[str] | None = None, top: int = 10
) -> dict[str, Any]:
    """FDI by year, country, sector, park and unit; cumulative capital; top investors."""
    require_staff(principal, "reading the registry's analytics")
    async with read_connection(engine) as connection:
        version, policy = await policy_in_force(connection)
        answer = await analytics.figures(connection, policy, statuses, top)
    answer["policy_version"] = version
    answer["statuses"] = statuses
    return answer


async def load_demo(engine: AsyncEngine, principal: Principal, seed: int = 2025) -> dict[str, int]:
    """Load the demo parks, plots and synthetic registry in one transaction, unless the
    province has parks already (then nothing is written). Returns what was written."""
    require_staff(principal, "loading the demo data")
    park_bodies = [ParkIn.model_validate(b) for b in demo_data.parks(seed)]
    now = utc_now()
    async with writing(engine) as connection:
        if (await connection.execute(select(parks.c.id).limit(1))).first() is not None:
            return {"parks": 0, "plots": 0, "projects": 0}
        park_ids = []
        for park in park_bodies:
            values = park_values(park.model_dump(mode="json"))
            park_ids.append(
                (
                    await connection.execute(
                        insert(parks)
                        .values(**values, created_at=now, updated_at=now)
                        .returning(parks.c.id)
                    )
                ).scalar_one()
            )
        plot_rows = []
        for body in demo_data.plots(park_ids, seed):
            plot = PlotIn.model_validate(body)
            plot_rows.append(
                {
                    **plot.model_dump(exclude={"boundary"}),
                    **geometry_columns(None),
                    "created_at": now,
                    "updated_at": now,
                }
            )
        await connection.execute(insert(plots), plot_rows)
        documents = [
            ProjectIn.model_validate(b).model_dump(mode="json")
            for b in demo_data.projects(park_ids, seed)
        ]
        created = await connection.execute(
            insert(projects).returning(projects.c.id, sort_by_parameter_order=True),
            [project_columns(d, 1) for d in documents],
        )
        project_ids = [row.id for row in created]
        await connection.execute(
            insert(project_versions),
            [
                {
                    "project_id": project_id,
                    "version": 1,
                    "effective_on": date.fromisoformat(document["issued_on"]),
                    "recorded_at": now,
                    "recorded_by": principal.name,
                    "change_note": "synthetic demo record",
                    "document": document,
                }
                for project_id, document in zip(project_ids, documents, strict=True)
            ],
        )
        await record_write(
            connection,
            principal,
            "POST",
            "demo:invest",
            [("InvestPark", i) for i in park_ids] + [("InvestProject", i) for i in project_ids],
        )
    return {"parks": len(park_ids), "plots": len(plot_rows), "projects": len(project_ids)}


async def _cross_check(
    connection: AsyncConnection, kind: str, bodies: list[Any], rows: list[int]
) -> list[exchange.Problem]:
    """Problems no single row shows: duplicates in the file or the database, missing links."""
    problems: list[exchange.Problem] = []
    seen: dict[Any, int] = {}

    def once(key: Any, row: int, column: str, what: str) -> None:
        if key in seen:
            problems.append(exchange.Problem(row, column, f"{what} repeats row {seen[key]}"))
        else:
            seen[key] = row

    park_ids = {r.id for r in await connection.execute(select(parks.c.id))}
    for body, row in zip(bodies, rows, strict=True):
        if kind == "parks":
            once(body.name, row, "name", f"park {body.name!r}")
            taken = await connection.execute(select(parks.c.id).where(parks.c.name == body.name))
            if taken.first() is not None:
                problems.append(exchange.Problem(row, "name", f"a park named {body.name!r} exists"))
        elif kind == "plots":
            once((body.park_id, body.code), row, "code", f"plot {body.code!r} of this park")
            if body.park_id not in park_ids:
                problems.append(exchange.Problem(row, "park_id", f"no park with id {body.park_id}"))
            else:
                taken = await connection.execute(
                    select(plots.c.id).where(
                        plots.c.park_id == body.park_id, plots.c.code == body.code
                    )
                )
                if taken.first() is not None:
                    problems.append(
                        exchange.Problem(row, "code", f"park {body.park_id} has it already")
                    )
        elif kind == "projects":
            once(body.certificate_no, row, "certificate_no", f"certificate {body.certificate_no!r}")
            taken = await connection.execute(
                select(projects.c.id).where(projects.c.certificate_no == body.certificate_no)
            )
            if taken.first() is not None:
                problems.append(exchange.Problem(row, "certificate_no", "registered already"))
            try:
                await check_project_links(connection, body.model_dump(mode="json"))
            except (NotFound, BadInput) as error:
                problems.append(exchange.Problem(row, error.field or "", error.message))
        elif kind == "leads" and body.investor_id is not None:
            try:
                await investor_exists(connection, body.investor_id)
            except NotFound as error:
                problems.append(exchange.Problem(row, "investor_id", error.message))
    return problems


async def import_table(
    engine: AsyncEngine,
    principal: Principal,
    kind: str,
    content: bytes,
    content_type: str,
    path: str,
    *,
    dry_run: bool = False,
) -> dict[str, Any]:
    """Import a CSV or XLSX table of `kind` all or nothing: any bad row imports none, and
    the answer lists every problem by row and column."""
    require_staff(principal, f"importing {kind}")
    if kind not in exchange.MODELS:
        raise NotFound(f"kind: expected one of {', '.join(exchange.MODELS)}", field="kind")
    table_rows = exchange.read_table(content, content_type)
    bodies, problems = exchange.check_rows(kind, table_rows)
    numbers = [
        number
        for number, cells in enumerate(table_rows[1:], start=2)
        if any(cell.strip() for cell in cells)
    ]
    async with writing(engine) as connection:
        if not problems:
            problems = await _cross_check(connection, kind, bodies, numbers)
        if problems:
            raise Unprocessable(
                f"{len(problems)} problem(s) in the file: nothing was imported",
                [p.as_json() for p in problems],
            )
        if dry_run:
            return {"kind": kind, "rows": len(bodies), "imported": 0, "ids": [], "dry_run": True}
        ids = []
        for body in bodies:
            if isinstance(body, ParkIn):
                ids.append(await insert_park(connection, body))
            elif isinstance(body, PlotIn):
                ids.append(await insert_plot(connection, body))
            elif isinstance(body, ProjectIn):
                ids.append(await insert_project(connection, principal, body))
            elif isinstance(body, LeadIn):
                ids.append(await insert_lead(connection, principal, body, "import"))
        entity = {
            "parks": "InvestPark",
            "plots": "InvestPlot",
            "projects": "InvestProject",
            "leads": "InvestLead",
        }[kind]
        await record_write(connection, principal, "POST", path, [(entity, i) for i in ids])
    return {"kind": kind, "rows": len(bodies), "imported": len(ids), "ids": ids, "dry_run": False}


def import_columns(kind: str) -> list[tuple[str, bool]]:
    """The columns a table of `kind` may have (the API's field names, a few flattened), and
    whether each is required."""
    if kind not in exchange.MODELS:
        raise NotFound(f"kind: expected one of {', '.join(exchange.MODELS)}", field="kind")
    return exchange.columns(kind)


async def export_registry(
    engine: AsyncEngine, principal: Principal, file_format: str, as_of: date | None = None
) -> tuple[bytes, str]:
    """The registry (now or as of a day) as CSV, XLSX or GeoJSON: the bytes and their type."""
    require_staff(principal, "exporting the registry")
    rows = await list_projects(engine, principal, as_of=as_of, limit=10**9)
    if file_format == "csv":
        return exchange.as_csv(exchange.project_rows(rows)), "text/csv; charset=utf-8"
    if file_format == "xlsx":
        return exchange.as_xlsx(exchange.project_rows(rows), "registry"), exchange.XLSX
    if file_format == "geojson":
        async with read_connection(engine) as connection:
            boxes = await connection.execute(
                select(
                    parks.c.id,
                    parks.c.boundary_xmin,
                    parks.c.boundary_ymin,
                    parks.c.boundary_xmax,
                    parks.c.boundary_ymax,
                ).where(parks.c.boundary_xmin.is_not(None))
            )
            points = {
                b.id: [
                    (b.boundary_xmin + b.boundary_xmax) / 2,
                    (b.boundary_ymin + b.boundary_ymax) / 2,
                ]
                for b in boxes
            }
        collection = exchange.as_feature_collection(rows, points)
        return json.dumps(collection).encode(), "application/geo+json"
    raise BadInput(f"format: expected csv, xlsx or geojson, got {file_format!r}", field="format")
