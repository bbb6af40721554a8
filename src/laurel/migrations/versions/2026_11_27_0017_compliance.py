"""compliance: FCPA limits per organization, approval expiry, 1042-S

Revision ID: 0017
Revises: 0016
Create Date: 2026-11-26 09:00:00
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import timedelta

import sqlalchemy as sa
from alembic import op

revision: str = "0017"
down_revision: str | None = "0016"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "fcpa_settings",
        sa.Column("currency", sa.String(length=3), nullable=False),
        sa.Column("event_limit_minor", sa.BigInteger(), nullable=False),
        sa.Column("yearly_limit_minor", sa.BigInteger(), nullable=False),
        sa.Column("updated_by", sa.String(length=200), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("organization_id", sa.Uuid(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["organization_id"],
            ["organizations.id"],
            name=op.f("fk_fcpa_settings_organization_id_organizations"),
            ondelete="RESTRICT",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_fcpa_settings")),
        sa.UniqueConstraint("organization_id", name=op.f("uq_fcpa_settings_organization_id")),
    )
    with op.batch_alter_table("program_versions") as batch:
        batch.add_column(
            sa.Column("approval_expiry_days", sa.BigInteger(), server_default="14", nullable=False)
        )
    # Requests already pending get the default deadline: 14 days after they were raised.
    approvals = sa.table(
        "approvals",
        sa.column("id", sa.Uuid()),
        sa.column("status", sa.String()),
        sa.column("requested_at", sa.DateTime(timezone=True)),
        sa.column("expires_at", sa.DateTime(timezone=True)),
    )
    bind = op.get_bind()
    pending = bind.execute(
        sa.select(approvals.c.id, approvals.c.requested_at).where(
            approvals.c.status == "pending", approvals.c.expires_at.is_(None)
        )
    ).all()
    if pending:
        bind.execute(
            approvals.update()
            .where(approvals.c.id == sa.bindparam("_id"))
            .values(expires_at=sa.bindparam("_expires")),
            [{"_id": row[0], "_expires": row[1] + timedelta(days=14)} for row in pending],
        )
    with op.batch_alter_table("tax_settings") as batch:
        batch.add_column(
            sa.Column("income_code_1042s", sa.String(length=2), server_default="23", nullable=False)
        )
        batch.add_column(
            sa.Column(
                "chapter3_status_1042s", sa.String(length=2), server_default="16", nullable=False
            )
        )


def downgrade() -> None:
    # Plain DROP COLUMN (SQLite 3.35+): rebuilding tables other tables refer to would fail.
    op.drop_column("tax_settings", "chapter3_status_1042s")
    op.drop_column("tax_settings", "income_code_1042s")
    op.drop_column("program_versions", "approval_expiry_days")
    op.drop_table("fcpa_settings")
