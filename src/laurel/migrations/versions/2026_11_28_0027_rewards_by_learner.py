"""rewards by learner and time: an index for the gates' per-learner sums

The FCPA gate (``rewards.service.earned_by``) and other per-learner sums ask for one
learner's rewards in a time window. With only ``(organization_id, learner_id)`` and the
overview's ``(organization_id, livemode, created_at, …)`` to choose from, SQLite took the
overview index: every reward of the organization in the window was read for each intake,
which grows with the organization's history. This index answers the question directly.

Revision ID: 0027
Revises: 0026
Create Date: 2026-11-26 13:20:00
"""

from __future__ import annotations

from collections.abc import Sequence

from alembic import op

revision: str = "0027"
down_revision: str | None = "0026"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

NAME = "ix_rewards_organization_id_livemode_learner_id_created_at"


def upgrade() -> None:
    op.create_index(
        NAME, "rewards", ["organization_id", "livemode", "learner_id", "created_at"], unique=False
    )


def downgrade() -> None:
    op.drop_index(NAME, table_name="rewards")
