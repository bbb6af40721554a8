"""catalog and secure reward links

Revision ID: 0009
Revises: 0008
Create Date: 2026-11-26 06:00:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0009"
down_revision: str | None = "0008"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

JSON = sa.JSON().with_variant(postgresql.JSONB(), "postgresql")
TIME = sa.DateTime(timezone=True)


def _tenant(table: str) -> list[sa.schema.SchemaItem]:
    return [
        sa.Column("organization_id", sa.Uuid(), nullable=False),
        sa.Column("created_at", TIME, nullable=False),
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
        "catalog_items",
        sa.Column("provider", sa.String(length=64), nullable=False),
        sa.Column("sku", sa.String(length=200), nullable=False),
        sa.Column("brand", sa.String(length=200), nullable=False),
        sa.Column("kind", sa.String(length=32), nullable=False),
        sa.Column("currency", sa.String(length=3), nullable=False),
        sa.Column("countries", JSON, nullable=False),
        sa.Column("fixed_values_minor", JSON, nullable=False),
        sa.Column("min_minor", sa.BigInteger(), nullable=True),
        sa.Column("max_minor", sa.BigInteger(), nullable=True),
        sa.Column("image_url", sa.String(length=2000), nullable=True),
        sa.Column("active", sa.Boolean(), nullable=False),
        sa.Column("source", sa.String(length=16), nullable=False),
        sa.Column("withdrawn_at", TIME, nullable=True),
        sa.Column("offer_hash", sa.String(length=64), nullable=True),
        sa.Column("synced_at", TIME, nullable=True),
        sa.Column("updated_at", TIME, nullable=False),
        *_tenant("catalog_items"),
        sa.UniqueConstraint(
            "organization_id",
            "provider",
            "sku",
            name=op.f("uq_catalog_items_organization_id_provider_sku"),
        ),
    )
    op.create_index(
        op.f("ix_catalog_items_organization_id_active"),
        "catalog_items",
        ["organization_id", "active"],
        unique=False,
    )
    op.create_table(
        "link_settings",
        sa.Column("program_id", sa.Uuid(), nullable=False),
        sa.Column("lifetime_days", sa.BigInteger(), nullable=True),
        sa.Column("brand", JSON, nullable=False),
        sa.Column("updated_at", TIME, nullable=False),
        *_tenant("link_settings"),
        sa.ForeignKeyConstraint(
            ["program_id"], ["programs.id"], name=op.f("fk_link_settings_program_id_programs")
        ),
        sa.UniqueConstraint(
            "organization_id",
            "program_id",
            name=op.f("uq_link_settings_organization_id_program_id"),
        ),
    )
    op.create_table(
        "reward_conversions",
        sa.Column("reward_id", sa.Uuid(), nullable=False),
        sa.Column("from_minor", sa.BigInteger(), nullable=False),
        sa.Column("from_currency", sa.String(length=3), nullable=False),
        sa.Column("to_minor", sa.BigInteger(), nullable=False),
        sa.Column("to_currency", sa.String(length=3), nullable=False),
        sa.Column("fee_minor", sa.BigInteger(), nullable=False),
        sa.Column("rate", sa.String(length=40), nullable=False),
        sa.Column("rate_date", sa.Date(), nullable=True),
        sa.Column("source", sa.String(length=64), nullable=False),
        sa.Column("usd_minor", sa.BigInteger(), nullable=False),
        sa.Column("converted_on", sa.Date(), nullable=False),
        *_tenant("reward_conversions"),
        sa.ForeignKeyConstraint(
            ["reward_id"], ["rewards.id"], name=op.f("fk_reward_conversions_reward_id_rewards")
        ),
        sa.UniqueConstraint("reward_id", name=op.f("uq_reward_conversions_reward_id")),
    )
    op.create_table(
        "reward_links",
        sa.Column("reward_id", sa.Uuid(), nullable=False),
        sa.Column("event_id", sa.Uuid(), nullable=False),
        sa.Column("program_id", sa.Uuid(), nullable=False),
        sa.Column("learner_id", sa.Uuid(), nullable=False),
        sa.Column("livemode", sa.Boolean(), nullable=False),
        sa.Column("generation", sa.BigInteger(), nullable=False),
        sa.Column("salt", sa.String(length=64), nullable=False),
        sa.Column("token_hash", sa.String(length=64), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("expires_at", TIME, nullable=False),
        sa.Column("opened_at", TIME, nullable=True),
        sa.Column("opens", sa.BigInteger(), nullable=False),
        sa.Column("claimed_at", TIME, nullable=True),
        sa.Column("attempts", sa.BigInteger(), nullable=False),
        sa.Column("catalog_item_id", sa.Uuid(), nullable=True),
        sa.Column("provider", sa.String(length=64), nullable=True),
        sa.Column("provider_reference", sa.String(length=200), nullable=True),
        sa.Column("redeemed_at", TIME, nullable=True),
        sa.Column("revoked_at", TIME, nullable=True),
        sa.Column("last_error", sa.String(length=1000), nullable=True),
        sa.Column("updated_at", TIME, nullable=False),
        *_tenant("reward_links"),
        sa.ForeignKeyConstraint(
            ["catalog_item_id"],
            ["catalog_items.id"],
            name=op.f("fk_reward_links_catalog_item_id_catalog_items"),
        ),
        sa.ForeignKeyConstraint(
            ["event_id"],
            ["completion_events.id"],
            name=op.f("fk_reward_links_event_id_completion_events"),
        ),
        sa.ForeignKeyConstraint(
            ["learner_id"], ["learners.id"], name=op.f("fk_reward_links_learner_id_learners")
        ),
        sa.ForeignKeyConstraint(
            ["program_id"], ["programs.id"], name=op.f("fk_reward_links_program_id_programs")
        ),
        sa.ForeignKeyConstraint(
            ["reward_id"], ["rewards.id"], name=op.f("fk_reward_links_reward_id_rewards")
        ),
        sa.UniqueConstraint(
            "reward_id", "generation", name=op.f("uq_reward_links_reward_id_generation")
        ),
        sa.UniqueConstraint("token_hash", name=op.f("uq_reward_links_token_hash")),
    )
    op.create_index(
        op.f("ix_reward_links_organization_id_reward_id"),
        "reward_links",
        ["organization_id", "reward_id"],
        unique=False,
    )
    op.create_index(
        op.f("ix_reward_links_status_expires_at"),
        "reward_links",
        ["status", "expires_at"],
        unique=False,
    )


def downgrade() -> None:
    op.drop_index(op.f("ix_reward_links_status_expires_at"), table_name="reward_links")
    op.drop_index(op.f("ix_reward_links_organization_id_reward_id"), table_name="reward_links")
    op.drop_table("reward_links")
    op.drop_table("reward_conversions")
    op.drop_table("link_settings")
    op.drop_index(op.f("ix_catalog_items_organization_id_active"), table_name="catalog_items")
    op.drop_table("catalog_items")
