"""The province's days: where a day (and a month) begins in the province's own time zone
(`Settings.province_timezone`), for daily indices, energy per day and monthly counts."""

from __future__ import annotations

import functools
from datetime import UTC, date, datetime, time, tzinfo
from zoneinfo import ZoneInfo

from cityhelix.settings import Settings


@functools.cache
def _zone(name: str) -> ZoneInfo:
    return ZoneInfo(name)


def zone_of(settings: Settings) -> tzinfo:
    """The province's time zone (the setting is checked at start)."""
    return _zone(settings.province_timezone)


def day_start(day: date, zone: tzinfo) -> datetime:
    """The UTC instant the province's `day` begins."""
    return datetime.combine(day, time(0), tzinfo=zone).astimezone(UTC)


def local_date(moment: datetime, zone: tzinfo) -> date:
    """The province's calendar date at `moment`."""
    return moment.astimezone(zone).date()


def local_month(moment: datetime, zone: tzinfo) -> str:
    """The province's calendar month ("YYYY-MM") at `moment`."""
    return moment.astimezone(zone).strftime("%Y-%m")
