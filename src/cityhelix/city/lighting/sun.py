"""Dusk and dawn at a lamp's own place, from the `astral` library (NOAA's solar equations).

Street lights switch on at civil dusk and off at civil dawn (the Sun 6 degrees below the
horizon) unless a schedule says otherwise; the depression is a parameter, so a district
may use sunset/sunrise (0.833) or nautical twilight (12) instead.
"""

from __future__ import annotations

from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

from astral import Observer
from astral.sun import dawn, dusk, elevation

#: civil twilight: the Sun's centre 6 degrees below the horizon
CIVIL_DEPRESSION = 6.0


def dusk_at(
    lat: float, lon: float, day: date, tz: ZoneInfo, depression: float = CIVIL_DEPRESSION
) -> datetime:
    """The evening's dusk of local date `day` at (lat, lon), as an aware local time."""
    return dusk(Observer(lat, lon), day, tzinfo=tz, depression=depression)


def dawn_at(
    lat: float, lon: float, day: date, tz: ZoneInfo, depression: float = CIVIL_DEPRESSION
) -> datetime:
    """The morning's dawn of local date `day` at (lat, lon), as an aware local time."""
    return dawn(Observer(lat, lon), day, tzinfo=tz, depression=depression)


def night_of(lat: float, lon: float, day: date, tz: ZoneInfo) -> tuple[datetime, datetime]:
    """The night that begins on the evening of `day`: (dusk of `day`, dawn of the next day)."""
    return dusk_at(lat, lon, day, tz), dawn_at(lat, lon, day + timedelta(days=1), tz)


def sun_elevation(lat: float, lon: float, when: datetime) -> float:
    """The Sun's elevation in degrees above the horizon at (lat, lon) at `when` (aware)."""
    return float(elevation(Observer(lat, lon), when))
