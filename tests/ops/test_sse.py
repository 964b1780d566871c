"""The live event stream over a real socket (uvicorn): alert events as they commit, each
with its stream position as id; a client that reconnects with Last-Event-ID gets what it
missed and nothing twice; filters by kind and district; heartbeats."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from typing import Any

import httpx
import orjson
import pytest
from fastapi import FastAPI

from tests.ops.conftest import TIMEOUT, client_of
from tests.ops.readings import new_datastream, new_rule, send, threshold

pytestmark = pytest.mark.asyncio


class Frames:
    """The frames of one SSE response, parsed as they arrive."""

    def __init__(self, response: httpx.Response) -> None:
        self._lines = response.aiter_lines()
        self.comments: list[str] = []

    async def next(self) -> dict[str, Any]:
        frame: dict[str, Any] = {}
        async with asyncio.timeout(TIMEOUT):
            async for line in self._lines:
                if not line:
                    if "event" in frame:
                        return frame
                    frame = {}
                    continue
                if line.startswith(":"):
                    self.comments.append(line)
                    continue
                name, _, value = line.partition(": ")
                frame[name] = orjson.loads(value) if name == "data" else value
        raise AssertionError("the stream ended")

    async def heartbeat(self) -> str:
        """The next comment line (a heartbeat), skipping frames."""
        async with asyncio.timeout(TIMEOUT):
            async for line in self._lines:
                if line.startswith(":"):
                    return line
        raise AssertionError("the stream ended")

    async def alert(self, **payload: Any) -> dict[str, Any]:
        while True:
            frame = await self.next()
            data = frame["data"]
            if frame["event"] == "alert" and all(data.get(k) == v for k, v in payload.items()):
                return frame


@contextlib.asynccontextmanager
async def listening(url: str, headers: dict[str, str], **params: str) -> AsyncIterator[Frames]:
    async with (
        httpx.AsyncClient(timeout=TIMEOUT) as http,
        http.stream("GET", f"{url}/api/ops/stream", params=params, headers=headers) as response,
    ):
        assert response.status_code == 200
        assert response.headers["content-type"].startswith("text/event-stream")
        yield Frames(response)


async def test_reconnecting_with_last_event_id_resumes_without_loss_or_repeat(
    sse_app: tuple[FastAPI, str], admin: dict[str, str]
) -> None:
    app, url = sse_app
    async with client_of(app) as client:
        ds = await new_datastream(client, admin)
        rule_id = await new_rule(client, admin, **threshold(ds))
        async with listening(url, admin, kind="alert") as frames:
            await send(client, admin, ds, 0, 60)
            raised = await frames.alert(rule_id=rule_id, action="create")
            assert raised["data"]["state"] == "active" and raised["id"]
        # missed while away: a repeat and the clearing
        await send(client, admin, ds, 1, 70)
        await send(client, admin, ds, 2, 10)
        async with listening(url, admin | {"Last-Event-ID": raised["id"]}, kind="alert") as frames:
            repeat = await frames.next()
            cleared = await frames.next()
        assert (repeat["data"]["change"], repeat["data"]["count"]) == ("repeat", 2)
        assert (cleared["data"]["change"], cleared["data"]["state"]) == ("cleared", "cleared")
        assert len({raised["id"], repeat["id"], cleared["id"]}) == 3


async def test_district_filter_passes_only_that_districts_alerts_and_heartbeats_flow(
    sse_app: tuple[FastAPI, str], admin: dict[str, str]
) -> None:
    app, url = sse_app
    async with client_of(app) as client:
        here = await new_datastream(client, admin, "here", district="Di An")
        there = await new_datastream(client, admin, "there", district="Thuan An")
        await new_rule(client, admin, **threshold(here, name="here"))
        await new_rule(client, admin, **threshold(there, name="there"))
        async with listening(url, admin, kind="alert", district="Di An") as frames:
            await send(client, admin, there, 0, 60)
            await send(client, admin, here, 0, 60)
            first = await frames.next()
            assert first["data"]["datastream_id"] == here
            assert first["data"]["district"] == "Di An"
            assert await frames.heartbeat() == ": heartbeat"
        async with listening(url, admin, kind="kpi") as frames:
            kpi = await frames.next()
        assert kpi["event"] == "kpi"
        assert kpi["data"]["open_alerts_by_severity"] == {"warning": 2}


async def test_stream_refuses_bad_filters_and_anonymous_callers(
    sse_app: tuple[FastAPI, str], admin: dict[str, str]
) -> None:
    _, url = sse_app
    async with httpx.AsyncClient(timeout=TIMEOUT) as http:
        bad_kind = await http.get(
            f"{url}/api/ops/stream", params={"kind": "weather"}, headers=admin
        )
        assert bad_kind.status_code == 400 and "kind" in bad_kind.json()["detail"]
        bad_id = await http.get(
            f"{url}/api/ops/stream", headers=admin | {"Last-Event-ID": "yesterday"}
        )
        assert bad_id.status_code == 400 and "Last-Event-ID" in bad_id.json()["detail"]
        assert (await http.get(f"{url}/api/ops/stream")).status_code == 401
