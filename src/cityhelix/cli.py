"""The `cityhelix` command: serve, migrate, demo and user administration (Typer)."""

from __future__ import annotations

import asyncio
import gc
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Annotated, TypeVar

import typer
from rich.console import Console
from rich.table import Table
from sqlalchemy.ext.asyncio import AsyncEngine

from cityhelix.auth.principal import Role
from cityhelix.auth.service import UserError, create_user, list_users, revoke_user
from cityhelix.cli_transfer import export_app, import_app
from cityhelix.db.engine import create_engine
from cityhelix.db.migrate import upgrade
from cityhelix.hub.broker_acl import AclError, mosquitto_acl
from cityhelix.settings import get_settings
from cityhelix.web.commands import set_password_command

app = typer.Typer(help="CityHelix smart-city platform.", no_args_is_help=True)
users_app = typer.Typer(help="Users and their API tokens.", no_args_is_help=True)
app.add_typer(users_app, name="users")
app.add_typer(import_app, name="import")
app.add_typer(export_app, name="export")
users_app.command("set-password")(set_password_command)
console = Console()
T = TypeVar("T")


@app.command()
def serve(
    host: Annotated[str, typer.Option(help="Interface to listen on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="TCP port.")] = 8000,
) -> None:
    """Serve the HTTP API (migrating the database first when needed)."""
    import uvicorn

    from cityhelix.app import create_app

    server_app = create_app(get_settings())
    _tune_gc()
    uvicorn.run(server_app, host=host, port=port, log_level="info")


def _tune_gc() -> None:
    """Collect cyclic garbage every 50,000 allocations instead of CPython's 700.

    A server under the firehose allocates millions of short-lived objects a second, nearly
    all freed by reference counting; at the default threshold the cycle collector ran some
    200 times a second and took 8 % of the hub's CPU, with the objects of start-up (frozen
    here) rescanned each time. Measured: MQTT DataArray readings at 4,000/s, p99 975 ms ->
    271 ms and 0.83 -> 0.70 cores (BENCHMARKS.md section 3).
    """
    gc.freeze()
    gc.set_threshold(50_000, 50, 100)


@app.command()
def demo(
    host: Annotated[str, typer.Option(help="Interface to listen on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="TCP port.")] = 8000,
    seed: Annotated[int, typer.Option(help="Seed of the demo province.")] = 7,
    interval: Annotated[float, typer.Option(help="Seconds between simulated readings.")] = 5.0,
) -> None:
    """Serve a live demo province: load it on first start, then simulate fresh readings."""
    from cityhelix.demo.run import run_demo

    _tune_gc()
    try:
        asyncio.run(run_demo(get_settings(), host=host, port=port, seed=seed, interval_s=interval))
    except KeyboardInterrupt:
        console.print("demo stopped")


@app.command()
def migrate() -> None:
    """Create or upgrade the database schema to the newest version."""
    settings = get_settings()
    upgrade(settings.database_url)
    console.print(f"database at {settings.database_url.split('@')[-1]} is up to date")


def _engine_call(coroutine_factory: Callable[[AsyncEngine], Awaitable[T]]) -> T:
    """Migrate, then run one service call on a short-lived engine."""

    async def run() -> T:
        settings = get_settings()
        engine = create_engine(settings)
        try:
            return await coroutine_factory(engine)
        finally:
            await engine.dispose()

    upgrade(get_settings().database_url)
    return asyncio.run(run())


@users_app.command("create")
def users_create(
    name: str,
    role: Annotated[Role, typer.Option(help="The user's role.")] = Role.OPERATOR,
) -> None:
    """Create a user and print its API token (shown this once only)."""
    try:
        token = _engine_call(lambda engine: create_user(engine, name, role))
    except UserError as error:
        console.print(f"[red]error:[/red] {error}")
        raise typer.Exit(1) from None
    console.print(f"created {name} ({role.value}); token, shown once:", highlight=False)
    typer.echo(token)


@users_app.command("list")
def users_list() -> None:
    """List users, their roles and whether their token is revoked."""
    rows = _engine_call(list_users)
    table = Table("name", "role", "created", "revoked")
    for user in rows:
        table.add_row(
            user.name,
            user.role.value,
            user.created_at.isoformat(timespec="seconds"),
            user.revoked_at.isoformat(timespec="seconds") if user.revoked_at else "",
        )
    console.print(table)


@users_app.command("revoke")
def users_revoke(name: str) -> None:
    """Revoke a user's token at once."""
    try:
        _engine_call(lambda engine: revoke_user(engine, name))
    except UserError as error:
        console.print(f"[red]error:[/red] {error}")
        raise typer.Exit(1) from None
    console.print(f"revoked {name}")


@users_app.command("mosquitto-acl")
def users_mosquitto_acl(
    file: Annotated[Path, typer.Argument(help="Where to write the ACL file.")],
    hub_user: Annotated[
        str, typer.Option(help="The broker user of the hub (in CITYHELIX_MQTT_URL).")
    ] = "cityhelix",
) -> None:
    """Write a Mosquitto ACL file: each tenant publishes to its own Datastreams only."""
    try:
        text = _engine_call(lambda engine: mosquitto_acl(engine, hub_user))
    except AclError as error:
        console.print(f"[red]error:[/red] {error}")
        raise typer.Exit(1) from None
    file.write_text(text)
    console.print(f"wrote {file}; reload Mosquitto (SIGHUP) to apply it", highlight=False)
