"""Filing a service request and tracking it in public: the one code path every citizen
report takes (GeoReport's `POST requests` and the web's report page), and the public view
of one request with its timeline of status changes (never who did them, never contacts).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncEngine

from cityhelix.auth.principal import Principal
from cityhelix.auth.service import record_write
from cityhelix.ops.desk.attachments import checked
from cityhelix.ops.desk.catalogue import Catalogue
from cityhelix.ops.desk.incidents import CHANNELS, add_attachment_row, create_incident
from cityhelix.ops.desk.open311 import requests as georeport
from cityhelix.ops.desk.storage import AttachmentStore
from cityhelix.ops.desk.tables import incident_timeline
from cityhelix.ops.errors import UnsupportedMediaType

#: timeline entries a citizen may see: the request's life, not the staff's work on it
PUBLIC_KINDS = frozenset({"created", "status", "reopen"})


@dataclass(frozen=True)
class Media:
    """An uploaded file as received (checked by `file_request`, never trusted by name)."""

    filename: str
    content: bytes


@dataclass(frozen=True)
class FiledRequest:
    service_request_id: int
    token: str


@dataclass(frozen=True)
class PublicStep:
    """One public moment of a request: when, what kind, and the status it moved to."""

    at: datetime
    kind: str
    status: str


@dataclass(frozen=True)
class PublicRequest:
    record: dict[str, Any]
    timeline: list[PublicStep]


async def file_request(
    engine: AsyncEngine,
    catalogue: Catalogue,
    store: AttachmentStore,
    fields: Mapping[str, list[str]],
    media: Media | None,
    *,
    principal: Principal,
    path: str,
    max_media_bytes: int,
    channel: str = "app",
    media_types: frozenset[str] | None = None,
) -> FiledRequest:
    """A citizen's report checked in full (service, location, attributes, media) before
    anything is stored; then one transaction makes the incident, its attachment row and
    its audit row (the stored file is removed again when that transaction fails).

    `media_types` narrows what the media may be (the web's report page takes photos only);
    refused media raise 415 naming `media`."""
    if channel not in CHANNELS:
        raise ValueError(f"channel: one of {CHANNELS}")
    new = dataclasses.replace(georeport.request_from_form(catalogue, fields), channel=channel)
    media_type, sha256 = ("", "")
    if media is not None:
        media_type, sha256 = checked(media.content, max_media_bytes)
        if media_types is not None and media_type not in media_types:
            raise UnsupportedMediaType(
                f"media: {media_type} is not accepted here ({', '.join(sorted(media_types))})",
                "media",
            )
    stored_key = await store.put(media.content, media_type) if media is not None else None
    try:
        async with engine.begin() as connection:
            incident_id = await create_incident(connection, catalogue, new, principal.name)
            written: list[tuple[str, int]] = [("Incident", incident_id)]
            if stored_key is not None and media is not None:
                attachment_id = await add_attachment_row(
                    connection,
                    incident_id,
                    principal,
                    filename=(media.filename or "media")[-255:],
                    media_type=media_type,
                    size=len(media.content),
                    sha256=sha256,
                    storage_key=stored_key,
                )
                written.append(("Attachment", attachment_id))
            await record_write(connection, principal, "POST", path, written)
    except BaseException:
        if stored_key is not None:
            await store.delete(stored_key)
        raise
    return FiledRequest(incident_id, new.open311_token or "")


async def public_request(
    engine: AsyncEngine, catalogue: Catalogue, request_id: str
) -> PublicRequest:
    """The GeoReport record of a request filed through Open311 and its public timeline;
    `NotFound` naming `service_request_id` for any other id."""
    async with engine.connect() as connection:
        record = await georeport.one_request(connection, catalogue, request_id)
        rows = await connection.execute(
            select(incident_timeline.c.at, incident_timeline.c.kind, incident_timeline.c.detail)
            .where(
                incident_timeline.c.incident_id == int(request_id),
                incident_timeline.c.kind.in_(PUBLIC_KINDS),
            )
            .order_by(incident_timeline.c.id)
        )
        timeline = [
            PublicStep(
                row.at.astimezone(UTC),
                row.kind,
                str((row.detail or {}).get("to") or (row.detail or {}).get("status") or "new"),
            )
            for row in rows
        ]
    return PublicRequest(record, timeline)
