"""The operations centre as a pillar (see `cityhelix.pillar`): what its two parts serve
(`ops/mount.py`), the desk's `open311` commands, both parts' tables and the pillar's
Alembic history (branch "ops")."""

from __future__ import annotations

from pathlib import Path

from cityhelix.pillar import Pillar

PILLAR = Pillar(
    name="ops",
    mount="cityhelix.ops.mount:MOUNT",
    commands={"open311": "cityhelix.ops.desk.open311.cli:app"},
    table_modules=("cityhelix.ops.alerting.tables", "cityhelix.ops.desk.tables"),
    migrations=Path(__file__).with_name("migrations") / "versions",
)
