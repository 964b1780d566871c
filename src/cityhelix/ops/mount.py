"""What the operations centre serves (its `Mount`, named by `ops/pillar.py`): its two
parts' routers and background work.

`alerting` (rules, alerts, the live stream, CAP) and `desk` (incidents, departments,
Open311, webhooks, KPIs) meet through the durable event stream and `ops.service`.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator

from fastapi import FastAPI

from cityhelix.ops.alerting import mount as alerting
from cityhelix.ops.desk import mount as desk
from cityhelix.pillar import Mount
from cityhelix.settings import Settings


@contextlib.asynccontextmanager
async def running_ops(app: FastAPI, settings: Settings) -> AsyncIterator[None]:
    """Alerting first (it raises what the desk turns into incidents); desk stops first."""
    async with alerting.lifespan(app, settings), desk.lifespan(app, settings):
        yield


MOUNT = Mount(routers=(*alerting.ROUTERS, *desk.ROUTERS), lifespan=running_ops)
