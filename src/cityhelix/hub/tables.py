"""The data hub's tables, one per SensorThings entity type plus the link tables.

Column names follow `model` (interval properties become `<column>_start`/`<column>_end`,
geometry properties add `<column>_geom` and a bounding box). Cascades are foreign keys
with ON DELETE CASCADE, so the database, not a loop in Python, removes what hangs under a
deleted entity.
"""

from __future__ import annotations

from sqlalchemy import (
    BigInteger,
    Column,
    Float,
    ForeignKey,
    Index,
    Integer,
    SmallInteger,
    Table,
    Text,
)

from cityhelix.db.metadata import metadata
from cityhelix.db.types import Geometry, JsonDocument, UtcDateTime

#: BIGINT ids on PostgreSQL; SQLite wants INTEGER for its rowid-backed autoincrement.
#: Entity tables say `sqlite_autoincrement=True`: without it SQLite hands the id of the
#: newest row, once deleted, to the next one, and a kept selfLink names another entity
#: (PostgreSQL's sequences never reuse an id).
Id = BigInteger().with_variant(Integer(), "sqlite")


def _id() -> Column[int]:
    return Column("id", Id, primary_key=True, autoincrement=True)


def _fk(name: str, target: str, *, nullable: bool = False, cascade: bool = True) -> Column[int]:
    return Column(
        name,
        Id,
        ForeignKey(f"{target}.id", ondelete="CASCADE" if cascade else "RESTRICT"),
        nullable=nullable,
    )


def _geometry(column: str, *, nullable: bool = False) -> list[Column[object]]:
    return [
        Column(column, JsonDocument, nullable=nullable),
        Column(f"{column}_geom", Geometry, nullable=True),
        Column(f"{column}_xmin", Float, nullable=True),
        Column(f"{column}_ymin", Float, nullable=True),
        Column(f"{column}_xmax", Float, nullable=True),
        Column(f"{column}_ymax", Float, nullable=True),
    ]


def _interval(column: str) -> list[Column[object]]:
    return [
        Column(f"{column}_start", UtcDateTime, nullable=True),
        Column(f"{column}_end", UtcDateTime, nullable=True),
    ]


things = Table(
    "things",
    metadata,
    _id(),
    Column("name", Text, nullable=False),
    Column("description", Text),
    Column("properties", JsonDocument),
    # the tenant user that may write this Thing and what hangs under it (NULL: staff only)
    Column("owner_id", Id, ForeignKey("users.id", ondelete="SET NULL"), nullable=True),
    sqlite_autoincrement=True,
)

locations = Table(
    "locations",
    metadata,
    _id(),
    Column("name", Text, nullable=False),
    Column("description", Text),
    Column("encoding_type", Text, nullable=False),
    *_geometry("location"),
    Column("properties", JsonDocument),
    sqlite_autoincrement=True,
)

thing_locations = Table(
    "thing_locations",
    metadata,
    Column("thing_id", Id, ForeignKey("things.id", ondelete="CASCADE"), primary_key=True),
    Column("location_id", Id, ForeignKey("locations.id", ondelete="CASCADE"), primary_key=True),
    Index("ix_thing_locations_location_id", "location_id"),
)

historical_locations = Table(
    "historical_locations",
    metadata,
    _id(),
    Column("time", UtcDateTime, nullable=False),
    _fk("thing_id", "things"),
    Index("ix_historical_locations_thing_time", "thing_id", "time"),
    sqlite_autoincrement=True,
)

location_historical_locations = Table(
    "location_historical_locations",
    metadata,
    Column("location_id", Id, ForeignKey("locations.id", ondelete="CASCADE"), primary_key=True),
    Column(
        "historical_location_id",
        Id,
        ForeignKey("historical_locations.id", ondelete="CASCADE"),
        primary_key=True,
    ),
    Index("ix_location_historical_locations_hl", "historical_location_id"),
)

sensors = Table(
    "sensors",
    metadata,
    _id(),
    Column("name", Text, nullable=False),
    Column("description", Text),
    Column("encoding_type", Text, nullable=False),
    Column("metadata", JsonDocument, nullable=False),
    Column("properties", JsonDocument),
    sqlite_autoincrement=True,
)

observed_properties = Table(
    "observed_properties",
    metadata,
    _id(),
    Column("name", Text, nullable=False),
    Column("definition", Text, nullable=False),
    Column("description", Text),
    Column("properties", JsonDocument),
    sqlite_autoincrement=True,
)

datastreams = Table(
    "datastreams",
    metadata,
    _id(),
    Column("name", Text, nullable=False),
    Column("description", Text),
    Column("unit_of_measurement", JsonDocument, nullable=False),
    Column("observation_type", Text, nullable=False),
    Column("observed_area", JsonDocument),
    *_interval("phenomenon_time"),
    *_interval("result_time"),
    Column("properties", JsonDocument),
    _fk("thing_id", "things"),
    _fk("sensor_id", "sensors"),
    _fk("observed_property_id", "observed_properties"),
    Index("ix_datastreams_thing_id", "thing_id"),
    Index("ix_datastreams_sensor_id", "sensor_id"),
    Index("ix_datastreams_observed_property_id", "observed_property_id"),
    sqlite_autoincrement=True,
)

multi_datastreams = Table(
    "multi_datastreams",
    metadata,
    _id(),
    Column("name", Text, nullable=False),
    Column("description", Text),
    Column("unit_of_measurements", JsonDocument, nullable=False),
    Column("observation_type", Text, nullable=False),
    Column("multi_observation_data_types", JsonDocument, nullable=False),
    Column("observed_area", JsonDocument),
    *_interval("phenomenon_time"),
    *_interval("result_time"),
    Column("properties", JsonDocument),
    _fk("thing_id", "things"),
    _fk("sensor_id", "sensors"),
    Index("ix_multi_datastreams_thing_id", "thing_id"),
    Index("ix_multi_datastreams_sensor_id", "sensor_id"),
    sqlite_autoincrement=True,
)

multi_datastream_observed_properties = Table(
    "multi_datastream_observed_properties",
    metadata,
    Column(
        "multi_datastream_id",
        Id,
        ForeignKey("multi_datastreams.id", ondelete="CASCADE"),
        primary_key=True,
    ),
    Column(
        "observed_property_id",
        Id,
        ForeignKey("observed_properties.id", ondelete="CASCADE"),
        primary_key=True,
    ),
    # the position of the ObservedProperty in the MultiDatastream's result arrays
    Column("rank", Integer, nullable=False),
    Index("ix_mdop_observed_property_id", "observed_property_id"),
)

features_of_interest = Table(
    "features_of_interest",
    metadata,
    _id(),
    Column("name", Text, nullable=False),
    Column("description", Text),
    Column("encoding_type", Text, nullable=False),
    *_geometry("feature"),
    Column("properties", JsonDocument),
    # set when the feature was generated from a Location, so that it is reused, not copied
    Column("location_id", Id, ForeignKey("locations.id", ondelete="SET NULL"), nullable=True),
    Index("ix_features_of_interest_location_id", "location_id"),
    sqlite_autoincrement=True,
)

#: result_type codes: how `result` was sent, so that it goes back out the same way
RESULT_INTEGER, RESULT_FLOAT, RESULT_STRING, RESULT_JSON = 0, 1, 2, 3

observations = Table(
    "observations",
    metadata,
    _id(),
    *_interval("phenomenon_time"),
    Column("result_time", UtcDateTime),
    Column("result_type", SmallInteger, nullable=False),
    Column("result_number", Float),
    Column("result_string", Text),
    Column("result_json", JsonDocument),
    Column("result_quality", JsonDocument),
    *_interval("valid_time"),
    Column("parameters", JsonDocument),
    _fk("datastream_id", "datastreams", nullable=True),
    _fk("multi_datastream_id", "multi_datastreams", nullable=True),
    _fk("feature_of_interest_id", "features_of_interest"),
    # latest reading and time windows of one Datastream are single index range scans
    Index("ix_observations_datastream_time", "datastream_id", "phenomenon_time_start", "id"),
    Index(
        "ix_observations_multi_datastream_time",
        "multi_datastream_id",
        "phenomenon_time_start",
        "id",
    ),
    Index("ix_observations_feature_of_interest_id", "feature_of_interest_id"),
    sqlite_autoincrement=True,
)

actuators = Table(
    "actuators",
    metadata,
    _id(),
    Column("name", Text, nullable=False),
    Column("description", Text),
    Column("encoding_type", Text, nullable=False),
    Column("metadata", JsonDocument, nullable=False),
    Column("properties", JsonDocument),
    sqlite_autoincrement=True,
)

tasking_capabilities = Table(
    "tasking_capabilities",
    metadata,
    _id(),
    Column("name", Text, nullable=False),
    Column("description", Text),
    # a SWE Common DataRecord: the parameters a Task of this capability carries
    Column("tasking_parameters", JsonDocument, nullable=False),
    Column("properties", JsonDocument),
    _fk("thing_id", "things"),
    _fk("actuator_id", "actuators"),
    Index("ix_tasking_capabilities_thing_id", "thing_id"),
    Index("ix_tasking_capabilities_actuator_id", "actuator_id"),
    sqlite_autoincrement=True,
)

tasks = Table(
    "tasks",
    metadata,
    _id(),
    Column("creation_time", UtcDateTime, nullable=False),
    Column("tasking_parameters", JsonDocument, nullable=False),
    _fk("tasking_capability_id", "tasking_capabilities"),
    # a capability's latest Tasks are one index range scan
    Index("ix_tasks_tasking_capability_time", "tasking_capability_id", "creation_time", "id"),
    sqlite_autoincrement=True,
)

BY_TABLE: dict[str, Table] = {t.name: t for t in metadata.sorted_tables}
