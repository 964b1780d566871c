"""The helix demo: loaded once (a second load writes nothing), everything generated says
synthetic, and the synergy, the network and the computed indicators have values; and the
`cityhelix helix load-demo` command as an operator runs it."""

from __future__ import annotations

import subprocess
import sys
from datetime import date
from pathlib import Path

import httpx
from sqlalchemy.ext.asyncio import AsyncEngine

from cityhelix.helix.demo import load_demo
from tests.conftest import bearer
from tests.served import cli_env


async def test_the_demo_gives_the_synergy_network_and_indicators_believable_values(
    client: httpx.AsyncClient, engine: AsyncEngine, tokens: dict[str, str]
) -> None:
    summary = await load_demo(engine, today=date(2026, 12, 6))
    assert summary.loaded and summary.actors >= 15 and summary.collaborations > 40
    assert not (await load_demo(engine, today=date(2026, 12, 6))).loaded

    actors = (await client.get("/api/helix/actors", params={"q": "Becamex"})).json()
    assert actors["value"][0]["kind"] == "enterprise"
    collaborations = (await client.get("/api/helix/collaborations")).json()
    assert collaborations["count"] == summary.collaborations
    assert all(c["synthetic"] for c in collaborations["value"])

    synergy = (await client.get("/api/helix/synergy", params={"from": "2022-01-01"})).json()
    assert synergy["n"] > 40 and set(synergy["by_year"]) >= {"2022", "2026"}
    assert len({(c["u"], c["i"], c["g"]) for c in synergy["table"] if c["count"]}) >= 5
    network = (await client.get("/api/helix/network")).json()
    assert len(network["nodes"]) >= 15 and network["edges"]

    await client.post(
        "/api/helix/scorecard/recompute",
        params={"period": "2026"},
        headers=bearer(tokens["analyst"]),
    )
    card = {
        i["code"]: i
        for i in (await client.get("/api/helix/scorecard", params={"period": "2026"})).json()[
            "indicators"
        ]
    }
    for code in ("HELIX-UI-COLLABORATIONS", "HELIX-TRAINED-PEOPLE", "HELIX-ST-FUNDING-AWARDED"):
        assert card[code]["value"], code
    assert card["HELIX-SYNERGY-TUIG"]["value"] is not None
    for code in ("ISO37122-GOV-SERVICES-ONLINE", "ICF-BROADBAND-HOUSEHOLDS"):
        assert card[code]["value"] and card[code]["trend"]["direction"] == "improving", code
        assert card[code]["provenance"]["source"].startswith("Synthetic demo value"), code
    programmes = (await client.get("/api/helix/programmes")).json()["value"]
    assert len(programmes) == 2 and all(p["synthetic"] for p in programmes)


def test_the_load_demo_command_loads_once_and_says_so(tmp_path: Path) -> None:
    env = cli_env(
        f"sqlite+aiosqlite:///{tmp_path}/demo.db", CITYHELIX_SCORECARD_RECOMPUTE_SECONDS="0"
    )
    command = [sys.executable, "-m", "cityhelix", "helix", "load-demo"]
    first = subprocess.run(command, env=env, capture_output=True, text=True, timeout=300)
    assert first.returncode == 0, first.stderr
    assert "helix demo loaded" in first.stdout and "synthetic" in first.stdout
    second = subprocess.run(command, env=env, capture_output=True, text=True, timeout=300)
    assert second.returncode == 0 and "demo not loaded" in second.stdout
