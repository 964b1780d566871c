"""The investment pillar (see `cityhelix.pillar`): what it serves (`invest/mount.py`), the
`invest` commands, its tables and its Alembic history (branch "invest")."""

from __future__ import annotations

from pathlib import Path

from cityhelix.pillar import Pillar

PILLAR = Pillar(
    name="invest",
    mount="cityhelix.invest.mount:MOUNT",
    commands={"invest": "cityhelix.invest.cli:invest_app"},
    table_modules=("cityhelix.invest.tables",),
    migrations=Path(__file__).with_name("migrations") / "versions",
)
