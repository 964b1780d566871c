"""`GET /api/hub/datastreams/{id}/aggregates`: a Datastream's rollups over HTTP, for charts.

Only protocol work: the query string and the credentials in, hub errors out as the hub's
JSON error documents; the buckets come from `rollups`, already computed at write time.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import Response

from cityhelix.auth.deps import NotAuthenticated
from cityhelix.hub.errors import HubError
from cityhelix.hub.http.api import (
    error_response,
    hub_error_response,
    json_response,
    request_principal,
)
from cityhelix.hub.rollups import HOUR, WIDTHS, read_buckets
from cityhelix.hub.values import format_time, parse_time

router = APIRouter(tags=["Data hub aggregates"])


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
async def aggregates(request: Request, datastream_id: int) -> Response:
    try:
        await request_principal(request, write=False)
    except NotAuthenticated as error:
        return error_response(401, str(error))
    try:
        interval = request.query_params.get("interval", HOUR)
        buckets = await read_buckets(
            request.app.state.engine,
            datastream_id,
            interval,
            _time_parameter(request, "start"),
            _time_parameter(request, "end"),
        )
    except HubError as error:
        return hub_error_response(error)
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
