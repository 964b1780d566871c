"""Tokenizer and precedence-climbing parser for SensorThings (OData 4.0) query expressions.

Bad $filter/$orderby/$select text raises BadQuery naming the token, its position and what fits.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta, timezone
from enum import Enum

from shapely import wkt as shapely_wkt

from cityhelix.hub.errors import BadQuery
from cityhelix.hub.query.expression import (
    BINARY_OPS,
    FUNCTION_ARITIES,
    BinaryOp,
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

__all__ = [
    "MAX_DEPTH",
    "MAX_ORDERBY_KEYS",
    "MAX_TOKENS",
    "Parser",
    "Token",
    "TokenKind",
    "parse_filter",
    "parse_orderby",
    "parse_select",
    "show",
    "to_text",
    "tokenize",
]

MAX_DEPTH = 50
"""Deepest allowed nesting: parentheses, operator chains and $expand levels all count.

It bounds what the databases compile (SQLite's parser stack overflowed near 95 nested
calls) and what the JSON writer nests around stored values (two levels per $expand)."""

MAX_TOKENS = 1000
"""Most tokens in one query option's text (all of $expand with its nested options)."""

MAX_ORDERBY_KEYS = 32
"""Most $orderby keys at one level: each is a sort key the database must carry."""

INT64_MIN, INT64_MAX = -(2**63), 2**63 - 1

# OData 4 precedence, loosest first; all binary operators are left-associative.
_PRECEDENCE: dict[str, int] = {
    "or": 1,
    "and": 2,
    "eq": 3,
    "ne": 3,
    "gt": 4,
    "ge": 4,
    "lt": 4,
    "le": 4,
    "add": 5,
    "sub": 5,
    "mul": 6,
    "div": 6,
    "mod": 6,
}
assert set(_PRECEDENCE) == BINARY_OPS

_CONSTANTS: dict[str, Literal] = {
    "true": Literal(True, LiteralType.BOOLEAN),
    "false": Literal(False, LiteralType.BOOLEAN),
    "null": Literal(None, LiteralType.NULL),
}
KEYWORDS = frozenset(_PRECEDENCE) | frozenset(_CONSTANTS) | {"not"}
_TYPED_PREFIXES = frozenset({"duration", "geography", "geometry"})

EXPECTED_OPERATOR = "an operator (" + " ".join(_PRECEDENCE) + ")"


class TokenKind(Enum):
    """Lexical classes; NAME covers identifiers, keywords, function names and `@iot.id`."""

    NAME = "name"
    LITERAL = "literal"
    OPTION = "option"  # $top, $filter, ... (inside $expand)
    LPAREN = "("
    RPAREN = ")"
    COMMA = ","
    SLASH = "/"
    SEMI = ";"
    EQUALS = "="
    STAR = "*"
    MINUS = "-"
    EOF = "end of input"


@dataclass(frozen=True, slots=True)
class Token:
    """One token: its kind, source text, 0-based start position and, for literals, the value."""

    kind: TokenKind
    text: str
    position: int
    literal: Literal | None = None


# ---------------------------------------------------------------------------------------------
# Tokenizer

_PUNCTUATION = {
    "(": TokenKind.LPAREN,
    ")": TokenKind.RPAREN,
    ",": TokenKind.COMMA,
    "/": TokenKind.SLASH,
    ";": TokenKind.SEMI,
    "=": TokenKind.EQUALS,
    "*": TokenKind.STAR,
}
_SPACE = re.compile(r"[ \t\r\n]+")
_IDENT = r"[^\W\d]\w*"
_NAME = re.compile(rf"(?:{_IDENT}(?:\.{_IDENT})*)?(?:@{_IDENT}(?:\.{_IDENT})+)?")
_OPTION = re.compile(rf"\${_IDENT}")
_DATETIME = re.compile(
    r"([0-9]{4})-([0-9]{2})-([0-9]{2})T([0-9]{2}):([0-9]{2})"
    r"(?::([0-9]{2})(?:\.([0-9]{1,12}))?)?(Z|[+-][0-9]{2}:[0-9]{2})?"
)
_DATE = re.compile(r"([0-9]{4})-([0-9]{2})-([0-9]{2})")
_TIME = re.compile(r"([0-9]{2}):([0-9]{2})(?::([0-9]{2})(?:\.([0-9]{1,12}))?)?")
_NUMBER = re.compile(r"-?(?:[0-9]+(\.[0-9]+)?([eE][+-]?[0-9]+)?|INF)|NaN")
_DURATION = re.compile(
    r"([+-]?)P(?:([0-9]+)D)?(?:T(?:([0-9]+)H)?(?:([0-9]+)M)?(?:([0-9]+)(?:\.([0-9]+))?S)?)?"
)
_SRID = re.compile(r"SRID=([0-9]{1,5});", re.IGNORECASE)
# A literal running straight into one of these is malformed (`3x`, `1.5.2`, `2026-01-01T9`).
_GLUED = re.compile(r"[\w.:@]")
_BAD_RUN = re.compile(r"[^\s(),;=/']+")


def show(text: str, limit: int = 40) -> str:
    """Quote a token for an error message, shortened; double quotes if it holds a `'`."""
    text = text if len(text) <= limit else text[: limit - 1] + "…"
    return f'"{text}"' if "'" in text else f"'{text}'"


def _error(where: str, token: str | None, position: int, expected: str) -> BadQuery:
    found = "unexpected end of input" if token is None else f"unexpected token {show(token)}"
    return BadQuery(
        f"{where}: {found} at position {position}, expected {expected}",
        token=token,
        position=position,
    )


def _invalid(where: str, what: str, token: str, position: int, expected: str) -> BadQuery:
    return BadQuery(
        f"{where}: invalid {what} {show(token)} at position {position}, expected {expected}",
        token=token,
        position=position,
    )


class _Lexer:
    def __init__(self, text: str, where: str) -> None:
        self.text = text
        self.where = where

    def tokens(self) -> list[Token]:
        text, pos = self.text, 0
        out: list[Token] = []
        while True:
            space = _SPACE.match(text, pos)
            if space:
                pos = space.end()
            if pos >= len(text):
                out.append(Token(TokenKind.EOF, "", len(text)))
                return out
            if len(out) == MAX_TOKENS:
                # counted while reading: a huge option costs no more than a long one
                raise BadQuery(
                    f"{self.where}: more than {MAX_TOKENS} tokens at position {pos}, "
                    f"expected at most {MAX_TOKENS}",
                    token=self.where,
                    position=pos,
                )
            token = self._token(pos)
            out.append(token)
            pos = token.position + len(token.text)

    def _token(self, pos: int) -> Token:
        text = self.text
        char = text[pos]
        if char in _PUNCTUATION:
            return Token(_PUNCTUATION[char], char, pos)
        if char == "'":
            value, end = self._quoted(pos)
            return Token(TokenKind.LITERAL, text[pos:end], pos, Literal(value, LiteralType.STRING))
        if char == "$":
            match = _OPTION.match(text, pos)
            if match:
                return Token(TokenKind.OPTION, match.group(), pos)
        elif "0" <= char <= "9":
            return self._numeric(pos)
        elif char == "-" and (
            "0" <= text[pos + 1 : pos + 2] <= "9"
            or (text.startswith("-INF", pos) and not _GLUED.match(text, pos + 4))
        ):
            return self._number(pos)
        elif char == "-":
            return Token(TokenKind.MINUS, char, pos)
        elif text.startswith(("INF", "NaN"), pos) and not _GLUED.match(text, pos + 3):
            return self._number(pos)
        else:
            match = _NAME.match(text, pos)
            if match and match.end() > pos:
                return self._name(match.group(), pos)
        raise BadQuery(
            f"{self.where}: unexpected character {show(char)} at position {pos}",
            token=char,
            position=pos,
        )

    def _quoted(self, pos: int) -> tuple[str, int]:
        """Read `'...'` starting at `pos` ('' is an escaped quote); return value and end."""
        text, start = self.text, pos + 1
        parts: list[str] = []
        while True:
            close = text.find("'", start)
            if close < 0:
                raise BadQuery(
                    f"{self.where}: unterminated string literal {show(text[pos:])} "
                    f"at position {pos}, expected a closing quote (')",
                    token=text[pos:],
                    position=pos,
                )
            parts.append(text[start:close])
            if text.startswith("''", close):
                parts.append("'")
                start = close + 2
                continue
            value = "".join(parts)
            if "\x00" in value:
                # PostgreSQL text cannot hold it, so no stored string could ever match it
                raise BadQuery(
                    f"{self.where}: string literal at position {pos} holds the NUL character, "
                    "expected text without it",
                    token=text[pos : close + 1],
                    position=pos,
                )
            return value, close + 1

    def _glued(self, end: int, start: int, what: str, expected: str) -> None:
        if _GLUED.match(self.text, end):
            run = _BAD_RUN.match(self.text, start)
            token = run.group() if run else self.text[start:end]
            raise _invalid(self.where, what, token, start, expected)

    def _numeric(self, pos: int) -> Token:
        text = self.text
        match = _DATETIME.match(text, pos)
        if match:
            start = self._datetime(match)
            end = match.end()
            if text.startswith("/", end) and (end_match := _DATETIME.match(text, end + 1)):
                finish = self._datetime(end_match)
                if finish < start:
                    raise _invalid(
                        self.where,
                        "interval",
                        text[pos : end_match.end()],
                        pos,
                        "an end that is not before its start",
                    )
                self._glued(end_match.end(), pos, "interval", "start/end datetimes")
                literal = Literal((start, finish), LiteralType.INTERVAL)
                return Token(TokenKind.LITERAL, text[pos : end_match.end()], pos, literal)
            self._glued(end, pos, "datetime", "a datetime such as 2026-01-01T00:00:00Z")
            literal = Literal(start, LiteralType.DATETIME)
            return Token(TokenKind.LITERAL, match.group(), pos, literal)
        match = _DATE.match(text, pos)
        if match:
            self._glued(match.end(), pos, "date", "a date such as 2026-01-31")
            year, month, day = (int(group) for group in match.groups())
            try:
                value = date(year, month, day)
            except ValueError:
                raise _invalid(self.where, "date", match.group(), pos, "a real date") from None
            return Token(TokenKind.LITERAL, match.group(), pos, Literal(value, LiteralType.DATE))
        match = _TIME.match(text, pos)
        if match:
            self._glued(match.end(), pos, "time", "a time of day such as 10:30:00")
            hour, minute, second, fraction = match.groups()
            try:
                moment = time(int(hour), int(minute), int(second or 0), _micro(fraction))
            except ValueError:
                raise _invalid(self.where, "time", match.group(), pos, "a real time") from None
            return Token(TokenKind.LITERAL, match.group(), pos, Literal(moment, LiteralType.TIME))
        return self._number(pos)

    def _datetime(self, match: re.Match[str]) -> datetime:
        year, month, day, hour, minute, second, fraction, offset = match.groups()
        if offset is None:
            raise BadQuery(
                f"{self.where}: datetime '{match.group()}' at position {match.start()} has no "
                "time-zone offset, expected 'Z' or '+hh:mm' after it",
                token=match.group(),
                position=match.start(),
            )
        try:
            zone = UTC
            if offset != "Z":
                hours, minutes = int(offset[1:3]), int(offset[4:6])
                if minutes >= 60:
                    raise ValueError(offset)
                delta = timedelta(hours=hours, minutes=minutes)
                zone = timezone(-delta if offset[0] == "-" else delta)
            value = datetime(
                int(year),
                int(month),
                int(day),
                int(hour),
                int(minute),
                int(second or 0),
                _micro(fraction),
                tzinfo=zone,
            )
            value.astimezone(UTC)  # the instant must exist in UTC too (not before year 1)
            return value
        except (ValueError, OverflowError):
            raise _invalid(
                self.where,
                "datetime",
                match.group(),
                match.start(),
                "a real date, time and offset",
            ) from None

    def _number(self, pos: int) -> Token:
        match = _NUMBER.match(self.text, pos)
        assert match is not None  # callers checked a digit, '-digit', INF or NaN is here
        self._glued(match.end(), pos, "number", "digits, an optional fraction and exponent")
        text = match.group()
        if text.lstrip("-") in ("INF", "NaN"):
            value = float(text.replace("INF", "inf").replace("NaN", "nan"))
            literal = Literal(value, LiteralType.DECIMAL)
        elif match.group(1) or match.group(2):
            value = float(text)
            if value in (float("inf"), float("-inf")):
                raise _invalid(self.where, "number", text, pos, "a finite decimal (or INF)")
            literal = Literal(value, LiteralType.DECIMAL)
        else:
            if len(text.lstrip("-").lstrip("0")) > 19 or not (
                INT64_MIN <= (integer := int(text)) <= INT64_MAX
            ):
                raise _invalid(self.where, "number", text, pos, "an integer in the 64-bit range")
            literal = Literal(integer, LiteralType.INTEGER)
        return Token(TokenKind.LITERAL, text, pos, literal)

    def _name(self, name: str, pos: int) -> Token:
        end = pos + len(name)
        if not self.text.startswith("'", end) or name in KEYWORDS:
            return Token(TokenKind.NAME, name, pos)
        prefix = name.lower()
        if prefix not in _TYPED_PREFIXES:
            raise BadQuery(
                f"{self.where}: unknown literal prefix {show(name)} at position {pos}, "
                "expected duration, geography or geometry",
                token=name,
                position=pos,
            )
        content, close = self._quoted(end)
        source = self.text[pos:close]
        if prefix == "duration":
            literal = Literal(self._duration(content, source, pos), LiteralType.DURATION)
        else:
            literal = Literal(self._geometry(content, source, pos), LiteralType.GEOMETRY)
        return Token(TokenKind.LITERAL, source, pos, literal)

    def _duration(self, content: str, source: str, pos: int) -> timedelta:
        match = _DURATION.fullmatch(content)
        expected = "a day-time duration such as duration'P1DT2H30M' (no years or months)"
        if (
            not match
            or match.group(2, 3, 4, 5) == (None, None, None, None)
            or content.endswith("T")
        ):
            raise _invalid(self.where, "duration", source, pos, expected)
        sign, days, hours, minutes, seconds, fraction = match.groups()
        try:
            value = timedelta(
                days=int(days or 0),
                hours=int(hours or 0),
                minutes=int(minutes or 0),
                seconds=int(seconds or 0),
                microseconds=_micro(fraction),
            )
        except (OverflowError, ValueError):
            raise _invalid(self.where, "duration", source, pos, "a smaller duration") from None
        return -value if sign == "-" else value

    def _geometry(self, content: str, source: str, pos: int) -> str:
        wkt = content.strip()
        srid = _SRID.match(wkt)
        if srid:
            if int(srid.group(1)) != 4326:
                raise _invalid(self.where, "geometry", source, pos, "SRID=4326 or no SRID")
            wkt = wkt[srid.end() :].strip()
        try:
            shapely_wkt.loads(wkt)
        except Exception:  # shapely raises GEOSException, ValueError, ... for bad text
            raise _invalid(
                self.where,
                "geometry",
                source,
                pos,
                "well-known text such as geography'POINT(106.65 10.98)'",
            ) from None
        return wkt


def _micro(fraction: str | None) -> int:
    """Fractional-second digits to microseconds (digits beyond the sixth are dropped)."""
    return int((fraction or "")[:6].ljust(6, "0"))


def tokenize(text: str, *, where: str = "$filter") -> list[Token]:
    """Split `text` into tokens ending with an EOF token; `where` labels error messages."""
    return _Lexer(text, where).tokens()


# ---------------------------------------------------------------------------------------------
# Parser


class Parser:
    """Recursive-descent parser over the tokens of one query option's text.

    `options.py` drives it for $expand, switching `where` to label errors of nested options;
    positions in messages always refer to the text given to the constructor.
    """

    def __init__(self, text: str, *, where: str) -> None:
        self.where = where
        self._tokens = tokenize(text, where=where)
        self._index = 0
        self._depth = 0

    # -- token access ------------------------------------------------------------------------

    def peek(self) -> Token:
        return self._tokens[self._index]

    def advance(self) -> Token:
        token = self._tokens[self._index]
        if token.kind is not TokenKind.EOF:
            self._index += 1
        return token

    def error(self, token: Token, expected: str) -> BadQuery:
        """A BadQuery saying `token` was found where `expected` should be."""
        text = None if token.kind is TokenKind.EOF else token.text
        return _error(self.where, text, token.position, expected)

    def expect(self, kind: TokenKind, expected: str) -> Token:
        token = self.peek()
        if token.kind is not kind:
            raise self.error(token, expected)
        return self.advance()

    def expect_end(self, expected: str = "end of input") -> None:
        token = self.peek()
        if token.kind is not TokenKind.EOF:
            raise self.error(token, expected)

    @contextmanager
    def nested(self, token: Token) -> Iterator[None]:
        """Count one level of nesting, refusing more than MAX_DEPTH."""
        self._depth += 1
        try:
            if self._depth > MAX_DEPTH:
                raise self._too_deep(token)
            yield
        finally:
            self._depth -= 1

    def _too_deep(self, token: Token) -> BadQuery:
        return BadQuery(
            f"{self.where}: expression nested too deeply at token {show(token.text)} "
            f"at position {token.position}, expected at most {MAX_DEPTH} levels",
            token=token.text,
            position=token.position,
        )

    # -- grammar -----------------------------------------------------------------------------

    def expression(self) -> Expr:
        """Parse one expression; stops before the first token that cannot continue it."""
        return self._binary(1)[0]

    def orderby(self) -> tuple[OrderBy, ...]:
        """Parse `expr [asc|desc] (, expr [asc|desc])*`."""
        items: list[OrderBy] = []
        while True:
            expr = self.expression()
            token = self.peek()
            descending = False
            if token.kind is TokenKind.NAME and token.text in ("asc", "desc"):
                descending = self.advance().text == "desc"
            items.append(OrderBy(expr, descending))
            if len(items) > MAX_ORDERBY_KEYS:
                raise BadQuery(
                    f"{self.where}: more than {MAX_ORDERBY_KEYS} sort keys at position "
                    f"{token.position}, expected at most {MAX_ORDERBY_KEYS}",
                    token=self.where,
                    position=token.position,
                )
            if self.peek().kind is not TokenKind.COMMA:
                return tuple(items)
            self.advance()

    def select(self) -> tuple[SelectItem, ...]:
        """Parse `item (, item)*` where an item is `*` or a property path."""
        items: list[SelectItem] = []
        while True:
            if self.peek().kind is TokenKind.STAR:
                self.advance()
                items.append(SelectItem(("*",)))
            else:
                items.append(SelectItem(self.member_path("a property name or *")))
            if self.peek().kind is not TokenKind.COMMA:
                return tuple(items)
            self.advance()

    def member_path(self, expected: str, *, annotations: bool = True) -> tuple[str, ...]:
        """Parse `name (/ name)*`; names are identifiers, optionally with `@iot.x` suffixes."""
        segments = [self._segment(expected, annotations)]
        while self.peek().kind is TokenKind.SLASH:
            self.advance()
            segments.append(self._segment("a property name after '/'", annotations))
        return tuple(segments)

    def _segment(self, expected: str, annotations: bool) -> str:
        token = self.peek()
        name = token.text
        if token.kind is not TokenKind.NAME or "." in name.partition("@")[0]:
            raise self.error(token, expected)
        if "@" in name and not annotations:
            raise self.error(token, expected)
        return self.advance().text

    def _binary(self, min_precedence: int) -> tuple[Expr, int]:
        """Precedence climbing; returns the expression and the depth of its tree."""
        with self.nested(self.peek()):
            left, left_depth = self._unary()
            while True:
                token = self.peek()
                precedence = _PRECEDENCE.get(token.text) if token.kind is TokenKind.NAME else None
                if precedence is None or precedence < min_precedence:
                    return left, left_depth
                self.advance()
                right, right_depth = self._binary(precedence + 1)
                left_depth = max(left_depth, right_depth) + 1
                if left_depth > MAX_DEPTH:
                    raise self._too_deep(token)
                left = BinaryOp(token.text, left, right)

    def _unary(self) -> tuple[Expr, int]:
        operators: list[Token] = []
        while True:
            token = self.peek()
            if token.kind is TokenKind.MINUS or (
                token.kind is TokenKind.NAME and token.text == "not"
            ):
                operators.append(self.advance())
            else:
                break
        expr, depth = self._primary()
        for operator in reversed(operators):
            depth += 1
            if depth > MAX_DEPTH:
                raise self._too_deep(operator)
            expr = UnaryOp(operator.text, expr)
        return expr, depth

    def _primary(self) -> tuple[Expr, int]:
        token = self.peek()
        expected = "an operand"
        if token.kind is TokenKind.LITERAL and token.literal is not None:
            self.advance()
            return token.literal, 1
        if token.kind is TokenKind.LPAREN:
            self.advance()
            expr, depth = self._binary(1)
            self.expect(TokenKind.RPAREN, f"{EXPECTED_OPERATOR} or ')'")
            return expr, depth
        if token.kind is not TokenKind.NAME or token.text in _PRECEDENCE:
            raise self.error(token, expected)
        if token.text in _CONSTANTS:
            self.advance()
            return _CONSTANTS[token.text], 1
        if self._tokens[self._index + 1].kind is TokenKind.LPAREN:
            return self._call()
        if token.text.lower() in FUNCTION_ARITIES and "." in token.text:
            raise self.error(self._tokens[self._index + 1], f"'(' after {token.text}")
        return Path(self.member_path("a property name, literal or function call")), 1

    def _call(self) -> tuple[Expr, int]:
        token = self.advance()
        name = token.text.lower()
        arities = FUNCTION_ARITIES.get(name)
        if arities is None:
            raise BadQuery(
                f"{self.where}: unknown function {show(token.text)} at position "
                f"{token.position}, expected a SensorThings function such as substringof, "
                "year or geo.distance",
                token=token.text,
                position=token.position,
            )
        self.advance()  # (
        args: list[Expr] = []
        depth = 0
        if self.peek().kind is TokenKind.RPAREN:
            self.advance()
        else:
            while True:
                arg, arg_depth = self._binary(1)
                args.append(arg)
                depth = max(depth, arg_depth)
                if self.peek().kind is TokenKind.COMMA:
                    self.advance()
                    continue
                self.expect(TokenKind.RPAREN, f"{EXPECTED_OPERATOR}, ',' or ')'")
                break
        if len(args) not in arities:
            wanted = " or ".join(str(count) for count in arities)
            noun = "argument" if arities == (1,) else "arguments"
            raise BadQuery(
                f"{self.where}: function '{name}' at position {token.position} takes "
                f"{wanted} {noun}, got {len(args)}",
                token=token.text,
                position=token.position,
            )
        if depth + 1 > MAX_DEPTH:
            raise self._too_deep(token)
        return FunctionCall(name, tuple(args)), depth + 1


# ---------------------------------------------------------------------------------------------
# Entry points


def parse_filter(text: str) -> Expr:
    """Parse a `$filter` expression."""
    parser = Parser(text, where="$filter")
    expr = parser.expression()
    parser.expect_end(f"{EXPECTED_OPERATOR} or end of input")
    return expr


def parse_orderby(text: str) -> tuple[OrderBy, ...]:
    """Parse `$orderby`: comma-separated `expr [asc|desc]` (ascending by default)."""
    parser = Parser(text, where="$orderby")
    items = parser.orderby()
    parser.expect_end(f"{EXPECTED_OPERATOR}, asc, desc, ',' or end of input")
    return items


def parse_select(text: str) -> tuple[SelectItem, ...]:
    """Parse `$select`: comma-separated property paths or `*`."""
    parser = Parser(text, where="$select")
    items = parser.select()
    parser.expect_end("',', '/' or end of input")
    return items
