"""Dusk and dawn at a lamp's place, and the switchings a schedule plans from them.

The published almanac value: Luther College's Decorah (Iowa) weather station table of
sunrise, sunset and civil twilight for September, computed to the U.S. Naval Observatory's
definitions (https://faculty.luther.edu/bernatzr/DecWx/Month09/Data/srssData_09.htm):
on 15 September civil twilight begins at 6:19 and ends at 7:45 pm CDT (UTC-5). Decorah is
at 43.3033 N, 91.7857 W; the table's year is a leap year (2024 here).
"""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from astral import Observer
from astral.sun import dawn, dusk

from cityhelix.city.lighting.errors import BadRequest
from cityhelix.city.lighting.schedule import (
    due_switchings,
    night_plan,
    schedule_columns,
    schedule_of,
)
from cityhelix.city.lighting.sun import dawn_at, dusk_at

DECORAH = (43.3033, -91.7857)
CDT = ZoneInfo("America/Chicago")
THU_DAU_MOT = (10.980, 106.652)
VIETNAM = ZoneInfo("Asia/Ho_Chi_Minh")


def test_dusk_and_dawn_equal_astral_and_the_published_almanac_within_a_minute() -> None:
    day = date(2024, 9, 15)
    lat, lon = DECORAH
    evening, morning = dusk_at(lat, lon, day, CDT), dawn_at(lat, lon, day, CDT)
    assert evening == dusk(Observer(lat, lon), day, tzinfo=CDT)
    assert morning == dawn(Observer(lat, lon), day, tzinfo=CDT)
    published_dusk = datetime(2024, 9, 15, 19, 45, tzinfo=CDT)
    published_dawn = datetime(2024, 9, 15, 6, 19, tzinfo=CDT)
    assert abs(evening - published_dusk) <= timedelta(minutes=1), evening
    assert abs(morning - published_dawn) <= timedelta(minutes=1), morning


def test_dusk_in_the_province_equals_astral_for_the_lamps_own_place() -> None:
    lat, lon = THU_DAU_MOT
    day = date(2026, 12, 6)
    assert dusk_at(lat, lon, day, VIETNAM) == dusk(Observer(lat, lon), day, tzinfo=VIETNAM)
    # a lamp 3 degrees further west sees dusk about 12 minutes later (4 min per degree)
    later = dusk_at(lat, lon - 3, day, VIETNAM) - dusk_at(lat, lon, day, VIETNAM)
    assert timedelta(minutes=11) < later < timedelta(minutes=13)


class Row:
    def __init__(self, **columns: Any) -> None:
        self.__dict__.update(columns)


def schedule(**body: Any) -> Any:
    columns = schedule_columns(
        {"name": "Yersin", "group": {"kind": "road", "value": "Yersin"}, **body}
    )
    return schedule_of(Row(id=1, **columns))


def test_a_night_is_on_at_dusk_plus_offset_dimmed_by_profile_and_off_at_dawn_plus_offset() -> None:
    lat, lon = THU_DAU_MOT
    plan = schedule(
        on_offset_minutes=-10,
        off_offset_minutes=15,
        profile=[{"from": "23:00", "level": 50}, {"from": "04:30", "level": 80}],
    )
    day = date(2026, 12, 6)
    switchings = night_plan(plan, lat, lon, day)
    evening = dusk_at(lat, lon, day, VIETNAM) - timedelta(minutes=10)
    morning = dawn_at(lat, lon, day + timedelta(days=1), VIETNAM) + timedelta(minutes=15)
    assert [(s.due_at, s.level) for s in switchings] == [
        (evening.astimezone(UTC), 100),
        (datetime(2026, 12, 6, 16, 0, tzinfo=UTC), 50),  # 23:00 local
        (datetime(2026, 12, 6, 21, 30, tzinfo=UTC), 80),  # 04:30 local
        (morning.astimezone(UTC), 0),
    ]


def test_exceptions_set_a_night_apart_and_a_dark_night_switches_nothing() -> None:
    lat, lon = THU_DAU_MOT
    plan = schedule(
        profile=[{"from": "23:00", "level": 50}],
        exceptions=[
            {"date": "2026-12-24", "level": 100, "reason": "Christmas Eve"},
            {"date": "2026-12-25", "level": 0, "reason": "maintenance"},
        ],
    )
    assert [s.level for s in night_plan(plan, lat, lon, date(2026, 12, 24))] == [100, 0]
    assert night_plan(plan, lat, lon, date(2026, 12, 25)) == []
    assert [s.level for s in night_plan(plan, lat, lon, date(2026, 12, 26))] == [100, 50, 0]


def test_due_switchings_are_those_of_the_catch_up_window_only() -> None:
    lat, lon = THU_DAU_MOT
    plan = schedule(profile=[{"from": "23:00", "level": 50}])
    at_23 = datetime(2026, 12, 6, 16, 0, tzinfo=UTC)
    window = timedelta(minutes=30)
    assert [s.level for s in due_switchings(plan, lat, lon, at_23, window)] == [50]
    assert due_switchings(plan, lat, lon, at_23 - timedelta(seconds=1), window) == []
    assert due_switchings(plan, lat, lon, at_23 + window, window) == []


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"group": {"kind": "ward", "value": "x"}}, "group.kind"),
        ({"on_offset_minutes": 500}, "on_offset_minutes"),
        ({"profile": [{"from": "25:00", "level": 5}]}, "profile[0].from"),
        ({"profile": [{"from": "23:00", "level": 120}]}, "profile[0].level"),
        ({"exceptions": [{"date": "2026-02-30", "level": 5}]}, "exceptions[0].date"),
        ({"timezone": "Mars/Olympus"}, "timezone"),
    ],
)
def test_a_bad_schedule_is_refused_naming_the_field(body: dict[str, Any], field: str) -> None:
    with pytest.raises(BadRequest) as refused:
        schedule_columns({"name": "x", "group": {"kind": "road", "value": "y"}, **body})
    assert refused.value.field == field
