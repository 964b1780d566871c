"""The Triple Helix pillar: its routers (`/api/helix`, `/api/open-data`), the scorecard's
scheduled recomputation, the `helix` commands, its tables and Alembic history ("helix")."""

from __future__ import annotations

from pathlib import Path

from cityhelix.helix import http
from cityhelix.pillar import Pillar

PILLAR = Pillar(
    name="helix",
    routers=(http.router,),
    table_modules=("cityhelix.helix.tables",),
    migrations=Path(__file__).with_name("migrations") / "versions",
)
