"""`cityhelix migrate`: the ground's and every pillar's Alembic histories, to their heads."""

from __future__ import annotations

from rich.console import Console

from cityhelix.db.migrate import upgrade
from cityhelix.pillars import SCHEMA
from cityhelix.settings import get_settings


def migrate() -> None:
    """Create or upgrade the database schema to the newest version."""
    settings = get_settings()
    upgrade(settings.database_url, SCHEMA)
    Console().print(f"database at {settings.database_url.split('@')[-1]} is up to date")
