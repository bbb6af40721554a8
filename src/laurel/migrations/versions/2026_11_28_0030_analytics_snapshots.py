"""analytics snapshots: reports too costly to count per page view, as last computed

``analytics_snapshots`` (``laurel.analytics.models.ReportSnapshot``) keeps, per organization,
mode, report (``lift``, ``completion_rates``) and parameters (scope included, as canonical
JSON), the report's answer with the time it was computed and the organization's
``config_revision`` read before computing. A program's lift and the completion rates the rollups
cannot answer (ISO weeks, windows off month bounds) count every learning pair of their window,
seconds at 50,000 learners, so they are served from here while fresh and the worker refreshes
those readers asked for lately (``read_at``) in the background (``laurel.analytics.snapshots``).
Nothing to backfill: a missing snapshot is computed by its first reader.

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
        "analytics_snapshots",
        sa.Column("organization_id", sa.Uuid(), nullable=False),
        sa.Column("livemode", sa.Boolean(), nullable=False),
        sa.Column("report", sa.String(length=32), nullable=False),
        sa.Column("key", sa.String(length=2000), nullable=False),
        sa.Column("computed_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("config_revision", sa.BigInteger(), nullable=False),
        sa.Column("result", sa.JSON(), nullable=False),
        sa.Column("read_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["organization_id"],
            ["organizations.id"],
            name=op.f("fk_analytics_snapshots_organization_id_organizations"),
            ondelete="RESTRICT",
        ),
        sa.PrimaryKeyConstraint(
            "organization_id", "livemode", "report", "key", name=op.f("pk_analytics_snapshots")
        ),
    )


def downgrade() -> None:
    op.drop_table("analytics_snapshots")
