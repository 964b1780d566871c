"""The `cityhelix` command (Typer): the ground's commands and every pillar's, composed.

The ground brings `serve`, `demo`, `migrate` and `users`; each pillar of `cityhelix.pillars`
adds its `commands`, imported only when the command line reaches them (a pillar's group
imports its service, and every pillar's would cost each command seconds of start). A group
two of them share (`users`) is merged into one. The context carries the composed `Schema`,
so that a pillar's command migrates the whole database without importing the composition.
"""

from __future__ import annotations

from typing import Any

import typer
from typer.core import TyperGroup

from cityhelix.cli import migrate, serve, users
from cityhelix.pillar import Pillar
from cityhelix.pillars import PILLARS, SCHEMA

HELP = "CityHelix smart-city platform."
#: command groups by name: the ground's Typer apps, and the pillars that bring one (unimported)
GROUND_GROUPS: dict[str, typer.Typer] = {"users": users.app}
PILLAR_GROUPS: dict[str, list[Pillar]] = {}
for _pillar in PILLARS:
    for _name in _pillar.commands:
        PILLAR_GROUPS.setdefault(_name, []).append(_pillar)


class _Composed(TyperGroup):
    """The root group: the ground's commands, then each group by name, built when asked.
    (Typer bundles its own click, privately: its types are `Any` here.)"""

    def list_commands(self, ctx: Any) -> list[str]:
        names = [*super().list_commands(ctx), *GROUND_GROUPS, *PILLAR_GROUPS]
        return list(dict.fromkeys(names))

    def get_command(self, ctx: Any, cmd_name: str) -> Any:
        found = super().get_command(ctx, cmd_name)
        if found is not None or cmd_name not in GROUND_GROUPS.keys() | PILLAR_GROUPS.keys():
            return found
        group = typer.main.get_group(_group(cmd_name))
        group.name = cmd_name
        return group


def _group(name: str) -> typer.Typer:
    """The group `name`: the ground's and each pillar's of that name, merged."""
    groups = [GROUND_GROUPS[name]] if name in GROUND_GROUPS else []
    groups += [pillar.command(name) for pillar in PILLAR_GROUPS.get(name, ())]
    if len(groups) == 1:
        return groups[0]
    union = typer.Typer(help=groups[0].info.help, no_args_is_help=True)
    for group in groups:
        union.registered_commands.extend(group.registered_commands)
        union.registered_groups.extend(group.registered_groups)
    return union


app = typer.Typer(help=HELP, no_args_is_help=True, cls=_Composed)
app.command()(serve.serve)
app.command()(serve.demo)
app.command()(migrate.migrate)


@app.callback()
def _root(ctx: typer.Context) -> None:
    """CityHelix smart-city platform."""
    ctx.obj = SCHEMA
