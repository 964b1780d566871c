"""The scorecard itself: recompute the computed indicators for a period, enter manual
ones with their source, and answer every indicator with value, target, status, trend,
provenance and data quality. Every computation is kept (history per period)."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from io import BytesIO
from typing import Any

from openpyxl import Workbook
from sqlalchemy import insert, select
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from cityhelix.db.engine import read_connection
from cityhelix.exports import xlsx_row
from cityhelix.helix import fields
from cityhelix.helix.errors import BadRequest, Invalid, NotFound
from cityhelix.helix.scorecard.catalogue import Indicator, catalogue
from cityhelix.helix.scorecard.methods import METHODS, Period
from cityhelix.helix.tables import helix_indicator_values
from cityhelix.settings import Settings

MAX_HISTORY = 1000


def parse_period(text: str | None, today: date) -> Period:
    """A period is a calendar year, "2026"; none means the current year."""
    if text is None:
        return Period.year(today.year)
    if len(text) != 4 or not text.isdigit() or not 2000 <= int(text) <= 2100:
        raise BadRequest("period: expected a year such as 2026", "period")
    return Period.year(int(text))


async def computed_rows(
    engine: AsyncEngine, settings: Settings, period: Period, who: str
) -> list[dict[str, Any]]:
    """Every computed indicator of `period`, as rows to keep with their provenance."""
    at = datetime.now(UTC)
    rows = []
    for indicator in catalogue().indicators:
        if indicator.manual:
            continue
        computation = await METHODS[indicator.method](engine, settings, period)
        rows.append(
            {
                "code": indicator.code,
                "period": period.name,
                "value": computation.value,
                "manual": False,
                "provenance": {
                    "method": indicator.method,
                    "query": computation.query,
                    "parameters": computation.parameters,
                    "inputs": computation.inputs,
                    "at": at.isoformat(),
                    "by": who,
                },
                "quality": {"missing": computation.missing},
                "at": at,
            }
        )
    return rows


async def insert_rows(connection: AsyncConnection, rows: list[dict[str, Any]]) -> None:
    if rows:
        await connection.execute(insert(helix_indicator_values), rows)


def manual_entry(body: object, today: date) -> tuple[Indicator, dict[str, Any]]:
    """A manual indicator's value for a period with its source and the source's date."""
    body = fields.body_object(body)
    fields.unknown_fields(body, ("code", "period", "value", "source", "source_date"))
    code = fields.required_text(body, "code", max_length=60)
    indicator = catalogue().by_code(code)
    if indicator is None:
        raise NotFound(f"code: no indicator {code!r}", "code")
    if not indicator.manual:
        raise Invalid(f"code: {code} is computed from the platform's data, not entered", "code")
    period = parse_period(fields.required_text(body, "period", max_length=4), today)
    value = fields.number(body, "value", required=True, minimum=-1e15)
    source = fields.required_text(body, "source", max_length=2000)
    source_date = fields.day(body, "source_date", required=True)
    assert source_date is not None
    if source_date > today:
        raise Invalid("source_date: in the future", "source_date")
    return indicator, {
        "code": code,
        "period": period.name,
        "value": value,
        "manual": True,
        "provenance": {"source": source, "source_date": source_date.isoformat()},
        "quality": {"missing": []},
    }


async def insert_manual(connection: AsyncConnection, row: dict[str, Any], who: str) -> int:
    row = {**row, "provenance": {**row["provenance"], "entered_by": who}}
    value_id: int = (
        await connection.execute(
            insert(helix_indicator_values)
            .values(**row, at=datetime.now(UTC))
            .returning(helix_indicator_values.c.id)
        )
    ).scalar_one()
    return value_id


def status_of(indicator: Indicator, value: float | None) -> str:
    """on_target, watch (between target and the watch threshold), off_target, no_data."""
    if value is None:
        return "no_data"
    if indicator.target is None:
        return "no_target"
    sign = 1.0 if indicator.direction == "higher" else -1.0
    if sign * (value - indicator.target) >= 0:
        return "on_target"
    watch = indicator.thresholds.get("watch")
    if watch is not None and sign * (value - watch) >= 0:
        return "watch"
    return "off_target"


def trend_of(
    indicator: Indicator, value: float | None, previous: tuple[str, float | None] | None
) -> dict[str, Any] | None:
    if previous is None or value is None or previous[1] is None:
        return None
    change = value - previous[1]
    better = change if indicator.direction == "higher" else -change
    return {
        "previous_period": previous[0],
        "previous_value": previous[1],
        "change": change,
        "direction": "improving" if better > 0 else "worsening" if better < 0 else "steady",
    }


async def _latest(connection: AsyncConnection, period: str) -> dict[str, Any]:
    """The newest value of each indicator in `period` (computed or manual)."""
    rows = await connection.execute(
        select(helix_indicator_values)
        .where(helix_indicator_values.c.period == period)
        .order_by(helix_indicator_values.c.at, helix_indicator_values.c.id)
    )
    return {row.code: row for row in rows}


def _quality(
    indicator: Indicator, row: Any, period: Period, settings: Settings, now: datetime
) -> dict[str, Any]:
    if row is None:
        reason = "no value entered" if indicator.manual else "not computed yet"
        return {"missing": [reason], "stale": False}
    if row.manual:
        source_date = date.fromisoformat(row.provenance["source_date"])
        # a source older than the period's start describes an earlier period
        stale = source_date < period.start - timedelta(days=366)
        return {"missing": list(row.quality.get("missing", [])), "stale": stale}
    horizon = settings.scorecard_recompute_seconds * 2 or 86_400.0
    stale = (now - row.at).total_seconds() > horizon and period.end >= now.date()
    return {"missing": list(row.quality.get("missing", [])), "stale": stale}


async def scorecard(engine: AsyncEngine, settings: Settings, period: Period) -> dict[str, Any]:
    """Every indicator of the catalogue for `period`, and the 4 x 6 view's cells."""
    previous_name = str(int(period.name) - 1)
    async with read_connection(engine) as connection:
        latest = await _latest(connection, period.name)
        earlier = await _latest(connection, previous_name)
    now = datetime.now(UTC)
    answers = []
    for indicator in catalogue().indicators:
        row = latest.get(indicator.code)
        value = None if row is None else row.value
        before = earlier.get(indicator.code)
        answers.append(
            {
                **indicator.document(),
                "period": period.name,
                "value": value,
                "status": status_of(indicator, value),
                "trend": trend_of(
                    indicator, value, None if before is None else (previous_name, before.value)
                ),
                "manual": indicator.manual,
                "provenance": None if row is None else row.provenance,
                "quality": _quality(indicator, row, period, settings, now),
                "computed_at": None if row is None else row.at.isoformat(),
            }
        )
    return {
        "period": period.name,
        "frameworks": catalogue().frameworks,
        "indicators": answers,
        "grid": _grid(answers),
    }


def _grid(answers: list[dict[str, Any]]) -> dict[str, dict[str, list[str]]]:
    """The 4 x 6 view: programme domain -> ICF criterion -> indicator codes."""
    frameworks = catalogue().frameworks
    grid: dict[str, dict[str, list[str]]] = {
        domain: {criterion: [] for criterion in frameworks["ICF"]["values"]}
        for domain in frameworks["programme"]["values"]
    }
    for answer in answers:
        domain = answer["frameworks"].get("programme")
        criterion = answer["frameworks"].get("ICF")
        if domain and criterion:
            grid[domain][criterion].append(answer["code"])
    return grid


async def history(engine: AsyncEngine, code: str) -> dict[str, Any]:
    indicator = catalogue().by_code(code)
    if indicator is None:
        raise NotFound(f"code: no indicator {code!r}", "code")
    async with read_connection(engine) as connection:
        rows = await connection.execute(
            select(helix_indicator_values)
            .where(helix_indicator_values.c.code == code)
            .order_by(helix_indicator_values.c.period, helix_indicator_values.c.at)
            .limit(MAX_HISTORY)
        )
        values = [
            {
                "period": row.period,
                "value": row.value,
                "manual": row.manual,
                "at": row.at.isoformat(),
                "provenance": row.provenance,
                "quality": row.quality,
            }
            for row in rows
        ]
    return {**indicator.document(), "history": values}


def workbook(card: dict[str, Any]) -> bytes:
    """The scorecard as an XLSX workbook: one sheet of indicators, one of their inputs;
    text (a manual value's source is anyone's) as `cityhelix.exports.xlsx_row` writes it."""
    book = Workbook()
    sheet = book.active
    assert sheet is not None
    sheet.title = f"Scorecard {card['period']}"
    columns = [
        "code", "name", "programme", "ICF", "ISO 37122:2019", "unit", "direction",
        "target", "value", "status", "trend", "manual", "source", "computed_at", "missing",
    ]  # fmt: skip
    sheet.append(xlsx_row(sheet, columns))
    inputs = book.create_sheet("Inputs")
    inputs.append(xlsx_row(inputs, ["code", "input"]))
    for answer in card["indicators"]:
        trend = answer["trend"]
        provenance = answer["provenance"] or {}
        sheet.append(
            xlsx_row(
                sheet,
                [
                    answer["code"],
                    answer["name"],
                    answer["frameworks"].get("programme"),
                    answer["frameworks"].get("ICF"),
                    answer["frameworks"].get("ISO 37122:2019"),
                    answer["unit"],
                    answer["direction"],
                    answer["target"],
                    answer["value"],
                    answer["status"],
                    None if trend is None else trend["direction"],
                    answer["manual"],
                    provenance.get("source") or provenance.get("query"),
                    answer["computed_at"],
                    "; ".join(answer["quality"]["missing"]),
                ],
            )
        )
        for item in provenance.get("inputs", []):
            described = ", ".join(f"{k}={v}" for k, v in item.items())
            inputs.append(xlsx_row(inputs, [answer["code"], described]))
    out = BytesIO()
    book.save(out)
    return out.getvalue()
