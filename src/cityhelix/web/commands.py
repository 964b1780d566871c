"""`cityhelix users set-password NAME`: a web console password for an existing user.

The password is read from stdin when it is not a terminal (scripts, `make demo`), else
prompted twice without echo. The logic is `auth.service.set_password`.
"""

from __future__ import annotations

import asyncio
import sys

import typer

from cityhelix.auth.service import UserError, set_password
from cityhelix.db.engine import create_engine
from cityhelix.db.migrate import upgrade
from cityhelix.settings import get_settings

users_app = typer.Typer(help="Users and their web console passwords.", no_args_is_help=True)


def _read_password() -> str:
    if not sys.stdin.isatty():
        # one line; a trailing newline from `echo` is not part of the password
        return sys.stdin.readline().rstrip("\r\n")
    password: str = typer.prompt("Password", hide_input=True, confirmation_prompt=True)
    return password


@users_app.command("set-password")
def set_password_command(name: str) -> None:
    """Set NAME's web console password (stdin when not a terminal, else prompted twice)."""
    password = _read_password()
    settings = get_settings()

    async def run() -> None:
        engine = create_engine(settings)
        try:
            await set_password(engine, name, password)
        finally:
            await engine.dispose()

    upgrade(settings.database_url)
    try:
        asyncio.run(run())
    except UserError as error:
        typer.echo(f"error: {error}", err=True)
        raise typer.Exit(1) from None
    typer.echo(f"password set for {name}; their open sessions were ended")
