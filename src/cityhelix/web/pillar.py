"""The web layer as a pillar (see `cityhelix.pillar`): what it serves (`web/mount.py`); it
has no tables of its own (a console password is the ground's `users set-password`)."""

from __future__ import annotations

from cityhelix.pillar import Pillar

PILLAR = Pillar(name="web", mount="cityhelix.web.mount:MOUNT")
