"""`cityhelix open311 keys create|list|revoke`: API keys of Open311 client applications."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import TypeVar

import typer
from rich.console import Console
from rich.table import Table
from sqlalchemy.ext.asyncio import AsyncEngine

from cityhelix.db.engine import create_engine
from cityhelix.db.migrate import upgrade
from cityhelix.ops.desk.open311.keys import KeyRefused, create_key, list_keys, revoke_key
from cityhelix.settings import get_settings

app = typer.Typer(help="Open311 GeoReport v2.", no_args_is_help=True)
keys = typer.Typer(help="API keys of Open311 client applications.", no_args_is_help=True)
app.add_typer(keys, name="keys")
console = Console()
T = TypeVar("T")


def _engine_call(call: Callable[[AsyncEngine], Awaitable[T]]) -> T:
    """Migrate, then run one call on a short-lived engine."""
    from cityhelix.pillars import SCHEMA  # the composition, only when a command runs

    settings = get_settings()
    upgrade(settings.database_url, SCHEMA)

    async def run() -> T:
        engine = create_engine(settings)
        try:
            return await call(engine)
        finally:
            await engine.dispose()

    return asyncio.run(run())


@keys.command("create")
def keys_create(name: str) -> None:
    """Create a key for client application NAME and print it (shown this once only)."""
    try:
        key = _engine_call(lambda engine: create_key(engine, name))
    except KeyRefused as error:
        console.print(f"[red]error:[/red] {error}")
        raise typer.Exit(1) from None
    console.print(f"created Open311 key {name}; the key, shown once:", highlight=False)
    typer.echo(key)


@keys.command("list")
def keys_list() -> None:
    """List keys by name, with when each was created and revoked (never the key)."""
    table = Table("name", "created", "revoked")
    for key in _engine_call(list_keys):
        table.add_row(
            key.name,
            key.created_at.isoformat(timespec="seconds"),
            key.revoked_at.isoformat(timespec="seconds") if key.revoked_at else "",
        )
    console.print(table)


@keys.command("revoke")
def keys_revoke(name: str) -> None:
    """Revoke the key of client application NAME at once."""
    try:
        _engine_call(lambda engine: revoke_key(engine, name))
    except KeyRefused as error:
        console.print(f"[red]error:[/red] {error}")
        raise typer.Exit(1) from None
    console.print(f"revoked {name}")
