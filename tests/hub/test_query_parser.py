"""Tests of the SensorThings query-option parser: literal forms, precedence, paths, functions,
$expand nesting, error messages and positions, and Hypothesis round-trip and fuzz properties."""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta, timezone

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from cityhelix.hub.errors import BadQuery
from cityhelix.hub.query.expression import (
    FUNCTION_ARITIES,
    BinaryOp,
    ExpandItem,
    Expr,
    FunctionCall,
    Literal,
    LiteralType,
    OrderBy,
    Path,
    SelectItem,
    UnaryOp,
    to_text,
)
from cityhelix.hub.query.options import QueryOptions, parse_expand, parse_query_options
from cityhelix.hub.query.parser import (
    KEYWORDS,
    MAX_DEPTH,
    MAX_TOKENS,
    parse_filter,
    parse_orderby,
    parse_select,
)


def p(*segments: str) -> Path:
    return Path(segments)


def lit_int(value: int) -> Literal:
    return Literal(value, LiteralType.INTEGER)


def lit_str(value: str) -> Literal:
    return Literal(value, LiteralType.STRING)


def bad(text: str) -> BadQuery:
    with pytest.raises(BadQuery) as caught:
        parse_filter(text)
    return caught.value


# --- the brief's examples ----------------------------------------------------------------------


def test_simple_comparison() -> None:
    assert parse_filter("result gt 10") == BinaryOp("gt", p("result"), lit_int(10))


def test_json_property_paths() -> None:
    assert parse_filter("properties/district eq 'Thu Dau Mot'") == BinaryOp(
        "eq", p("properties", "district"), lit_str("Thu Dau Mot")
    )
    assert parse_filter("result/pm25 gt 35") == BinaryOp("gt", p("result", "pm25"), lit_int(35))


def test_navigation_path() -> None:
    assert parse_filter("Datastream/Thing/Locations/name eq 'X'") == BinaryOp(
        "eq", p("Datastream", "Thing", "Locations", "name"), lit_str("X")
    )


def test_escaped_quote() -> None:
    assert parse_filter("name eq 'O''Brien'") == BinaryOp("eq", p("name"), lit_str("O'Brien"))
    assert parse_filter("name eq ''''") == BinaryOp("eq", p("name"), lit_str("'"))
    assert parse_filter("name eq ''") == BinaryOp("eq", p("name"), lit_str(""))


def test_substringof() -> None:
    assert parse_filter("substringof('foo', name)") == FunctionCall(
        "substringof", (lit_str("foo"), p("name"))
    )


def test_precedence_with_not_and_arithmetic() -> None:
    expected = BinaryOp(
        "and",
        BinaryOp(
            "gt", BinaryOp("add", FunctionCall("length", (p("name"),)), lit_int(1)), lit_int(3)
        ),
        UnaryOp("not", BinaryOp("eq", p("id"), lit_int(5))),
    )
    assert parse_filter("length(name) add 1 gt 3 and not (id eq 5)") == expected


def test_datetime_range() -> None:
    expr = parse_filter(
        "phenomenonTime ge 2026-01-01T00:00:00Z and phenomenonTime lt 2026-01-02T00:00:00.000+07:00"
    )
    start = datetime(2026, 1, 1, tzinfo=UTC)
    end = datetime(2026, 1, 2, tzinfo=timezone(timedelta(hours=7)))
    assert expr == BinaryOp(
        "and",
        BinaryOp("ge", p("phenomenonTime"), Literal(start, LiteralType.DATETIME)),
        BinaryOp("lt", p("phenomenonTime"), Literal(end, LiteralType.DATETIME)),
    )
    assert isinstance(expr, BinaryOp) and isinstance(expr.right, BinaryOp)
    right = expr.right.right
    assert isinstance(right, Literal) and isinstance(right.value, datetime)
    assert right.value.utcoffset() == timedelta(hours=7)


def test_geo_distance() -> None:
    assert parse_filter("geo.distance(location, geography'POINT(106.65 10.98)') lt 0.01") == (
        BinaryOp(
            "lt",
            FunctionCall(
                "geo.distance",
                (p("location"), Literal("POINT(106.65 10.98)", LiteralType.GEOMETRY)),
            ),
            Literal(0.01, LiteralType.DECIMAL),
        )
    )


def test_st_within_polygon() -> None:
    wkt = "POLYGON((0 0, 1 0, 1 1, 0 1, 0 0))"
    assert parse_filter(f"st_within(location, geography'{wkt}')") == FunctionCall(
        "st_within", (p("location"), Literal(wkt, LiteralType.GEOMETRY))
    )
    assert parse_filter(f"st_within(location, geometry'{wkt}')") == FunctionCall(
        "st_within", (p("location"), Literal(wkt, LiteralType.GEOMETRY))
    )


def test_srid_prefix() -> None:
    assert parse_filter("geography'SRID=4326;POINT(1 2)'") == Literal(
        "POINT(1 2)", LiteralType.GEOMETRY
    )
    assert "SRID" in bad("geography'SRID=3857;POINT(1 2)'").message


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("round(result) eq 3", BinaryOp("eq", FunctionCall("round", (p("result"),)), lit_int(3))),
        (
            "year(resultTime) eq 2026",
            BinaryOp("eq", FunctionCall("year", (p("resultTime"),)), lit_int(2026)),
        ),
        ("resultTime eq null", BinaryOp("eq", p("resultTime"), Literal(None, LiteralType.NULL))),
        ("-result lt -3", BinaryOp("lt", UnaryOp("-", p("result")), lit_int(-3))),
        ("result mod 2 eq 1", BinaryOp("eq", BinaryOp("mod", p("result"), lit_int(2)), lit_int(1))),
    ],
)
def test_functions_null_negation_mod(text: str, expected: Expr) -> None:
    assert parse_filter(text) == expected


# --- literals -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "value", "kind"),
    [
        ("42", 42, LiteralType.INTEGER),
        ("-42", -42, LiteralType.INTEGER),
        ("007", 7, LiteralType.INTEGER),
        ("9223372036854775807", 2**63 - 1, LiteralType.INTEGER),
        ("-9223372036854775808", -(2**63), LiteralType.INTEGER),
        ("2.5", 2.5, LiteralType.DECIMAL),
        ("-2.5", -2.5, LiteralType.DECIMAL),
        ("1e3", 1000.0, LiteralType.DECIMAL),
        ("1.5E-3", 0.0015, LiteralType.DECIMAL),
        ("2E+2", 200.0, LiteralType.DECIMAL),
        ("INF", float("inf"), LiteralType.DECIMAL),
        ("-INF", float("-inf"), LiteralType.DECIMAL),
        ("true", True, LiteralType.BOOLEAN),
        ("false", False, LiteralType.BOOLEAN),
        ("null", None, LiteralType.NULL),
        ("'Thủ Dầu Một'", "Thủ Dầu Một", LiteralType.STRING),
        ("2026-01-01", date(2026, 1, 1), LiteralType.DATE),
        ("10:00:00", time(10), LiteralType.TIME),
        ("10:30", time(10, 30), LiteralType.TIME),
        ("23:59:59.5", time(23, 59, 59, 500000), LiteralType.TIME),
        (
            "2026-01-01T10:00Z",
            datetime(2026, 1, 1, 10, tzinfo=UTC),
            LiteralType.DATETIME,
        ),
        (
            "2026-01-01T00:00:00.123-03:30",
            datetime(2026, 1, 1, 0, 0, 0, 123000, tzinfo=timezone(-timedelta(hours=3.5))),
            LiteralType.DATETIME,
        ),
        (
            "2020-01-01T00:00:00Z/2020-01-02T00:00:00Z",
            (datetime(2020, 1, 1, tzinfo=UTC), datetime(2020, 1, 2, tzinfo=UTC)),
            LiteralType.INTERVAL,
        ),
        ("duration'P1DT2H'", timedelta(days=1, hours=2), LiteralType.DURATION),
        ("duration'PT0.25S'", timedelta(seconds=0.25), LiteralType.DURATION),
        ("duration'-P2D'", timedelta(days=-2), LiteralType.DURATION),
        ("Duration'PT90M'", timedelta(minutes=90), LiteralType.DURATION),
        ("geometry'LINESTRING(0 0, 1 1)'", "LINESTRING(0 0, 1 1)", LiteralType.GEOMETRY),
    ],
)
def test_literal_forms(text: str, value: object, kind: LiteralType) -> None:
    assert parse_filter(text) == Literal(value, kind)  # type: ignore[arg-type]


def test_nan_literal() -> None:
    expr = parse_filter("NaN")
    assert isinstance(expr, Literal) and expr.type is LiteralType.DECIMAL
    assert expr.value != expr.value


def test_date_is_not_arithmetic() -> None:
    assert parse_filter("day eq 2026-01-31") == BinaryOp(
        "eq", p("day"), Literal(date(2026, 1, 31), LiteralType.DATE)
    )


def test_names_that_look_like_keywords_or_literals() -> None:
    assert parse_filter("INFO eq 1") == BinaryOp("eq", p("INFO"), lit_int(1))
    assert parse_filter("nullable eq true") == BinaryOp(
        "eq", p("nullable"), Literal(True, LiteralType.BOOLEAN)
    )
    assert parse_filter("length eq 1") == BinaryOp("eq", p("length"), lit_int(1))
    assert parse_filter("-INFO") == UnaryOp("-", p("INFO"))


def test_iot_id_and_unicode_names() -> None:
    assert parse_filter("@iot.id eq 5") == BinaryOp("eq", p("@iot.id"), lit_int(5))
    assert parse_filter("Thing/@iot.id eq 5") == BinaryOp("eq", p("Thing", "@iot.id"), lit_int(5))
    assert parse_filter("properties/quận eq 'x'") == BinaryOp(
        "eq", p("properties", "quận"), lit_str("x")
    )


def test_whitespace_is_flexible() -> None:
    assert parse_filter("  result\tgt\n10  ") == parse_filter("result gt 10")
    assert parse_filter("round( result )eq 3") == parse_filter("round(result) eq 3")


# --- precedence and associativity ---------------------------------------------------------------


def test_and_binds_tighter_than_or() -> None:
    assert parse_filter("a or b and c") == BinaryOp("or", p("a"), BinaryOp("and", p("b"), p("c")))


def test_mul_binds_tighter_than_add() -> None:
    assert parse_filter("a add b mul c") == BinaryOp("add", p("a"), BinaryOp("mul", p("b"), p("c")))


def test_comparison_binds_tighter_than_equality() -> None:
    assert parse_filter("a gt b eq true") == BinaryOp(
        "eq", BinaryOp("gt", p("a"), p("b")), Literal(True, LiteralType.BOOLEAN)
    )


def test_left_associativity() -> None:
    assert parse_filter("a sub b sub c") == BinaryOp("sub", BinaryOp("sub", p("a"), p("b")), p("c"))


def test_unary_binds_tighter_than_binary() -> None:
    assert parse_filter("not a eq b") == BinaryOp("eq", UnaryOp("not", p("a")), p("b"))
    assert parse_filter("- a mul b") == BinaryOp("mul", UnaryOp("-", p("a")), p("b"))
    assert parse_filter("- 3") == UnaryOp("-", lit_int(3))
    assert parse_filter("not not a") == UnaryOp("not", UnaryOp("not", p("a")))


def test_parentheses_override_precedence() -> None:
    assert parse_filter("(a or b) and c") == BinaryOp("and", BinaryOp("or", p("a"), p("b")), p("c"))


def test_function_names_are_lower_cased_and_checked() -> None:
    assert parse_filter("ST_WITHIN(a, b)") == FunctionCall("st_within", (p("a"), p("b")))
    assert parse_filter("now()") == FunctionCall("now", ())
    assert parse_filter("substring(name, 1)") == FunctionCall("substring", (p("name"), lit_int(1)))
    assert parse_filter("substring(name, 1, 2)") == FunctionCall(
        "substring", (p("name"), lit_int(1), lit_int(2))
    )
    assert parse_filter("st_relate(a, b, 'T********')").args[2] == lit_str("T********")  # type: ignore[union-attr]


# --- errors ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "token", "position", "fragment"),
    [
        ("result gt", None, 9, "unexpected end of input at position 9, expected an operand"),
        ("name eq 'unterminated", "'unterminated", 8, "expected a closing quote"),
        ("foo(1)", "foo", 0, "unknown function 'foo' at position 0"),
        ("length(1,2)", "length", 0, "function 'length' at position 0 takes 1 argument, got 2"),
        ("substring(x)", "substring", 0, "takes 2 or 3 arguments, got 1"),
        ("now(1)", "now", 0, "takes 0 arguments, got 1"),
        ("((result gt 1)", None, 14, "expected an operator"),
        ("result gtt 3", "gtt", 7, "unexpected token 'gtt' at position 7"),
        ("result gt gt 3", "gt", 10, "unexpected token 'gt' at position 10, expected an operand"),
        ("", None, 0, "expected an operand"),
        ("result GT 3", "GT", 7, "expected an operator"),
        ("a AND b", "AND", 2, "expected an operator"),
        ("result gt 10)", ")", 12, "expected an operator"),
        ("round(a,)", ")", 8, "expected an operand"),
        ("x eq 0001-01-01T00:00:00+07:00", "0001-01-01T00:00:00+07:00", 5, "invalid datetime"),
        ("round(a b)", "b", 8, "',' or ')'"),
        ("result/", None, 7, "expected a property name after '/'"),
        ("result/3", "3", 7, "expected a property name after '/'"),
        ("a.b eq 1", "a.b", 0, "expected a property name"),
        ("geo.distance eq 1", "eq", 13, "expected '(' after geo.distance"),
        ("x eq 3x", "3x", 5, "invalid number '3x'"),
        ("x eq 1.", "1.", 5, "invalid number"),
        ("x eq 1.5.2", "1.5.2", 5, "invalid number"),
        ("x eq 99999999999999999999", "99999999999999999999", 5, "64-bit"),
        ("x eq 1e999", "1e999", 5, "finite"),
        ("x eq 2026-13-01", "2026-13-01", 5, "invalid date"),
        ("x eq 2026-01-01T25:00:00Z", "2026-01-01T25:00:00Z", 5, "invalid datetime"),
        ("x eq 2026-01-01T00:00:00+24:00", "2026-01-01T00:00:00+24:00", 5, "invalid datetime"),
        ("x eq 2026-01-01T00:00:00", "2026-01-01T00:00:00", 5, "no time-zone offset"),
        ("x eq 2026-01-01T1", "2026-01-01T1", 5, "invalid date"),
        ("x eq 25:00", "25:00", 5, "invalid time"),
        (
            "x eq 2020-01-02T00:00:00Z/2020-01-01T00:00:00Z",
            "2020-01-02T00:00:00Z/2020-01-01T00:00:00Z",
            5,
            "invalid interval",
        ),
        ("x eq duration'P1Y'", "duration'P1Y'", 5, "no years or months"),
        ("x eq duration'P'", "duration'P'", 5, "invalid duration"),
        ("x eq duration'P1DT'", "duration'P1DT'", 5, "invalid duration"),
        ("x eq duration'P99999999999D'", "duration'P99999999999D'", 5, "invalid duration"),
        ("st_within(a, geography'POINT(1')", "geography'POINT(1'", 13, "invalid geometry"),
        ("st_within(a, geography'CIRCLE(1 2)')", "geography'CIRCLE(1 2)'", 13, "geometry"),
        ("x eq blob'00'", "blob", 5, "unknown literal prefix 'blob'"),
        ("x eq #", "#", 5, "unexpected character '#' at position 5"),
        ("x eq $it", "$it", 5, "expected an operand"),
        ("x eq 'a' 'b'", "'b'", 9, "expected an operator"),
        ("-", None, 1, "expected an operand"),
        ("not", None, 3, "expected an operand"),
    ],
)
def test_errors_point_at_token_and_position(
    text: str, token: str | None, position: int, fragment: str
) -> None:
    error = bad(text)
    assert error.message.startswith("$filter: ")
    assert fragment in error.message
    assert error.token == token
    assert error.position == position
    assert f"position {position}" in error.message


def test_error_message_shape() -> None:
    assert bad("result gt gt").message == (
        "$filter: unexpected token 'gt' at position 10, expected an operand"
    )


def test_keywords_are_lower_case_only() -> None:
    assert parse_filter("TRUE eq 1") == BinaryOp("eq", p("TRUE"), lit_int(1))


@pytest.mark.parametrize(
    "text",
    [
        "(" * (MAX_DEPTH + 5) + "x" + ")" * (MAX_DEPTH + 5),
        "not " * (MAX_DEPTH + 5) + "x",
        "- " * 10_000 + "1",
        " add ".join(["x"] * (MAX_DEPTH + 5)),
        " or ".join(["a eq 1"] * 5_000),
        "round(" * (MAX_DEPTH + 5) + "x" + ")" * (MAX_DEPTH + 5),
        "(" * 100_000,
    ],
)
def test_nesting_is_bounded(text: str) -> None:
    message = bad(text).message
    # a long text is refused by its token count before its depth is known
    assert "nested too deeply" in message or f"expected at most {MAX_TOKENS}" in message


def test_moderate_nesting_is_fine() -> None:
    depth = MAX_DEPTH // 2 - 2
    text = "(" * depth + "a eq 1" + ")" * depth
    assert parse_filter(text) == BinaryOp("eq", p("a"), lit_int(1))
    assert isinstance(parse_filter(" or ".join(["a eq 1"] * 40)), BinaryOp)


# --- $orderby and $select -----------------------------------------------------------------------


def test_orderby() -> None:
    assert parse_orderby("phenomenonTime desc, result, year(resultTime) asc") == (
        OrderBy(p("phenomenonTime"), descending=True),
        OrderBy(p("result"), descending=False),
        OrderBy(FunctionCall("year", (p("resultTime"),)), descending=False),
    )


@pytest.mark.parametrize("text", ["", "name desc desc", "name,", "name DESC", ", name"])
def test_orderby_errors(text: str) -> None:
    with pytest.raises(BadQuery, match=r"^\$orderby: .* at position \d+"):
        parse_orderby(text)


def test_select() -> None:
    assert parse_select("name,@iot.id, Datastreams@iot.navigationLink,properties/district,*") == (
        SelectItem(("name",)),
        SelectItem(("@iot.id",)),
        SelectItem(("Datastreams@iot.navigationLink",)),
        SelectItem(("properties", "district")),
        SelectItem(("*",)),
    )
    assert parse_select("id") == (SelectItem(("id",)),)


@pytest.mark.parametrize("text", ["", "name,", "name eq 1", "a.b", "name/", "'x'"])
def test_select_errors(text: str) -> None:
    with pytest.raises(BadQuery, match=r"^\$select: .* at position \d+"):
        parse_select(text)


# --- query options and $expand ------------------------------------------------------------------


def test_parse_query_options_all() -> None:
    options = parse_query_options(
        {
            "$top": "10",
            "$skip": "20",
            "$count": "true",
            "$filter": "result gt 10",
            "$orderby": "phenomenonTime desc",
            "$select": "result,phenomenonTime",
            "$expand": "Datastream",
            "$resultFormat": "dataArray",
            "other": "ignored",
        },
        max_top=100,
    )
    assert options == QueryOptions(
        top=10,
        skip=20,
        count=True,
        filter=BinaryOp("gt", p("result"), lit_int(10)),
        orderby=(OrderBy(p("phenomenonTime"), True),),
        expand=(ExpandItem(("Datastream",), QueryOptions()),),
        select=(SelectItem(("result",)), SelectItem(("phenomenonTime",))),
        result_format="dataArray",
    )
    assert parse_query_options({}, max_top=5) == QueryOptions()
    assert parse_query_options({"$count": "false", "$top": "5"}, max_top=5) == QueryOptions(
        top=5, count=False
    )


def test_nested_expand() -> None:
    text = (
        "Datastreams($select=name,unitOfMeasurement;$expand=Observations($top=3;"
        "$orderby=phenomenonTime desc;$filter=result gt 10)),Locations"
    )
    observations = QueryOptions(
        top=3,
        orderby=(OrderBy(p("phenomenonTime"), True),),
        filter=BinaryOp("gt", p("result"), lit_int(10)),
    )
    assert parse_expand(text, max_top=100) == (
        ExpandItem(
            ("Datastreams",),
            QueryOptions(
                select=(SelectItem(("name",)), SelectItem(("unitOfMeasurement",))),
                expand=(ExpandItem(("Observations",), observations),),
            ),
        ),
        ExpandItem(("Locations",), QueryOptions()),
    )


def test_expand_paths_and_strings_do_not_split() -> None:
    items = parse_expand(
        "Datastreams/ObservedProperty($filter=name eq 'a,b);c';$count=true;$skip=2),Thing",
        max_top=10,
    )
    assert items == (
        ExpandItem(
            ("Datastreams", "ObservedProperty"),
            QueryOptions(filter=BinaryOp("eq", p("name"), lit_str("a,b);c")), count=True, skip=2),
        ),
        ExpandItem(("Thing",), QueryOptions()),
    )
    nested = parse_expand("A($filter=round(x) eq (1);$orderby=concat(a, b) desc, c)", max_top=10)
    assert nested[0].options.orderby == (
        OrderBy(FunctionCall("concat", (p("a"), p("b"))), True),
        OrderBy(p("c"), False),
    )


@pytest.mark.parametrize(
    ("params", "fragment"),
    [
        ({"$top": "-1"}, "$top: unexpected value '-1' at position 0, expected a non-negative"),
        ({"$top": "abc"}, "$top: unexpected value 'abc' at position 0"),
        ({"$top": "3.5"}, "$top: unexpected value '3.5'"),
        ({"$top": ""}, "$top: unexpected value ''"),
        ({"$top": "101"}, "$top: value 101 at position 0 is above the maximum of 100"),
        ({"$top": "9" * 5000}, "$top: unexpected value"),
        ({"$skip": "-3"}, "$skip: unexpected value '-3'"),
        ({"$skip": "1" * 30}, "$skip: unexpected value"),
        ({"$count": "yes"}, "$count: unexpected value 'yes'"),
        ({"$count": "TRUE"}, "$count"),
        ({"$resultFormat": "csv"}, "$resultFormat: unexpected value 'csv'"),
        ({"$bogus": "1"}, "unknown query option '$bogus'"),
        ({"$Top": "1"}, "unknown query option '$Top'"),
        ({"$filter": "result gt"}, "$filter: unexpected end of input"),
        ({"$expand": ""}, "$expand: unexpected end of input"),
        (
            {"$expand": "A($top=101)"},
            "$expand > $top: value 101 at position 7 is above the maximum",
        ),
        ({"$expand": "A($top=-1)"}, "$expand > $top: unexpected token '-1' at position 7"),
        ({"$expand": "A($top=x)"}, "$expand > $top: unexpected token 'x'"),
        ({"$expand": "A($count=1)"}, "expected true or false"),
        ({"$expand": "A($bogus=1)"}, "$expand: unknown query option '$bogus' at position 2"),
        ({"$expand": "A($resultFormat=dataArray)"}, "unknown query option '$resultFormat'"),
        ({"$expand": "A($top=1;$top=2)"}, "'$top' given twice at position 9"),
        (
            {"$expand": "A()"},
            "$expand: unexpected token ')' at position 2, expected a query option",
        ),
        ({"$expand": "A($top=1;)"}, "expected a query option"),
        ({"$expand": "A($top 1)"}, "expected '=' after $top"),
        ({"$expand": "A($top=1"}, "$expand > $top: unexpected end of input at position 8"),
        (
            {"$expand": "A($filter=x gtt 3)"},
            "$expand > $filter: unexpected token 'gtt' at position 12",
        ),
        ({"$expand": "A)"}, "$expand: unexpected token ')' at position 1"),
        ({"$expand": "A,,B"}, "expected a navigation property name"),
        ({"$expand": "A@iot.id"}, "expected a navigation property name"),
        ({"$expand": "A($expand=B($filter=x eq))"}, "$expand > $expand > $filter: unexpected"),
        ({"$expand": "A($select=)"}, "$expand > $select: unexpected token ')'"),
        ({"$select": "a,"}, "$select: unexpected end of input"),
        ({"$orderby": "a sideways"}, "$orderby: unexpected token 'sideways'"),
    ],
)
def test_option_errors(params: dict[str, str], fragment: str) -> None:
    with pytest.raises(BadQuery) as caught:
        parse_query_options(params, max_top=100)
    assert fragment in caught.value.message


def test_expand_nesting_is_bounded() -> None:
    text = "A($expand=" * (MAX_DEPTH + 5) + "B" + ")" * (MAX_DEPTH + 5)
    with pytest.raises(BadQuery, match="nested too deeply"):
        parse_expand(text, max_top=10)
    ok = "A($expand=" * 20 + "B" + ")" * 20
    assert parse_expand(ok, max_top=10)[0].path == ("A",)


# --- Hypothesis: round trip ---------------------------------------------------------------------

_NAMES = st.from_regex(r"[A-Za-z_][A-Za-z0-9_]{0,8}", fullmatch=True).filter(
    lambda name: name not in KEYWORDS and name not in ("INF", "NaN")
)
_SEGMENTS = st.one_of(_NAMES, st.just("@iot.id"), st.just("id"))
_ZONES = st.sampled_from(
    [UTC, timezone(timedelta(hours=7)), timezone(-timedelta(hours=3, minutes=30))]
)
_DATETIMES = st.datetimes(
    min_value=datetime(1000, 1, 2), max_value=datetime(9998, 12, 30), timezones=_ZONES
)
_WKT = (
    st.builds(
        lambda x, y: f"POINT({x} {y})",
        st.integers(-180, 180),
        st.integers(-90, 90),
    )
    | st.just("POLYGON((0 0, 1 0, 1 1, 0 1, 0 0))")
    | st.just("LINESTRING(0 0, 1 1)")
)


def _interval(pair: tuple[datetime, datetime]) -> tuple[datetime, datetime]:
    return (pair[0], pair[1]) if pair[0] <= pair[1] else (pair[1], pair[0])


_LITERALS: st.SearchStrategy[Literal] = st.one_of(
    # every text but the NUL character, which a string literal may not hold (400)
    st.text(st.characters(blacklist_characters="\x00")).map(
        lambda value: Literal(value, LiteralType.STRING)
    ),
    st.integers(-(2**63), 2**63 - 1).map(lambda value: Literal(value, LiteralType.INTEGER)),
    st.floats(allow_nan=False).map(lambda value: Literal(value, LiteralType.DECIMAL)),
    st.booleans().map(lambda value: Literal(value, LiteralType.BOOLEAN)),
    st.just(Literal(None, LiteralType.NULL)),
    _DATETIMES.map(lambda value: Literal(value, LiteralType.DATETIME)),
    st.dates(min_value=date(1000, 1, 1)).map(lambda value: Literal(value, LiteralType.DATE)),
    st.times().map(lambda value: Literal(value, LiteralType.TIME)),
    st.timedeltas(min_value=timedelta(days=-(10**6)), max_value=timedelta(days=10**6)).map(
        lambda value: Literal(value, LiteralType.DURATION)
    ),
    st.tuples(_DATETIMES, _DATETIMES).map(
        lambda pair: Literal(_interval(pair), LiteralType.INTERVAL)
    ),
    _WKT.map(lambda value: Literal(value, LiteralType.GEOMETRY)),
)
_LEAVES: st.SearchStrategy[Expr] = st.one_of(
    _LITERALS, st.lists(_SEGMENTS, min_size=1, max_size=4).map(lambda s: Path(tuple(s)))
)
_FUNCTIONS = sorted((name, count) for name, counts in FUNCTION_ARITIES.items() for count in counts)


def _extend(children: st.SearchStrategy[Expr]) -> st.SearchStrategy[Expr]:
    binary = st.builds(
        BinaryOp,
        st.sampled_from(
            sorted(
                {"eq", "ne", "gt", "ge", "lt", "le", "and", "or"}
                | {"add", "sub", "mul", "div", "mod"}
            )
        ),
        children,
        children,
    )
    unary = st.builds(UnaryOp, st.sampled_from(["not", "-"]), children)
    calls = st.sampled_from(_FUNCTIONS).flatmap(
        lambda spec: st.lists(children, min_size=spec[1], max_size=spec[1]).map(
            lambda args: FunctionCall(spec[0], tuple(args))
        )
    )
    return st.one_of(binary, unary, calls)


EXPRESSIONS: st.SearchStrategy[Expr] = st.recursive(_LEAVES, _extend, max_leaves=25)


@settings(max_examples=400, suppress_health_check=[HealthCheck.too_slow])
@given(EXPRESSIONS)
def test_print_then_parse_round_trips(expr: Expr) -> None:
    text = to_text(expr)
    assert parse_filter(text) == expr
    assert to_text(parse_filter(text)) == text


@settings(max_examples=100, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(st.tuples(EXPRESSIONS, st.booleans()), min_size=1, max_size=4))
def test_orderby_round_trips(keys: list[tuple[Expr, bool]]) -> None:
    text = ", ".join(f"{to_text(expr)} {'desc' if desc else 'asc'}" for expr, desc in keys)
    assert parse_orderby(text) == tuple(OrderBy(expr, desc) for expr, desc in keys)


# --- Hypothesis: fuzz ---------------------------------------------------------------------------

_FRAGMENT_TEXT = (
    "result|gt|eq|and|or|not|-|add|mod|(|)|,|/|'|''|'x'|3|-3|2.5|1e3|INF|NaN|null|true|"
    "2026-01-01|2026-01-01T00:00:00Z|T|Z|+07:00|10:00|:|.|@iot.id|geo.distance|substring|"
    "length|now|duration'P1D'|duration'|geography'POINT(1 2)'|geography'|POINT(1|"
    "/2026-01-02T00:00:00Z|$top|=|;|*|desc| |Datastreams|$expand|$filter|$select|$orderby|"
    "$count|\t|é|\x00"
)
_FRAGMENTS = st.sampled_from(_FRAGMENT_TEXT.split("|"))
_SOUPS = st.one_of(
    st.text(max_size=80),
    st.text(alphabet="()',/;=$- .:0123456789TZPDHMSaegtloqnrdx@", max_size=80),
    st.lists(_FRAGMENTS, max_size=30).map("".join),
    st.lists(_FRAGMENTS, max_size=30).map(" ".join),
)


@settings(max_examples=1500, suppress_health_check=[HealthCheck.too_slow])
@given(_SOUPS)
def test_filter_fuzz_never_leaks_other_errors(text: str) -> None:
    try:
        result = parse_filter(text)
    except BadQuery as error:
        assert error.message.startswith("$filter: ")
        assert error.position is None or 0 <= error.position <= len(text)
    else:
        assert isinstance(result, Literal | Path | FunctionCall | BinaryOp | UnaryOp)
        assert parse_filter(to_text(result)) == result or _has_nan(result)


@settings(max_examples=800, suppress_health_check=[HealthCheck.too_slow])
@given(
    st.sampled_from(
        ["$expand", "$orderby", "$select", "$filter", "$top", "$skip", "$count", "$resultFormat"]
    ),
    _SOUPS,
)
def test_options_fuzz_never_leak_other_errors(key: str, text: str) -> None:
    try:
        parse_query_options({key: text}, max_top=50)
    except BadQuery as error:
        assert error.position is None or 0 <= error.position <= len(text)


@settings(max_examples=300, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(_FRAGMENTS, max_size=40).map(lambda parts: "A(" + "".join(parts) + ")"))
def test_expand_fuzz_never_leaks_other_errors(text: str) -> None:
    try:
        parse_expand(text, max_top=50)
    except BadQuery as error:
        assert error.message.startswith("$expand")


def _has_nan(expr: Expr) -> bool:
    return "NaN" in to_text(expr)
