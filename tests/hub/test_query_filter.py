"""`$filter` over HTTP on both backends: operators, paths, JSON, every function family, errors.

Every case names the exact entities it must return; the same expectations hold on SQLite and
PostgreSQL, which is the point (one query language, one answer).
"""

from __future__ import annotations

import math
import operator
from collections.abc import Callable
from typing import Any

import httpx
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.hub.factories import MEASUREMENT, location, observed_property, sensor

pytestmark = pytest.mark.asyncio

#: a polygon around the Thu Dau Mot and Di An stations, not the Tan Uyen gauge
AROUND_TWO = "geography'POLYGON((106.6 10.85, 106.78 10.85, 106.78 11.0, 106.6 11.0, 106.6 10.85))'"


def _stream(name: str, prop: str, symbol: str, observations: list[dict[str, Any]]) -> Any:
    return {
        "name": name,
        "description": f"{name} readings",
        # OM_Observation: the streams hold numbers, strings, booleans and objects alike
        "observationType": MEASUREMENT.replace("OM_Measurement", "OM_Observation"),
        "unitOfMeasurement": {"name": symbol, "symbol": symbol, "definition": "ucum"},
        "Sensor": sensor(f"sensor of {name}"),
        "ObservedProperty": observed_property(prop),
        "Observations": observations,
    }


def _readings(*pairs: tuple[str, Any]) -> list[dict[str, Any]]:
    return [{"phenomenonTime": time, "result": result} for time, result in pairs]


#: the three stations every query test reads, in creation (id) order
STATIONS: list[dict[str, Any]] = [
    {
        "name": "Station TDM",
        "description": "air quality, Thu Dau Mot",
        "properties": {
            "district": "Thu Dau Mot",
            "note": "O'Brien; DROP TABLE things; --",
            "share": "100% sure",
            "ward": "PHÚ CƯỜNG",
            "level": 3,
            "active": True,
        },
        "Locations": [location("TDM kerbside", 106.65, 10.98)],
        "Datastreams": [
            _stream(
                "PM2.5 TDM",
                "PM2.5",
                "ug/m3",
                _readings(
                    ("2026-11-01T00:00:00Z", 5),
                    ("2026-11-01T01:00:00.250Z", 12),
                    ("2026-11-01T02:30:00Z", 40),
                    ("2026-11-02T23:59:59Z", 36.5),
                ),
            )
        ],
    },
    {
        "name": "Station Di An",
        "description": "air quality, Di An",
        "properties": {"district": "Di An", "level": 7},
        "Locations": [location("Di An market", 106.77, 10.90)],
        "Datastreams": [
            _stream(
                "PM10 Di An",
                "PM10",
                "ug/m3",
                _readings(
                    ("2026-11-03T00:00:00Z", "high"),
                    ("2026-11-03T01:00:00Z", "low"),
                    ("2026-11-03T02:00:00Z", {"pm25": 50, "pm10": 80}),
                    ("2026-11-03T03:00:00Z", True),
                ),
            )
        ],
    },
    {
        "name": "Gauge Tan Uyen",
        "properties": {"district": "Tan Uyen"},
        "Locations": [location("Tan Uyen bridge", 106.80, 11.05)],
        "Datastreams": [
            _stream(
                "Water level TU",
                "Water level",
                "m",
                [
                    {
                        "phenomenonTime": "2026-11-01T00:00:00Z/2026-11-01T06:00:00Z",
                        "resultTime": "2026-11-01T06:00:00Z",
                        "result": 1.25,
                    },
                    {
                        "phenomenonTime": "2026-11-01T06:00:00Z/2026-11-01T12:00:00Z",
                        "result": 1.5,
                    },
                ],
            )
        ],
    },
]
#: every Observation's result, in id order
ALL_RESULTS: list[Any] = [5, 12, 40, 36.5, "high", "low", {"pm25": 50, "pm10": 80}, True, 1.25, 1.5]


async def seed(client: httpx.AsyncClient, admin: dict[str, str]) -> None:
    """Create STATIONS (with their Locations, Datastreams and Observations)."""
    for station in STATIONS:
        response = await client.post("/v1.1/Things", json=station, headers=admin)
        assert response.status_code == 201, response.text


async def get_all(client: httpx.AsyncClient, url: str, **params: str) -> list[dict[str, Any]]:
    """Every entity of a collection query (following nextLinks), asserting success."""
    response = await client.get(url, params=params)
    assert response.status_code == 200, response.text
    page = response.json()
    entities: list[dict[str, Any]] = page["value"]
    while "@iot.nextLink" in page:
        page = (await client.get(page["@iot.nextLink"])).json()
        entities += page["value"]
    return entities


async def names(client: httpx.AsyncClient, url: str, **params: str) -> list[str]:
    return [entity["name"] for entity in await get_all(client, url, **params)]


async def results(client: httpx.AsyncClient, **params: str) -> list[Any]:
    return [entity["result"] for entity in await get_all(client, "/v1.1/Observations", **params)]


TDM, DI_AN, GAUGE = "Station TDM", "Station Di An", "Gauge Tan Uyen"


@pytest.mark.parametrize(
    ("expression", "expected"),
    [
        # comparison
        ("name eq 'Station Di An'", [DI_AN]),
        ("name ne 'Station Di An'", [TDM, GAUGE]),
        ("name gt 'Station A'", [TDM, DI_AN]),
        ("name ge 'Station TDM'", [TDM]),
        ("name lt 'H'", [GAUGE]),
        ("name le 'Gauge Tan Uyen'", [GAUGE]),
        ("@iot.id eq 2", [DI_AN]),
        # logical and parentheses
        (
            "(name eq 'Gauge Tan Uyen' or properties/level gt 5) and not (name eq 'Station Di An')",
            [GAUGE],
        ),
        ("not (properties/level gt 5)", [TDM, GAUGE]),
        ("name eq 'Station TDM' or name eq 'Gauge Tan Uyen'", [TDM, GAUGE]),
        # null
        ("description eq null", [GAUGE]),
        ("description ne null", [TDM, DI_AN]),
        ("properties/level eq null", [GAUGE]),
        ("properties/level ne null", [TDM, DI_AN]),
        ("null eq null and name eq 'Gauge Tan Uyen'", [GAUGE]),
        # arithmetic (JSON numbers)
        ("properties/level add 1 eq 4", [TDM]),
        ("properties/level sub 10 lt 0", [TDM, DI_AN]),
        ("properties/level mul 2 gt 10", [DI_AN]),
        ("properties/level div 2 eq 3.5", [DI_AN]),
        ("properties/level mod 2 eq 1", [TDM, DI_AN]),
        ("-properties/level lt -5", [DI_AN]),
        ("7 div 2 eq 3 and -7 mod 3 eq -1 and name eq 'Gauge Tan Uyen'", [GAUGE]),
        ("properties/level div 0 eq 1", []),
        # JSON members compare as the literal's type
        ("properties/district eq 'Thu Dau Mot'", [TDM]),
        ("properties/level gt 5", [DI_AN]),
        ("properties/level le 3", [TDM]),
        ("properties/level eq '7'", []),
        ("properties/active eq true", [TDM]),
        ("properties/active", [TDM]),
        ("properties/missing/deeper eq 1", []),
        # quotes, percent signs and SQL in values are only ever data
        ("properties/note eq 'O''Brien; DROP TABLE things; --'", [TDM]),
        ("properties/share eq '100% sure'", [TDM]),
        ("contains(properties/share, '%')", [TDM]),
        ("contains(name, '_') or startswith(name, '%')", []),
        ("name eq 'x'' or ''1''=''1'", []),
        # navigation: to-many hops mean "any related entity"
        ("Datastreams/ObservedProperty/name eq 'PM10'", [DI_AN]),
        ("Datastreams/Observations/result gt 38", [TDM]),
        ("Locations/name eq 'Tan Uyen bridge'", [GAUGE]),
        ("Datastreams/unitOfMeasurement/symbol eq 'm'", [GAUGE]),
        ("Datastreams/unitOfMeasurement/symbol eq 'ug/m3' and properties/level lt 5", [TDM]),
        ("not (Datastreams/Observations/result gt 38)", [DI_AN, GAUGE]),
        # strings
        ("substringof('Di', name)", [DI_AN]),
        ("contains(name, 'Station')", [TDM, DI_AN]),
        ("startswith(name, 'Gauge')", [GAUGE]),
        ("endswith(name, 'An')", [DI_AN]),
        ("endswith(name, 'Station Di An but longer')", []),
        ("length(name) eq 11", [TDM]),
        ("indexof(name, 'Tan') eq 7", [GAUGE]),  # counts from 1, as 18-088 does
        ("indexof(name, 'zzz') eq 0", [TDM, DI_AN, GAUGE]),
        ("substring(name, 8) eq 'TDM'", [TDM]),
        ("substring(name, 0, 5) eq 'Gauge'", [GAUGE]),
        ("substring(name, 8, 2) eq 'Di'", [DI_AN]),
        ("substring(name, length(name) sub 3) eq 'TDM'", [TDM]),
        ("tolower(name) eq 'station tdm'", [TDM]),
        ("toupper(name) eq 'GAUGE TAN UYEN'", [GAUGE]),
        ("tolower(properties/ward) eq 'phú cường'", [TDM]),
        ("toupper('phú cường') eq properties/ward", [TDM]),
        ("trim(concat('  ', name)) eq name", [TDM, DI_AN, GAUGE]),
        ("concat(name, '!') eq 'Station TDM!'", [TDM]),
        # geometry through a to-many link
        (f"st_within(Locations/location, {AROUND_TWO})", [TDM, DI_AN]),
    ],
)
async def test_filter_things(
    client: httpx.AsyncClient, admin: dict[str, str], expression: str, expected: list[str]
) -> None:
    await seed(client, admin)
    assert await names(client, "/v1.1/Things", **{"$filter": expression}) == expected


@pytest.mark.parametrize(
    ("expression", "expected"),
    [
        # result: numbers as numbers, strings as strings, booleans and JSON members
        ("result gt 35", [40, 36.5]),
        ("result lt 6", [5, 1.25, 1.5]),
        ("result eq 12", [12]),
        ("result eq 12.0", [12]),
        ("result eq 'high'", ["high"]),
        ("result ne 'high' and result ge 'a'", ["low"]),
        ("result eq true", [True]),
        ("result/pm25 gt 35", [{"pm25": 50, "pm10": 80}]),
        ("result/pm10 eq 80 and result/pm25 lt 51", [{"pm25": 50, "pm10": 80}]),
        ("length(result) eq 4", ["high"]),
        ("result add 5 gt 40", [40, 36.5]),
        ("result mul 2 eq 24", [12]),
        ("result mod 5 eq 2", [12]),
        ("result mod 1 eq 0.5", [36.5, 1.5]),
        ("result div 4 eq 10", [40]),
        # to-one paths, and a predicate mixing the entity with a related one
        (
            "Datastream/Thing/Locations/name eq 'Di An market'",
            ["high", "low", ALL_RESULTS[6], True],
        ),
        ("Datastream/Thing/properties/district eq 'Tan Uyen'", [1.25, 1.5]),
        ("result sub Datastream/Thing/properties/level gt 30", [40, 36.5]),
        ("Datastream/name eq FeatureOfInterest/name", []),
        # time: instants, intervals (see filter_sql._compare_times), null
        ("resultTime eq null and result eq 1.5", [1.5]),
        ("resultTime ne null", [1.25]),
        ("phenomenonTime lt 2026-11-01T06:00:00Z", [5, 12, 40, 1.25]),
        ("phenomenonTime lt 2026-11-01T02:30:00Z", [5, 12]),
        ("phenomenonTime le 2026-11-01T02:30:00Z", [5, 12, 40]),
        (
            "phenomenonTime gt 2026-11-01T05:00:00Z",
            [36.5, "high", "low", ALL_RESULTS[6], True, 1.5],
        ),
        ("phenomenonTime ge 2026-11-01T06:00:00Z and result lt 2", [1.5]),
        ("phenomenonTime eq 2026-11-01T00:00:00Z/2026-11-01T06:00:00Z", [1.25]),
        ("phenomenonTime eq 2026-11-01T00:00:00Z", [5]),
        ("phenomenonTime ne 2026-11-01T00:00:00Z and result lt 20", [12, 1.25, 1.5]),
        (
            "phenomenonTime ge 2026-11-01T00:00:00Z/2026-11-01T06:00:00Z and result lt 37",
            [36.5, 1.25, 1.5],
        ),
        ("phenomenonTime lt 2026-11-01T06:00:00Z/2026-11-01T07:00:00Z", [5, 12, 40, 1.25]),
        (
            "phenomenonTime ge 2026-11-03 and phenomenonTime lt 2026-11-03T02:00:00Z",
            ["high", "low"],
        ),
        ("resultTime eq 2026-11-01T08:00:00+02:00", [1.25]),
        # date functions, read in UTC
        (
            "year(phenomenonTime) eq 2026 and month(phenomenonTime) eq 11"
            " and day(phenomenonTime) eq 2",
            [36.5],
        ),
        ("hour(phenomenonTime) eq 2 and minute(phenomenonTime) eq 30", [40]),
        ("second(phenomenonTime) eq 59", [36.5]),
        ("fractionalseconds(phenomenonTime) eq 0.25", [12]),
        ("fractionalseconds(phenomenonTime) gt 0", [12]),
        ("date(phenomenonTime) eq 2026-11-03 and result eq 'low'", ["low"]),
        ("time(phenomenonTime) eq 02:30:00", [40]),
        ("time(phenomenonTime) lt 00:30:00", [5, "high", 1.25]),
        ("totaloffsetminutes(phenomenonTime) eq 0 and result eq 5", [5]),
        ("totaloffsetminutes(2026-11-01T23:00:00-02:00) eq -120 and result eq 5", [5]),
        (
            "day(2026-11-01T23:00:00-02:00) eq 2 and hour(2026-11-01T23:00:00-02:00) eq 1"
            " and result eq 5",
            [5],
        ),
        ("year(2026-05-01) eq 2026 and second(10:20:30.5) eq 30 and result eq 5", [5]),
        ("now() gt 2026-01-01T00:00:00Z and result lt 2", [1.25, 1.5]),
        ("phenomenonTime gt maxdatetime() or phenomenonTime lt mindatetime()", []),
        ("phenomenonTime gt mindatetime() and result eq 5", [5]),
        ("phenomenonTime sub duration'P1D' gt 2026-11-02T00:00:00Z", ["low", ALL_RESULTS[6], True]),
        (
            "phenomenonTime gt 2026-11-03T00:00:00Z sub duration'PT1S'",
            ["high", "low", ALL_RESULTS[6], True],
        ),
        ("phenomenonTime add duration'PT6H' eq 2026-11-01T06:00:00Z/2026-11-01T12:00:00Z", [1.25]),
        # math
        ("round(result) eq 37", [36.5]),
        ("round(result) eq 2", [1.5]),
        ("floor(result) eq 36", [36.5]),
        ("ceiling(result) eq 2", [1.25, 1.5]),
        ("round(-2.5) eq -3 and round(2.5) eq 3 and result eq 5", [5]),
        ("floor(-1.5) eq -2 and ceiling(-1.5) eq -1 and result eq 5", [5]),
        # geometry of the generated FeaturesOfInterest
        (f"st_within(FeatureOfInterest/feature, {AROUND_TWO}) and result lt 13", [5, 12]),
    ],
)
async def test_filter_observations(
    client: httpx.AsyncClient, admin: dict[str, str], expression: str, expected: list[Any]
) -> None:
    await seed(client, admin)
    assert await results(client, **{"$filter": expression}) == expected


@pytest.mark.parametrize(
    ("expression", "expected"),
    [
        (f"st_within(location, {AROUND_TWO})", ["TDM kerbside", "Di An market"]),
        (f"st_contains({AROUND_TWO}, location)", ["TDM kerbside", "Di An market"]),
        (f"st_intersects(location, {AROUND_TWO})", ["TDM kerbside", "Di An market"]),
        (f"geo.intersects(location, {AROUND_TWO})", ["TDM kerbside", "Di An market"]),
        (f"st_disjoint(location, {AROUND_TWO})", ["Tan Uyen bridge"]),
        (f"not st_within(location, {AROUND_TWO})", ["Tan Uyen bridge"]),
        (f"st_overlaps(location, {AROUND_TWO})", []),
        (f"st_touches(location, {AROUND_TWO})", []),
        ("st_touches(location, geography'LINESTRING(106.80 11.05, 107 11)')", ["Tan Uyen bridge"]),
        ("st_crosses(geography'LINESTRING(106.70 10.98, 106.60 10.98)', location)", []),
        ("st_equals(location, geography'POINT(106.65 10.98)')", ["TDM kerbside"]),
        ("st_contains(location, geography'POINT(106.77 10.90)')", ["Di An market"]),
        (f"st_relate(location, {AROUND_TWO}, 'T*F**F***')", ["TDM kerbside", "Di An market"]),
        ("geo.distance(location, geography'POINT(106.65 10.98)') lt 0.01", ["TDM kerbside"]),
        (
            "geo.distance(location, geography'POINT(106.65 10.98)') gt 0.1",
            ["Di An market", "Tan Uyen bridge"],
        ),
        ("geo.length(location) eq 0", ["TDM kerbside", "Di An market", "Tan Uyen bridge"]),
        (
            "geo.length(geography'LINESTRING(0 0, 3 4)') eq 5 and name eq 'Di An market'",
            ["Di An market"],
        ),
        (
            "st_within(location, geography'SRID=4326;POLYGON((106.79 11.04, 106.81 11.04, "
            "106.81 11.06, 106.79 11.06, 106.79 11.04))')",
            ["Tan Uyen bridge"],
        ),
    ],
)
async def test_filter_locations_by_geometry(
    client: httpx.AsyncClient, admin: dict[str, str], expression: str, expected: list[str]
) -> None:
    await seed(client, admin)
    assert await names(client, "/v1.1/Locations", **{"$filter": expression}) == expected


async def test_datastream_time_intervals_and_counts_follow_the_filter(
    client: httpx.AsyncClient, admin: dict[str, str]
) -> None:
    await seed(client, admin)
    found = await names(
        client, "/v1.1/Datastreams", **{"$filter": "phenomenonTime gt 2026-11-02T00:00:00Z"}
    )
    assert found == ["PM10 Di An"]
    page = (
        await client.get(
            "/v1.1/Observations",
            params={"$filter": "result ge 5", "$count": "true", "$top": "2"},
        )
    ).json()
    assert page["@iot.count"] == 4
    assert [o["result"] for o in page["value"]] == [5, 12]
    following = (await client.get(page["@iot.nextLink"])).json()
    assert [o["result"] for o in following["value"]] == [40, 36.5]


async def test_filter_under_a_navigation_path(
    client: httpx.AsyncClient, admin: dict[str, str]
) -> None:
    await seed(client, admin)
    streams = await get_all(client, "/v1.1/Datastreams", **{"$filter": "name eq 'PM2.5 TDM'"})
    url = f"/v1.1/Datastreams({streams[0]['@iot.id']})/Observations"
    found = await get_all(client, url, **{"$filter": "result gt 10 and result lt 39"})
    assert [o["result"] for o in found] == [12, 36.5]


@pytest.mark.parametrize(
    ("url", "params", "token"),
    [
        ("/v1.1/Things", {"$filter": "name eq"}, None),
        ("/v1.1/Things", {"$filter": "(name eq 'x'"}, None),
        ("/v1.1/Things", {"$filter": "nme eq 'x'"}, "nme"),
        ("/v1.1/Things", {"$filter": "Datastreams/nosuch eq 1"}, "nosuch"),
        ("/v1.1/Things", {"$filter": "frobnicate(name) eq 1"}, "frobnicate"),
        ("/v1.1/Things", {"$filter": "name gt 5"}, "'name' (a string)"),
        ("/v1.1/Things", {"$filter": "year(name) eq 2026"}, "name"),
        ("/v1.1/Things", {"$filter": "length(@iot.id) eq 1"}, "@iot.id"),
        ("/v1.1/Things", {"$filter": "length(name) eq 'x'"}, None),
        ("/v1.1/Things", {"$filter": "name"}, "name"),
        ("/v1.1/Things", {"$filter": "length(name)"}, None),
        ("/v1.1/Things", {"$filter": "Datastreams eq 1"}, "Datastreams"),
        ("/v1.1/Things", {"$filter": "name/first eq 'x'"}, "first"),
        ("/v1.1/Things", {"$filter": "substring(name, 1.5) eq 'x'"}, "1.5"),
        ("/v1.1/Things", {"$filter": "st_within(name, geography'POINT(1 1)')"}, "name"),
        ("/v1.1/Things", {"$filter": "name add 1 eq 2"}, "name"),
        ("/v1.1/Locations", {"$filter": "location eq geography'POINT(1 1)'"}, None),
        ("/v1.1/Locations", {"$filter": "st_relate(location, location, 'bad')"}, "'bad'"),
        (
            "/v1.1/Locations",
            {"$filter": "geo.distance(location, geography'POINT(0 0)') eq 'x'"},
            None,
        ),
        ("/v1.1/Observations", {"$filter": "phenomenonTime eq 'yesterday'"}, None),
        (
            "/v1.1/Observations",
            {"$filter": "phenomenonTime sub resultTime gt duration'PT1H'"},
            None,
        ),
        ("/v1.1/Observations", {"$filter": "result eq 2026-11-01T00:00:00Z"}, None),
        ("/v1.1/Observations", {"$filter": "year(result) eq 2026"}, "result"),
        ("/v1.1/Things", {"$top": "10001"}, "10001"),
        ("/v1.1/Things", {"$filter": "name eq 'a'", "$nosuch": "1"}, "$nosuch"),
    ],
)
async def test_bad_filters_are_400_naming_the_token(
    client: httpx.AsyncClient, url: str, params: dict[str, str], token: str | None
) -> None:
    response = await client.get(url, params=params)
    assert response.status_code == 400, response.text
    body = response.json()
    assert body["code"] == 400
    message: str = body["message"]
    assert message
    if token is not None:
        assert token in message
    for sql in ("SELECT", "WHERE", "json_extract", "jsonb", "CAST("):
        assert sql not in message


async def test_filter_answers_are_the_same_json_on_repeated_reads(
    client: httpx.AsyncClient, admin: dict[str, str]
) -> None:
    await seed(client, admin)
    first = await client.get("/v1.1/Things", params={"$filter": "properties/level ge 3"})
    again = await client.get("/v1.1/Things", params={"$filter": "properties/level ge 3"})
    assert first.json() == again.json()
    assert [t["name"] for t in first.json()["value"]] == [TDM, DI_AN]


# -- property test: `result <op> x` against a Python evaluation of the same rows -----------------

_NUMBERS = [-3, 0, 0.5, 1, 2.25, 7, 7.0, 10, 12.5, 99, -0.125, 1e10]
_OPERATORS: dict[str, Callable[[Any, Any], bool]] = {
    "eq": operator.eq,
    "ne": operator.ne,
    "gt": operator.gt,
    "ge": operator.ge,
    "lt": operator.lt,
    "le": operator.le,
}
_comparison = st.tuples(
    st.sampled_from(sorted(_OPERATORS)),
    st.one_of(
        st.integers(min_value=-20, max_value=120),
        st.floats(min_value=-20, max_value=120, allow_nan=False).map(lambda v: round(v, 3)),
    ),
)


def _literal(value: float) -> str:
    if isinstance(value, int):
        return str(value)
    text = repr(float(value))
    return text if "." in text or "e" in text else text + ".0"


@settings(
    max_examples=40,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)
@given(
    first=_comparison,
    second=_comparison,
    joiner=st.sampled_from(["and", "or"]),
    negate=st.booleans(),
)
async def test_result_comparisons_match_python(
    client: httpx.AsyncClient,
    admin: dict[str, str],
    first: tuple[str, float],
    second: tuple[str, float],
    joiner: str,
    negate: bool,
) -> None:
    count = (await client.get("/v1.1/Observations", params={"$count": "true", "$top": "0"})).json()
    if count["@iot.count"] == 0:  # the first example of this test seeds; the others reuse it
        body = STATIONS[0] | {
            "Datastreams": [
                _stream(
                    "numbers",
                    "n",
                    "1",
                    _readings(*((f"2026-11-01T00:{i:02d}:00Z", v) for i, v in enumerate(_NUMBERS))),
                )
            ]
        }
        assert (await client.post("/v1.1/Things", json=body, headers=admin)).status_code == 201

    def holds(value: float) -> bool:
        left = _OPERATORS[first[0]](value, first[1])
        right = _OPERATORS[second[0]](value, second[1])
        combined = (left and right) if joiner == "and" else (left or right)
        return not combined if negate else combined

    expression = (
        f"result {first[0]} {_literal(first[1])} {joiner} result {second[0]} {_literal(second[1])}"
    )
    if negate:
        expression = f"not ({expression})"
    found = await results(client, **{"$filter": expression})
    expected = [value for value in _NUMBERS if holds(value)]
    assert found == expected, expression
    assert all(math.isfinite(v) for v in found)
