"""`cityhelix users`: the ground's user administration (auth): create, list, revoke, and
set a web console password.

Pillars add their own `users` commands (the hub's `mosquitto-acl`); the CLI merges them.
"""

from __future__ import annotations

import asyncio
import sys
from collections.abc import Awaitable, Callable
from typing import Annotated, TypeVar

import typer
from rich.console import Console
from rich.table import Table
from sqlalchemy.ext.asyncio import AsyncEngine

from cityhelix.auth.principal import Role
from cityhelix.auth.service import (
    UserError,
    create_user,
    list_users,
    revoke_user,
    set_password,
)
from cityhelix.db.engine import create_engine
from cityhelix.db.migrate import upgrade
from cityhelix.pillars import SCHEMA
from cityhelix.settings import get_settings

app = typer.Typer(help="Users and their API tokens.", no_args_is_help=True)
console = Console()
T = TypeVar("T")


def _engine_call(coroutine_factory: Callable[[AsyncEngine], Awaitable[T]]) -> T:
    """Migrate, then run one service call on a short-lived engine."""

    async def run() -> T:
        settings = get_settings()
        engine = create_engine(settings)
        try:
            return await coroutine_factory(engine)
        finally:
            await engine.dispose()

    upgrade(get_settings().database_url, SCHEMA)
    return asyncio.run(run())


@app.command("create")
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


@app.command("list")
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


@app.command("revoke")
def users_revoke(name: str) -> None:
    """Revoke a user's token at once."""
    try:
        _engine_call(lambda engine: revoke_user(engine, name))
    except UserError as error:
        console.print(f"[red]error:[/red] {error}")
        raise typer.Exit(1) from None
    console.print(f"revoked {name}")


def _read_password() -> str:
    """One line from stdin when it is not a terminal (scripts, `make demo`), else prompted
    twice without echo."""
    if not sys.stdin.isatty():
        # one line; a trailing newline from `echo` is not part of the password
        return sys.stdin.readline().rstrip("\r\n")
    password: str = typer.prompt("Password", hide_input=True, confirmation_prompt=True)
    return password


@app.command("set-password")
def users_set_password(name: str) -> None:
    """Set NAME's web console password (stdin when not a terminal, else prompted twice)."""
    password = _read_password()
    try:
        _engine_call(lambda engine: set_password(engine, name, password))
    except UserError as error:
        typer.echo(f"error: {error}", err=True)
        raise typer.Exit(1) from None
    typer.echo(f"password set for {name}; their open sessions were ended")
