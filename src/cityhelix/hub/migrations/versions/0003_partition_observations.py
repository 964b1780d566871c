"""PostgreSQL: range-partition observations by phenomenon_time_start (monthly).

Revision ID: 0003
Revises: 0001
Create Date: 2026-11-23

SQLite keeps its single table. On PostgreSQL the table becomes a partitioned table with
a DEFAULT partition; `cityhelix.db.partitions.maintain` (run by `serve` at start-up and
hourly) creates the months ahead and splits months out of the default partition.
The primary key becomes (id, phenomenon_time_start), as partitioning requires.
"""

from __future__ import annotations

from alembic import op

revision = "0003"
down_revision = "0001"
branch_labels = None
depends_on = None

_INDEXES = (
    "CREATE INDEX ix_observations_datastream_time "
    "ON observations (datastream_id, phenomenon_time_start, id)",
    "CREATE INDEX ix_observations_multi_datastream_time "
    "ON observations (multi_datastream_id, phenomenon_time_start, id)",
    "CREATE INDEX ix_observations_feature_of_interest_id ON observations (feature_of_interest_id)",
    "CREATE INDEX ix_observations_id ON observations (id)",
)


def upgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    op.execute("ALTER TABLE observations RENAME TO observations_unpartitioned")
    op.execute("ALTER SEQUENCE observations_id_seq OWNED BY NONE")
    for name in (
        "ix_observations_datastream_time",
        "ix_observations_multi_datastream_time",
        "ix_observations_feature_of_interest_id",
    ):
        op.execute(f"DROP INDEX {name}")
    op.execute(
        "ALTER TABLE observations_unpartitioned RENAME CONSTRAINT pk_observations "
        "TO pk_observations_unpartitioned"
    )
    op.execute(
        "CREATE TABLE observations (LIKE observations_unpartitioned INCLUDING DEFAULTS "
        "INCLUDING CONSTRAINTS) PARTITION BY RANGE (phenomenon_time_start)"
    )
    op.execute("ALTER TABLE observations ALTER COLUMN phenomenon_time_start SET NOT NULL")
    op.execute(
        "ALTER TABLE observations ADD CONSTRAINT pk_observations "
        "PRIMARY KEY (id, phenomenon_time_start)"
    )
    for name, column, target in (
        ("datastream_id", "datastream_id", "datastreams"),
        ("multi_datastream_id", "multi_datastream_id", "multi_datastreams"),
        ("feature_of_interest_id", "feature_of_interest_id", "features_of_interest"),
    ):
        op.execute(
            f"ALTER TABLE observations ADD CONSTRAINT fk_observations_{name}_{target} "
            f"FOREIGN KEY ({column}) REFERENCES {target}(id) ON DELETE CASCADE"
        )
    for statement in _INDEXES:
        op.execute(statement)
    op.execute("CREATE TABLE observations_default PARTITION OF observations DEFAULT")
    op.execute("ALTER SEQUENCE observations_id_seq OWNED BY observations.id")
    op.execute("INSERT INTO observations SELECT * FROM observations_unpartitioned")
    op.execute("DROP TABLE observations_unpartitioned")


def downgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    op.execute("ALTER TABLE observations RENAME TO observations_partitioned")
    op.execute("ALTER SEQUENCE observations_id_seq OWNED BY NONE")
    op.execute(
        "CREATE TABLE observations (LIKE observations_partitioned INCLUDING DEFAULTS "
        "INCLUDING CONSTRAINTS)"
    )
    op.execute("INSERT INTO observations SELECT * FROM observations_partitioned")
    op.execute("DROP TABLE observations_partitioned CASCADE")
    op.execute("ALTER TABLE observations ADD CONSTRAINT pk_observations PRIMARY KEY (id)")
    op.execute("ALTER SEQUENCE observations_id_seq OWNED BY observations.id")
    for statement in _INDEXES[:3]:
        op.execute(statement)
