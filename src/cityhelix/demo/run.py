"""`cityhelix demo`: serve the platform, load the demo province and keep it live.

One process: the HTTP server (uvicorn), then the loader and the simulator as HTTP
clients of that server, so the demo takes the same path as any real device.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import secrets
from collections.abc import AsyncIterator
from typing import Any

import aiomqtt
import httpx
import orjson
import uvicorn
from pydantic import SecretStr
from rich.console import Console
from sqlalchemy.ext.asyncio import AsyncEngine

from cityhelix.app import create_app
from cityhelix.auth.principal import Principal, Role
from cityhelix.auth.service import create_user, list_users, set_password
from cityhelix.auth.tokens import new_token
from cityhelix.city.demo import load_demo as load_city_demo
from cityhelix.city.lighting.demo import simulated_lighting
from cityhelix.demo.loader import load_province
from cityhelix.demo.rules import load_rules
from cityhelix.demo.simulator import Publish, run_simulator
from cityhelix.helix import service as helix
from cityhelix.helix.demo import load_demo as load_helix_demo
from cityhelix.invest import service as invest
from cityhelix.ops import demo as ops_demo
from cityhelix.settings import Settings

log = logging.getLogger(__name__)


@contextlib.asynccontextmanager
async def mqtt_publisher(host: str, port: int, token: str) -> AsyncIterator[Publish]:
    """Publish Observations as a device would: QoS 1 to `v1.1/Datastreams(ID)/Observations`."""
    # aiomqtt warns about every burst of concurrent publishes; a tick is such a burst
    quiet = logging.getLogger("cityhelix.demo.mqtt")
    quiet.setLevel(logging.ERROR)
    async with aiomqtt.Client(
        host, port, username="demo-simulator", password=token, logger=quiet
    ) as mqtt:

        async def publish(datastream_id: int, body: dict[str, Any]) -> bool:
            topic = f"v1.1/Datastreams({datastream_id})/Observations"
            try:
                await mqtt.publish(topic, orjson.dumps(body), qos=1)
            except aiomqtt.MqttError as error:
                log.warning("publish to %s failed: %s", topic, error)
                return False
            return True

        yield publish


#: the demo's operator, who signs in to the console with the password `run_demo` prints
DEMO_OPERATOR = "operator"


async def demo_operator(engine: AsyncEngine) -> str:
    """Make sure the demo operator exists and give them a fresh random password."""
    if DEMO_OPERATOR not in {user.name for user in await list_users(engine)}:
        await create_user(engine, DEMO_OPERATOR, Role.OPERATOR)
    password = secrets.token_urlsafe(12)
    await set_password(engine, DEMO_OPERATOR, password)
    return password


async def run_demo(
    settings: Settings, *, host: str, port: int, seed: int = 7, interval_s: float = 5.0
) -> None:
    """Serve on host:port, load the province if the hub is empty, simulate until stopped."""
    console = Console()
    token = settings.admin_token.get_secret_value() if settings.admin_token else new_token()
    settings = settings.model_copy(update={"admin_token": SecretStr(token)})
    app = create_app(settings)
    server = uvicorn.Server(
        # open consoles keep event streams open: bound how long Ctrl-C waits for them
        uvicorn.Config(app, host=host, port=port, log_level="warning", timeout_graceful_shutdown=3)
    )
    serving = asyncio.create_task(server.serve())
    while not server.started:
        if serving.done():
            serving.result()  # re-raises why the server could not start
            return
        await asyncio.sleep(0.05)
    url = f"http://{host}:{port}"
    headers = {"Authorization": f"Bearer {token}"}
    stop = asyncio.Event()
    try:
        async with httpx.AsyncClient(base_url=url, headers=headers, timeout=120) as client:
            summary = await load_province(client, seed=seed)
            if summary.already_loaded:
                console.print(f"demo province already loaded ({summary.things} Things)")
            else:
                console.print(
                    f"loaded {summary.things} Things, {summary.datastreams} Datastreams, "
                    f"{summary.observations} Observations"
                )
            rules = await load_rules(client)
            if rules:
                console.print(f"created {rules} operations-centre rules on the demo sensors")
            parks = await invest.load_demo(app.state.engine, Principal("demo", Role.ADMIN))
            if parks["parks"]:
                console.print(
                    f"loaded {parks['parks']} industrial parks, {parks['plots']} free plots and "
                    f"{parks['projects']} synthetic FDI projects"
                )
            console.print(await load_city_demo(client, app.state.engine, seed=seed))
            helix_summary = await load_helix_demo(app.state.engine)
            await helix.recompute_scorecard(app.state.engine, settings, None, None)
            if helix_summary.loaded:
                console.print(
                    f"loaded {helix_summary.actors} Triple Helix actors, "
                    f"{helix_summary.collaborations} synthetic collaborations and "
                    f"{helix_summary.applications} programme applications; scorecard computed"
                )
            password = await demo_operator(app.state.engine)
            console.print(f"\nCityHelix demo is live at [bold]{url}[/bold]")
            console.print(f"  City map console: {url}/console")
            console.print(
                f"  sign in as:       {DEMO_OPERATOR} / {password}  (a new password each start)",
                highlight=False,
            )
            console.print(f"  SensorThings API: {url}/v1.1/Things?$count=true")
            console.print(f"  Investment API:   {url}/api/invest/parks")
            console.print(f"  Scorecard:        {url}/helix/scorecard")
            console.print(f"  Open data:        {url}/open-data")
            console.print(f"  OpenAPI docs:     {url}/docs")
            if not settings.mqtt_url and settings.mqtt_port:
                console.print(
                    f"  MQTT broker:      mqtt://{settings.mqtt_host}:{settings.mqtt_port}"
                )
            console.print(f"  admin token:      {token}")
            console.print(
                f"simulator posts fresh Observations every {interval_s:g} s; Ctrl-C stops"
            )
            async with contextlib.AsyncExitStack() as stack:
                publish = None
                if not settings.mqtt_url and settings.mqtt_port:
                    publish = await stack.enter_async_context(
                        mqtt_publisher(settings.mqtt_host, settings.mqtt_port, token)
                    )
                    console.print("simulator publishes over MQTT")
                publish = await ops_demo.start(client, app.state.engine, console.print, publish)
                await stack.enter_async_context(simulated_lighting(client, settings, token))
                simulating = asyncio.create_task(
                    run_simulator(
                        client, seed=seed, interval_s=interval_s, stop=stop, publish=publish
                    )
                )
                await asyncio.wait({serving, simulating}, return_when=asyncio.FIRST_COMPLETED)
    finally:
        stop.set()
        server.should_exit = True
        with contextlib.suppress(asyncio.CancelledError):
            await serving
