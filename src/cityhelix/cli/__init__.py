"""The `cityhelix` command (Typer): the ground's commands and every pillar's, composed.

The ground brings `serve`, `demo`, `migrate` and `users`; each pillar of `cityhelix.pillars`
adds its `commands`. A group two of them share (`users`) is merged into one. The context
carries the composed `Schema`, so that a pillar's command migrates the whole database
without importing the composition.
"""

from __future__ import annotations

import typer

from cityhelix.cli import migrate, serve, users
from cityhelix.pillars import PILLARS, SCHEMA

HELP = "CityHelix smart-city platform."

app = typer.Typer(help=HELP, no_args_is_help=True)
app.command()(serve.serve)
app.command()(serve.demo)
app.command()(migrate.migrate)


@app.callback()
def _root(ctx: typer.Context) -> None:
    """CityHelix smart-city platform."""
    ctx.obj = SCHEMA


def _groups() -> dict[str, typer.Typer]:
    """Command groups by name, the ground's first; a name given twice is merged."""
    given: dict[str, list[typer.Typer]] = {"users": [users.app]}
    for pillar in PILLARS:
        for name, group in pillar.commands.items():
            given.setdefault(name, []).append(group)
    merged: dict[str, typer.Typer] = {}
    for name, groups in given.items():
        if len(groups) == 1:
            merged[name] = groups[0]
            continue
        union = typer.Typer(help=groups[0].info.help, no_args_is_help=True)
        for group in groups:
            union.registered_commands.extend(group.registered_commands)
            union.registered_groups.extend(group.registered_groups)
        merged[name] = union
    return merged


for _name, _group in _groups().items():
    app.add_typer(_group, name=_name)
