"""The helix pillar's commands: `cityhelix helix load-demo`."""

from __future__ import annotations

import asyncio

import typer

from cityhelix.command_context import migrate_composition
from cityhelix.db.engine import create_engine
from cityhelix.helix import service
from cityhelix.helix.demo import DemoSummary, load_demo
from cityhelix.settings import get_settings

helix_app = typer.Typer(help="The Triple Helix registry and scorecard.", no_args_is_help=True)


@helix_app.command("load-demo")
def load_demo_command(ctx: typer.Context) -> None:
    """Load the demo actors, synthetic collaborations, programmes and start-ups (skipped
    when the registry already holds actors), then compute this year's scorecard."""
    settings = get_settings()
    migrate_composition(ctx)

    async def run() -> DemoSummary:
        engine = create_engine(settings)
        try:
            summary = await load_demo(engine)
            await service.recompute_scorecard(engine, settings, None, None)
            return summary
        finally:
            await engine.dispose()

    summary = asyncio.run(run())
    if summary.loaded:
        typer.echo(
            f"helix demo loaded: {summary.actors} actors, {summary.collaborations} "
            f"collaborations, {summary.applications} applications (synthetic)"
        )
    else:
        typer.echo(f"helix registry already holds {summary.actors} actors; demo not loaded")
