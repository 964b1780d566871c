"""The scorecard as a printable PDF report, rendered on the server with ReportLab: the
period's indicators with value, target and status, a chart of each against its target, and
the provenance a reviewer checks (source or query, inputs counted, time, data quality).

It is built from the same answer as `GET /api/helix/scorecard`, so the report and the API
never disagree. Rendering is CPU work: callers run it in a thread.
"""

from __future__ import annotations

from io import BytesIO
from typing import Any
from xml.sax.saxutils import escape

from reportlab.graphics.charts.barcharts import HorizontalBarChart
from reportlab.graphics.shapes import Drawing, String
from reportlab.lib import colors
from reportlab.lib.pagesizes import A4, landscape
from reportlab.lib.styles import ParagraphStyle, getSampleStyleSheet
from reportlab.lib.units import mm
from reportlab.platypus import (
    KeepTogether,
    Paragraph,
    SimpleDocTemplate,
    Spacer,
    Table,
    TableStyle,
)

#: status colours, the same meaning as on the scorecard page (dark enough for print)
STATUS_COLOURS = {
    "on_target": colors.HexColor("#1b7f3b"),
    "watch": colors.HexColor("#b26a00"),
    "off_target": colors.HexColor("#c62828"),
    "no_target": colors.HexColor("#5f6368"),
    "no_data": colors.HexColor("#5f6368"),
}
STATUS_TEXT = {
    "on_target": "on target",
    "watch": "watch",
    "off_target": "off target",
    "no_target": "no target",
    "no_data": "no data",
}
#: a bar's length is the value as a share of its target, capped so one outlier keeps the rest
#: readable
MAX_SHARE = 200.0


def format_value(value: float | None) -> str:
    """A value as the report prints it: thousands separated, at most 4 significant decimals."""
    if value is None:
        return "-"
    if float(value).is_integer():
        return f"{int(value):,}"
    if abs(value) >= 100:
        return f"{value:,.1f}"
    return f"{value:.4g}"


def share_of_target(indicator: dict[str, Any]) -> float | None:
    """How far the value is toward its target, in % (for "lower is better", target/value)."""
    if indicator["value"] is None or not indicator["target"]:
        return None
    value, target = float(indicator["value"]), float(indicator["target"])
    if indicator["direction"] == "lower":
        if value <= 0 or target < 0:
            return MAX_SHARE if value <= target else 0.0
        share = 100 * target / value
    else:
        if target < 0:
            return None
        share = 100 * value / target
    return max(0.0, min(MAX_SHARE, share))


def _chart(indicators: list[dict[str, Any]]) -> Drawing:
    charted = [(i["code"], share) for i in indicators if (share := share_of_target(i)) is not None]
    height = 30 + 14 * max(1, len(charted))
    drawing = Drawing(250 * mm, height)
    drawing.add(String(0, height - 10, "Value as % of target (100 = target met)", fontSize=9))
    if not charted:
        return drawing
    chart = HorizontalBarChart()
    chart.x, chart.y = 70 * mm, 10
    chart.width, chart.height = 160 * mm, height - 30
    chart.data = [[share for _, share in reversed(charted)]]
    chart.categoryAxis.categoryNames = [code for code, _ in reversed(charted)]
    chart.categoryAxis.labels.fontSize = 7
    chart.categoryAxis.labels.boxAnchor = "e"
    chart.valueAxis.valueMin = 0
    chart.valueAxis.valueMax = MAX_SHARE
    chart.valueAxis.valueStep = 25
    chart.valueAxis.labels.fontSize = 7
    chart.bars[0].fillColor = colors.HexColor("#1f5f99")
    chart.bars[0].strokeColor = None
    drawing.add(chart)
    return drawing


def _provenance(indicator: dict[str, Any], style: ParagraphStyle) -> list[Paragraph]:
    provenance = indicator["provenance"] or {}
    lines = [f"<b>{escape(indicator['code'])}</b> - {escape(indicator['name'])}"]
    if indicator["manual"]:
        if provenance:
            lines.append(
                f"Manual entry. Source: {escape(str(provenance.get('source')))}, dated "
                f"{escape(str(provenance.get('source_date')))}"
            )
        else:
            lines.append("Manual entry. No value entered for the period.")
    else:
        lines.append(f"Method: {escape(indicator['method'])}")
        if provenance:
            lines.append(f"Query: <font face='Courier'>{escape(str(provenance['query']))}</font>")
            lines.append(
                f"Inputs counted: {len(provenance.get('inputs', []))}; computed at "
                f"{escape(str(provenance.get('at')))} by {escape(str(provenance.get('by')))}"
            )
    missing = indicator["quality"]["missing"]
    if missing:
        lines.append("Data quality: " + escape("; ".join(missing)))
    if indicator["quality"].get("stale"):
        lines.append("Data quality: the value is stale")
    return [Paragraph(line, style) for line in lines]


def scorecard_pdf(card: dict[str, Any], title: str = "Smart-city scorecard") -> bytes:
    """The scorecard answer `card` (of `GET /api/helix/scorecard`) as a PDF document."""
    styles = getSampleStyleSheet()
    small = ParagraphStyle("small", parent=styles["BodyText"], fontSize=8, leading=10)
    out = BytesIO()
    document = SimpleDocTemplate(
        out,
        pagesize=landscape(A4),
        leftMargin=15 * mm,
        rightMargin=15 * mm,
        topMargin=15 * mm,
        bottomMargin=15 * mm,
        title=f"{title} {card['period']}",
        author="CityHelix",
    )
    indicators: list[dict[str, Any]] = card["indicators"]
    story: list[Any] = [
        Paragraph(escape(f"{title} {card['period']}"), styles["Title"]),
        Paragraph(
            "Indicators of the province's smart-city programme (4 domains), the Intelligent "
            "Community Forum's 6 criteria and ISO 37122:2019, computed from the platform's own "
            "data or entered with their source.",
            styles["BodyText"],
        ),
        Spacer(1, 4 * mm),
    ]
    rows: list[list[Any]] = [
        ["Code", "Indicator", "Domain", "ICF", "Value", "Target", "Unit", "Status", "Trend"]
    ]
    for indicator in indicators:
        trend = indicator["trend"]
        rows.append(
            [
                indicator["code"],
                Paragraph(escape(indicator["name"]), small),
                indicator["frameworks"].get("programme", ""),
                indicator["frameworks"].get("ICF", ""),
                format_value(indicator["value"]),
                format_value(indicator["target"]),
                indicator["unit"],
                STATUS_TEXT.get(indicator["status"], indicator["status"]),
                "" if trend is None else trend["direction"],
            ]
        )
    table = Table(
        rows,
        colWidths=[57 * mm, 60 * mm, 24 * mm, 26 * mm, 22 * mm, 24 * mm, 20 * mm, 17 * mm, 16 * mm],
        repeatRows=1,
    )
    style = [
        ("FONT", (0, 0), (-1, 0), "Helvetica-Bold", 8),
        ("FONT", (0, 1), (-1, -1), "Helvetica", 8),
        ("FONT", (0, 1), (0, -1), "Helvetica", 7),
        ("VALIGN", (0, 0), (-1, -1), "TOP"),
        ("ALIGN", (4, 1), (5, -1), "RIGHT"),
        ("LINEBELOW", (0, 0), (-1, 0), 0.8, colors.black),
        ("LINEBELOW", (0, 1), (-1, -1), 0.25, colors.HexColor("#c5ced6")),
    ]
    for row, indicator in enumerate(indicators, start=1):
        colour = STATUS_COLOURS.get(indicator["status"], colors.black)
        style.append(("TEXTCOLOR", (7, row), (7, row), colour))
    table.setStyle(TableStyle(style))
    story += [table, Spacer(1, 6 * mm), _chart(indicators), Spacer(1, 6 * mm)]
    story.append(Paragraph("How each value was computed", styles["Heading2"]))
    for indicator in indicators:
        story.append(KeepTogether([*_provenance(indicator, small), Spacer(1, 2 * mm)]))
    document.build(story)
    return out.getvalue()
