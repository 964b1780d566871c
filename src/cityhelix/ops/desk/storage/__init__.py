"""Where incident attachments' bytes live: a small seam (`AttachmentStore`), one backend per
module (`disk`, `s3` for any S3-compatible server), chosen by `CITYHELIX_OPS_ATTACHMENTS_STORAGE`.

Rows in `ops_incident_attachments` name the bytes by a random key; a backend only stores,
returns and forgets bytes under keys, so the desk's code never knows which one runs.
"""

from __future__ import annotations

from abc import ABC, abstractmethod

from cityhelix.settings import Settings


class AttachmentStore(ABC):
    """Bytes under random keys; FileNotFoundError for a key that holds nothing."""

    @abstractmethod
    async def put(self, content: bytes, media_type: str) -> str:
        """Store `content` (of `media_type`, already checked), return its new key."""

    @abstractmethod
    async def get(self, key: str) -> bytes:
        """The bytes stored under `key` (FileNotFoundError when gone)."""

    @abstractmethod
    async def delete(self, key: str) -> None:
        """Forget `key` (an upload whose transaction failed); nothing when already gone."""


_stores: dict[tuple[object, ...], AttachmentStore] = {}


def store_for(settings: Settings) -> AttachmentStore:
    """The backend the settings name, made once per configuration (an S3 client is costly)."""
    if settings.ops_attachments_storage == "s3":
        from cityhelix.ops.desk.storage.s3 import S3Store

        key: tuple[object, ...] = (
            "s3",
            settings.ops_attachments_s3_bucket,
            settings.ops_attachments_s3_prefix,
            settings.ops_attachments_s3_endpoint_url,
            settings.ops_attachments_s3_region,
            settings.ops_attachments_s3_access_key_id,
            settings.ops_attachments_s3_secret_access_key,
        )
        if key not in _stores:
            _stores[key] = S3Store.from_settings(settings)
        return _stores[key]
    from cityhelix.ops.desk.storage.disk import DiskStore

    return DiskStore(settings.ops_attachments_dir)
