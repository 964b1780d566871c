"""the hub's initial schema: SensorThings entities (users and audit are the ground's 0000)

Revision ID: 0001
Revises:
Depends on: 0000 (ground: Things.owner_id refers to users)
Create Date: 2026-11-23 12:26:15.450827
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

import cityhelix.db.types

revision = "0001"
down_revision = None
branch_labels = ("hub",)
depends_on = "0000"


_SPATIAL = (("locations", "location_geom"), ("features_of_interest", "feature_geom"))


def upgrade() -> None:
    postgresql_backend = op.get_bind().dialect.name == "postgresql"
    if postgresql_backend:
        op.execute("CREATE EXTENSION IF NOT EXISTS postgis")
    op.create_table(
        "locations",
        sa.Column(
            "id",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            autoincrement=True,
            nullable=False,
        ),
        sa.Column("name", sa.Text(), nullable=False),
        sa.Column("description", sa.Text(), nullable=True),
        sa.Column("encoding_type", sa.Text(), nullable=False),
        sa.Column(
            "location",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
            nullable=False,
        ),
        sa.Column("location_geom", cityhelix.db.types.Geometry(), nullable=True),
        sa.Column("location_xmin", sa.Float(), nullable=True),
        sa.Column("location_ymin", sa.Float(), nullable=True),
        sa.Column("location_xmax", sa.Float(), nullable=True),
        sa.Column("location_ymax", sa.Float(), nullable=True),
        sa.Column(
            "properties",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
            nullable=True,
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_locations")),
    )
    op.create_table(
        "observed_properties",
        sa.Column(
            "id",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            autoincrement=True,
            nullable=False,
        ),
        sa.Column("name", sa.Text(), nullable=False),
        sa.Column("definition", sa.Text(), nullable=False),
        sa.Column("description", sa.Text(), nullable=True),
        sa.Column(
            "properties",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
            nullable=True,
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_observed_properties")),
    )
    op.create_table(
        "sensors",
        sa.Column(
            "id",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            autoincrement=True,
            nullable=False,
        ),
        sa.Column("name", sa.Text(), nullable=False),
        sa.Column("description", sa.Text(), nullable=True),
        sa.Column("encoding_type", sa.Text(), nullable=False),
        sa.Column(
            "metadata",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
            nullable=False,
        ),
        sa.Column(
            "properties",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
            nullable=True,
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_sensors")),
    )
    op.create_table(
        "features_of_interest",
        sa.Column(
            "id",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            autoincrement=True,
            nullable=False,
        ),
        sa.Column("name", sa.Text(), nullable=False),
        sa.Column("description", sa.Text(), nullable=True),
        sa.Column("encoding_type", sa.Text(), nullable=False),
        sa.Column(
            "feature",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
            nullable=False,
        ),
        sa.Column("feature_geom", cityhelix.db.types.Geometry(), nullable=True),
        sa.Column("feature_xmin", sa.Float(), nullable=True),
        sa.Column("feature_ymin", sa.Float(), nullable=True),
        sa.Column("feature_xmax", sa.Float(), nullable=True),
        sa.Column("feature_ymax", sa.Float(), nullable=True),
        sa.Column(
            "properties",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
            nullable=True,
        ),
        sa.Column(
            "location_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=True
        ),
        sa.ForeignKeyConstraint(
            ["location_id"],
            ["locations.id"],
            name=op.f("fk_features_of_interest_location_id_locations"),
            ondelete="SET NULL",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_features_of_interest")),
    )
    with op.batch_alter_table("features_of_interest", schema=None) as batch_op:
        batch_op.create_index("ix_features_of_interest_location_id", ["location_id"], unique=False)

    op.create_table(
        "things",
        sa.Column(
            "id",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            autoincrement=True,
            nullable=False,
        ),
        sa.Column("name", sa.Text(), nullable=False),
        sa.Column("description", sa.Text(), nullable=True),
        sa.Column(
            "properties",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
            nullable=True,
        ),
        sa.Column("owner_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=True),
        sa.ForeignKeyConstraint(
            ["owner_id"], ["users.id"], name=op.f("fk_things_owner_id_users"), ondelete="SET NULL"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_things")),
    )
    op.create_table(
        "datastreams",
        sa.Column(
            "id",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            autoincrement=True,
            nullable=False,
        ),
        sa.Column("name", sa.Text(), nullable=False),
        sa.Column("description", sa.Text(), nullable=True),
        sa.Column(
            "unit_of_measurement",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
            nullable=False,
        ),
        sa.Column("observation_type", sa.Text(), nullable=False),
        sa.Column(
            "observed_area",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
            nullable=True,
        ),
        sa.Column(
            "phenomenon_time_start", cityhelix.db.types.UtcDateTime(timezone=True), nullable=True
        ),
        sa.Column(
            "phenomenon_time_end", cityhelix.db.types.UtcDateTime(timezone=True), nullable=True
        ),
        sa.Column(
            "result_time_start", cityhelix.db.types.UtcDateTime(timezone=True), nullable=True
        ),
        sa.Column("result_time_end", cityhelix.db.types.UtcDateTime(timezone=True), nullable=True),
        sa.Column(
            "properties",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
            nullable=True,
        ),
        sa.Column("thing_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column(
            "sensor_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False
        ),
        sa.Column(
            "observed_property_id",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            nullable=False,
        ),
        sa.ForeignKeyConstraint(
            ["observed_property_id"],
            ["observed_properties.id"],
            name=op.f("fk_datastreams_observed_property_id_observed_properties"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["sensor_id"],
            ["sensors.id"],
            name=op.f("fk_datastreams_sensor_id_sensors"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["thing_id"],
            ["things.id"],
            name=op.f("fk_datastreams_thing_id_things"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_datastreams")),
    )
    with op.batch_alter_table("datastreams", schema=None) as batch_op:
        batch_op.create_index(
            "ix_datastreams_observed_property_id", ["observed_property_id"], unique=False
        )
        batch_op.create_index("ix_datastreams_sensor_id", ["sensor_id"], unique=False)
        batch_op.create_index("ix_datastreams_thing_id", ["thing_id"], unique=False)

    op.create_table(
        "historical_locations",
        sa.Column(
            "id",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            autoincrement=True,
            nullable=False,
        ),
        sa.Column("time", cityhelix.db.types.UtcDateTime(timezone=True), nullable=False),
        sa.Column("thing_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.ForeignKeyConstraint(
            ["thing_id"],
            ["things.id"],
            name=op.f("fk_historical_locations_thing_id_things"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_historical_locations")),
    )
    with op.batch_alter_table("historical_locations", schema=None) as batch_op:
        batch_op.create_index(
            "ix_historical_locations_thing_time", ["thing_id", "time"], unique=False
        )

    op.create_table(
        "multi_datastreams",
        sa.Column(
            "id",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            autoincrement=True,
            nullable=False,
        ),
        sa.Column("name", sa.Text(), nullable=False),
        sa.Column("description", sa.Text(), nullable=True),
        sa.Column(
            "unit_of_measurements",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
            nullable=False,
        ),
        sa.Column("observation_type", sa.Text(), nullable=False),
        sa.Column(
            "multi_observation_data_types",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
            nullable=False,
        ),
        sa.Column(
            "observed_area",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
            nullable=True,
        ),
        sa.Column(
            "phenomenon_time_start", cityhelix.db.types.UtcDateTime(timezone=True), nullable=True
        ),
        sa.Column(
            "phenomenon_time_end", cityhelix.db.types.UtcDateTime(timezone=True), nullable=True
        ),
        sa.Column(
            "result_time_start", cityhelix.db.types.UtcDateTime(timezone=True), nullable=True
        ),
        sa.Column("result_time_end", cityhelix.db.types.UtcDateTime(timezone=True), nullable=True),
        sa.Column(
            "properties",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
            nullable=True,
        ),
        sa.Column("thing_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column(
            "sensor_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False
        ),
        sa.ForeignKeyConstraint(
            ["sensor_id"],
            ["sensors.id"],
            name=op.f("fk_multi_datastreams_sensor_id_sensors"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["thing_id"],
            ["things.id"],
            name=op.f("fk_multi_datastreams_thing_id_things"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_multi_datastreams")),
    )
    with op.batch_alter_table("multi_datastreams", schema=None) as batch_op:
        batch_op.create_index("ix_multi_datastreams_sensor_id", ["sensor_id"], unique=False)
        batch_op.create_index("ix_multi_datastreams_thing_id", ["thing_id"], unique=False)

    op.create_table(
        "thing_locations",
        sa.Column("thing_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column(
            "location_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False
        ),
        sa.ForeignKeyConstraint(
            ["location_id"],
            ["locations.id"],
            name=op.f("fk_thing_locations_location_id_locations"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["thing_id"],
            ["things.id"],
            name=op.f("fk_thing_locations_thing_id_things"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("thing_id", "location_id", name=op.f("pk_thing_locations")),
    )
    with op.batch_alter_table("thing_locations", schema=None) as batch_op:
        batch_op.create_index("ix_thing_locations_location_id", ["location_id"], unique=False)

    op.create_table(
        "location_historical_locations",
        sa.Column(
            "location_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False
        ),
        sa.Column(
            "historical_location_id",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            nullable=False,
        ),
        sa.ForeignKeyConstraint(
            ["historical_location_id"],
            ["historical_locations.id"],
            name=op.f(
                "fk_location_historical_locations_historical_location_id_historical_locations"
            ),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["location_id"],
            ["locations.id"],
            name=op.f("fk_location_historical_locations_location_id_locations"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint(
            "location_id", "historical_location_id", name=op.f("pk_location_historical_locations")
        ),
    )
    with op.batch_alter_table("location_historical_locations", schema=None) as batch_op:
        batch_op.create_index(
            "ix_location_historical_locations_hl", ["historical_location_id"], unique=False
        )

    op.create_table(
        "multi_datastream_observed_properties",
        sa.Column(
            "multi_datastream_id",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            nullable=False,
        ),
        sa.Column(
            "observed_property_id",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            nullable=False,
        ),
        sa.Column("rank", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["multi_datastream_id"],
            ["multi_datastreams.id"],
            name=op.f(
                "fk_multi_datastream_observed_properties_multi_datastream_id_multi_datastreams"
            ),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["observed_property_id"],
            ["observed_properties.id"],
            name=op.f(
                "fk_multi_datastream_observed_properties_observed_property_id_observed_properties"
            ),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint(
            "multi_datastream_id",
            "observed_property_id",
            name=op.f("pk_multi_datastream_observed_properties"),
        ),
    )
    with op.batch_alter_table("multi_datastream_observed_properties", schema=None) as batch_op:
        batch_op.create_index(
            "ix_mdop_observed_property_id", ["observed_property_id"], unique=False
        )

    op.create_table(
        "observations",
        sa.Column(
            "id",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            autoincrement=True,
            nullable=False,
        ),
        sa.Column(
            "phenomenon_time_start", cityhelix.db.types.UtcDateTime(timezone=True), nullable=True
        ),
        sa.Column(
            "phenomenon_time_end", cityhelix.db.types.UtcDateTime(timezone=True), nullable=True
        ),
        sa.Column("result_time", cityhelix.db.types.UtcDateTime(timezone=True), nullable=True),
        sa.Column("result_type", sa.SmallInteger(), nullable=False),
        sa.Column("result_number", sa.Float(), nullable=True),
        sa.Column("result_string", sa.Text(), nullable=True),
        sa.Column(
            "result_json",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
            nullable=True,
        ),
        sa.Column(
            "result_quality",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
            nullable=True,
        ),
        sa.Column("valid_time_start", cityhelix.db.types.UtcDateTime(timezone=True), nullable=True),
        sa.Column("valid_time_end", cityhelix.db.types.UtcDateTime(timezone=True), nullable=True),
        sa.Column(
            "parameters",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
            nullable=True,
        ),
        sa.Column(
            "datastream_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=True
        ),
        sa.Column(
            "multi_datastream_id",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            nullable=True,
        ),
        sa.Column(
            "feature_of_interest_id",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            nullable=False,
        ),
        sa.ForeignKeyConstraint(
            ["datastream_id"],
            ["datastreams.id"],
            name=op.f("fk_observations_datastream_id_datastreams"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["feature_of_interest_id"],
            ["features_of_interest.id"],
            name=op.f("fk_observations_feature_of_interest_id_features_of_interest"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["multi_datastream_id"],
            ["multi_datastreams.id"],
            name=op.f("fk_observations_multi_datastream_id_multi_datastreams"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_observations")),
    )
    with op.batch_alter_table("observations", schema=None) as batch_op:
        batch_op.create_index(
            "ix_observations_datastream_time",
            ["datastream_id", "phenomenon_time_start", "id"],
            unique=False,
        )
        batch_op.create_index(
            "ix_observations_feature_of_interest_id", ["feature_of_interest_id"], unique=False
        )
        batch_op.create_index(
            "ix_observations_multi_datastream_time",
            ["multi_datastream_id", "phenomenon_time_start", "id"],
            unique=False,
        )

    for table, column in _SPATIAL:
        if postgresql_backend:
            op.create_index(f"ix_{table}_{column}", table, [column], postgresql_using="gist")
        else:
            prefix = column.removesuffix("_geom")
            op.create_index(
                f"ix_{table}_{prefix}_bbox", table, [f"{prefix}_xmin", f"{prefix}_ymin"]
            )


def downgrade() -> None:
    with op.batch_alter_table("observations", schema=None) as batch_op:
        batch_op.drop_index("ix_observations_multi_datastream_time")
        batch_op.drop_index("ix_observations_feature_of_interest_id")
        batch_op.drop_index("ix_observations_datastream_time")

    op.drop_table("observations")
    with op.batch_alter_table("multi_datastream_observed_properties", schema=None) as batch_op:
        batch_op.drop_index("ix_mdop_observed_property_id")

    op.drop_table("multi_datastream_observed_properties")
    with op.batch_alter_table("location_historical_locations", schema=None) as batch_op:
        batch_op.drop_index("ix_location_historical_locations_hl")

    op.drop_table("location_historical_locations")
    with op.batch_alter_table("thing_locations", schema=None) as batch_op:
        batch_op.drop_index("ix_thing_locations_location_id")

    op.drop_table("thing_locations")
    with op.batch_alter_table("multi_datastreams", schema=None) as batch_op:
        batch_op.drop_index("ix_multi_datastreams_thing_id")
        batch_op.drop_index("ix_multi_datastreams_sensor_id")

    op.drop_table("multi_datastreams")
    with op.batch_alter_table("historical_locations", schema=None) as batch_op:
        batch_op.drop_index("ix_historical_locations_thing_time")

    op.drop_table("historical_locations")
    with op.batch_alter_table("datastreams", schema=None) as batch_op:
        batch_op.drop_index("ix_datastreams_thing_id")
        batch_op.drop_index("ix_datastreams_sensor_id")
        batch_op.drop_index("ix_datastreams_observed_property_id")

    op.drop_table("datastreams")
    op.drop_table("things")
    with op.batch_alter_table("features_of_interest", schema=None) as batch_op:
        batch_op.drop_index("ix_features_of_interest_location_id")

    op.drop_table("features_of_interest")
    op.drop_table("sensors")
    op.drop_table("observed_properties")
    op.drop_table("locations")
