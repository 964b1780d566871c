"""The ground's and each pillar's Alembic histories, composed: one head per history, and a
database migrated before the histories were split upgrades with nothing lost."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from alembic.script import ScriptDirectory
from sqlalchemy import insert, select, text

from cityhelix.auth.principal import Role
from cityhelix.auth.service import create_user
from cityhelix.auth.tables import users
from cityhelix.db.engine import create_engine
from cityhelix.db.migrate import GROUND_VERSIONS, alembic_config, upgrade
from cityhelix.hub.tables import things
from cityhelix.pillars import PILLARS, SCHEMA
from cityhelix.settings import Settings
from tests.conftest import Backend, _run_outside_loop


def _script() -> ScriptDirectory:
    return ScriptDirectory.from_config(alembic_config("sqlite://", SCHEMA))


def _locations() -> dict[str, Path]:
    """Branch label -> version location: the ground's, then each pillar's (label = name)."""
    return {"ground": GROUND_VERSIONS} | {
        p.name: p.migrations for p in PILLARS if p.migrations is not None
    }


def test_each_history_has_one_head_in_its_own_location() -> None:
    script = _script()
    locations = _locations()
    # heads by down_revision alone: the ground's head counts though the hub depends on it
    assert len(script.get_heads()) == len(locations)
    for label, location in locations.items():
        head = script.get_revision(f"{label}@head")
        assert head is not None and Path(head.path).parent == location, label


def test_every_revision_carries_the_label_of_its_location() -> None:
    by_location = {location: label for label, location in _locations().items()}
    revisions = list(_script().walk_revisions())
    assert revisions
    for revision in revisions:
        label = by_location.get(Path(revision.path).parent)
        assert label is not None, f"{revision.path} is in no known version location"
        assert revision.branch_labels == {label}, revision.path


@pytest.fixture
def fresh_url(backend: Backend, tmp_path: Path) -> Iterator[str]:
    """An empty database of the backend's kind, for migrating by hand."""
    if backend.name == "sqlite":
        yield f"sqlite+aiosqlite:///{tmp_path / 'old.db'}"
        return
    name = f"cityhelix_old_{uuid.uuid4().hex[:10]}"
    _run_outside_loop(f'CREATE DATABASE "{name}"')
    yield backend.url.rsplit("/", 1)[0] + f"/{name}"
    _run_outside_loop(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


async def _versions(url: str) -> set[str]:
    engine = create_engine(Settings(database_url=url))
    try:
        async with engine.connect() as connection:
            rows = await connection.execute(text("SELECT version_num FROM alembic_version"))
            return set(rows.scalars())
    finally:
        await engine.dispose()


async def test_database_of_the_single_history_upgrades_with_nothing_lost(
    fresh_url: str, tmp_path: Path
) -> None:
    # the state the code before the split left: revisions up to "0004" (users and the hub's
    # tables, both made by its one "0001"), recorded as the single row "0004"
    await asyncio.to_thread(upgrade, fresh_url, SCHEMA, "0004")
    engine = create_engine(Settings(database_url=fresh_url))
    try:
        async with engine.begin() as connection:
            await connection.execute(text("DELETE FROM alembic_version"))
            await connection.execute(text("INSERT INTO alembic_version VALUES ('0004')"))
        await create_user(engine, "kept", Role.TENANT)
        async with engine.begin() as connection:
            owner = (await connection.execute(select(users.c.id))).scalar_one()
            await connection.execute(
                insert(things).values(name="kept thing", description="-", owner_id=owner)
            )
        await asyncio.to_thread(upgrade, fresh_url, SCHEMA)
        await asyncio.to_thread(upgrade, fresh_url, SCHEMA)  # a second run changes nothing
        async with engine.connect() as connection:
            assert (await connection.execute(select(users.c.name))).scalars().all() == ["kept"]
            kept = (await connection.execute(select(things.c.name, things.c.owner_id))).all()
            assert [tuple(row) for row in kept] == [("kept thing", owner)]
        # at the very revisions a database migrated from nothing is at
        reference = f"sqlite+aiosqlite:///{tmp_path / 'reference.db'}"
        await asyncio.to_thread(upgrade, reference, SCHEMA)
        assert await _versions(fresh_url) == await _versions(reference)
    finally:
        await engine.dispose()


async def test_the_outbox_text_is_compressed_with_lz4_on_postgresql(fresh_url: str) -> None:
    """A bulk write's outbox rows are large: lz4 compresses them in half pglz's time."""
    await asyncio.to_thread(upgrade, fresh_url, SCHEMA)
    engine = create_engine(Settings(database_url=fresh_url))
    try:
        async with engine.connect() as connection:
            if engine.dialect.name != "postgresql":
                # SQLite has no column compression: the migration is a no-op there
                found = await connection.execute(text("SELECT count(*) FROM event_outbox"))
                assert found.scalar() == 0
                return
            has_lz4 = await connection.execute(
                text(
                    "SELECT 'lz4' = ANY(enumvals) FROM pg_settings "
                    "WHERE name = 'default_toast_compression'"
                )
            )
            method = await connection.execute(
                text(
                    "SELECT attcompression::text FROM pg_attribute "
                    "WHERE attrelid = 'event_outbox'::regclass AND attname = 'events'"
                )
            )
            assert method.scalar() == ("l" if has_lz4.scalar() else "")
    finally:
        await engine.dispose()
