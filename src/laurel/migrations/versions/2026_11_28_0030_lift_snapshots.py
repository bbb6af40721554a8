"""lift snapshots: each program's organization-wide lift report as last computed

``analytics_lift_snapshots`` (``laurel.analytics.models.LiftSnapshot``) keeps, per
organization, mode and program, the answer of ``reports.lift`` with the time it was computed
for and the organization's ``config_revision`` read before computing. The lift counts every
learning pair of months of history (seconds at 50,000 learners), so the report is served from
here while it is fresh and the worker refreshes it in the background
(``laurel.analytics.lift_snapshots``). Nothing to backfill: a missing snapshot is computed on
the first request or by the worker.

``read_at`` is when a reader last wanted it (marked at most hourly): the worker keeps only
snapshots read in the last week fresh, so unread programs cost nothing after their first count.

``result`` is plain JSON on PostgreSQL too (not JSONB), so the stored text keeps the report's
key order, which the CSV and XLSX downloads follow.

Revision ID: 0030
Revises: 0029
Create Date: 2026-11-28 18:00:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0030"
down_revision: str | None = "0029"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "analytics_lift_snapshots",
        sa.Column("organization_id", sa.Uuid(), nullable=False),
        sa.Column("livemode", sa.Boolean(), nullable=False),
        sa.Column("program_id", sa.Uuid(), nullable=False),
        sa.Column("computed_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("config_revision", sa.BigInteger(), nullable=False),
        sa.Column("result", sa.JSON(), nullable=False),
        sa.Column("read_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["organization_id"],
            ["organizations.id"],
            name=op.f("fk_analytics_lift_snapshots_organization_id_organizations"),
            ondelete="RESTRICT",
        ),
        sa.ForeignKeyConstraint(
            ["program_id"],
            ["programs.id"],
            name=op.f("fk_analytics_lift_snapshots_program_id_programs"),
        ),
        sa.PrimaryKeyConstraint(
            "organization_id", "livemode", "program_id", name=op.f("pk_analytics_lift_snapshots")
        ),
    )


def downgrade() -> None:
    op.drop_table("analytics_lift_snapshots")
