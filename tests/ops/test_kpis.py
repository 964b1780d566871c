"""`GET /api/ops/kpis`: each figure equals a hand-written SQL query over crafted incidents and
readings, on SQLite and PostgreSQL."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from sqlalchemy import bindparam, text, update
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from cityhelix.db.types import UtcDateTime
from cityhelix.ops.desk.tables import incidents
from tests.conftest import bearer
from tests.hub.factories import make_datastream
from tests.ops.desk_factories import incident

OPEN = "('new', 'assigned', 'in_progress')"


def _iso(moment: datetime) -> str:
    return moment.isoformat().replace("+00:00", "Z")


async def _hand(connection: AsyncConnection, sql: str, start: datetime, end: datetime) -> list[Any]:
    statement = text(sql).bindparams(
        bindparam("s", type_=UtcDateTime()), bindparam("e", type_=UtcDateTime())
    )
    return list(await connection.execute(statement, {"s": start, "e": end}))


def _seconds(dialect: str, column: str) -> str:
    if dialect == "postgresql":
        return f"EXTRACT(EPOCH FROM ({column} - created_at))"
    return f"((julianday({column}) - julianday(created_at)) * 86400.0)"


def _p90(dialect: str, column: str) -> str:
    seconds = _seconds(dialect, column)
    window = (
        f"FROM ops_incidents WHERE created_at >= :s AND created_at < :e AND {column} IS NOT NULL"
    )
    if dialect == "postgresql":
        return f"SELECT percentile_disc(0.9) WITHIN GROUP (ORDER BY {seconds}) {window}"
    # nearest rank: the ceil(0.9 n)-th smallest
    return (
        f"SELECT {seconds} AS v {window} ORDER BY v LIMIT 1 "
        f"OFFSET (SELECT (count(*) * 9 + 9) / 10 - 1 {window})"
    )


async def test_each_figure_equals_a_hand_written_query(
    client: httpx.AsyncClient, admin: dict[str, str], engine: AsyncEngine
) -> None:
    now = datetime.now(UTC).replace(microsecond=0)
    start, end = now - timedelta(hours=30), now + timedelta(seconds=1)
    made = []
    for hours_ago, category, priority in [
        (29, "flooding", "urgent"),
        (20, "illegal_dumping", "high"),  # two departments in Di An
        (12, "streetlight_out", "normal"),
        (6, "streetlight_out", "normal"),
        (3, "noise", "low"),
        (2, "flooding", "normal"),
        (40, "flooding", "normal"),  # before the window
    ]:
        made.append(
            await incident(
                client,
                admin,
                category=category,
                priority=priority,
                reported_at=_iso(now - timedelta(hours=hours_ago)),
            )
        )
    # acknowledged and resolved after crafted delays (minutes), some still open
    crafted = {0: (15, 300, "resolved"), 1: (45, None, "in_progress"), 2: (5, 95, "closed"),
               3: (120, None, "assigned"), 6: (10, 20, "resolved")}  # fmt: skip
    async with engine.begin() as connection:
        for index, (ack, resolved, status) in crafted.items():
            opened = now - timedelta(hours=[29, 20, 12, 6, 3, 2, 40][index])
            await connection.execute(
                update(incidents)
                .where(incidents.c.id == made[index]["id"])
                .values(
                    acknowledged_at=opened + timedelta(minutes=ack),
                    resolved_at=None if resolved is None else opened + timedelta(minutes=resolved),
                    status=status,
                )
            )
    stream = await make_datastream(client, admin)
    for minutes_ago in (1, 2, 3, 50, 60 * 31):
        reading = {"phenomenonTime": _iso(now - timedelta(minutes=minutes_ago)), "result": 1.5}
        posted = await client.post(
            f"/v1.1/Datastreams({stream})/Observations", json=reading, headers=admin
        )
        assert posted.status_code == 201

    answer = await client.get(
        "/api/ops/kpis", params={"from": _iso(start), "to": _iso(end)}, headers=admin
    )
    assert answer.status_code == 200, answer.text
    figures = answer.json()

    async with engine.connect() as connection:
        dialect = connection.dialect.name
        by_department = await _hand(
            connection,
            "SELECT d.department, i.priority, count(*) FROM ops_incidents i "
            "JOIN ops_incident_departments d ON d.incident_id = i.id "
            f"WHERE i.created_at >= :s AND i.created_at < :e AND i.status IN {OPEN} "
            "GROUP BY d.department, i.priority",
            start,
            end,
        )
        expected: dict[str, dict[str, int]] = {}
        for department, priority, count in by_department:
            expected.setdefault(department, {})[priority] = count
        assert figures["open_by_department"] == expected
        assert expected["order_south"] == {"high": 1}  # the dumping went to both departments
        overdue = await _hand(
            connection,
            "SELECT count(*) FROM ops_incidents WHERE created_at >= :s AND created_at < :e "
            f"AND status IN {OPEN} AND (resolve_by < :e OR "
            "(acknowledged_at IS NULL AND respond_by < :e))",
            start,
            end,
        )
        assert figures["overdue"] == overdue[0][0]
        for figure, column in (
            ("time_to_acknowledge", "acknowledged_at"),
            ("time_to_resolve", "resolved_at"),
        ):
            summary = await _hand(
                connection,
                f"SELECT count(*), avg({_seconds(dialect, column)}) FROM ops_incidents "
                f"WHERE created_at >= :s AND created_at < :e AND {column} IS NOT NULL",
                start,
                end,
            )
            p90 = await _hand(connection, _p90(dialect, column), start, end)
            assert figures[figure]["count"] == summary[0][0]
            assert figures[figure]["mean_seconds"] == pytest.approx(float(summary[0][1]), abs=1e-3)
            assert figures[figure]["p90_seconds"] == pytest.approx(float(p90[0][0]), abs=1e-3)
        readings = await _hand(
            connection,
            "SELECT count(*) FROM observations "
            "WHERE phenomenon_time_start >= :s AND phenomenon_time_start < :e",
            start,
            end,
        )
    # the crafted numbers themselves, so a query that is wrong in both places still fails
    assert figures["time_to_acknowledge"]["count"] == 4
    assert figures["time_to_acknowledge"]["mean_seconds"] == pytest.approx((15 + 45 + 5 + 120) * 15)
    assert figures["time_to_acknowledge"]["p90_seconds"] == pytest.approx(120 * 60)
    assert figures["time_to_resolve"]["mean_seconds"] == pytest.approx((300 + 95) * 30)
    assert figures["readings"] == readings[0][0] == 4
    assert figures["readings_per_minute"] == pytest.approx(4 / ((end - start).total_seconds() / 60))
    # the alerting part's count, every severity a key (no rule ran over the crafted data)
    assert figures["alerts_by_severity"] == {"info": 0, "warning": 0, "critical": 0}


async def test_kpis_refuse_a_bad_window_and_department_users(
    client: httpx.AsyncClient, admin: dict[str, str], tokens: dict[str, str]
) -> None:
    bad = await client.get("/api/ops/kpis?from=yesterday", headers=admin)
    assert bad.status_code == 400 and "from" in bad.json()["detail"]
    backwards = await client.get(
        "/api/ops/kpis?from=2026-12-02T00:00:00Z&to=2026-12-01T00:00:00Z", headers=admin
    )
    assert backwards.status_code == 400 and "to" in backwards.json()["detail"]
    assert (
        await client.get("/api/ops/kpis", headers=bearer(tokens["department"]))
    ).status_code == 403
    empty = (await client.get("/api/ops/kpis", headers=admin)).json()
    assert empty["time_to_resolve"] == {"count": 0, "mean_seconds": None, "p90_seconds": None}
