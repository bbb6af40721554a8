"""budget reservations indexed by window and by budget and state

``budget_reservations`` had only its primary key and the (reward, budget) constraint, so a
window's burn-down (``laurel.budgets.burndown``), a budget's reservations in one state, and the
foreign-key checks SQLite makes when a window or a budget is deleted each read the whole table:
one row per paid reward with a budget, the largest table a budget touches.

Revision ID: 0031
Revises: 0030
Create Date: 2026-11-29 09:00:00
"""

from __future__ import annotations

from collections.abc import Sequence

from alembic import op

revision: str = "0031"
down_revision: str | None = "0030"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_index(
        "ix_budget_reservations_window_id", "budget_reservations", ["window_id"], unique=False
    )
    op.create_index(
        "ix_budget_reservations_budget_id_state",
        "budget_reservations",
        ["budget_id", "state"],
        unique=False,
    )


def downgrade() -> None:
    op.drop_index("ix_budget_reservations_budget_id_state", table_name="budget_reservations")
    op.drop_index("ix_budget_reservations_window_id", table_name="budget_reservations")
