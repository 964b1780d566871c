"""The composition: which pillars make up CityHelix, the one place that lists them.

`app.py` mounts their routers and runs their lifespans in this order (and stops them in
reverse); the CLI mounts their commands; `db.migrate` runs the ground's Alembic history and
theirs. Adding a pillar is one line in `PILLAR_PACKAGES` (its package has a `pillar.py`).
"""

from __future__ import annotations

from collections.abc import Sequence

from cityhelix.db.migrate import Schema
from cityhelix.pillar import Pillar, load
from cityhelix.settings import PILLAR_NAMES

#: in mounting order; each package's `pillar.py` exposes `PILLAR`
PILLAR_PACKAGES = tuple(f"cityhelix.{name}" for name in PILLAR_NAMES)

PILLARS: tuple[Pillar, ...] = tuple(
    load(f"{package}.pillar:PILLAR", Pillar) for package in PILLAR_PACKAGES
)

#: the ground's tables (its migrations are `db/migrations/versions`, Alembic branch "ground")
GROUND_TABLE_MODULES = ("cityhelix.auth.tables", "cityhelix.events.tables")


def schema_of(pillars: Sequence[Pillar]) -> Schema:
    """What `db.migrate.upgrade` needs besides the ground's: the pillars' histories and
    the ground's and pillars' table modules."""
    return Schema(
        locations=tuple(p.migrations for p in pillars if p.migrations is not None),
        table_modules=GROUND_TABLE_MODULES + tuple(m for p in pillars for m in p.table_modules),
    )


#: the whole composition's schema, for `db.migrate.upgrade`
SCHEMA = schema_of(PILLARS)


def chosen(names: str) -> tuple[Pillar, ...]:
    """The pillars named in `Settings.pillars` (all when empty), the hub always first."""
    wanted = {name for name in names.split(",") if name}
    if not wanted:
        return PILLARS
    return tuple(p for p in PILLARS if p.name == "hub" or p.name in wanted)
