"""`GET /api/hub/datastreams/{id}/aggregates`: a Datastream's rollups over HTTP, for charts.

Only protocol work: the query string and the credentials in, errors out as the plain API's
`{"detail": ...}` (`PlainRoute`); the buckets come from `rollups`, computed at write time.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Path, Request
from fastapi.responses import Response

from cityhelix.hub.http.api import request_principal
from cityhelix.hub.http.responses import PlainRoute, json_response
from cityhelix.hub.query.parser import INT64_MAX
from cityhelix.hub.rollups import HOUR, WIDTHS, read_buckets
from cityhelix.hub.values import format_time, parse_time
from cityhelix.openapi_errors import plain_errors

router = APIRouter(
    tags=["Data hub aggregates"], route_class=PlainRoute, responses=plain_errors(400, 401, 404, 429)
)


def _time_parameter(request: Request, name: str) -> datetime | None:
    text = request.query_params.get(name)
    if text is None:
        return None
    return parse_time(text, name)


@router.get(
    "/api/hub/datastreams/{datastream_id}/aggregates",
    summary="Count, min, max, mean, sum and last of a Datastream's numeric results per bucket",
    description=(
        "`interval` is one of " + ", ".join(WIDTHS) + " (UTC buckets). `start` and `end` are "
        "ISO 8601 instants with an offset; the answer holds the buckets whose start lies in "
        "[start, end), in time order. Results that are not numbers are not counted."
    ),
)
async def aggregates(
    request: Request,
    datastream_id: Annotated[int, Path(ge=1, le=INT64_MAX, description="a Datastream's id")],
) -> Response:
    await request_principal(request, write=False)
    interval = request.query_params.get("interval", HOUR)
    buckets = await read_buckets(
        request.app.state.engine,
        datastream_id,
        interval,
        _time_parameter(request, "start"),
        _time_parameter(request, "end"),
    )
    value: list[dict[str, Any]] = [
        {
            "start": format_time(bucket.start),
            "end": format_time(bucket.end),
            "count": bucket.count,
            "min": bucket.minimum,
            "max": bucket.maximum,
            "mean": bucket.mean,
            "sum": bucket.total,
            "last": bucket.last,
        }
        for bucket in buckets
    ]
    return json_response({"datastream": datastream_id, "interval": interval, "value": value})
