"""roster rows of one employee id merge by precedence; imports count rows kept with warnings

``roster_entries.precedence`` is the rank of the row an entry was read from (active over leave
over terminated, then the primary position): a later row of the same employee id replaces the
entry only with a higher rank, in one upsert (:func:`laurel.roster.service.add`). Entries
stored before are complete rosters that no row is merged into any more: 0 serves them.

``imports.warnings`` counts rows imported with warnings (an unreadable roster hire date),
listed with the rejected rows in ``import_rejections``. Both are plain ADD COLUMN with a
default: no table rebuild, and the previous release ignores them.

Revision ID: 0032
Revises: 0031
Create Date: 2026-11-30 09:00:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0032"
down_revision: str | None = "0031"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column(
        "roster_entries",
        sa.Column("precedence", sa.BigInteger(), server_default="0", nullable=False),
    )
    op.add_column(
        "imports", sa.Column("warnings", sa.BigInteger(), server_default="0", nullable=False)
    )


def downgrade() -> None:
    # Plain DROP COLUMN (SQLite 3.35+): no rebuild of tables others refer to.
    op.drop_column("imports", "warnings")
    op.drop_column("roster_entries", "precedence")
