"""The data hub as a pillar (see `cityhelix.pillar`): what it serves (`hub/mount.py`),
its commands, its tables and its Alembic history (branch "hub")."""

from __future__ import annotations

from pathlib import Path

from cityhelix.pillar import Pillar

PILLAR = Pillar(
    name="hub",
    mount="cityhelix.hub.mount:MOUNT",
    commands={
        "import": "cityhelix.hub.cli:import_app",
        "export": "cityhelix.hub.cli:export_app",
        "users": "cityhelix.hub.cli:users_app",
    },
    table_modules=(
        "cityhelix.hub.tables",
        "cityhelix.hub.rollup_tables",
        "cityhelix.hub.mqtt_tables",
    ),
    migrations=Path(__file__).with_name("migrations") / "versions",
)
