"""Attachments on each storage backend, chosen by settings, through the incidents API: on the
disk and in a bucket of a real S3-compatible HTTP server (moto's server, in a thread of the
test process, spoken to over HTTP by boto3 like any S3 endpoint); on both databases.
The same suite runs over every backend (Litestar's channels style)."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import boto3
import pytest
from fastapi import FastAPI
from moto.server import ThreadedMotoServer
from pydantic import SecretStr, ValidationError

from cityhelix.app import create_app
from cityhelix.settings import Settings
from tests.conftest import Backend
from tests.ops.conftest import client_of, fresh_database, ops_settings
from tests.ops.desk_factories import incident

PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 64
BUCKET = "cityhelix-attachments"
CREDENTIALS = {"aws_access_key_id": "test-key", "aws_secret_access_key": "test-secret"}


@pytest.fixture(scope="module")
def s3_endpoint() -> Iterator[str]:
    """A real S3 HTTP endpoint on a port of its own (bound by the server: port 0), with the
    bucket made."""
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    url = f"http://127.0.0.1:{server.get_host_and_port()[1]}"
    boto3.client("s3", endpoint_url=url, region_name="us-east-1", **CREDENTIALS).create_bucket(
        Bucket=BUCKET
    )
    yield url
    server.stop()


def bucket_client(endpoint: str) -> Any:
    return boto3.client("s3", endpoint_url=endpoint, region_name="us-east-1", **CREDENTIALS)


def storage_settings(kind: str, endpoint: str, directory: Path, bucket: str) -> dict[str, Any]:
    if kind == "disk":
        return {"ops_attachments_storage": "disk", "ops_attachments_dir": str(directory)}
    return {
        "ops_attachments_storage": "s3",
        "ops_attachments_s3_bucket": bucket,
        "ops_attachments_s3_endpoint_url": endpoint,
        "ops_attachments_s3_prefix": "incidents/",
        "ops_attachments_s3_access_key_id": SecretStr(CREDENTIALS["aws_access_key_id"]),
        "ops_attachments_s3_secret_access_key": SecretStr(CREDENTIALS["aws_secret_access_key"]),
    }


@contextlib.asynccontextmanager
async def started(backend: Backend, **changes: Any) -> AsyncIterator[FastAPI]:
    settings = ops_settings(backend, ops_rules_live=False, **changes)
    await fresh_database(settings)
    app = create_app(settings, migrate=False)
    async with app.router.lifespan_context(app):
        yield app


def stored_objects(endpoint: str) -> list[str]:
    listed = bucket_client(endpoint).list_objects_v2(Bucket=BUCKET)
    return [item["Key"] for item in listed.get("Contents", [])]


def stored_files(directory: Path) -> list[Path]:
    return [path for path in directory.rglob("*") if path.is_file()]


@pytest.mark.parametrize("kind", ["disk", "s3"])
async def test_an_attachment_is_kept_by_the_configured_backend_and_downloads_intact(
    backend: Backend, s3_endpoint: str, tmp_path: Path, admin: dict[str, str], kind: str
) -> None:
    before = set(stored_objects(s3_endpoint))
    changes = storage_settings(kind, s3_endpoint, tmp_path, BUCKET)
    async with started(backend, **changes) as app, client_of(app) as client:
        created = await incident(client, admin)
        path = f"/api/ops/incidents/{created['id']}/attachments"
        uploaded = await client.post(
            path, files={"file": ("lamp.png", PNG, "image/png")}, headers=admin
        )
        assert uploaded.status_code == 201, uploaded.text
        refused = await client.post(
            path, files={"file": ("x.png", b"<svg onload=alert(1)>", "image/png")}, headers=admin
        )
        assert refused.status_code == 415
        downloaded = await client.get(uploaded.headers["Location"], headers=admin)
        assert downloaded.status_code == 200 and downloaded.content == PNG
    new_objects = sorted(set(stored_objects(s3_endpoint)) - before)
    if kind == "s3":
        [name] = new_objects  # the refused upload stored nothing
        assert name.startswith("incidents/")
        kept = bucket_client(s3_endpoint).get_object(Bucket=BUCKET, Key=name)
        assert kept["Body"].read() == PNG and kept["ContentType"] == "image/png"
        assert stored_files(tmp_path) == []
    else:
        assert new_objects == []
        [file] = stored_files(tmp_path)
        assert file.read_bytes() == PNG


async def test_a_storage_that_refuses_the_upload_is_503_and_nothing_is_recorded(
    backend: Backend, s3_endpoint: str, tmp_path: Path, admin: dict[str, str]
) -> None:
    changes = storage_settings("s3", s3_endpoint, tmp_path, "no-such-bucket")
    async with started(backend, **changes) as app, client_of(app) as client:
        created = await incident(client, admin)
        path = f"/api/ops/incidents/{created['id']}/attachments"
        answer = await client.post(
            path, files={"file": ("lamp.png", PNG, "image/png")}, headers=admin
        )
        assert answer.status_code == 503 and answer.json()["detail"].startswith("file: ")
        document = (await client.get(f"/api/ops/incidents/{created['id']}", headers=admin)).json()
    assert document["attachments"] == []
    assert "attachment" not in [entry["kind"] for entry in document["timeline"]]


def test_s3_storage_without_a_bucket_is_refused_at_start() -> None:
    with pytest.raises(ValidationError, match="ops_attachments_s3_bucket"):
        Settings(ops_attachments_storage="s3")
