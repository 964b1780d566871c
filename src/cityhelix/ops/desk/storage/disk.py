"""Attachments as files under one directory (`CITYHELIX_OPS_ATTACHMENTS_DIR`), the default."""

from __future__ import annotations

import asyncio
import secrets
from pathlib import Path

from cityhelix.ops.desk.storage import AttachmentStore


class DiskStore(AttachmentStore):
    """Files under one directory, named by random keys (never by the uploader's name)."""

    def __init__(self, directory: str | Path) -> None:
        self.directory = Path(directory)

    def _path(self, key: str) -> Path:
        if not key.isalnum():
            raise FileNotFoundError(key)
        return self.directory / key[:2] / key

    async def put(self, content: bytes, media_type: str) -> str:
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
