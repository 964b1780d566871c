"""`import observations` and `export observations` as a user runs them: real processes.

Data is made and read back over HTTP; the commands run against the same database. Export
then import must give back the very same Observations, and a refused file writes nothing.
"""

from __future__ import annotations

import asyncio
import csv
import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import httpx
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from hypothesis import given
from hypothesis import strategies as st
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncEngine

from cityhelix.hub.rollup_tables import observation_rollups
from cityhelix.hub.tables import observations
from cityhelix.hub.transfer import (
    TransferError,
    import_observations,
    result_as_text,
    result_from_text,
)
from tests.conftest import Backend
from tests.hub.factories import OM_OBSERVATION, make_datastream
from tests.served import cli_env

FIELDS = ("phenomenonTime", "result", "resultTime", "validTime", "parameters", "resultQuality")
#: every kind of result and every optional column, including text that looks like numbers
SAMPLES: list[list[Any]] = [
    ["2026-11-01T00:00:00Z", 20, None, None, None, None],
    ["2026-11-01T00:00:01.5Z", 20.5, "2026-11-01T00:00:02Z", None, {"k": "v"}, None],
    ["2026-11-01T00:00:01.5Z", 0.1, None, None, None, [{"dq": 1}]],
    ["2026-11-01T00:00:02.123456Z", -0.0, None, None, None, None],
    ["2026-11-01T00:01:00Z", 1e16, None, None, None, None],
    ["2026-11-01T00:02:00Z", 2**60, None, None, None, None],
    ["2026-11-01T00:03:00Z", "offline", None, None, None, None],
    ["2026-11-01T00:04:00Z", "12", None, None, None, None],
    ["2026-11-01T00:05:00Z", "", None, None, None, None],
    ["2026-11-01T00:06:00Z", "true", None, None, None, None],
    ["2026-11-01T00:07:00Z", '{"x"', None, None, None, None],
    ["2026-11-01T00:08:00Z", 'say "hi",\nthen go; đường phố', None, None, None, None],
    ["2026-11-01T00:09:00Z", True, None, None, None, None],
    ["2026-11-01T00:10:00Z", None, None, None, None, None],
    ["2026-11-01T00:11:00Z", {"a": [1, 2.5, None]}, None, None, None, None],
    ["2026-11-01T00:12:00Z", [1, "x"], None, None, None, None],
    [
        "2026-11-01T01:00:00Z/2026-11-01T02:00:00+00:00",
        7,
        "2026-11-01T02:00:00.001Z",
        "2026-11-01T01:00:00Z/2026-11-02T01:00:00Z",
        {"depth": 2, "units": ["m"]},
        {"flag": "ok"},
    ],
]
START, END = "2026-11-01T00:00:00Z", "2026-11-01T02:00:00+00:00"
OUTSIDE = [["2026-11-01T02:00:00Z", 99, None, None, None, None]]  # at END: left out


async def cityhelix(database_url: str, *args: str) -> subprocess.CompletedProcess[str]:
    """`cityhelix ARGS` in its own process, against `database_url`."""
    return await asyncio.to_thread(
        subprocess.run,
        [sys.executable, "-m", "cityhelix", *args],
        env=cli_env(database_url, COLUMNS="200"),
        capture_output=True,
        text=True,
        timeout=300,
    )


async def _post(
    client: httpx.AsyncClient, admin: dict[str, str], stream: int, rows: list[list[Any]]
) -> None:
    body = [{"Datastream": {"@iot.id": stream}, "components": list(FIELDS), "dataArray": rows}]
    response = await client.post("/v1.1/CreateObservations", json=body, headers=admin)
    assert response.status_code == 201, response.text
    assert "error" not in response.json()


async def _observations(client: httpx.AsyncClient, stream: int) -> list[tuple[Any, ...]]:
    """The stream's Observations as (field, type) tuples, in time then id order."""
    listed = (
        await client.get(f"/v1.1/Datastreams({stream})/Observations", params={"$top": "5000"})
    ).json()["value"]
    listed.sort(key=lambda o: (o["phenomenonTime"], o["@iot.id"]))
    return [tuple((o.get(name), type(o.get(name)).__name__) for name in FIELDS) for o in listed]


async def _count(engine: AsyncEngine, stream: int | None = None) -> int:
    query = select(func.count()).select_from(observations)
    if stream is not None:
        query = query.where(observations.c.datastream_id == stream)
    async with engine.connect() as connection:
        return int(await connection.scalar(query) or 0)


async def _rolled_up(engine: AsyncEngine, stream: int) -> int:
    """How many readings the stream's day rollups count."""
    async with engine.connect() as connection:
        total = await connection.scalar(
            select(func.sum(observation_rollups.c["count"])).where(
                observation_rollups.c.datastream_id == stream,
                observation_rollups.c.interval == "1d",
            )
        )
    return int(total or 0)


@pytest.mark.asyncio
async def test_csv_export_then_import_gives_back_the_same_observations(
    backend: Backend,
    client: httpx.AsyncClient,
    admin: dict[str, str],
    engine: AsyncEngine,
    tmp_path: Path,
) -> None:
    source = await make_datastream(client, admin, "Source", observation_type=OM_OBSERVATION)
    target = await make_datastream(client, admin, "Target", observation_type=OM_OBSERVATION)
    await _post(client, admin, source, SAMPLES + OUTSIDE)
    first, second = tmp_path / "first.csv", tmp_path / "second.csv"
    window = ("--start", START, "--end", END)
    exported = await cityhelix(
        backend.url,
        "export",
        "observations",
        "--datastream",
        str(source),
        *window,
        "--output",
        str(first),
    )
    assert exported.returncode == 0, exported.stderr
    assert f"exported {len(SAMPLES)} Observations" in exported.stderr
    with first.open(newline="", encoding="utf-8") as handle:
        assert next(csv.reader(handle)) == list(FIELDS)

    imported = await cityhelix(
        backend.url, "import", "observations", str(first), "--datastream", str(target)
    )
    assert imported.returncode == 0, imported.stderr
    assert f"imported {len(SAMPLES)} Observations into Datastream {target}" in imported.stderr
    assert await _observations(client, target) == (await _observations(client, source))[:-1]

    again = await cityhelix(
        backend.url,
        "export",
        "observations",
        "--datastream",
        str(target),
        "--output",
        str(second),
    )
    assert again.returncode == 0, again.stderr
    assert second.read_bytes() == first.read_bytes()
    to_stdout = await cityhelix(
        backend.url, "export", "observations", "--datastream", str(source), *window
    )
    assert to_stdout.returncode == 0, to_stdout.stderr
    assert to_stdout.stdout == first.read_text(encoding="utf-8")
    # integers beyond 2**53 are kept as JSON, not as numbers, so they are not rolled up
    numeric = sum(
        1 for _, r, *_ in SAMPLES if type(r) is float or (type(r) is int and abs(r) <= 2**53)
    )
    assert await _rolled_up(engine, target) == numeric


@pytest.mark.asyncio
async def test_parquet_export_then_import_gives_back_the_same_observations(
    backend: Backend,
    client: httpx.AsyncClient,
    admin: dict[str, str],
    engine: AsyncEngine,
    tmp_path: Path,
) -> None:
    cases = {
        "mixed": (SAMPLES, pa.string()),
        "integers": (
            [[f"2026-11-01T00:0{i}:00Z", i * 10, None, None, None, None] for i in range(5)],
            pa.int64(),
        ),
        "decimals": (
            [[f"2026-11-01T00:0{i}:00Z", i / 3, None, None, None, None] for i in range(5)],
            pa.float64(),
        ),
    }
    for name, (rows, result_type) in cases.items():
        source = await make_datastream(
            client, admin, f"Source {name}", observation_type=OM_OBSERVATION
        )
        target = await make_datastream(
            client, admin, f"Target {name}", observation_type=OM_OBSERVATION
        )
        await _post(client, admin, source, rows)
        first, second = tmp_path / f"{name}-1.parquet", tmp_path / f"{name}-2.parquet"
        for stream, path in ((source, first), (target, second)):
            if stream == target:
                imported = await cityhelix(
                    backend.url, "import", "observations", str(first), "--datastream", str(target)
                )
                assert imported.returncode == 0, imported.stderr
            exported = await cityhelix(
                backend.url,
                "export",
                "observations",
                "--datastream",
                str(stream),
                "--format",
                "parquet",
                "--output",
                str(path),
            )
            assert exported.returncode == 0, exported.stderr
        assert pq.read_schema(first).field("result").type == result_type
        assert pq.read_table(second).equals(pq.read_table(first))
        assert await _observations(client, target) == await _observations(client, source)


@pytest.mark.asyncio
async def test_a_bad_row_is_named_by_its_line_and_nothing_is_written(
    backend: Backend,
    client: httpx.AsyncClient,
    admin: dict[str, str],
    engine: AsyncEngine,
    tmp_path: Path,
) -> None:
    stream = await make_datastream(client, admin, "Refused", observation_type=OM_OBSERVATION)
    big = tmp_path / "big.csv"
    lines = ["phenomenonTime,result,parameters"]
    lines.append('2026-11-01T00:00:00Z,1,"{""note"":\n""two lines""}"')  # lines 2 and 3
    lines += [
        f"2026-11-01T{i // 3600:02d}:{i // 60 % 60:02d}:{i % 60:02d}Z,{i},"
        for i in range(1, 12_001)
    ]  # lines 4 to 12003
    lines.append("2026-11-02T00:00:00+07:00,,")  # line 12004: no result
    lines.append("yesterday,5,")  # line 12005
    big.write_text("\n".join(lines) + "\n", encoding="utf-8")
    refused = await cityhelix(
        backend.url, "import", "observations", str(big), "--datastream", str(stream)
    )
    assert refused.returncode == 1
    assert refused.stderr.count("line ") == 2
    assert "line 12004: result: missing" in refused.stderr
    assert "line 12005: phenomenonTime: 'yesterday' is not an ISO 8601 time" in refused.stderr
    assert "nothing was imported" in refused.stderr
    assert await _count(engine) == 0

    big.write_text("\n".join(lines[:-2]) + "\n", encoding="utf-8")
    imported = await cityhelix(
        backend.url, "import", "observations", str(big), "--datastream", str(stream)
    )
    assert imported.returncode == 0, imported.stderr
    assert await _count(engine, stream) == 12_001
    assert await _rolled_up(engine, stream) == 12_001
    listed = (await client.get(f"/v1.1/Datastreams({stream})")).json()
    assert listed["phenomenonTime"] == "2026-11-01T00:00:00Z/2026-11-01T03:20:00Z"

    parquet = tmp_path / "bad.parquet"
    pq.write_table(
        pa.table(
            {
                "phenomenonTime": ["2026-11-03T00:00:00Z", "2026-11-03T00:01:00"],
                "result": [1.5, 2.5],
            }
        ),
        parquet,
    )
    refused = await cityhelix(
        backend.url, "import", "observations", str(parquet), "--datastream", str(stream)
    )
    assert refused.returncode == 1
    assert "row 2: phenomenonTime: '2026-11-03T00:01:00' has no time zone offset" in refused.stderr
    assert await _count(engine, stream) == 12_001


@pytest.mark.parametrize(
    ("header", "message"),
    [
        ("phenomenonTime,result,colour,size", "unknown column(s) 'colour', 'size'"),
        ("phenomenonTime,resultTime", "missing column(s) result"),
        ("phenomenonTime,result,result", "column(s) given twice: result"),
    ],
)
@pytest.mark.asyncio
async def test_a_file_with_wrong_columns_is_refused(
    backend: Backend,
    client: httpx.AsyncClient,
    admin: dict[str, str],
    engine: AsyncEngine,
    tmp_path: Path,
    header: str,
    message: str,
) -> None:
    stream = await make_datastream(client, admin, "Columns", observation_type=OM_OBSERVATION)
    path = tmp_path / "columns.csv"
    path.write_text(header + "\n2026-11-01T00:00:00Z,1,2,3\n", encoding="utf-8")
    refused = await cityhelix(
        backend.url, "import", "observations", str(path), "--datastream", str(stream)
    )
    assert refused.returncode == 1 and message in refused.stderr, refused.stderr
    assert await _count(engine) == 0


@pytest.mark.asyncio
@pytest.mark.parametrize(
    ("name", "content", "message"),
    [
        (
            "latin.csv",
            "phenomenonTime,result\n2026-11-01T00:00:00Z,caf\xe9\n".encode("latin-1"),
            "line 2: not UTF-8 text \\(invalid continuation byte at byte 25\\)",
        ),
        (
            "short.csv",
            b"phenomenonTime,result\n2026-11-01T00:00:00Z\n",
            "line 2: expected 2 fields, got 1",
        ),
        ("empty.csv", b"", "empty; the first line must name the columns"),
        ("fake.parquet", b"phenomenonTime,result\n", "not a readable Parquet file"),
        ("data.txt", b"", "cannot tell the format from the name; give --format"),
    ],
)
async def test_a_malformed_file_is_refused_with_a_reason(
    client: httpx.AsyncClient,
    admin: dict[str, str],
    engine: AsyncEngine,
    tmp_path: Path,
    name: str,
    content: bytes,
    message: str,
) -> None:
    stream = await make_datastream(client, admin, "Malformed", observation_type=OM_OBSERVATION)
    path = tmp_path / name
    path.write_bytes(content)
    with pytest.raises(TransferError, match=message):
        await import_observations(engine, path, stream)
    assert await _count(engine) == 0


@pytest.mark.asyncio
async def test_unknown_datastream_and_bad_options_are_refused(
    backend: Backend, engine: AsyncEngine, tmp_path: Path
) -> None:
    path = tmp_path / "one.csv"
    path.write_text("phenomenonTime,result\n2026-11-01T00:00:00Z,1\n", encoding="utf-8")
    runs = [
        (("import", "observations", str(path), "--datastream", "999999"), "no Datastream"),
        (("export", "observations", "--datastream", "999999"), "no Datastream with id 999999"),
        (("import", "observations", str(tmp_path / "none.csv"), "--datastream", "1"), "no such"),
        (("export", "observations", "--datastream", "1", "--start", "monday"), "--start: 'monday'"),
        (
            ("export", "observations", "--datastream", "1", "--format", "parquet"),
            "--output: Parquet is written to a file",
        ),
    ]
    for args, message in runs:
        refused = await cityhelix(backend.url, *args)
        assert refused.returncode == 1, (args, refused.stderr)
        assert message in refused.stderr, refused.stderr
    assert await _count(engine) == 0


@pytest.mark.asyncio
async def test_parquet_keeps_integers_mixed_with_decimals_as_decimals(
    backend: Backend,
    client: httpx.AsyncClient,
    admin: dict[str, str],
    engine: AsyncEngine,
    tmp_path: Path,
) -> None:
    """A Parquet column has one type: 20 next to 20.5 comes back as 20.0, equal in value."""
    source = await make_datastream(client, admin, "Source", observation_type=OM_OBSERVATION)
    target = await make_datastream(client, admin, "Target", observation_type=OM_OBSERVATION)
    await _post(client, admin, source, [[START, 20, *[None] * 4], [END, 20.5, *[None] * 4]])
    path = tmp_path / "numbers.parquet"
    exported = await cityhelix(
        backend.url,
        "export",
        "observations",
        "--datastream",
        str(source),
        "--output",
        str(path),
        "--format",
        "parquet",
    )
    assert exported.returncode == 0, exported.stderr
    assert pq.read_schema(path).field("result").type == pa.float64()
    imported = await cityhelix(
        backend.url, "import", "observations", str(path), "--datastream", str(target)
    )
    assert imported.returncode == 0, imported.stderr
    results = [row[1] for row in await _observations(client, target)]
    assert results == [(20.0, "float"), (20.5, "float")]


JSON_VALUES = st.recursive(
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(), inner, max_size=3),
    max_leaves=8,
)


@given(JSON_VALUES)
def test_a_result_written_as_text_reads_back_as_itself(value: Any) -> None:
    read_back = result_from_text(result_as_text(value))
    # JSON text tells 1 from 1.0 and 0.0 from -0.0, at every depth
    assert type(read_back) is type(value)
    assert json.dumps(read_back) == json.dumps(value)
