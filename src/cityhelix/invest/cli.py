"""`cityhelix invest ...`: the investment pillar's commands (the demo data, for now)."""

from __future__ import annotations

import asyncio
from typing import Annotated

import typer

from cityhelix.auth.principal import Principal, Role
from cityhelix.command_context import migrate_composition
from cityhelix.db.engine import create_engine
from cityhelix.invest import service
from cityhelix.settings import get_settings

invest_app = typer.Typer(help="The investment one-stop.", no_args_is_help=True)


@invest_app.callback()
def invest() -> None:
    """The investment one-stop: parks, the FDI registry, the pipeline."""


@invest_app.command("load-demo")
def load_demo(
    ctx: typer.Context,
    seed: Annotated[int, typer.Option(help="Seed of the synthetic records.")] = 2025,
) -> None:
    """Load Binh Duong's parks and a synthetic registry into a province with no parks yet."""
    migrate_composition(ctx)
    settings = get_settings()

    async def run() -> dict[str, int]:
        engine = create_engine(settings)
        try:
            return await service.load_demo(engine, Principal("cli", Role.ADMIN), seed)
        finally:
            await engine.dispose()

    written = asyncio.run(run())
    if not written["parks"]:
        typer.echo("the province has parks already: nothing loaded")
        return
    typer.echo(
        f"loaded {written['parks']} parks, {written['plots']} plots and "
        f"{written['projects']} synthetic projects"
    )
