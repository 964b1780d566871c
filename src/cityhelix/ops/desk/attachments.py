"""Attachment storage: a small seam (an abstract store, a backend per class) and the content
check every upload passes, by magic bytes and size, never by the name or the client's type.

`DiskStore` keeps files under `CITYHELIX_OPS_ATTACHMENTS_DIR`; an S3-compatible store is
another subclass of `AttachmentStore`.
"""

from __future__ import annotations

import asyncio
import hashlib
import secrets
from abc import ABC, abstractmethod
from pathlib import Path

from cityhelix.ops.errors import TooLarge, UnsupportedMediaType

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


class AttachmentStore(ABC):
    """Where attachment bytes live; rows in `ops_incident_attachments` name them by key."""

    @abstractmethod
    async def put(self, content: bytes) -> str:
        """Store `content`, return its key."""

    @abstractmethod
    async def get(self, key: str) -> bytes:
        """The bytes stored under `key` (FileNotFoundError when gone)."""

    @abstractmethod
    async def delete(self, key: str) -> None:
        """Forget `key` (an upload whose transaction failed)."""


class DiskStore(AttachmentStore):
    """Files under one directory, named by random keys (never by the uploader's name)."""

    def __init__(self, directory: str | Path) -> None:
        self.directory = Path(directory)

    def _path(self, key: str) -> Path:
        if not key.isalnum():
            raise FileNotFoundError(key)
        return self.directory / key[:2] / key

    async def put(self, content: bytes) -> str:
        key = secrets.token_hex(16)
        path = self._path(key)

        def write() -> None:
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_bytes(content)

        await asyncio.to_thread(write)
        return key

    async def get(self, key: str) -> bytes:
        return await asyncio.to_thread(self._path(key).read_bytes)

    async def delete(self, key: str) -> None:
        await asyncio.to_thread(self._path(key).unlink, True)
