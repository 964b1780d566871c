"""The Triple Helix pillar (see `cityhelix.pillar`): what it serves (`helix/mount.py`), the
`helix` commands, its tables and its Alembic history (branch "helix")."""

from __future__ import annotations

from pathlib import Path

from cityhelix.pillar import Pillar

PILLAR = Pillar(
    name="helix",
    mount="cityhelix.helix.mount:MOUNT",
    commands={"helix": "cityhelix.helix.cli:helix_app"},
    table_modules=("cityhelix.helix.tables",),
    migrations=Path(__file__).with_name("migrations") / "versions",
)
