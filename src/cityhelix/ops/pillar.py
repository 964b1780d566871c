"""The operations centre as a pillar: its two parts' routers, background work, commands,
tables and its Alembic history (branch "ops").

`alerting` (rules, alerts, the live stream, CAP) and `desk` (incidents, departments,
Open311, webhooks, KPIs) meet through the durable event stream and `ops.service`.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from pathlib import Path

from fastapi import FastAPI

from cityhelix.ops.alerting import mount as alerting
from cityhelix.ops.desk import mount as desk
from cityhelix.pillar import Pillar
from cityhelix.settings import Settings


@contextlib.asynccontextmanager
async def running_ops(app: FastAPI, settings: Settings) -> AsyncIterator[None]:
    """Alerting first (it raises what the desk turns into incidents); desk stops first."""
    async with alerting.lifespan(app, settings), desk.lifespan(app, settings):
        yield


PILLAR = Pillar(
    name="ops",
    routers=(*alerting.ROUTERS, *desk.ROUTERS),
    lifespan=running_ops,
    commands={**alerting.COMMANDS, **desk.COMMANDS},
    table_modules=(*alerting.TABLE_MODULES, *desk.TABLE_MODULES),
    migrations=Path(__file__).with_name("migrations") / "versions",
)
