"""FX reference rates

Revision ID: 0007
Revises: 0006
Create Date: 2026-11-26 06:00:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0007"
down_revision: str | None = "0006"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "fx_rates",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("source", sa.String(length=32), nullable=False),
        sa.Column("base", sa.String(length=3), nullable=False),
        sa.Column("quote", sa.String(length=3), nullable=False),
        sa.Column("rate", sa.String(length=40), nullable=False),
        sa.Column("rate_date", sa.Date(), nullable=False),
        sa.Column("imported_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_fx_rates")),
        sa.UniqueConstraint(
            "source",
            "base",
            "quote",
            "rate_date",
            name=op.f("uq_fx_rates_source_base_quote_rate_date"),
        ),
    )
    op.create_index(
        op.f("ix_fx_rates_quote_rate_date"), "fx_rates", ["quote", "rate_date"], unique=False
    )
    # 0005 gave roster entries a stray copy of the imports' row count that no model uses.
    with op.batch_alter_table("roster_entries") as batch:
        batch.drop_column("rows_total")
    with op.batch_alter_table("organizations") as batch:
        batch.add_column(
            sa.Column("fx_fee_bps", sa.BigInteger(), server_default="0", nullable=False)
        )


def downgrade() -> None:
    # A plain DROP COLUMN (SQLite 3.35+): rebuilding a table other tables refer to would fail.
    op.drop_column("organizations", "fx_fee_bps")
    with op.batch_alter_table("roster_entries") as batch:
        batch.add_column(sa.Column("rows_total", sa.BigInteger(), nullable=True))
    op.drop_index(op.f("ix_fx_rates_quote_rate_date"), table_name="fx_rates")
    op.drop_table("fx_rates")
