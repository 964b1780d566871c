"""Files in and out: CSV and XLSX tables of parks, plots, projects and leads; GeoJSON.

A file is read whole into rows of text (first row: field names), each row checked against
the API's own body model, and every problem reported with its row and column; the service
writes nothing unless every row is good. Column names are the API's field names; a few
nested fields are flattened (`investor_name`, `investor_country`, `needs_land_ha`, ...)
and lists are separated by semicolons.
"""

from __future__ import annotations

import csv
import io
import zipfile
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import date, datetime, time
from typing import Any

import openpyxl
from openpyxl.utils.exceptions import InvalidFileException
from pydantic import BaseModel, ValidationError

from cityhelix.exports import csv_row, xlsx_row
from cityhelix.invest.errors import BadInput
from cityhelix.invest.schemas import LeadIn, ParkIn, PlotIn, ProjectIn
from cityhelix.text_guard import problem

#: the largest file and the most rows one import takes
MAX_BYTES = 5 * 1024 * 1024
MAX_ROWS = 10_000
XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"

MODELS: dict[str, type[BaseModel]] = {
    "parks": ParkIn,
    "plots": PlotIn,
    "projects": ProjectIn,
    "leads": LeadIn,
}
_LISTS = {"permitted_sectors", "excluded_sectors", "photos"}


@dataclass(frozen=True)
class Problem:
    row: int
    column: str
    problem: str

    def as_json(self) -> dict[str, Any]:
        return {"row": self.row, "column": self.column, "problem": self.problem}


def read_table(content: bytes, content_type: str) -> list[list[str]]:
    """The rows of a CSV (UTF-8) or XLSX file (its first sheet), as text; header first."""
    if len(content) > MAX_BYTES:
        raise BadInput(f"file: at most {MAX_BYTES} bytes", field="file")
    kind = content_type.split(";")[0].strip().lower()
    if kind == XLSX:
        if not content.startswith(b"PK\x03\x04"):
            raise BadInput("file: not an XLSX workbook (no ZIP signature)", field="file")
        try:
            book = openpyxl.load_workbook(io.BytesIO(content), read_only=True, data_only=True)
        except (InvalidFileException, zipfile.BadZipFile, KeyError, ValueError) as error:
            raise BadInput(f"file: not a readable XLSX workbook ({error})", field="file") from None
        try:
            sheet = book.worksheets[0]
            rows: list[list[str]] = []
            for values in sheet.iter_rows(values_only=True):
                if len(rows) > MAX_ROWS:
                    raise BadInput(f"file: at most {MAX_ROWS} rows", field="file")
                rows.append(["" if v is None else _cell_text(v) for v in values])
        finally:
            book.close()
        return rows
    if kind in ("text/csv", "text/plain", "application/csv"):
        try:
            text = content.decode("utf-8-sig")
        except UnicodeDecodeError as error:
            raise BadInput(
                f"file: CSV must be UTF-8 ({error.reason} at byte {error.start})", field="file"
            ) from None
        rows = list(csv.reader(io.StringIO(text)))
        if len(rows) > MAX_ROWS + 1:
            raise BadInput(f"file: at most {MAX_ROWS} rows", field="file")
        return rows
    raise BadInput(f"Content-Type: expected text/csv or {XLSX}, got {kind!r}", field="Content-Type")


def _cell_text(value: object) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    if isinstance(value, datetime):
        return value.date().isoformat() if value.time() == time(0) else value.isoformat()
    if isinstance(value, date):
        return value.isoformat()
    return str(value)


def _nest(kind: str, record: dict[str, str]) -> dict[str, Any]:
    """Flat columns -> the body the model takes; empty cells are absent."""
    body: dict[str, Any] = {}
    needs: dict[str, str] = {}
    investor: dict[str, str] = {}
    for column, text in record.items():
        if text.strip() == "":
            continue
        value = text.strip()
        if kind == "leads" and column.startswith("needs_"):
            needs[column.removeprefix("needs_")] = value
        elif kind == "leads" and column.startswith("contact_"):
            body.setdefault("contact", {})[column.removeprefix("contact_")] = value
        elif kind == "projects" and column in (
            "investor_name",
            "investor_country",
            "investor_kind",
        ):
            investor[column.removeprefix("investor_")] = value
        elif column in _LISTS:
            body[column] = [part.strip() for part in value.split(";") if part.strip()]
        else:
            body[column] = value
    if needs:
        body["needs"] = needs
    if investor:
        body["investors"] = [investor]
    return body


def _column_of(kind: str, loc: Sequence[int | str]) -> str:
    first = str(loc[0]) if loc else ""
    if kind == "leads" and first == "needs" and len(loc) > 1:
        return f"needs_{loc[1]}"
    if kind == "leads" and first == "contact" and len(loc) > 1:
        return f"contact_{loc[1]}"
    if kind == "projects" and first == "investors" and len(loc) > 2:
        return f"investor_{loc[2]}"
    return first


def check_rows(kind: str, rows: list[list[str]]) -> tuple[list[BaseModel], list[Problem]]:
    """Each data row as the API's body model, and every problem found (row numbers as in
    the file: the header is row 1)."""
    model = MODELS[kind]
    if not rows or not any(cell.strip() for cell in rows[0]):
        return [], [Problem(1, "", "the first row must name the columns")]
    header = [cell.strip() for cell in rows[0]]
    problems: list[Problem] = []
    known = _known_columns(kind)
    for index, column in enumerate(header):
        if column and column not in known:
            problems.append(Problem(1, column, "not a column of " + kind))
        elif column and column in header[:index]:
            problems.append(Problem(1, column, "the column appears twice"))
    if problems:
        return [], problems
    bodies: list[BaseModel] = []
    for number, cells in enumerate(rows[1:], start=2):
        if not any(cell.strip() for cell in cells):
            continue  # a blank line
        if len(cells) > len(header):
            problems.append(Problem(number, "", f"{len(cells)} cells for {len(header)} columns"))
            continue
        record = dict(zip(header, cells, strict=False))
        unstorable = [
            Problem(number, column, f"holds {found}, which cannot be stored")
            for column, cell in record.items()
            if (found := problem(cell)) is not None
        ]
        if unstorable:  # a CSV may hold a NUL (the JSON API's text guard never sees a file)
            problems += unstorable
            continue
        try:
            bodies.append(model.model_validate(_nest(kind, record)))
        except ValidationError as error:
            for e in error.errors():
                problems.append(Problem(number, _column_of(kind, e["loc"]), e["msg"]))
    return bodies, problems


def columns(kind: str) -> list[tuple[str, bool]]:
    """The columns a table of `kind` may have, in the body model's order, and whether each
    is required."""
    model = MODELS[kind]
    answer: list[tuple[str, bool]] = []
    for name, field in model.model_fields.items():
        required = field.is_required()
        if kind == "projects" and name == "investors":
            answer += [("investor_name", False), ("investor_country", False)]
            answer.append(("investor_kind", False))
        elif kind == "leads" and name == "needs":
            needs = LeadIn.model_fields["needs"].annotation
            answer += [(f"needs_{n}", False) for n in needs.model_fields]  # type: ignore[union-attr]
        elif kind == "leads" and name == "contact":
            answer += [(f"contact_{n}", False) for n in ("name", "email", "phone")]
        elif kind in ("parks", "plots") and name in ("boundary", "contacts"):
            continue
        else:
            answer.append((name, required))
    return answer


def _known_columns(kind: str) -> set[str]:
    return {name for name, _required in columns(kind)}


# -- export ---------------------------------------------------------------------------------

PROJECT_COLUMNS = (
    "id",
    "certificate_no",
    "name",
    "issued_on",
    "status",
    "investor_name",
    "investor_country",
    "sector_vsic",
    "sector_name",
    "capital_usd",
    "park_id",
    "plot_id",
    "land_ha",
    "employees_planned",
    "employees_actual",
    "local_content_pct",
    "energy_toe_year",
    "wastewater_m3_day",
    "pollution_type",
    "pollution_band",
    "admin_unit_before",
    "admin_unit_after",
    "version",
    "synthetic",
)


def project_rows(projects: Iterable[dict[str, Any]]) -> list[list[Any]]:
    """The registry as a table: a header, then one row per project."""
    rows: list[list[Any]] = [list(PROJECT_COLUMNS)]
    for project in projects:
        investors = project.get("investors") or [{}]
        flat = {
            **project,
            "investor_name": investors[0].get("name"),
            "investor_country": investors[0].get("country"),
        }
        rows.append([flat.get(column) for column in PROJECT_COLUMNS])
    return rows


def as_csv(rows: list[list[Any]]) -> bytes:
    """The table as CSV; text a spreadsheet would run as a formula is quoted
    (`cityhelix.exports.csv_row`)."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    for row in rows:
        writer.writerow(csv_row(row))
    return out.getvalue().encode("utf-8")


def as_xlsx(rows: list[list[Any]], title: str) -> bytes:
    """The table as an XLSX sheet: text as string cells of what XML can hold
    (`cityhelix.exports.xlsx_row`: a name with `\x07` does not stop the export)."""
    book = openpyxl.Workbook(write_only=True)
    sheet = book.create_sheet(title)
    for row in rows:
        sheet.append(xlsx_row(sheet, row))
    out = io.BytesIO()
    book.save(out)
    return out.getvalue()


def as_feature_collection(
    projects: Iterable[dict[str, Any]], park_points: dict[int, list[float]]
) -> dict[str, Any]:
    """Projects as GeoJSON points at their park's centre (null geometry when not in one)."""
    features = []
    for project in projects:
        point = park_points.get(project.get("park_id") or 0)
        features.append(
            {
                "type": "Feature",
                "id": project["id"],
                "geometry": {"type": "Point", "coordinates": point} if point else None,
                "properties": {k: v for k, v in project.items() if k != "id"},
            }
        )
    return {"type": "FeatureCollection", "features": features}
