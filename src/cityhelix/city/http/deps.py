"""What every city router needs from a request: the engine, the caller, parsed times."""

from __future__ import annotations

from datetime import UTC, date, datetime
from typing import Annotated

from fastapi import Header, Path, Query, Request
from sqlalchemy.ext.asyncio import AsyncEngine

from cityhelix.auth.deps import principal_from_header
from cityhelix.auth.principal import Principal
from cityhelix.city.errors import BadRequest
from cityhelix.settings import Settings

Auth = Annotated[str | None, Header(alias="Authorization")]
#: the largest id a database key holds (a bigger one is a 422 naming it, not a 500)
MAX_ID = 2**63 - 1
#: a Thing's id in the path, and in the query
PathThingId = Annotated[int, Path(ge=1, le=MAX_ID)]
QueryThingId = Annotated[int, Query(ge=1, le=MAX_ID)]


def engine_of(request: Request) -> AsyncEngine:
    engine: AsyncEngine = request.app.state.engine
    return engine


def settings_of(request: Request) -> Settings:
    settings: Settings = request.app.state.settings
    return settings


async def caller(request: Request, header: str | None, *, write: bool) -> Principal:
    """The authenticated caller (401 without a valid token for writes and private reads)."""
    return await principal_from_header(
        engine_of(request), settings_of(request), header, write=write
    )


def parse_time(text: str, field: str) -> datetime:
    """An ISO 8601 time (UTC when it names no offset), or 400 naming `field`."""
    try:
        value = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        raise BadRequest(
            f"{field}: expected an ISO 8601 time, got {text[:40]!r}", field=field
        ) from None
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def parse_hour(text: str, field: str = "hour") -> datetime:
    """`YYYY-MM-DDTHH` (UTC) as the start of that hour."""
    try:
        value = datetime.strptime(text, "%Y-%m-%dT%H")
    except ValueError:
        raise BadRequest(
            f"{field}: expected YYYY-MM-DDTHH (UTC), got {text[:40]!r}", field=field
        ) from None
    return value.replace(tzinfo=UTC)


def parse_date(text: str, field: str = "date") -> date:
    try:
        return date.fromisoformat(text)
    except ValueError:
        raise BadRequest(f"{field}: expected YYYY-MM-DD, got {text[:40]!r}", field=field) from None
