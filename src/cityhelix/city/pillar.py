"""The city services pillar (see `cityhelix.pillar`): what its domains serve
(`city/mount.py`), their tables and the pillar's Alembic history (branch "city")."""

from __future__ import annotations

from pathlib import Path

from cityhelix.pillar import Pillar

PILLAR = Pillar(
    name="city",
    mount="cityhelix.city.mount:MOUNT",
    table_modules=("cityhelix.city.tables", "cityhelix.city.lighting.tables"),
    migrations=Path(__file__).with_name("migrations") / "versions",
)
