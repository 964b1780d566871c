"""What a pillar's command reads from the `cityhelix` command's context: the composed schema.

A pillar's command migrates the whole composition (its tables refer to the ground's and,
later, to other pillars'), yet no pillar may import the composition; the root command puts
the composed `Schema` in the Typer context, and this reads it back.
"""

from __future__ import annotations

import typer

from cityhelix.db.migrate import Schema, upgrade
from cityhelix.settings import get_settings


def migrate_composition(ctx: typer.Context) -> None:
    """Bring the configured database to the composition's schema (from the root context)."""
    schema = ctx.find_root().obj
    if not isinstance(schema, Schema):
        raise RuntimeError("a pillar's commands run under the `cityhelix` command")
    upgrade(get_settings().database_url, schema)
