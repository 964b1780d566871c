"""ids never reused on SQLite: the SensorThings tables rebuilt with AUTOINCREMENT

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-05 23:59:00.000000

Without AUTOINCREMENT SQLite gives a new row the largest rowid + 1, so the id of the
newest entity, once deleted, names the next one: a selfLink a client kept would point at
a different entity. SQLite cannot add AUTOINCREMENT to a table, so each is rebuilt (batch
mode: create, copy, drop, rename). PostgreSQL's sequences never hand out an id twice and
are left alone.
"""

from __future__ import annotations

from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None

#: the tables whose ids are entity ids on the wire (`@iot.id`, selfLinks)
TABLES = (
    "things",
    "locations",
    "historical_locations",
    "sensors",
    "observed_properties",
    "datastreams",
    "multi_datastreams",
    "features_of_interest",
    "observations",
)


def upgrade() -> None:
    _rebuild(autoincrement=True)


def downgrade() -> None:
    _rebuild(autoincrement=False)


def _rebuild(*, autoincrement: bool) -> None:
    bind = op.get_bind()
    if bind.dialect.name != "sqlite":
        return
    # Dropping a table that others reference while foreign keys are enforced deletes the
    # rows that reference it (ON DELETE CASCADE): the copy would lose every Observation.
    # The pragma is ignored inside a transaction, so the migration's is committed first.
    driver = bind.connection.dbapi_connection
    assert driver is not None
    driver.commit()
    bind.exec_driver_sql("PRAGMA foreign_keys=OFF")
    if bind.exec_driver_sql("PRAGMA foreign_keys").scalar() != 0:
        raise RuntimeError("0005 needs SQLite's foreign keys off to rebuild the tables")
    try:
        for name in TABLES:
            with op.batch_alter_table(
                name, recreate="always", table_kwargs={"sqlite_autoincrement": autoincrement}
            ):
                pass
        broken = bind.exec_driver_sql("PRAGMA foreign_key_check").all()
        if broken:
            raise RuntimeError(f"0005: rows with broken references after the rebuild: {broken}")
        driver.commit()
    finally:
        bind.exec_driver_sql("PRAGMA foreign_keys=ON")
