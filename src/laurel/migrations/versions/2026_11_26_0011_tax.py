"""tax treatment, thresholds, forms

Revision ID: 0011
Revises: 0010
Create Date: 2026-11-26 06:00:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0011"
down_revision: str | None = "0010"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

JSON = sa.JSON().with_variant(postgresql.JSONB(), "postgresql")


def upgrade() -> None:
    op.create_table(
        "tax_settings",
        sa.Column("organization_id", sa.Uuid(), nullable=False),
        sa.Column("payer_name", sa.String(length=80), nullable=True),
        sa.Column("payer_name_2", sa.String(length=80), nullable=True),
        sa.Column("payer_tin_sealed", sa.String(length=400), nullable=True),
        sa.Column("payer_tin_last4", sa.String(length=4), nullable=True),
        sa.Column("payer_address", sa.String(length=80), nullable=True),
        sa.Column("payer_city", sa.String(length=80), nullable=True),
        sa.Column("payer_state", sa.String(length=2), nullable=True),
        sa.Column("payer_zip", sa.String(length=10), nullable=True),
        sa.Column("payer_phone", sa.String(length=20), nullable=True),
        sa.Column("payer_email", sa.String(length=120), nullable=True),
        sa.Column("contact_name", sa.String(length=80), nullable=True),
        sa.Column("fire_tcc", sa.String(length=5), nullable=True),
        sa.Column("vendor_indicator", sa.String(length=1), nullable=False),
        sa.Column("timezone", sa.String(length=64), nullable=False),
        sa.Column("employee_treatment", sa.String(length=16), nullable=False),
        sa.Column("missing_tin_policy", sa.String(length=24), nullable=False),
        sa.Column("request_at_minor", sa.BigInteger(), nullable=False),
        sa.Column("program_income", JSON, nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.ForeignKeyConstraint(
            ["organization_id"],
            ["organizations.id"],
            name=op.f("fk_tax_settings_organization_id_organizations"),
            ondelete="RESTRICT",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_tax_settings")),
        sa.UniqueConstraint("organization_id", name=op.f("uq_tax_settings_organization_id")),
    )
    op.create_table(
        "tax_thresholds",
        sa.Column("tax_year", sa.BigInteger(), nullable=False),
        sa.Column("amount_minor", sa.BigInteger(), nullable=False),
        sa.Column("updated_by", sa.String(length=200), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("organization_id", sa.Uuid(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.ForeignKeyConstraint(
            ["organization_id"],
            ["organizations.id"],
            name=op.f("fk_tax_thresholds_organization_id_organizations"),
            ondelete="RESTRICT",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_tax_thresholds")),
        sa.UniqueConstraint(
            "organization_id", "tax_year", name=op.f("uq_tax_thresholds_organization_id_tax_year")
        ),
    )
    op.create_table(
        "tax_form_requests",
        sa.Column("livemode", sa.Boolean(), nullable=False),
        sa.Column("learner_id", sa.Uuid(), nullable=False),
        sa.Column("form", sa.String(length=8), nullable=False),
        sa.Column("token_hash", sa.String(length=64), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("open_slot", sa.String(length=40), nullable=False),
        sa.Column("reason", sa.String(length=32), nullable=False),
        sa.Column("locale", sa.String(length=35), nullable=False),
        sa.Column("recipient_email", sa.String(length=320), nullable=True),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("submitted_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("organization_id", sa.Uuid(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.ForeignKeyConstraint(
            ["learner_id"], ["learners.id"], name=op.f("fk_tax_form_requests_learner_id_learners")
        ),
        sa.ForeignKeyConstraint(
            ["organization_id"],
            ["organizations.id"],
            name=op.f("fk_tax_form_requests_organization_id_organizations"),
            ondelete="RESTRICT",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_tax_form_requests")),
        sa.UniqueConstraint(
            "organization_id",
            "livemode",
            "learner_id",
            "open_slot",
            name=op.f("uq_tax_form_requests_organization_id_livemode_learner_id_open_slot"),
        ),
        sa.UniqueConstraint("token_hash", name=op.f("uq_tax_form_requests_token_hash")),
    )
    op.create_index(
        op.f("ix_tax_form_requests_organization_id_status"),
        "tax_form_requests",
        ["organization_id", "status"],
        unique=False,
    )
    op.create_table(
        "tax_profiles",
        sa.Column("livemode", sa.Boolean(), nullable=False),
        sa.Column("learner_id", sa.Uuid(), nullable=False),
        sa.Column("form", sa.String(length=8), nullable=False),
        sa.Column("name_type", sa.String(length=1), nullable=False),
        sa.Column("first_name", sa.String(length=80), nullable=True),
        sa.Column("middle_name", sa.String(length=80), nullable=True),
        sa.Column("last_name", sa.String(length=80), nullable=True),
        sa.Column("suffix", sa.String(length=10), nullable=True),
        sa.Column("business_name", sa.String(length=80), nullable=True),
        sa.Column("tin_type", sa.String(length=4), nullable=True),
        sa.Column("tin_sealed", sa.String(length=400), nullable=True),
        sa.Column("tin_last4", sa.String(length=4), nullable=True),
        sa.Column("foreign_tin_sealed", sa.String(length=400), nullable=True),
        sa.Column("address", sa.String(length=80), nullable=False),
        sa.Column("address_2", sa.String(length=80), nullable=True),
        sa.Column("city", sa.String(length=80), nullable=False),
        sa.Column("state", sa.String(length=40), nullable=True),
        sa.Column("postal_code", sa.String(length=16), nullable=True),
        sa.Column("country", sa.String(length=2), nullable=False),
        sa.Column("citizenship", sa.String(length=2), nullable=True),
        sa.Column("birth_date", sa.Date(), nullable=True),
        sa.Column("second_tin_notice", sa.Boolean(), nullable=False),
        sa.Column("signed_name", sa.String(length=160), nullable=False),
        sa.Column("received_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("received_via", sa.String(length=200), nullable=False),
        sa.Column("organization_id", sa.Uuid(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.ForeignKeyConstraint(
            ["learner_id"], ["learners.id"], name=op.f("fk_tax_profiles_learner_id_learners")
        ),
        sa.ForeignKeyConstraint(
            ["organization_id"],
            ["organizations.id"],
            name=op.f("fk_tax_profiles_organization_id_organizations"),
            ondelete="RESTRICT",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_tax_profiles")),
        sa.UniqueConstraint(
            "organization_id",
            "livemode",
            "learner_id",
            name=op.f("uq_tax_profiles_organization_id_livemode_learner_id"),
        ),
    )
    op.create_table(
        "tax_records",
        sa.Column("livemode", sa.Boolean(), nullable=False),
        sa.Column("source", sa.String(length=16), nullable=False),
        sa.Column("source_id", sa.String(length=64), nullable=False),
        sa.Column("reward_id", sa.Uuid(), nullable=True),
        sa.Column("learner_id", sa.Uuid(), nullable=False),
        sa.Column("program_id", sa.Uuid(), nullable=True),
        sa.Column("classification", sa.String(length=32), nullable=False),
        sa.Column("treatment", sa.String(length=32), nullable=False),
        sa.Column("form_type", sa.String(length=16), nullable=False),
        sa.Column("box", sa.String(length=8), nullable=False),
        sa.Column("amount_minor", sa.BigInteger(), nullable=False),
        sa.Column("currency", sa.String(length=3), nullable=False),
        sa.Column("usd_minor", sa.BigInteger(), nullable=False),
        sa.Column("rate", sa.String(length=32), nullable=False),
        sa.Column("rate_date", sa.Date(), nullable=True),
        sa.Column("paid_on", sa.Date(), nullable=False),
        sa.Column("tax_year", sa.BigInteger(), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("backup_withholding", sa.Boolean(), nullable=False),
        sa.Column("withholding_minor", sa.BigInteger(), nullable=False),
        sa.Column("reports_1042s", sa.Boolean(), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("organization_id", sa.Uuid(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.ForeignKeyConstraint(
            ["learner_id"], ["learners.id"], name=op.f("fk_tax_records_learner_id_learners")
        ),
        sa.ForeignKeyConstraint(
            ["organization_id"],
            ["organizations.id"],
            name=op.f("fk_tax_records_organization_id_organizations"),
            ondelete="RESTRICT",
        ),
        sa.ForeignKeyConstraint(
            ["reward_id"], ["rewards.id"], name=op.f("fk_tax_records_reward_id_rewards")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_tax_records")),
        sa.UniqueConstraint(
            "organization_id",
            "source",
            "source_id",
            name=op.f("uq_tax_records_organization_id_source_source_id"),
        ),
    )
    op.create_index(
        op.f("ix_tax_records_organization_id_livemode_tax_year_learner_id"),
        "tax_records",
        ["organization_id", "livemode", "tax_year", "learner_id"],
        unique=False,
    )


def downgrade() -> None:
    op.drop_index(
        op.f("ix_tax_records_organization_id_livemode_tax_year_learner_id"),
        table_name="tax_records",
    )
    op.drop_table("tax_records")
    op.drop_table("tax_profiles")
    op.drop_index(
        op.f("ix_tax_form_requests_organization_id_status"), table_name="tax_form_requests"
    )
    op.drop_table("tax_form_requests")
    op.drop_table("tax_thresholds")
    op.drop_table("tax_settings")
