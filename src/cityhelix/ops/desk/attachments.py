"""The content check every attachment passes, by magic bytes and size, never by the name or
the client's type. Where the bytes are then kept is `storage` (disk or S3-compatible).
"""

from __future__ import annotations

import hashlib

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
