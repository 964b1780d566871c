"""The operations centre's part of `cityhelix demo`: a member for each department (one of
them, the demo department user, with a password), a handful of citizen reports through
Open311, and a stream of simulated faults over the simulator's live readings that raises
alerts (on the demo rules) and, through their templates, incidents.

It goes through the public doors like any client (the HTTP API with the demo's admin token,
Open311 with a key of its own) except for the users and the key, which `cityhelix users` and
`cityhelix open311 keys` would make. Faults are episodes on one demo Datastream at a time:
a dust spike, a flood wave, a dark lamp, a traffic jam, a station gone silent.
"""

from __future__ import annotations

import logging
import random
import secrets
import time
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from typing import Any

import httpx
from sqlalchemy.ext.asyncio import AsyncEngine

from cityhelix.auth.principal import Role
from cityhelix.auth.service import create_user, list_users, set_password
from cityhelix.ops.desk.open311.keys import create_key, list_keys

log = logging.getLogger(__name__)

#: sends one Observation of a Datastream (the simulator's `Publish`); True when accepted
Publish = Callable[[int, dict[str, Any]], Awaitable[bool]]
Say = Callable[[str], object]

#: the department whose member `make demo` prints with a password (air quality incidents)
SHOWN_DEPARTMENT = "environment"
#: the Open311 client application of the demo's citizen reports
OPEN311_APP = "demo-citizen-app"


def member_name(department: str) -> str:
    """The demo member of a department: `<code>-clerk`."""
    return f"{department}-clerk"


@dataclass(frozen=True)
class Fault:
    """One kind of simulated fault: on which demo stream, how long, and what it reads."""

    name: str
    stream: str
    seconds: float
    #: the result sent instead of the simulator's, from (seconds into the fault, its value);
    #: None: nothing is sent (the station is silent)
    result: Callable[[float, float], float] | None


#: each raises one of the demo rules (demo/rules.json): PM2.5 over the national limit (and
#: past its critical level), water level rising fast, streetlight fault (in lamp hours),
#: congestion (held 10 minutes), air station silent (15 minutes)
FAULTS: tuple[Fault, ...] = (
    Fault("dust spike", "air_quality.pm25", 240, lambda _s, _v: 180.0),
    Fault("flood wave", "water_level.level", 180, lambda s, v: v + 0.2 * s / 60),
    Fault("lamp out", "streetlight.power", 300, lambda _s, _v: 0.0),
    Fault("traffic jam", "traffic.mean_speed", 720, lambda _s, _v: 8.0),
    Fault("silent station", "air_quality.pm25", 1080, None),
)

#: (service_code, lat, long, description): reports a city gets, one in each district
CITIZEN_REPORTS: tuple[tuple[str, float, float, str], ...] = (
    ("road_damage", 10.9810, 106.6530, "Deep pothole in the right lane, motorbikes swerve"),
    ("blocked_drain", 10.9075, 106.7700, "Drain grate blocked with leaves, water on the road"),
    ("noise", 10.9230, 106.7145, "Construction work with loud machines after 22:00"),
    ("water_leak", 11.1505, 106.5950, "Clean water running from a broken pipe on the pavement"),
    ("illegal_dumping", 11.0605, 106.7985, "Construction waste dumped on the canal bank"),
)


class FaultStream:
    """Wraps the simulator's publish: while a fault runs on a Datastream, its readings are
    the fault's (or dropped); a new fault starts every `period_s` on a random Datastream of
    the fault's stream, in turn, starting `first_s` after the stream starts."""

    def __init__(
        self,
        feeds: Mapping[str, list[int]],
        send: Publish,
        *,
        seed: int = 7,
        period_s: float = 180.0,
        first_s: float = 20.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.feeds = {key: sorted(ids) for key, ids in feeds.items() if ids}
        self.send = send
        self.rng = random.Random(seed)
        self.period_s = period_s
        self.clock = clock
        self.next_start = clock() + first_s
        self.turn = 0
        #: running faults: Datastream -> (fault, started at)
        self.running: dict[int, tuple[Fault, float]] = {}

    def _advance(self, now: float) -> None:
        for datastream_id, (fault, started) in list(self.running.items()):
            if now - started >= fault.seconds:
                del self.running[datastream_id]
                log.info("demo fault over: %s on Datastream %d", fault.name, datastream_id)
        while now >= self.next_start:
            fault = FAULTS[self.turn % len(FAULTS)]
            self.turn += 1
            self.next_start += self.period_s
            free = [i for i in self.feeds.get(fault.stream, []) if i not in self.running]
            if free:
                datastream_id = self.rng.choice(free)
                self.running[datastream_id] = (fault, now)
                log.info("demo fault: %s on Datastream %d", fault.name, datastream_id)

    async def publish(self, datastream_id: int, body: dict[str, Any]) -> bool:
        now = self.clock()
        self._advance(now)
        running = self.running.get(datastream_id)
        if running is None:
            return await self.send(datastream_id, body)
        fault, started = running
        if fault.result is None:
            return True  # the station is silent: nothing reaches the hub
        value = body.get("result")
        number = float(value) if isinstance(value, int | float) else 0.0
        faulty = round(fault.result(now - started, number), 3)
        return await self.send(datastream_id, {**body, "result": faulty})


def poster(client: httpx.AsyncClient) -> Publish:
    """Publish over HTTP (when the demo runs without its MQTT broker)."""

    async def post(datastream_id: int, body: dict[str, Any]) -> bool:
        try:
            answer = await client.post(
                f"/v1.1/Datastreams({datastream_id})/Observations", json=body
            )
        except httpx.HTTPError as error:
            log.warning("demo: posting a reading failed: %s", error)
            return False
        return answer.is_success

    return post


async def demo_feeds(client: httpx.AsyncClient) -> dict[str, list[int]]:
    """The demo Datastreams by their stream key (`properties.key`, e.g. `air_quality.pm25`)."""
    feeds: dict[str, list[int]] = {}
    url: str | None = "/v1.1/Datastreams"
    params: dict[str, str] | None = {"$select": "id,properties", "$top": "1000"}
    while url is not None:
        answer = await client.get(url, params=params)
        answer.raise_for_status()
        document = answer.json()
        for item in document.get("value", []):
            key = (item.get("properties") or {}).get("key")
            if isinstance(key, str):
                feeds.setdefault(key, []).append(int(item["@iot.id"]))
        url, params = document.get("@iot.nextLink"), None
    return feeds


async def department_members(client: httpx.AsyncClient, engine: AsyncEngine) -> tuple[str, str]:
    """A member (`<code>-clerk`, role department) for each department of the catalogue;
    the shown department's member gets a fresh password: (its name, the password)."""
    answer = await client.get("/api/ops/departments")
    answer.raise_for_status()
    codes = [department["code"] for department in answer.json()["value"]]
    existing = {user.name for user in await list_users(engine)}
    for code in codes:
        if member_name(code) not in existing:
            await create_user(engine, member_name(code), Role.DEPARTMENT, code)
    shown = SHOWN_DEPARTMENT if SHOWN_DEPARTMENT in codes else codes[0]
    password = secrets.token_urlsafe(12)
    await set_password(engine, member_name(shown), password)
    return member_name(shown), password


async def citizen_reports(client: httpx.AsyncClient, engine: AsyncEngine) -> int:
    """Post the demo's citizen reports through Open311, once (its key marks it done)."""
    if any(key.name == OPEN311_APP for key in await list_keys(engine)):
        return 0
    key = await create_key(engine, OPEN311_APP)
    posted = 0
    for number, (code, lat, lon, description) in enumerate(CITIZEN_REPORTS, 1):
        answer = await client.post(
            "/open311/v2/requests.json",
            data={
                "api_key": key,
                "service_code": code,
                "lat": str(lat),
                "long": str(lon),
                "description": description,
                # personal data: kept for the department, never in a public answer
                "first_name": "Citizen",
                "last_name": f"Demo {number}",
                "email": f"citizen{number}@example.org",
            },
        )
        if answer.is_success:
            posted += 1
        else:
            log.warning("demo: citizen report %s refused: %s", code, answer.text[:300])
    return posted


async def start(
    client: httpx.AsyncClient, engine: AsyncEngine, say: Say, publish: Publish | None
) -> Publish:
    """Set up the operations centre's demo and say what there is; return the simulator's
    publish with the fault stream in it. `client` is the demo's admin client."""
    member, password = await department_members(client, engine)
    reports = await citizen_reports(client, engine)
    faults = FaultStream(await demo_feeds(client), publish or poster(client))
    base = str(client.base_url).rstrip("/")
    say(f"  department user:  {member} / {password}  (its department only)")
    if reports:
        say(f"  Open311:          {base}/open311/v2 ({reports} citizen reports posted)")
    say(f"  ops alerts:       {base}/api/ops/alerts")
    say(f"  ops incidents:    {base}/api/ops/incidents")
    say(f"  ops live events:  {base}/api/ops/stream")
    say(f"simulated faults raise alerts and incidents: a new one every {faults.period_s:g} s")
    return faults.publish
