"""The investment pillar as the app composes it: its router, its tables, its migration."""

from __future__ import annotations

from pathlib import Path

from cityhelix.invest import http
from cityhelix.invest.cli import invest_app
from cityhelix.pillar import Pillar

PILLAR = Pillar(
    name="invest",
    routers=(http.router,),
    commands={"invest": invest_app},
    table_modules=("cityhelix.invest.tables",),
    migrations=Path(__file__).with_name("migrations") / "versions",
)
