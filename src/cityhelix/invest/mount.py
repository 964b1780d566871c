"""What the investment pillar serves (its `Mount`, named by `invest/pillar.py`): its router."""

from __future__ import annotations

from cityhelix.invest import http
from cityhelix.pillar import Mount

MOUNT = Mount(routers=(http.router,))
