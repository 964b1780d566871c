"""Attachments as objects in a bucket of any S3-compatible server (AWS S3, MinIO, Ceph RGW,
Garage, ...), through boto3, the reference S3 client; its blocking calls run in a thread.

Settings: `CITYHELIX_OPS_ATTACHMENTS_S3_BUCKET` (required), `_PREFIX`, `_ENDPOINT_URL` (empty
for AWS itself), `_REGION`, `_ACCESS_KEY_ID` and `_SECRET_ACCESS_KEY` (both empty: boto3's
own credential chain, e.g. an instance role).
"""

from __future__ import annotations

import asyncio
import logging
import secrets
from typing import Any

import boto3
from botocore.config import Config
from botocore.exceptions import BotoCoreError, ClientError

from cityhelix.ops.desk.storage import AttachmentStore
from cityhelix.ops.errors import Unavailable
from cityhelix.settings import Settings

_MISSING = {"NoSuchKey", "404", "NotFound"}
logger = logging.getLogger(__name__)


class S3Store(AttachmentStore):
    """Objects `<prefix><random key>` in one bucket; the bucket must exist."""

    def __init__(self, client: Any, bucket: str, prefix: str = "") -> None:
        self.client = client
        self.bucket = bucket
        self.prefix = prefix

    @classmethod
    def from_settings(cls, settings: Settings) -> S3Store:
        key_id = settings.ops_attachments_s3_access_key_id
        secret = settings.ops_attachments_s3_secret_access_key
        client = boto3.session.Session().client(
            "s3",
            endpoint_url=settings.ops_attachments_s3_endpoint_url or None,
            region_name=settings.ops_attachments_s3_region,
            aws_access_key_id=key_id.get_secret_value() if key_id else None,
            aws_secret_access_key=secret.get_secret_value() if secret else None,
            # bounded waits: a request must not hang on a storage that does not answer
            config=Config(connect_timeout=5, read_timeout=30, retries={"max_attempts": 3}),
        )
        return cls(client, settings.ops_attachments_s3_bucket, settings.ops_attachments_s3_prefix)

    def _object(self, key: str) -> str:
        if not key.isalnum():
            raise FileNotFoundError(key)
        return f"{self.prefix}{key}"

    async def put(self, content: bytes, media_type: str) -> str:
        key = secrets.token_hex(16)
        try:
            await asyncio.to_thread(
                self.client.put_object,
                Bucket=self.bucket,
                Key=self._object(key),
                Body=content,
                ContentType=media_type,
            )
        except (BotoCoreError, ClientError) as error:
            raise Unavailable(
                f"file: the attachment storage refused it ({error})", "file"
            ) from None
        return key

    async def get(self, key: str) -> bytes:
        name = self._object(key)

        def read() -> bytes:
            answer = self.client.get_object(Bucket=self.bucket, Key=name)
            body: bytes = answer["Body"].read()
            return body

        try:
            return await asyncio.to_thread(read)
        except ClientError as error:
            if str(error.response.get("Error", {}).get("Code")) in _MISSING:
                raise FileNotFoundError(key) from None
            raise Unavailable(f"the attachment storage did not answer ({error})") from None
        except BotoCoreError as error:
            raise Unavailable(f"the attachment storage did not answer ({error})") from None

    async def delete(self, key: str) -> None:
        try:
            await asyncio.to_thread(
                self.client.delete_object, Bucket=self.bucket, Key=self._object(key)
            )
        except FileNotFoundError:
            return
        except (BotoCoreError, ClientError) as error:
            # called while a failed upload unwinds: say so, do not hide why it failed
            logger.warning("could not delete attachment %s from S3: %s", key, error)
