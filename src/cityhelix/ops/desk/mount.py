"""What this part of the operations centre adds to the pillar: routers, background work,
commands and table modules (`ops/pillar.py` composes the parts)."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Sequence
from typing import TYPE_CHECKING

from cityhelix.ops.desk.http import router as incidents_router

if TYPE_CHECKING:
    import typer
    from fastapi import APIRouter, FastAPI

    from cityhelix.settings import Settings

ROUTERS: Sequence[APIRouter] = (incidents_router,)
COMMANDS: dict[str, typer.Typer] = {}
TABLE_MODULES: Sequence[str] = ("cityhelix.ops.desk.tables",)


@contextlib.asynccontextmanager
async def lifespan(app: FastAPI, settings: Settings) -> AsyncIterator[None]:
    """Background work of this part for the life of the app (none yet)."""
    yield
