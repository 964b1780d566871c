"""The SensorThings entity registry: every entity type described once, as data.

URL resolution, validation, the query compiler, serialisation and deep insert all read
this registry instead of knowing the nine types by heart; a new type is one entry here
and one table in `tables`. It imports nothing else of the hub.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import Enum
from typing import TypeGuard

#: ids are 64-bit integers in both databases; a larger one names nothing (and must not
#: reach a driver, which would fail on it rather than find nothing)
MAX_ID = 2**63 - 1


def is_entity_id(value: object) -> TypeGuard[int]:
    """`value` could be the id of a stored entity: a positive 64-bit integer, not a bool."""
    return isinstance(value, int) and not isinstance(value, bool) and 1 <= value <= MAX_ID


class Kind(Enum):
    """How a property is stored and how it travels on the wire."""

    TEXT = "text"  # one string column
    JSON = "json"  # one JSON column, any JSON value (objects for `properties`)
    INSTANT = "instant"  # one UTC time column
    INTERVAL = "interval"  # two UTC columns `<col>_start`, `<col>_end`: "start/end"
    INSTANT_OR_INTERVAL = "instant_or_interval"  # two columns; end NULL means an instant
    RESULT = "result"  # the Observation result: any JSON, numbers also in a numeric column
    GEOMETRY = "geometry"  # GeoJSON in a JSON column, plus geometry and bounding box


#: the columns an Observation result is stored in (see `values.result_columns`)
RESULT_COLUMNS = ("result_type", "result_number", "result_string", "result_json")
#: the columns beside a written geometry's GeoJSON: the stored shape and its bounding box
GEOMETRY_SUFFIXES = ("_geom", "_xmin", "_ymin", "_xmax", "_ymax")


@dataclass(frozen=True)
class Property:
    """One property of an entity type, as the standard names it on the wire."""

    name: str
    kind: Kind
    column: str
    required: bool = False
    #: derived by the server (Datastream phenomenonTime...); a client value is ignored
    derived: bool = False
    #: may be sent as null (resultTime may be null; name may not)
    nullable: bool = True

    @property
    def columns(self) -> tuple[str, ...]:
        """The table columns the property is stored in (`tables` must have each)."""
        if self.kind in (Kind.INTERVAL, Kind.INSTANT_OR_INTERVAL):
            return (f"{self.column}_start", f"{self.column}_end")
        if self.kind is Kind.RESULT:
            return RESULT_COLUMNS
        if self.kind is Kind.GEOMETRY and not self.derived:
            # spatial filters read the shape and box; a derived geometry is only answered
            return (self.column, *(self.column + suffix for suffix in GEOMETRY_SUFFIXES))
        return (self.column,)


@dataclass(frozen=True)
class Navigation:
    """A navigation link from one entity type to another and the key behind it.

    Exactly one of the three ways is set: a foreign key on the source table (to-one), a
    foreign key on the target table pointing back (to-many), or a link table.
    """

    name: str
    target: str
    to_many: bool
    source_fk: str | None = None
    target_fk: str | None = None
    link_table: str | None = None
    link_source: str | None = None
    link_target: str | None = None
    #: the entity cannot exist without this link (a Datastream's Thing)
    required: bool = False
    #: a column of the link table that orders the linked entities when no $orderby does
    #: (a MultiDatastream's ObservedProperties pair by position with its units)
    link_order: str | None = None


@dataclass(frozen=True)
class Tenancy:
    """Who may write an entity: a tenant writes only the entities of the Things it owns.

    The registry says, per type, which navigation links lead from an entity to its owning
    Thing(s), so that the writer checks every type the same way and a new type (Tasking's)
    states its owner here instead of adding a branch to the writer.
    """

    #: paths of navigation names from the entity to the owning Thing(s); `()` is the owner
    #: itself; several paths are alternatives (an Observation's Datastream or
    #: MultiDatastream), a to-many first link means every linked Thing (a Location's)
    paths: tuple[tuple[str, ...], ...] = ()
    #: on the owner type: the column naming the tenant user who owns the entity
    owner_column: str | None = None
    #: a shared catalogue entity (Sensor, ObservedProperty, FeatureOfInterest): a tenant
    #: creates one only inside a deep insert under its own Thing and never changes one
    shared: bool = False


#: the owner's own tenancy, the tenancy of what hangs under a Thing, and of the catalogue
_OWNER = Tenancy(paths=((),), owner_column="owner_id")
_UNDER_THING = Tenancy(paths=(("Thing",),))
_SHARED = Tenancy(shared=True)


@dataclass(frozen=True)
class EntityType:
    """One SensorThings entity type: its names, table, properties, links and tenancy."""

    name: str
    set_name: str
    table: str
    properties: tuple[Property, ...]
    navigations: tuple[Navigation, ...]
    tenancy: Tenancy = _SHARED
    #: columns the server keeps that are not on the wire (a generated feature's Location)
    internal_columns: tuple[str, ...] = ()
    _by_name: dict[str, Property | Navigation] = field(
        init=False, repr=False, compare=False, default_factory=dict
    )

    def __post_init__(self) -> None:
        members: tuple[Property | Navigation, ...] = (*self.properties, *self.navigations)
        for member in members:
            self._by_name[member.name] = member

    def find_property(self, name: str) -> Property | None:
        member = self._by_name.get(name)
        return member if isinstance(member, Property) else None

    def find_navigation(self, name: str) -> Navigation | None:
        member = self._by_name.get(name)
        return member if isinstance(member, Navigation) else None


def _p(name: str, kind: Kind, column: str, **kw: bool) -> Property:
    return Property(name, kind, column, **kw)


def _common(*, description_required: bool = False) -> tuple[Property, ...]:
    return (
        _p("name", Kind.TEXT, "name", required=True, nullable=False),
        _p("description", Kind.TEXT, "description", required=description_required),
    )


_PROPERTIES = _p("properties", Kind.JSON, "properties")

THING = EntityType(
    "Thing",
    "Things",
    "things",
    (*_common(), _PROPERTIES),
    (
        Navigation(
            "Locations",
            "Location",
            True,
            link_table="thing_locations",
            link_source="thing_id",
            link_target="location_id",
        ),
        Navigation("HistoricalLocations", "HistoricalLocation", True, target_fk="thing_id"),
        Navigation("Datastreams", "Datastream", True, target_fk="thing_id"),
        Navigation("MultiDatastreams", "MultiDatastream", True, target_fk="thing_id"),
        Navigation("TaskingCapabilities", "TaskingCapability", True, target_fk="thing_id"),
    ),
    _OWNER,
)

LOCATION = EntityType(
    "Location",
    "Locations",
    "locations",
    (
        *_common(),
        _p("encodingType", Kind.TEXT, "encoding_type", required=True, nullable=False),
        _p("location", Kind.GEOMETRY, "location", required=True, nullable=False),
        _PROPERTIES,
    ),
    (
        Navigation(
            "Things",
            "Thing",
            True,
            link_table="thing_locations",
            link_source="location_id",
            link_target="thing_id",
        ),
        Navigation(
            "HistoricalLocations",
            "HistoricalLocation",
            True,
            link_table="location_historical_locations",
            link_source="location_id",
            link_target="historical_location_id",
        ),
    ),
    Tenancy(paths=(("Things",),)),
)

HISTORICAL_LOCATION = EntityType(
    "HistoricalLocation",
    "HistoricalLocations",
    "historical_locations",
    (_p("time", Kind.INSTANT, "time", required=True, nullable=False),),
    (
        Navigation("Thing", "Thing", False, source_fk="thing_id", required=True),
        Navigation(
            "Locations",
            "Location",
            True,
            link_table="location_historical_locations",
            link_source="historical_location_id",
            link_target="location_id",
        ),
    ),
    _UNDER_THING,
)

SENSOR = EntityType(
    "Sensor",
    "Sensors",
    "sensors",
    (
        *_common(),
        _p("encodingType", Kind.TEXT, "encoding_type", required=True, nullable=False),
        _p("metadata", Kind.JSON, "metadata", required=True, nullable=False),
        _PROPERTIES,
    ),
    (
        Navigation("Datastreams", "Datastream", True, target_fk="sensor_id"),
        Navigation("MultiDatastreams", "MultiDatastream", True, target_fk="sensor_id"),
    ),
)

OBSERVED_PROPERTY = EntityType(
    "ObservedProperty",
    "ObservedProperties",
    "observed_properties",
    (
        _p("name", Kind.TEXT, "name", required=True, nullable=False),
        _p("definition", Kind.TEXT, "definition", required=True, nullable=False),
        _p("description", Kind.TEXT, "description"),
        _PROPERTIES,
    ),
    (
        Navigation("Datastreams", "Datastream", True, target_fk="observed_property_id"),
        Navigation(
            "MultiDatastreams",
            "MultiDatastream",
            True,
            link_table="multi_datastream_observed_properties",
            link_source="observed_property_id",
            link_target="multi_datastream_id",
        ),
    ),
)

_DERIVED_TIMES = (
    _p("observedArea", Kind.GEOMETRY, "observed_area", derived=True),
    _p("phenomenonTime", Kind.INTERVAL, "phenomenon_time", derived=True),
    _p("resultTime", Kind.INTERVAL, "result_time", derived=True),
)

DATASTREAM = EntityType(
    "Datastream",
    "Datastreams",
    "datastreams",
    (
        *_common(),
        _p("unitOfMeasurement", Kind.JSON, "unit_of_measurement", required=True, nullable=False),
        _p("observationType", Kind.TEXT, "observation_type", required=True, nullable=False),
        *_DERIVED_TIMES,
        _PROPERTIES,
    ),
    (
        Navigation("Thing", "Thing", False, source_fk="thing_id", required=True),
        Navigation("Sensor", "Sensor", False, source_fk="sensor_id", required=True),
        Navigation(
            "ObservedProperty",
            "ObservedProperty",
            False,
            source_fk="observed_property_id",
            required=True,
        ),
        Navigation("Observations", "Observation", True, target_fk="datastream_id"),
    ),
    _UNDER_THING,
)

COMPLEX_OBSERVATION = "http://www.opengis.net/def/observationType/OGC-OM/2.0/OM_ComplexObservation"

MULTI_DATASTREAM = EntityType(
    "MultiDatastream",
    "MultiDatastreams",
    "multi_datastreams",
    (
        *_common(),
        _p("unitOfMeasurements", Kind.JSON, "unit_of_measurements", required=True, nullable=False),
        _p("observationType", Kind.TEXT, "observation_type", nullable=False),
        _p(
            "multiObservationDataTypes",
            Kind.JSON,
            "multi_observation_data_types",
            required=True,
            nullable=False,
        ),
        *_DERIVED_TIMES,
        _PROPERTIES,
    ),
    (
        Navigation("Thing", "Thing", False, source_fk="thing_id", required=True),
        Navigation("Sensor", "Sensor", False, source_fk="sensor_id", required=True),
        Navigation(
            "ObservedProperties",
            "ObservedProperty",
            True,
            link_table="multi_datastream_observed_properties",
            link_source="multi_datastream_id",
            link_target="observed_property_id",
            required=True,
            link_order="rank",
        ),
        Navigation("Observations", "Observation", True, target_fk="multi_datastream_id"),
    ),
    _UNDER_THING,
)

OBSERVATION = EntityType(
    "Observation",
    "Observations",
    "observations",
    (
        _p("phenomenonTime", Kind.INSTANT_OR_INTERVAL, "phenomenon_time", nullable=False),
        _p("resultTime", Kind.INSTANT, "result_time"),
        _p("result", Kind.RESULT, "result", required=True),
        _p("resultQuality", Kind.JSON, "result_quality"),
        _p("validTime", Kind.INTERVAL, "valid_time"),
        _p("parameters", Kind.JSON, "parameters"),
    ),
    (
        # One of Datastream / MultiDatastream is required; `store` checks the pair.
        Navigation("Datastream", "Datastream", False, source_fk="datastream_id"),
        Navigation("MultiDatastream", "MultiDatastream", False, source_fk="multi_datastream_id"),
        Navigation(
            "FeatureOfInterest",
            "FeatureOfInterest",
            False,
            source_fk="feature_of_interest_id",
            required=True,
        ),
    ),
    Tenancy(paths=(("Datastream", "Thing"), ("MultiDatastream", "Thing"))),
)

FEATURE_OF_INTEREST = EntityType(
    "FeatureOfInterest",
    "FeaturesOfInterest",
    "features_of_interest",
    (
        *_common(),
        _p("encodingType", Kind.TEXT, "encoding_type", required=True, nullable=False),
        _p("feature", Kind.GEOMETRY, "feature", required=True, nullable=False),
        _PROPERTIES,
    ),
    (Navigation("Observations", "Observation", True, target_fk="feature_of_interest_id"),),
    internal_columns=("location_id",),
)

# SensorThings API Part 2 - Tasking Core (OGC 17-079r1): what a Thing can be told to do
# (its TaskingCapabilities, each naming its parameters as a SWE Common DataRecord), the
# Actuator that does it, and the Tasks sent to it. The parameters' shapes are checked by
# hooks in `store.tasking_hooks`.

TASKING_CAPABILITY = EntityType(
    "TaskingCapability",
    "TaskingCapabilities",
    "tasking_capabilities",
    (
        *_common(),
        _p("taskingParameters", Kind.JSON, "tasking_parameters", required=True, nullable=False),
        _PROPERTIES,
    ),
    (
        Navigation("Thing", "Thing", False, source_fk="thing_id", required=True),
        Navigation("Actuator", "Actuator", False, source_fk="actuator_id", required=True),
        Navigation("Tasks", "Task", True, target_fk="tasking_capability_id"),
    ),
    _UNDER_THING,
)

TASK = EntityType(
    "Task",
    "Tasks",
    "tasks",
    (
        # set by the server when the client gives none (`store.tasking_hooks`)
        _p("creationTime", Kind.INSTANT, "creation_time", nullable=False),
        _p("taskingParameters", Kind.JSON, "tasking_parameters", required=True, nullable=False),
    ),
    (
        Navigation(
            "TaskingCapability",
            "TaskingCapability",
            False,
            source_fk="tasking_capability_id",
            required=True,
        ),
    ),
    Tenancy(paths=(("TaskingCapability", "Thing"),)),
)

ACTUATOR = EntityType(
    "Actuator",
    "Actuators",
    "actuators",
    (
        *_common(),
        _p("encodingType", Kind.TEXT, "encoding_type", required=True, nullable=False),
        _p("metadata", Kind.JSON, "metadata", required=True, nullable=False),
        _PROPERTIES,
    ),
    (Navigation("TaskingCapabilities", "TaskingCapability", True, target_fk="actuator_id"),),
)

ENTITY_TYPES: tuple[EntityType, ...] = (
    THING,
    LOCATION,
    HISTORICAL_LOCATION,
    SENSOR,
    OBSERVED_PROPERTY,
    DATASTREAM,
    MULTI_DATASTREAM,
    OBSERVATION,
    FEATURE_OF_INTEREST,
    TASKING_CAPABILITY,
    TASK,
    ACTUATOR,
)

BY_NAME: dict[str, EntityType] = {t.name: t for t in ENTITY_TYPES}
BY_SET: dict[str, EntityType] = {t.set_name: t for t in ENTITY_TYPES}

#: the type whose entities tenants own (the Thing): the one whose tenancy names a column
OWNER_TYPE: EntityType = next(t for t in ENTITY_TYPES if t.tenancy.owner_column is not None)
