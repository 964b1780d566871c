"""Observations between files and the hub: CSV and Parquet import and export.

An import reads its file twice: once to check every row with the hub's own codecs (a bad
row is named by its line and nothing is written), then to write it in chunks through the
hub's `Writer`, in one transaction. Export writes the same columns, so export then
import gives back the same Observations.
"""

from __future__ import annotations

import csv
import json
import math
import re
from collections.abc import AsyncIterator, Iterator, Mapping, Sequence
from datetime import datetime
from enum import StrEnum
from pathlib import Path
from typing import Any, BinaryIO, Protocol, TextIO

from sqlalchemy import Select, func, select
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncResult

from cityhelix.auth.principal import Principal, Role
from cityhelix.auth.service import record_write
from cityhelix.hub import rollups  # noqa: F401 - registers the writer's rollups hook
from cityhelix.hub.changes import ChangeLog, data_array_facts, recorded
from cityhelix.hub.errors import BadRequest, HubError
from cityhelix.hub.model import DATASTREAM, OBSERVATION
from cityhelix.hub.store.write import Writer
from cityhelix.hub.tables import (
    RESULT_FLOAT,
    RESULT_INTEGER,
    datastreams,
    observations,
)
from cityhelix.hub.values import format_interval, format_time, parse_time, result_value, to_columns

#: the columns of a file, named as SensorThings names the properties
COLUMNS = ("phenomenonTime", "result", "resultTime", "validTime", "parameters", "resultQuality")
REQUIRED = ("phenomenonTime", "result")
_TIMES = frozenset({"phenomenonTime", "resultTime", "validTime"})
_JSON = frozenset({"parameters", "resultQuality"})
#: rows per write statement and per database fetch
CHUNK_ROWS = 5_000
#: rows per Parquet row group
_ROW_GROUP = 65_536
#: bad rows listed before the import gives up counting them
_ERRORS_SHOWN = 10

IMPORTER = Principal("cityhelix import", Role.ADMIN)

_INTEGER = re.compile(r"[+-]?[0-9]+")
_DECIMAL = re.compile(r"[+-]?([0-9]+\.[0-9]*|\.[0-9]+|[0-9]+)([eE][+-]?[0-9]+)?")
_JSON_WORDS = frozenset({"true", "false", "null"})


class TransferError(Exception):
    """A file, Datastream or option that cannot be imported or exported; the message says why."""


class FileFormat(StrEnum):
    CSV = "csv"
    PARQUET = "parquet"


class Progress(Protocol):
    """Where long work reports how far it is (a progress bar in the CLI)."""

    def stage(self, description: str, total: int | None) -> None: ...

    def advance(self, rows: int) -> None: ...


class _Silent:
    def stage(self, description: str, total: int | None) -> None:
        pass

    def advance(self, rows: int) -> None:
        pass


def format_of(path: Path, given: FileFormat | None) -> FileFormat:
    """The format named by the caller, else the one the file name says."""
    if given is not None:
        return given
    suffix = path.suffix.lower()
    if suffix == ".csv":
        return FileFormat.CSV
    if suffix in (".parquet", ".pq"):
        return FileFormat.PARQUET
    raise TransferError(f"{path.name}: cannot tell the format from the name; give --format")


# ---------------------------------------------------------------------- result text


def result_from_text(text: str) -> Any:
    """A result written as text: numbers are numbers, JSON documents are JSON, else text."""
    if _INTEGER.fullmatch(text):
        return int(text)
    if _DECIMAL.fullmatch(text):
        number = float(text)
        if math.isfinite(number):
            return number
        return text
    if text[:1] in ("{", "[", '"') or text in _JSON_WORDS:
        try:
            return json.loads(text)
        except ValueError:
            return text
    return text


def result_as_text(value: Any) -> str:
    """The text that `result_from_text` reads back as exactly `value`."""
    if isinstance(value, bool) or value is None or isinstance(value, dict | list):
        return _json_text(value)
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        return repr(value)
    if isinstance(value, str) and value:
        read_back = result_from_text(value)
        if isinstance(read_back, str) and read_back == value:
            return value
    return _json_text(value)  # text that would read as a number or JSON goes quoted


def _json_text(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"))


# ---------------------------------------------------------------------- reading files


def _check_columns(names: Sequence[str], path: Path) -> None:
    unknown = [name for name in names if name not in COLUMNS]
    if unknown:
        raise TransferError(
            f"{path.name}: unknown column(s) "
            + ", ".join(repr(name) for name in unknown)
            + "; expected some of "
            + ", ".join(COLUMNS)
        )
    repeated = sorted({name for name in names if names.count(name) > 1})
    if repeated:
        raise TransferError(f"{path.name}: column(s) given twice: " + ", ".join(repeated))
    missing = [name for name in REQUIRED if name not in names]
    if missing:
        raise TransferError(f"{path.name}: missing column(s) " + ", ".join(missing))


def _csv_rows(path: Path) -> Iterator[tuple[int, dict[str, Any]]]:
    """(line, cells) per record; the header is line 1, empty cells are None."""
    with path.open("rb") as handle:
        reader = csv.reader(_text_lines(handle))
        try:
            header = [name.strip() for name in next(reader, [])]
            if not header:
                raise TransferError(f"{path.name}: empty; the first line must name the columns")
            _check_columns(header, path)
            line = reader.line_num
            for record in reader:
                first_line, line = line + 1, reader.line_num
                if not record:
                    continue  # a blank line
                if len(record) != len(header):
                    raise TransferError(
                        f"line {first_line}: expected {len(header)} fields, got {len(record)}"
                    )
                yield (
                    first_line,
                    {name: cell or None for name, cell in zip(header, record, strict=True)},
                )
        except csv.Error as error:
            raise TransferError(f"line {reader.line_num}: {error}") from None


def _text_lines(handle: BinaryIO) -> Iterator[str]:
    """The file's lines decoded one by one, so that a bad byte is named by its line."""
    for number, raw in enumerate(handle, start=1):
        try:
            text = raw.decode("utf-8")
        except UnicodeDecodeError as error:
            raise TransferError(
                f"line {number}: not UTF-8 text ({error.reason} at byte {error.start + 1})"
            ) from None
        yield text.removeprefix("\ufeff") if number == 1 else text


def _parquet_file(path: Path) -> Any:
    import pyarrow as pa
    import pyarrow.parquet as pq

    try:
        return pq.ParquetFile(path)
    except (pa.ArrowException, OSError) as error:
        raise TransferError(f"{path.name}: not a readable Parquet file ({error})") from None


def _parquet_rows(path: Path) -> Iterator[tuple[int, dict[str, Any]]]:
    """(row number from 1, values) per row."""
    source = _parquet_file(path)
    _check_columns(list(source.schema_arrow.names), path)
    number = 0
    for batch in source.iter_batches(batch_size=CHUNK_ROWS):
        for values in batch.to_pylist():
            number += 1
            yield number, values


def _file_rows(path: Path, file_format: FileFormat) -> Iterator[tuple[int, dict[str, Any]]]:
    if file_format is FileFormat.CSV:
        return _csv_rows(path)
    return _parquet_rows(path)


def _row_count(path: Path, file_format: FileFormat) -> int | None:
    if file_format is FileFormat.PARQUET:
        return int(_parquet_file(path).metadata.num_rows)
    return None


def _wire_row(cells: Mapping[str, Any]) -> dict[str, Any]:
    """One row's values as SensorThings JSON would carry them; BadRequest names the problem."""
    wire: dict[str, Any] = {}
    for name, cell in cells.items():
        if name == "result":
            wire[name] = _result(cell)
        elif cell is None or cell == "":
            if name == "phenomenonTime":
                raise BadRequest("phenomenonTime: missing; every row needs one")
            wire[name] = None
        elif name in _TIMES:
            wire[name] = _time_text(name, cell)
        elif isinstance(cell, str):
            try:
                wire[name] = json.loads(cell)
            except ValueError as error:
                raise BadRequest(f"{name}: not a JSON document ({error})") from None
        elif isinstance(cell, dict | list):
            wire[name] = cell
        else:
            raise BadRequest(f"{name}: expected JSON text, got {type(cell).__name__}")
    return wire


def _result(cell: Any) -> Any:
    if cell is None or cell == "":
        raise BadRequest("result: missing; every row needs one")
    if isinstance(cell, str):
        return result_from_text(cell)
    if isinstance(cell, float) and not math.isfinite(cell):
        raise BadRequest(f"result: {cell} is not a finite number")
    if isinstance(cell, bool | int | float | dict | list):
        return cell
    raise BadRequest(f"result: cannot store a {type(cell).__name__}; use a number or text")


def _time_text(name: str, cell: Any) -> str:
    if isinstance(cell, datetime):  # a Parquet timestamp column
        if cell.tzinfo is None:
            raise BadRequest(f"{name}: a timestamp without time zone; store it in UTC")
        return cell.isoformat()
    if not isinstance(cell, str):
        raise BadRequest(f"{name}: expected an ISO 8601 time, got {type(cell).__name__}")
    return cell


def _check_row(wire: dict[str, Any]) -> None:
    """Validate with the codecs the hub uses for a POST, so what passes here is written."""
    for name, value in wire.items():
        prop = OBSERVATION.find_property(name)
        assert prop is not None
        to_columns(prop, value, wire)


# ---------------------------------------------------------------------- import


async def import_observations(
    engine: AsyncEngine,
    path: Path,
    datastream_id: int,
    file_format: FileFormat | None = None,
    progress: Progress | None = None,
) -> int:
    """Check every row of `path`, then write them all to the Datastream in one transaction."""
    progress = progress or _Silent()
    file_format = format_of(path, file_format)
    if not path.is_file():
        raise TransferError(f"{path}: no such file")
    await _check_datastream(engine, datastream_id)
    label = "line" if file_format is FileFormat.CSV else "row"
    progress.stage("checking", _row_count(path, file_format))
    errors: list[str] = []
    bad = total = 0
    for position, cells in _file_rows(path, file_format):
        total += 1
        try:
            _check_row(_wire_row(cells))
        except BadRequest as error:
            bad += 1
            if len(errors) < _ERRORS_SHOWN:
                errors.append(f"{label} {position}: {error.message}")
        progress.advance(1)
    if bad:
        more = f"\n(and {bad - len(errors)} more bad rows)" if bad > len(errors) else ""
        raise TransferError("\n".join(errors) + more + "\nnothing was imported")
    progress.stage("writing", total)
    try:
        # recorded like every write: the stream's consumers see the imported readings
        async with recorded(engine, None) as (connection, log):
            writer = Writer(connection, IMPORTER)
            chunk: list[tuple[int, dict[str, Any]]] = []
            for position, cells in _file_rows(path, file_format):
                chunk.append((position, _wire_row(cells)))
                if len(chunk) == CHUNK_ROWS:
                    await _write_chunk(writer, log, datastream_id, chunk, label)
                    progress.advance(len(chunk))
                    chunk = []
            if chunk:
                await _write_chunk(writer, log, datastream_id, chunk, label)
                progress.advance(len(chunk))
            await writer.finish()
            log.add(writer.written)
            await record_write(
                connection,
                IMPORTER,
                "IMPORT",
                f"observations from {path.name}",
                [("Datastream", datastream_id)],
            )
    except HubError as error:
        raise TransferError(f"{error.message}\nnothing was imported") from None
    return total


async def _write_chunk(
    writer: Writer,
    log: ChangeLog,
    datastream_id: int,
    chunk: list[tuple[int, dict[str, Any]]],
    label: str,
) -> None:
    rows = [[wire.get(name) for name in COLUMNS] for _, wire in chunk]
    ids = await writer.create_observations(DATASTREAM, datastream_id, list(COLUMNS), rows)
    data_array_facts(log, writer, DATASTREAM, datastream_id, COLUMNS, rows, ids)
    for (position, _), written in zip(chunk, ids, strict=True):
        if written is None:  # checked already, so only a change of the file gets here
            raise BadRequest(f"{label} {position}: refused on writing; was the file changed?")


async def _check_datastream(engine: AsyncEngine, datastream_id: int) -> None:
    async with engine.connect() as connection:
        found = await connection.scalar(
            select(datastreams.c.id).where(datastreams.c.id == datastream_id)
        )
    if found is None:
        raise TransferError(f"no Datastream with id {datastream_id}")


# ---------------------------------------------------------------------- export


def parse_bound(text: str | None, option: str) -> datetime | None:
    """A --start/--end value: ISO 8601 with an offset."""
    if text is None:
        return None
    try:
        return parse_time(text, option)
    except BadRequest as error:
        raise TransferError(error.message) from None


async def export_observations(
    engine: AsyncEngine,
    datastream_id: int,
    file_format: FileFormat,
    *,
    output: Path | None = None,
    stdout: TextIO | None = None,
    start: datetime | None = None,
    end: datetime | None = None,
    progress: Progress | None = None,
) -> int:
    """Write the Datastream's Observations in [start, end), in time order; return how many.

    CSV goes to `output` or `stdout`; Parquet needs `output`. A failed export leaves no file.
    """
    progress = progress or _Silent()
    if start is not None and end is not None and end <= start:
        raise TransferError("--end: must be later than --start")
    if file_format is FileFormat.PARQUET and output is None:
        raise TransferError("--output: Parquet is written to a file, not to standard output")
    await _check_datastream(engine, datastream_id)
    time = observations.c.phenomenon_time_start
    condition = [observations.c.datastream_id == datastream_id]
    if start is not None:
        condition.append(time >= start)
    if end is not None:
        condition.append(time < end)
    async with engine.connect() as connection:
        total = int(await connection.scalar(select(func.count()).where(*condition)) or 0)
        kinds = set(
            await connection.scalars(
                select(observations.c.result_type).where(*condition).distinct()
            )
        )
        progress.stage("exporting", total)
        stored = await connection.stream(_stored_query(condition))
        rows = _file_values(stored)
        try:
            if file_format is FileFormat.PARQUET:
                assert output is not None
                await _write_parquet(rows, output, _parquet_result_type(kinds), progress)
            elif output is not None:
                with output.open("w", newline="", encoding="utf-8") as handle:
                    await _write_csv(rows, handle, progress)
            else:
                assert stdout is not None
                await _write_csv(rows, stdout, progress)
        except BaseException:
            if output is not None:
                output.unlink(missing_ok=True)
            raise
    return total


def _stored_query(condition: list[Any]) -> Select[Any]:
    """The Observations in time order, fetched a chunk at a time."""
    o = observations.c
    return (
        select(
            o.phenomenon_time_start,
            o.phenomenon_time_end,
            o.result_type,
            o.result_number,
            o.result_string,
            o.result_json,
            o.result_time,
            o.valid_time_start,
            o.valid_time_end,
            o.parameters,
            o.result_quality,
        )
        .where(*condition)
        .order_by(o.phenomenon_time_start, o.id)
        .execution_options(yield_per=CHUNK_ROWS)
    )


async def _file_values(stored: AsyncResult[Any]) -> AsyncIterator[list[Any]]:
    """Each stored row as file values, in COLUMNS order."""
    async for row in stored:
        yield [
            format_interval(row.phenomenon_time_start, row.phenomenon_time_end),
            result_value(row),
            format_time(row.result_time),
            format_interval(row.valid_time_start, row.valid_time_end),
            row.parameters,
            row.result_quality,
        ]


async def _write_csv(rows: AsyncIterator[list[Any]], handle: TextIO, progress: Progress) -> None:
    writer = csv.writer(handle, lineterminator="\n")
    writer.writerow(COLUMNS)
    count = 0
    async for phenomenon, result, result_time, valid, parameters, quality in rows:
        writer.writerow(
            [
                phenomenon,
                result_as_text(result),
                result_time or "",
                valid or "",
                "" if parameters is None else _json_text(parameters),
                "" if quality is None else _json_text(quality),
            ]
        )
        count += 1
        if count % CHUNK_ROWS == 0:
            progress.advance(CHUNK_ROWS)
    progress.advance(count % CHUNK_ROWS)


def _parquet_result_type(kinds: set[int]) -> str:
    """int64 when every result is an integer, float64 for numbers, else text as in CSV."""
    if kinds == {RESULT_INTEGER}:
        return "int64"
    if kinds and kinds <= {RESULT_INTEGER, RESULT_FLOAT}:
        return "float64"
    return "string"


async def _write_parquet(
    rows: AsyncIterator[list[Any]], path: Path, result_type: str, progress: Progress
) -> None:
    import pyarrow as pa
    import pyarrow.parquet as pq

    schema = pa.schema(
        [(name, pa.string()) if name != "result" else (name, result_type) for name in COLUMNS]
    )
    columns: list[list[Any]] = [[] for _ in COLUMNS]

    def flush(writer: Any) -> None:
        writer.write_table(pa.Table.from_arrays(columns, schema=schema))
        progress.advance(len(columns[0]))
        for column in columns:
            column.clear()

    with pq.ParquetWriter(path, schema) as writer:
        async for phenomenon, result, result_time, valid, parameters, quality in rows:
            columns[0].append(phenomenon)
            columns[1].append(result_as_text(result) if result_type == "string" else result)
            columns[2].append(result_time)
            columns[3].append(valid)
            columns[4].append(None if parameters is None else _json_text(parameters))
            columns[5].append(None if quality is None else _json_text(quality))
            if len(columns[0]) == _ROW_GROUP:
                flush(writer)
        if columns[0]:
            flush(writer)
