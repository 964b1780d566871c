"""The content check every attachment passes, by magic bytes and size, never by the name or
the client's type; keeping a checked upload with its incident (the bytes in `storage`, disk
or S3-compatible, the row beside the incident) and reading it back.
"""

from __future__ import annotations

import hashlib
from typing import Any

from sqlalchemy.ext.asyncio import AsyncEngine

from cityhelix.auth.principal import Principal
from cityhelix.auth.service import record_write
from cityhelix.ops.desk import incidents as desk
from cityhelix.ops.desk.storage import AttachmentStore
from cityhelix.ops.errors import NotFound, TooLarge, UnsupportedMediaType

#: accepted content, by its leading bytes (the formats' own signatures)
_SIGNATURES: tuple[tuple[bytes, str], ...] = (
    (b"\x89PNG\r\n\x1a\n", "image/png"),
    (b"\xff\xd8\xff", "image/jpeg"),
    (b"%PDF-", "application/pdf"),
)


def media_type_of(content: bytes) -> str:
    """The media type `content` really is (PNG, JPEG, WebP, PDF), or 415 naming those."""
    for signature, media_type in _SIGNATURES:
        if content.startswith(signature):
            return media_type
    # WebP: a RIFF container whose form type is "WEBP"
    if content[:4] == b"RIFF" and content[8:12] == b"WEBP":
        return "image/webp"
    raise UnsupportedMediaType(
        "file: content is not PNG, JPEG, WebP or PDF (checked by its bytes)", "file"
    )


def checked(content: bytes, max_bytes: int) -> tuple[str, str]:
    """(media type, SHA-256) of an upload within `max_bytes`; 413 or 415 otherwise."""
    if len(content) > max_bytes:
        raise TooLarge(f"file: larger than {max_bytes} bytes", "file")
    if not content:
        raise UnsupportedMediaType("file: empty", "file")
    return media_type_of(content), hashlib.sha256(content).hexdigest()


async def store_attachment(
    engine: AsyncEngine,
    files: AttachmentStore,
    principal: Principal,
    incident_id: int,
    filename: str,
    content: bytes,
    *,
    max_bytes: int,
    path: str,
) -> tuple[int, str, str, str]:
    """Check `content` (413/415 name `file`), keep it in `files` and its row with the incident
    `principal` may see, audited under `path`; (id, file name, media type, SHA-256).
    Nothing is kept when the row is not written."""
    media_type, sha256 = checked(content, max_bytes)
    name = (filename or "attachment")[-255:]
    key = await files.put(content, media_type)
    try:
        async with engine.begin() as connection:
            await desk.check_access(connection, incident_id, principal)
            attachment_id = await desk.add_attachment_row(
                connection,
                incident_id,
                principal,
                filename=name,
                media_type=media_type,
                size=len(content),
                sha256=sha256,
                storage_key=key,
            )
            await record_write(connection, principal, "POST", path, [("Attachment", attachment_id)])
    except BaseException:
        await files.delete(key)  # nothing stored when the row was not
        raise
    return attachment_id, name, media_type, sha256


async def read_attachment(
    engine: AsyncEngine,
    files: AttachmentStore,
    principal: Principal,
    incident_id: int,
    attachment_id: int,
) -> tuple[Any, bytes]:
    """(row, content) of an attachment `principal` may see (403, 404; 404 when its file is
    gone from storage)."""
    async with engine.connect() as connection:
        await desk.check_access(connection, incident_id, principal)
        row = await desk.attachment_row(connection, incident_id, attachment_id)
    try:
        content = await files.get(row.storage_key)
    except FileNotFoundError:
        raise NotFound(f"attachment {attachment_id}: its file is gone from storage") from None
    return row, content
