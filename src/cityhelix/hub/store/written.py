"""What a write touched and the bulk rows it takes: plain records shared by the writer,
its hooks and its callers (`service`, `ingest`)."""

from __future__ import annotations

from typing import Any, NamedTuple

from cityhelix.hub.errors import BadRequest
from cityhelix.hub.model import OBSERVATION, EntityType


class StreamRows(NamedTuple):
    """The DataArray rows of one stream, for `Writer.create_observation_rows`."""

    stream_type: EntityType
    stream_id: int
    rows: list[Any]

    @property
    def where(self) -> str:
        """Where a bad row of the group is, in an error."""
        return f"CreateObservations/{self.stream_type.name}"

    def link(self) -> dict[str, Any]:
        """The Observation column linking a row to its stream (a new dict each call)."""
        return {stream_link(self.stream_type): self.stream_id}


def stream_link(stream_type: EntityType) -> str:
    """The Observation column that links it to a stream of `stream_type`."""
    for navigation in OBSERVATION.navigations:
        if navigation.target == stream_type.name and navigation.source_fk is not None:
            return navigation.source_fk
    raise BadRequest(f"Observations do not belong to {stream_type.set_name}")


class StreamWritten(NamedTuple):
    """What `Writer.create_observation_rows` did with one stream's rows."""

    ids: list[int | None]  # per row: the new Observation's id, None for a refused row
    features: list[Written]  # the FeatureOfInterest generated for the stream, if new


class Written(NamedTuple):
    """One entity the request touched, for the response, the audit and the event bus.

    A named tuple, not a frozen dataclass: a bulk request makes one per reading, and a
    frozen dataclass's `__init__` was 5-7 % of a 10,000-row CreateObservations.
    """

    entity_type: EntityType
    id: int
    action: str  # "create", "update" or "delete"
