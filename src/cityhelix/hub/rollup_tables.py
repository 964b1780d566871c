"""The `observation_rollups` table: per-Datastream aggregates of numeric results by time bucket.

One row per (Datastream, interval, bucket start) so that a chart over a year reads hundreds
of rows, not millions of Observations; `rollups` keeps it in step with the raw rows.
"""

from __future__ import annotations

from sqlalchemy import BigInteger, Column, Float, ForeignKey, String, Table

from cityhelix.db.metadata import metadata
from cityhelix.db.types import UtcDateTime
from cityhelix.hub.tables import Id

observation_rollups = Table(
    "observation_rollups",
    metadata,
    Column(
        "datastream_id",
        Id,
        ForeignKey("datastreams.id", ondelete="CASCADE"),
        primary_key=True,
    ),
    # '1m', '1h' or '1d'
    Column("interval", String(2), primary_key=True),
    # the UTC start of the bucket; the bucket ends one interval later
    Column("bucket_start", UtcDateTime, primary_key=True),
    Column("count", BigInteger, nullable=False),
    Column("min", Float, nullable=False),
    Column("max", Float, nullable=False),
    Column("sum", Float, nullable=False),
    # the result with the greatest phenomenonTime in the bucket (ties: the greatest id)
    Column("last", Float, nullable=False),
    Column("last_time", UtcDateTime, nullable=False),
)
