"""The city pillar's one table: which operations-centre rule it derived from which domain
datum (a gauge's alert level, a QCVN limit, a camera's alerting events), so that deriving
again finds the rule instead of making a second one, and the camera consumer knows its rules.
"""

from __future__ import annotations

from sqlalchemy import BigInteger, Column, Float, Index, Integer, String, Table, UniqueConstraint

from cityhelix.db.metadata import metadata
from cityhelix.db.types import JsonDocument, UtcDateTime

_Id = BigInteger().with_variant(Integer(), "sqlite")

city_rules = Table(
    "city_rules",
    metadata,
    Column("id", _Id, primary_key=True, autoincrement=True),
    # water_level, water_rise, water_rain, water_flood, park_limit, camera_events
    Column("purpose", String(40), nullable=False),
    Column("thing_id", BigInteger, nullable=False),
    Column("datastream_id", BigInteger, nullable=False),
    # the level, parameter or event set the rule stands for ("II", "COD", "fire_smoke,...")
    Column("subject", String(200), nullable=False),
    # the ops rule's id (ops owns the rule; this row only points at it)
    Column("rule_id", BigInteger, nullable=False),
    Column("min_confidence", Float, nullable=True),
    Column("details", JsonDocument, nullable=True),
    Column("created_at", UtcDateTime, nullable=False),
    UniqueConstraint("purpose", "datastream_id", "subject", name="uq_city_rules_subject"),
    Index("ix_city_rules_datastream", "datastream_id"),
    sqlite_autoincrement=True,
)
