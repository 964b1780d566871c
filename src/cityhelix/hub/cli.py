"""The hub's commands: `import`/`export` of Observations (CSV, Parquet), `users mosquitto-acl`.

Thin Typer commands over `cityhelix.hub.transfer` and `broker_acl`: they migrate the
configured database (to the schema the `cityhelix` command hands down in its context), draw
the progress bars on standard error and turn a refused file into exit code 1.
"""

from __future__ import annotations

import asyncio
import sys
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Annotated, TypeVar

import typer
from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TaskID,
    TextColumn,
    TimeElapsedColumn,
)
from sqlalchemy.ext.asyncio import AsyncEngine

from cityhelix.command_context import migrate_composition
from cityhelix.db.engine import create_engine
from cityhelix.hub import transfer
from cityhelix.hub.broker_acl import AclError, mosquitto_acl
from cityhelix.hub.transfer import FileFormat, TransferError
from cityhelix.settings import get_settings

import_app = typer.Typer(help="Load data into the hub from files.", no_args_is_help=True)
export_app = typer.Typer(help="Write the hub's data to files.", no_args_is_help=True)
#: merged by the CLI into the ground's `cityhelix users` (create, list, revoke)
users_app = typer.Typer(help="Users and their API tokens.", no_args_is_help=True)
T = TypeVar("T")


class ProgressBars:
    """`transfer.Progress` as rich progress bars, one per stage, on standard error."""

    def __init__(self, bars: Progress) -> None:
        self._bars = bars
        self._task: TaskID | None = None

    def stage(self, description: str, total: int | None) -> None:
        if self._task is not None:
            self._bars.stop_task(self._task)
        self._task = self._bars.add_task(description, total=total)

    def advance(self, rows: int) -> None:
        if self._task is not None:
            self._bars.advance(self._task, rows)


def _run(ctx: typer.Context, work: Callable[[AsyncEngine, ProgressBars], Awaitable[T]]) -> T:
    """Migrate the configured database, then run `work` with an engine and progress bars."""
    settings = get_settings()
    migrate_composition(ctx)

    async def run() -> T:
        engine = create_engine(settings)
        try:
            with Progress(
                TextColumn("{task.description:>10}"),
                BarColumn(),
                MofNCompleteColumn(),
                TimeElapsedColumn(),
                console=Console(stderr=True),
                transient=False,
            ) as bars:
                return await work(engine, ProgressBars(bars))
        finally:
            await engine.dispose()

    try:
        return asyncio.run(run())
    except TransferError as error:
        typer.echo(f"error: {error}", err=True)
        raise typer.Exit(1) from None


@import_app.command("observations")
def import_observations(
    ctx: typer.Context,
    file: Annotated[
        Path,
        typer.Argument(
            help="A .csv or .parquet file with the columns phenomenonTime and result, and "
            "optionally resultTime, validTime, parameters and resultQuality (JSON text). "
            "In CSV, a result that reads as a number is a number. A bad row is named as "
            "'line N' in CSV (the header is line 1), as 'row N' in Parquet."
        ),
    ],
    datastream: Annotated[int, typer.Option(help="The id of the Datastream to add to.")],
    file_format: Annotated[
        FileFormat | None,
        typer.Option("--format", help="csv or parquet; by default the file name says."),
    ] = None,
) -> None:
    """Import Observations; all rows are checked first, and a bad one writes nothing."""
    count = _run(
        ctx,
        lambda engine, bars: transfer.import_observations(
            engine, file, datastream, file_format, bars
        ),
    )
    typer.echo(f"imported {count} Observations into Datastream {datastream}", err=True)


@export_app.command("observations")
def export_observations(
    ctx: typer.Context,
    datastream: Annotated[int, typer.Option(help="The id of the Datastream to export.")],
    start: Annotated[
        str | None,
        typer.Option(help="First phenomenonTime included, ISO 8601 with offset."),
    ] = None,
    end: Annotated[
        str | None,
        typer.Option(help="First phenomenonTime excluded, ISO 8601 with offset."),
    ] = None,
    file_format: Annotated[
        FileFormat, typer.Option("--format", help="csv or parquet.")
    ] = FileFormat.CSV,
    output: Annotated[
        Path | None,
        typer.Option("--output", "-o", help="The file to write; CSV goes to standard output."),
    ] = None,
) -> None:
    """Export Observations in time order, in the columns `import observations` reads."""
    try:
        first = transfer.parse_bound(start, "--start")
        last = transfer.parse_bound(end, "--end")
    except TransferError as error:
        typer.echo(f"error: {error}", err=True)
        raise typer.Exit(1) from None
    count = _run(
        ctx,
        lambda engine, bars: transfer.export_observations(
            engine,
            datastream,
            file_format,
            output=output,
            stdout=sys.stdout,
            start=first,
            end=last,
            progress=bars,
        ),
    )
    typer.echo(f"exported {count} Observations of Datastream {datastream}", err=True)


@users_app.command("mosquitto-acl")
def users_mosquitto_acl(
    ctx: typer.Context,
    file: Annotated[Path, typer.Argument(help="Where to write the ACL file.")],
    hub_user: Annotated[
        str, typer.Option(help="The broker user of the hub (in CITYHELIX_MQTT_URL).")
    ] = "cityhelix",
) -> None:
    """Write a Mosquitto ACL file: each tenant publishes to its own Datastreams only."""
    migrate_composition(ctx)

    async def acl() -> str:
        engine = create_engine(get_settings())
        try:
            return await mosquitto_acl(engine, hub_user)
        finally:
            await engine.dispose()

    try:
        text = asyncio.run(acl())
    except AclError as error:
        Console().print(f"[red]error:[/red] {error}")
        raise typer.Exit(1) from None
    file.write_text(text)
    Console().print(f"wrote {file}; reload Mosquitto (SIGHUP) to apply it", highlight=False)
