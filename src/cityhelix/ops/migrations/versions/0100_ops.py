"""the operations centre's history begins (its tables come in the revisions after this)

Revision ID: 0100
Revises:
Create Date: 2026-12-06 00:50:00.000000
"""

from __future__ import annotations

revision = "0100"
down_revision = None
branch_labels = ("ops",)
depends_on = "0006"


def upgrade() -> None:
    pass


def downgrade() -> None:
    pass
