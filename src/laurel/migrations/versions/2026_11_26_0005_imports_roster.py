"""batch imports and the HR roster

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-26 03:00:00
"""

from __future__ import annotations

from collections.abc import Sequence

revision: str = "0005"
down_revision: str | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    # Reserved in the chain so parallel work lands in a fixed order; filled in by that work.
    pass


def downgrade() -> None:
    pass
