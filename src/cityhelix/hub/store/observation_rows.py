"""The Observation's bulk path: DataArray rows of many streams checked, decoded and written
with a few statements (CreateObservations, the batched ingest, imports).

Rows are validated one by one (a bad row is answered None, not an error for all), the
streams' writability and generated FeaturesOfInterest are worked out once per batch, and
the valid rows go to the database in one bulk insert (`db.bulk_insert`: COPY on
PostgreSQL); the Observation hooks then fold them into derived times and rollups.
"""

from __future__ import annotations

import asyncio
import math
from collections.abc import Callable
from datetime import datetime
from typing import TYPE_CHECKING, Any

from sqlalchemy import func, select

from cityhelix.db.bulk_insert import insert_rows
from cityhelix.hub.errors import BadRequest
from cityhelix.hub.model import (
    BY_NAME,
    FEATURE_OF_INTEREST,
    MULTI_DATASTREAM,
    OBSERVATION,
    OWNER_TYPE,
    EntityType,
)
from cityhelix.hub.query.compile import table_of
from cityhelix.hub.store.observation_hooks import GeneratedFeatures, check_result_type
from cityhelix.hub.store.written import StreamRows, StreamWritten, Written
from cityhelix.hub.tables import (
    RESULT_FLOAT,
    datastreams,
    multi_datastream_observed_properties,
    observations,
)
from cityhelix.hub.values import quick_instant, result_columns

if TYPE_CHECKING:
    from cityhelix.hub.store.write import Writer


#: rows validated between two turns of the event loop (about 10 ms of work)
_ROWS_PER_TURN = 1000
#: rows handed to the Observation hooks (and noted as written) between two turns of the
#: event loop, after the insert: a few ms of work
_ROWS_AFTER_INSERT = 5000


async def write_observation_rows(
    writer: Writer, components: list[str], groups: list[StreamRows]
) -> list[StreamWritten]:
    """Insert DataArray rows of one shape for many streams; an answer per group, in order.

    `create_observations` for many streams at once: the streams are checked, their
    generated FeaturesOfInterest found and every valid row inserted with one statement
    each, so readings spread over a thousand Datastreams cost what readings of one do.
    """
    checked: dict[str, set[int]] = {}
    for group in groups:
        checked.setdefault(group.stream_type.name, set()).add(group.stream_id)
    widths: dict[int, int] = {}
    kinds: dict[int, str | None] = {}
    for type_name, stream_ids in checked.items():
        stream_type = BY_NAME[type_name]
        await _check_streams_writable(writer, stream_type, stream_ids)
        if stream_type is MULTI_DATASTREAM:
            widths = await _multi_widths(writer, stream_ids)
        else:
            kinds = await _observation_types(writer, stream_ids)
    foi_index = _component_index(components)
    answers: list[StreamWritten] = []
    valid_of: list[list[dict[str, Any]]] = []
    positions_of: list[list[int]] = []
    for group in groups:
        where = group.where
        base = group.link()
        width = None
        if group.stream_type is MULTI_DATASTREAM:
            width = widths.get(group.stream_id, 0)
        quick = None if width is not None else _quick_decoder(components, base, writer.now)
        kind = None if width is not None else kinds.get(group.stream_id)
        valid: list[dict[str, Any]] = []
        positions: list[int] = []
        for position, row in enumerate(group.rows):
            if position and not position % _ROWS_PER_TURN:
                await asyncio.sleep(0)  # let the event loop serve others between slices
            columns = quick(row) if quick is not None else None
            try:
                if columns is None:
                    columns = base | _data_array_row(writer, components, row, foi_index, where)
                if width is not None and (
                    not isinstance(columns.get("result_json"), list)
                    or len(columns["result_json"]) != width
                ):
                    raise BadRequest(f"{where}: result must be an array of {width} values")
                if kind is not None and columns.get("result_json") is not None:
                    # only an array or object result can miss its observationType: a
                    # number or a string row costs no call
                    check_result_type(kind, columns, where)
                if foi_index is not None:
                    columns["feature_of_interest_id"] = await writer.existing_id(
                        FEATURE_OF_INTEREST, row[foi_index], f"{where} row {position}"
                    )
            except BadRequest:
                continue
            valid.append(columns)
            positions.append(position)
        answers.append(StreamWritten([None] * len(group.rows), []))
        valid_of.append(valid)
        positions_of.append(positions)
    if foi_index is None:
        await writer.hook(GeneratedFeatures).link_groups(groups, valid_of, answers)
    every = [columns for valid in valid_of for columns in valid]
    if not every:
        return answers
    keys = _union_keys(every)
    for columns in every:
        if len(columns) != len(keys):
            for key in keys:
                columns.setdefault(key, None)
    ids = await insert_rows(writer.connection, observations, every, sorted(keys))
    for first in range(0, len(ids), _ROWS_AFTER_INSERT):
        await asyncio.sleep(0)  # what follows the insert, in slices too
        writer.written.extend(
            Written(OBSERVATION, entity_id, "create")
            for entity_id in ids[first : first + _ROWS_AFTER_INSERT]
        )
    hooks = writer.hooks(OBSERVATION)
    new_ids = iter(ids)  # in the order of `every`: group by group
    for group, valid, positions, answer in zip(
        groups, valid_of, positions_of, answers, strict=True
    ):
        if not valid:
            continue
        for position in positions:
            answer.ids[position] = next(new_ids)
        # a hook folds the rows it is given (derived times, rollup minutes): a large
        # group's rows go to it in slices, a turn of the event loop each
        for first in range(0, len(valid), _ROWS_AFTER_INSERT):
            await asyncio.sleep(0)
            rows = valid[first : first + _ROWS_AFTER_INSERT]
            for hook in hooks:
                await hook.rows_inserted(group.stream_type, group.stream_id, rows)
    return answers


async def _check_streams_writable(
    writer: Writer, stream_type: EntityType, stream_ids: set[int]
) -> None:
    """`existing_id` and the tenancy check of an Observation, for many streams of one type
    with one query (a stream's owner is one link away: the registry's tenancy path)."""
    where = f"CreateObservations/{stream_type.name}"
    table = table_of(stream_type)
    (path,) = stream_type.tenancy.paths
    navigation = stream_type.find_navigation(path[0])
    assert len(path) == 1 and navigation is not None and navigation.source_fk is not None
    owners = table_of(OWNER_TYPE)
    owner_column = OWNER_TYPE.tenancy.owner_column
    assert owner_column is not None
    fk = table.c[navigation.source_fk]
    rows = await writer.connection.execute(
        select(table.c.id, fk, owners.c[owner_column])
        .join(owners, owners.c.id == fk)
        .where(table.c.id.in_(sorted(stream_ids)))
    )
    found: dict[int, int] = {}
    tenancy = writer.tenancy
    for stream_id, owner_id, tenant in rows:
        found[stream_id] = owner_id
        tenancy.owners.setdefault(owner_id, tenant)
    for stream_id in sorted(stream_ids - found.keys()):
        raise BadRequest(
            f"{where}: links to {stream_type.name} {stream_id}, which does not exist",
            field=where,
        )
    writer.note_known(stream_type, list(found))
    if writer.principal.writes_all_of_hub:
        return
    tenancy.refuse_non_tenant()
    await tenancy.check_owned(found[stream_id] for stream_id in sorted(found))


async def _observation_types(writer: Writer, stream_ids: set[int]) -> dict[int, str | None]:
    """The observationType of each Datastream, with one query (its results are checked)."""
    rows = await writer.connection.execute(
        select(datastreams.c.id, datastreams.c.observation_type).where(
            datastreams.c.id.in_(sorted(stream_ids))
        )
    )
    return {stream_id: kind for stream_id, kind in rows}


async def _multi_widths(writer: Writer, stream_ids: set[int]) -> dict[int, int]:
    """The number of ObservedProperties of each MultiDatastream, with one query."""
    links = multi_datastream_observed_properties.c
    rows = await writer.connection.execute(
        select(links.multi_datastream_id, func.count())
        .where(links.multi_datastream_id.in_(sorted(stream_ids)))
        .group_by(links.multi_datastream_id)
    )
    return {stream_id: width for stream_id, width in rows}


def _data_array_row(
    writer: Writer, components: list[str], row: Any, foi_index: int | None, where: str
) -> dict[str, Any]:
    if not isinstance(row, list) or len(row) != len(components):
        raise BadRequest(f"{where}: a dataArray row must have {len(components)} values")
    body = {
        name: value
        for index, (name, value) in enumerate(zip(components, row, strict=True))
        if index != foi_index and name != "id"
    }
    if "result" not in body:
        raise BadRequest(f"{where}: 'result' is a mandatory component")
    columns, _ = writer._columns_and_links(OBSERVATION, body, where, replace=True)
    if "phenomenon_time_start" not in columns:
        columns["phenomenon_time_start"] = writer.now
        columns["phenomenon_time_end"] = None
    return columns


DATA_ARRAY_COMPONENTS = frozenset(
    {
        "id",
        "phenomenonTime",
        "result",
        "resultTime",
        "resultQuality",
        "validTime",
        "parameters",
        "FeatureOfInterest/id",
    }
)


def _component_index(components: list[str]) -> int | None:
    """Check a DataArray's component names; the index of `FeatureOfInterest/id`, if any."""
    for name in components:
        if name not in DATA_ARRAY_COMPONENTS:
            raise BadRequest(
                f"unknown dataArray component {name!r}; expected some of "
                + ", ".join(sorted(DATA_ARRAY_COMPONENTS)),
                field="components",
            )
    if len(set(components)) != len(components):
        raise BadRequest("dataArray components must not repeat", field="components")
    return (
        components.index("FeatureOfInterest/id") if "FeatureOfInterest/id" in components else None
    )


#: components the fast path decodes; any other component sends the group the generic way
_QUICK_COMPONENTS = frozenset(
    {"id", "phenomenonTime", "result", "resultTime", "FeatureOfInterest/id"}
)


def _quick_decoder(
    components: list[str], base: dict[str, Any], now: datetime
) -> Callable[[object], dict[str, Any] | None] | None:
    """A decoder of the usual DataArray rows straight into the columns the generic path
    (`_data_array_row`) would give them; it answers None for any row it is unsure of
    (a bad or unusual value), which then goes the generic way and gets its exact error.

    Per-row validation through the entity registry was a fifth of a bulk request's time;
    the usual rows (an instant, a number, maybe a resultTime) need none of its generality.
    """
    if not set(components) <= _QUICK_COMPONENTS or "result" not in components:
        return None
    width = len(components)
    at_result = components.index("result")
    at_time = components.index("phenomenonTime") if "phenomenonTime" in components else None
    at_result_time = components.index("resultTime") if "resultTime" in components else None
    template = base | {"result_string": None, "result_json": None}
    if at_time is None:
        template.update(phenomenon_time_start=now, phenomenon_time_end=None)
    else:
        template["phenomenon_time_end"] = None

    def decode(row: object) -> dict[str, Any] | None:
        if type(row) is not list or len(row) != width:
            return None
        result = row[at_result]
        if type(result) is float and math.isfinite(result):
            columns = template | {"result_type": RESULT_FLOAT, "result_number": result}
        else:
            columns = template | result_columns(result)
        if at_time is not None:
            start = quick_instant(row[at_time])
            if start is None:
                return None
            columns["phenomenon_time_start"] = start
        if at_result_time is not None:
            result_time = quick_instant(row[at_result_time])
            if result_time is None:
                return None
            columns["result_time"] = result_time
        return columns

    return decode


def _union_keys(rows: list[dict[str, Any]]) -> set[str]:
    keys: set[str] = set()
    for row in rows:
        keys.update(row)
    return keys
