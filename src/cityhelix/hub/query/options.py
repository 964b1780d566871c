"""The `QueryOptions` of a SensorThings request and the code reading them from decoded URL
parameters: $top $skip $count $filter $orderby $expand (nested) $select $resultFormat.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from cityhelix.hub.errors import BadQuery
from cityhelix.hub.query.expression import ExpandItem, Expr, LiteralType, OrderBy, SelectItem
from cityhelix.hub.query.parser import (
    EXPECTED_OPERATOR,
    INT64_MAX,
    Parser,
    TokenKind,
    parse_filter,
    parse_orderby,
    parse_select,
    show,
)

__all__ = [
    "OPTION_NAMES",
    "RESULT_FORMATS",
    "QueryOptions",
    "parse_count",
    "parse_expand",
    "parse_filter",
    "parse_orderby",
    "parse_query_options",
    "parse_result_format",
    "parse_select",
    "parse_skip",
    "parse_top",
]

OPTION_NAMES = (
    "$top",
    "$skip",
    "$count",
    "$filter",
    "$orderby",
    "$expand",
    "$select",
    "$resultFormat",
)
RESULT_FORMATS = frozenset({"dataArray"})
_NESTED_OPTION_NAMES = tuple(name for name in OPTION_NAMES if name != "$resultFormat")
_DIGITS = re.compile(r"[0-9]+")


@dataclass(frozen=True)
class QueryOptions:
    """The query options of one request, or of one `$expand` item (then `result_format` is
    always None). Absent options keep the defaults below."""

    top: int | None = None
    skip: int = 0
    count: bool | None = None  # None = not given
    filter: Expr | None = None
    orderby: tuple[OrderBy, ...] = ()
    expand: tuple[ExpandItem, ...] = ()
    select: tuple[SelectItem, ...] = ()
    result_format: str | None = None


def parse_query_options(params: Mapping[str, str], *, max_top: int) -> QueryOptions:
    """Read the `$`-options of an already percent-decoded query string.

    Keys not starting with `$` are ignored (they belong to other layers); an unknown `$` key is
    a BadQuery. `max_top` caps `$top` here and inside every `$expand`.
    """
    for key in params:
        if key.startswith("$") and key not in OPTION_NAMES:
            raise BadQuery(
                f"unknown query option {show(key)}, expected one of {', '.join(OPTION_NAMES)}",
                token=key,
            )
    top = params.get("$top")
    skip = params.get("$skip")
    count = params.get("$count")
    filter_text = params.get("$filter")
    orderby = params.get("$orderby")
    expand = params.get("$expand")
    select = params.get("$select")
    result_format = params.get("$resultFormat")
    return QueryOptions(
        top=None if top is None else parse_top(top, max_top=max_top),
        skip=0 if skip is None else parse_skip(skip),
        count=None if count is None else parse_count(count),
        filter=None if filter_text is None else parse_filter(filter_text),
        orderby=() if orderby is None else parse_orderby(orderby),
        expand=() if expand is None else parse_expand(expand, max_top=max_top),
        select=() if select is None else parse_select(select),
        result_format=None if result_format is None else parse_result_format(result_format),
    )


def parse_top(text: str, *, max_top: int) -> int:
    """`$top`: a non-negative integer no larger than `max_top`."""
    return _check_top(_non_negative("$top", text), text, 0, max_top, "$top")


def parse_skip(text: str) -> int:
    """`$skip`: a non-negative integer."""
    return _non_negative("$skip", text)


def parse_count(text: str) -> bool:
    """`$count`: `true` or `false` (lower case)."""
    if text not in ("true", "false"):
        raise _bad_value("$count", text, 0, "true or false")
    return text == "true"


def parse_result_format(text: str) -> str:
    """`$resultFormat`: only `dataArray` is supported."""
    if text not in RESULT_FORMATS:
        raise _bad_value("$resultFormat", text, 0, "dataArray")
    return text


def parse_expand(text: str, *, max_top: int) -> tuple[ExpandItem, ...]:
    """`$expand`: comma-separated navigation paths, each optionally followed by
    `(option;option...)` with the same options (nested without limit but MAX_DEPTH) applying
    to the path's last segment. Error positions count from the start of `text`."""
    parser = Parser(text, where="$expand")
    items = _expand_items(parser, max_top)
    parser.expect_end("'(', '/', ',' or end of input")
    return items


# ---------------------------------------------------------------------------------------------


def _bad_value(option: str, value: str, position: int, expected: str) -> BadQuery:
    return BadQuery(
        f"{option}: unexpected value {show(value)} at position {position}, expected {expected}",
        token=value,
        position=position,
    )


def _non_negative(option: str, text: str) -> int:
    if not _DIGITS.fullmatch(text):
        raise _bad_value(option, text, 0, "a non-negative integer")
    if len(text.lstrip("0")) > 19 or int(text) > INT64_MAX:
        raise _bad_value(option, text, 0, f"an integer no larger than {INT64_MAX}")
    return int(text)


def _check_top(value: int, text: str, position: int, max_top: int, where: str) -> int:
    if value > max_top:
        raise BadQuery(
            f"{where}: value {text} at position {position} is above the maximum of {max_top}",
            token=text,
            position=position,
        )
    return value


def _expand_items(parser: Parser, max_top: int) -> tuple[ExpandItem, ...]:
    items: list[ExpandItem] = []
    while True:
        items.append(_expand_item(parser, max_top))
        if parser.peek().kind is not TokenKind.COMMA:
            return tuple(items)
        parser.advance()


def _expand_item(parser: Parser, max_top: int) -> ExpandItem:
    path = parser.member_path("a navigation property name", annotations=False)
    options = QueryOptions()
    opening = parser.peek()
    if opening.kind is TokenKind.LPAREN:
        parser.advance()
        with parser.nested(opening):
            options = _nested_options(parser, max_top)
        parser.expect(TokenKind.RPAREN, "';' or ')'")
    return ExpandItem(path, options)


def _nested_options(parser: Parser, max_top: int) -> QueryOptions:
    """Parse `$name=value (; $name=value)*` up to (not including) the closing parenthesis."""
    outer = parser.where
    changes: dict[str, Any] = {}
    while True:
        token = parser.peek()
        if token.kind is not TokenKind.OPTION:
            raise parser.error(token, f"a query option ({', '.join(_NESTED_OPTION_NAMES)})")
        if token.text not in _NESTED_READERS:
            raise BadQuery(
                f"{outer}: unknown query option '{token.text}' at position {token.position}, "
                f"expected one of {', '.join(_NESTED_OPTION_NAMES)} inside $expand",
                token=token.text,
                position=token.position,
            )
        field, reader, expected = _NESTED_READERS[token.text]
        if field in changes:
            raise BadQuery(
                f"{outer}: query option '{token.text}' given twice at position {token.position}, "
                "expected each option at most once per $expand item",
                token=token.text,
                position=token.position,
            )
        parser.advance()
        parser.expect(TokenKind.EQUALS, f"'=' after {token.text}")
        parser.where = f"{outer} > {token.text}"
        try:
            changes[field] = reader(parser, max_top)
            following = parser.peek()
            if following.kind not in (TokenKind.SEMI, TokenKind.RPAREN):
                raise parser.error(following, expected)
        finally:
            parser.where = outer
        if following.kind is TokenKind.RPAREN:
            return QueryOptions(**changes)
        parser.advance()


def _read_integer(parser: Parser) -> tuple[int, str, int]:
    token = parser.peek()
    literal = token.literal
    if (
        literal is None
        or literal.type is not LiteralType.INTEGER
        or not isinstance(literal.value, int)
        or literal.value < 0
    ):
        raise parser.error(token, "a non-negative integer")
    parser.advance()
    return literal.value, token.text, token.position


def _read_top(parser: Parser, max_top: int) -> int:
    value, text, position = _read_integer(parser)
    return _check_top(value, text, position, max_top, parser.where)


def _read_skip(parser: Parser, max_top: int) -> int:
    return _read_integer(parser)[0]


def _read_count(parser: Parser, max_top: int) -> bool:
    token = parser.peek()
    if token.kind is not TokenKind.NAME or token.text not in ("true", "false"):
        raise parser.error(token, "true or false")
    return parser.advance().text == "true"


def _read_filter(parser: Parser, max_top: int) -> Expr:
    return parser.expression()


def _read_orderby(parser: Parser, max_top: int) -> tuple[OrderBy, ...]:
    return parser.orderby()


def _read_select(parser: Parser, max_top: int) -> tuple[SelectItem, ...]:
    return parser.select()


_Reader = Callable[[Parser, int], Any]

# option name -> (QueryOptions field, reader, what may follow the value)
_NESTED_READERS: dict[str, tuple[str, _Reader, str]] = {
    "$top": ("top", _read_top, "';' or ')'"),
    "$skip": ("skip", _read_skip, "';' or ')'"),
    "$count": ("count", _read_count, "';' or ')'"),
    "$filter": ("filter", _read_filter, f"{EXPECTED_OPERATOR}, ';' or ')'"),
    "$orderby": ("orderby", _read_orderby, f"{EXPECTED_OPERATOR}, asc, desc, ',', ';' or ')'"),
    "$expand": ("expand", _expand_items, "'(', '/', ',', ';' or ')'"),
    "$select": ("select", _read_select, "',', '/', ';' or ')'"),
}
