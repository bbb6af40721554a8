"""delivery providers: inventory codes, routing

Revision ID: 0008
Revises: 0007
Create Date: 2026-11-26 06:00:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0008"
down_revision: str | None = "0007"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

JSON = sa.JSON().with_variant(postgresql.JSONB(), "postgresql")
TS = sa.DateTime(timezone=True)


def _tenant(table: str) -> list[sa.Column[object] | sa.Constraint]:
    return [
        sa.Column("organization_id", sa.Uuid(), nullable=False),
        sa.Column("created_at", TS, nullable=False),
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.ForeignKeyConstraint(
            ["organization_id"],
            ["organizations.id"],
            name=op.f(f"fk_{table}_organization_id_organizations"),
            ondelete="RESTRICT",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f(f"pk_{table}")),
    ]


def upgrade() -> None:
    op.create_table(
        "inventory_codes",
        sa.Column("brand", sa.String(length=100), nullable=False),
        sa.Column("currency", sa.String(length=3), nullable=False),
        sa.Column("value_minor", sa.BigInteger(), nullable=False),
        sa.Column("code_sealed", sa.Text(), nullable=False),
        sa.Column("pin_sealed", sa.Text(), nullable=True),
        sa.Column("code_hash", sa.String(length=64), nullable=False),
        sa.Column("expires_on", sa.Date(), nullable=True),
        sa.Column("use_by", sa.Date(), nullable=False),
        sa.Column("upload_id", sa.Uuid(), nullable=False),
        sa.Column("uploaded_by", sa.String(length=200), nullable=False),
        sa.Column("allocated_to", sa.String(length=200), nullable=True),
        sa.Column("allocated_at", TS, nullable=True),
        *_tenant("inventory_codes"),
        sa.UniqueConstraint("allocated_to", name=op.f("uq_inventory_codes_allocated_to")),
        sa.UniqueConstraint(
            "organization_id",
            "code_hash",
            name=op.f("uq_inventory_codes_organization_id_code_hash"),
        ),
    )
    op.create_index(
        op.f("ix_inventory_codes_organization_id_currency_value_minor"),
        "inventory_codes",
        ["organization_id", "currency", "value_minor"],
        unique=False,
    )
    op.create_index(
        "ix_inventory_codes_available",
        "inventory_codes",
        ["organization_id", "currency", "value_minor", "use_by"],
        unique=False,
        sqlite_where=sa.text("allocated_to IS NULL"),
        postgresql_where=sa.text("allocated_to IS NULL"),
    )
    op.create_table(
        "inventory_stock",
        sa.Column("brand", sa.String(length=100), nullable=False),
        sa.Column("currency", sa.String(length=3), nullable=False),
        sa.Column("value_minor", sa.BigInteger(), nullable=False),
        sa.Column("threshold", sa.BigInteger(), nullable=True),
        sa.Column("low_since", TS, nullable=True),
        sa.Column("updated_at", TS, nullable=False),
        *_tenant("inventory_stock"),
        sa.UniqueConstraint(
            "organization_id",
            "brand",
            "currency",
            "value_minor",
            name=op.f("uq_inventory_stock_organization_id_brand_currency_value_minor"),
        ),
    )
    op.create_table(
        "provider_routes",
        sa.Column("program_id", sa.Uuid(), nullable=False),
        sa.Column("reward_kind", sa.String(length=32), nullable=False),
        sa.Column("providers", JSON, nullable=False),
        sa.Column("updated_at", TS, nullable=False),
        sa.Column("updated_by", sa.String(length=200), nullable=False),
        *_tenant("provider_routes"),
        sa.ForeignKeyConstraint(
            ["program_id"], ["programs.id"], name=op.f("fk_provider_routes_program_id_programs")
        ),
        sa.UniqueConstraint(
            "organization_id",
            "program_id",
            "reward_kind",
            name=op.f("uq_provider_routes_organization_id_program_id_reward_kind"),
        ),
    )
    op.create_table(
        "provider_attempts",
        sa.Column("reward_id", sa.Uuid(), nullable=False),
        sa.Column("provider", sa.String(length=64), nullable=False),
        *_tenant("provider_attempts"),
        sa.ForeignKeyConstraint(
            ["reward_id"], ["rewards.id"], name=op.f("fk_provider_attempts_reward_id_rewards")
        ),
        sa.UniqueConstraint(
            "reward_id", "provider", name=op.f("uq_provider_attempts_reward_id_provider")
        ),
    )


def downgrade() -> None:
    op.drop_table("provider_attempts")
    op.drop_table("provider_routes")
    op.drop_table("inventory_stock")
    op.drop_index("ix_inventory_codes_available", table_name="inventory_codes")
    op.drop_index(
        op.f("ix_inventory_codes_organization_id_currency_value_minor"),
        table_name="inventory_codes",
    )
    op.drop_table("inventory_codes")
