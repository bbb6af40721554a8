"""points ledger and gamification

Revision ID: 0015
Revises: 0014
Create Date: 2026-11-26 06:00:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0015"
down_revision: str | None = "0014"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

JSON = sa.JSON().with_variant(postgresql.JSONB(), "postgresql")

# Entries are immutable: corrections are new transactions. The database refuses UPDATE and
# DELETE on them (TRUNCATE, which only an operator runs, is not a row change).
_SQLITE_TRIGGERS = [
    "CREATE TRIGGER points_entries_no_update BEFORE UPDATE ON points_entries "
    "BEGIN SELECT RAISE(ABORT, 'points entries are immutable'); END",
    "CREATE TRIGGER points_entries_no_delete BEFORE DELETE ON points_entries "
    "BEGIN SELECT RAISE(ABORT, 'points entries are immutable'); END",
]
_PG_TRIGGERS = [
    "CREATE FUNCTION points_entries_immutable() RETURNS trigger LANGUAGE plpgsql AS "
    "$$ BEGIN RAISE EXCEPTION 'points entries are immutable'; END $$",
    "CREATE TRIGGER points_entries_immutable BEFORE UPDATE OR DELETE ON points_entries "
    "FOR EACH ROW EXECUTE FUNCTION points_entries_immutable()",
]


def upgrade() -> None:
    op.create_table(
        "points_badges",
        sa.Column("key", sa.String(length=64), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("description", sa.String(length=2000), nullable=False),
        sa.Column("image_url", sa.String(length=2000), nullable=True),
        sa.Column("criteria", JSON, nullable=False),
        sa.Column("active", sa.Boolean(), nullable=False),
        sa.Column("organization_id", sa.Uuid(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.ForeignKeyConstraint(
            ["organization_id"],
            ["organizations.id"],
            name=op.f("fk_points_badges_organization_id_organizations"),
            ondelete="RESTRICT",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_points_badges")),
        sa.UniqueConstraint(
            "organization_id", "key", name=op.f("uq_points_badges_organization_id_key")
        ),
    )
    op.create_table(
        "points_offers",
        sa.Column("catalog_item_id", sa.Uuid(), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("value_minor", sa.BigInteger(), nullable=False),
        sa.Column("currency", sa.String(length=3), nullable=False),
        sa.Column("sku", sa.String(length=200), nullable=True),
        sa.Column("points", sa.BigInteger(), nullable=False),
        sa.Column("active", sa.Boolean(), nullable=False),
        sa.Column("organization_id", sa.Uuid(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.ForeignKeyConstraint(
            ["organization_id"],
            ["organizations.id"],
            name=op.f("fk_points_offers_organization_id_organizations"),
            ondelete="RESTRICT",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_points_offers")),
        sa.UniqueConstraint(
            "organization_id",
            "catalog_item_id",
            "value_minor",
            name=op.f("uq_points_offers_organization_id_catalog_item_id_value_minor"),
        ),
    )
    op.create_table(
        "points_accounts",
        sa.Column("livemode", sa.Boolean(), nullable=False),
        sa.Column("key", sa.String(length=100), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("learner_id", sa.Uuid(), nullable=True),
        sa.Column("program_id", sa.Uuid(), nullable=True),
        sa.Column("balance", sa.BigInteger(), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("organization_id", sa.Uuid(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.CheckConstraint(
            "kind <> 'wallet' OR balance >= 0", name=op.f("ck_points_accounts_wallet_not_negative")
        ),
        sa.ForeignKeyConstraint(
            ["learner_id"], ["learners.id"], name=op.f("fk_points_accounts_learner_id_learners")
        ),
        sa.ForeignKeyConstraint(
            ["organization_id"],
            ["organizations.id"],
            name=op.f("fk_points_accounts_organization_id_organizations"),
            ondelete="RESTRICT",
        ),
        sa.ForeignKeyConstraint(
            ["program_id"], ["programs.id"], name=op.f("fk_points_accounts_program_id_programs")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_points_accounts")),
        sa.UniqueConstraint(
            "organization_id",
            "livemode",
            "key",
            name=op.f("uq_points_accounts_organization_id_livemode_key"),
        ),
    )
    op.create_table(
        "points_badge_awards",
        sa.Column("livemode", sa.Boolean(), nullable=False),
        sa.Column("badge_id", sa.Uuid(), nullable=False),
        sa.Column("learner_id", sa.Uuid(), nullable=False),
        sa.Column("period", sa.String(length=8), nullable=False),
        sa.Column("evidence", JSON, nullable=False),
        sa.Column("awarded_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("organization_id", sa.Uuid(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.ForeignKeyConstraint(
            ["badge_id"],
            ["points_badges.id"],
            name=op.f("fk_points_badge_awards_badge_id_points_badges"),
        ),
        sa.ForeignKeyConstraint(
            ["learner_id"], ["learners.id"], name=op.f("fk_points_badge_awards_learner_id_learners")
        ),
        sa.ForeignKeyConstraint(
            ["organization_id"],
            ["organizations.id"],
            name=op.f("fk_points_badge_awards_organization_id_organizations"),
            ondelete="RESTRICT",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_points_badge_awards")),
        sa.UniqueConstraint(
            "organization_id",
            "livemode",
            "badge_id",
            "learner_id",
            "period",
            name=op.f("uq_points_badge_awards_organization_id_livemode_badge_id_learner_id_period"),
        ),
    )
    op.create_index(
        op.f("ix_points_badge_awards_organization_id_livemode_learner_id"),
        "points_badge_awards",
        ["organization_id", "livemode", "learner_id"],
        unique=False,
    )
    op.create_table(
        "points_expiry_notices",
        sa.Column("livemode", sa.Boolean(), nullable=False),
        sa.Column("learner_id", sa.Uuid(), nullable=False),
        sa.Column("expires_on", sa.Date(), nullable=False),
        sa.Column("points", sa.BigInteger(), nullable=False),
        sa.Column("sent_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("organization_id", sa.Uuid(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.ForeignKeyConstraint(
            ["learner_id"],
            ["learners.id"],
            name=op.f("fk_points_expiry_notices_learner_id_learners"),
        ),
        sa.ForeignKeyConstraint(
            ["organization_id"],
            ["organizations.id"],
            name=op.f("fk_points_expiry_notices_organization_id_organizations"),
            ondelete="RESTRICT",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_points_expiry_notices")),
        sa.UniqueConstraint(
            "organization_id",
            "livemode",
            "learner_id",
            "expires_on",
            name=op.f("uq_points_expiry_notices_organization_id_livemode_learner_id_expires_on"),
        ),
    )
    op.create_table(
        "points_period_totals",
        sa.Column("livemode", sa.Boolean(), nullable=False),
        sa.Column("period", sa.String(length=7), nullable=False),
        sa.Column("learner_id", sa.Uuid(), nullable=False),
        sa.Column("program_id", sa.Uuid(), nullable=False),
        sa.Column("earned", sa.BigInteger(), nullable=False),
        sa.Column("organization_id", sa.Uuid(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.ForeignKeyConstraint(
            ["learner_id"],
            ["learners.id"],
            name=op.f("fk_points_period_totals_learner_id_learners"),
        ),
        sa.ForeignKeyConstraint(
            ["organization_id"],
            ["organizations.id"],
            name=op.f("fk_points_period_totals_organization_id_organizations"),
            ondelete="RESTRICT",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_points_period_totals")),
        sa.UniqueConstraint(
            "organization_id",
            "livemode",
            "period",
            "learner_id",
            "program_id",
            name=op.f(
                "uq_points_period_totals_organization_id_livemode_period_learner_id_program_id"
            ),
        ),
    )
    op.create_index(
        "ix_points_period_totals_board",
        "points_period_totals",
        ["organization_id", "livemode", "period", "program_id", "earned", "learner_id"],
        unique=False,
    )
    op.create_table(
        "points_policies",
        sa.Column("program_id", sa.Uuid(), nullable=False),
        sa.Column("multipliers", JSON, nullable=False),
        sa.Column("streak", JSON, nullable=False),
        sa.Column("caps", JSON, nullable=False),
        sa.Column("expiry_months", sa.BigInteger(), nullable=True),
        sa.Column("notice_days", sa.BigInteger(), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_by", sa.String(length=200), nullable=False),
        sa.Column("organization_id", sa.Uuid(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.ForeignKeyConstraint(
            ["organization_id"],
            ["organizations.id"],
            name=op.f("fk_points_policies_organization_id_organizations"),
            ondelete="RESTRICT",
        ),
        sa.ForeignKeyConstraint(
            ["program_id"], ["programs.id"], name=op.f("fk_points_policies_program_id_programs")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_points_policies")),
        sa.UniqueConstraint(
            "organization_id",
            "program_id",
            name=op.f("uq_points_policies_organization_id_program_id"),
        ),
    )
    op.create_table(
        "points_preferences",
        sa.Column("livemode", sa.Boolean(), nullable=False),
        sa.Column("learner_id", sa.Uuid(), nullable=False),
        sa.Column("leaderboard_opt_out", sa.Boolean(), nullable=False),
        sa.Column("show_name", sa.Boolean(), nullable=True),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("organization_id", sa.Uuid(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.ForeignKeyConstraint(
            ["learner_id"], ["learners.id"], name=op.f("fk_points_preferences_learner_id_learners")
        ),
        sa.ForeignKeyConstraint(
            ["organization_id"],
            ["organizations.id"],
            name=op.f("fk_points_preferences_organization_id_organizations"),
            ondelete="RESTRICT",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_points_preferences")),
        sa.UniqueConstraint(
            "organization_id",
            "livemode",
            "learner_id",
            name=op.f("uq_points_preferences_organization_id_livemode_learner_id"),
        ),
    )
    op.create_table(
        "points_settings",
        sa.Column("points_per_unit", sa.BigInteger(), nullable=False),
        sa.Column("redemption_program_id", sa.Uuid(), nullable=True),
        sa.Column("grant_approval_threshold", sa.BigInteger(), nullable=True),
        sa.Column("private_countries", JSON, nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("organization_id", sa.Uuid(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.ForeignKeyConstraint(
            ["organization_id"],
            ["organizations.id"],
            name=op.f("fk_points_settings_organization_id_organizations"),
            ondelete="RESTRICT",
        ),
        sa.ForeignKeyConstraint(
            ["redemption_program_id"],
            ["programs.id"],
            name=op.f("fk_points_settings_redemption_program_id_programs"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_points_settings")),
        sa.UniqueConstraint("organization_id", name=op.f("uq_points_settings_organization_id")),
    )
    op.create_table(
        "points_streaks",
        sa.Column("livemode", sa.Boolean(), nullable=False),
        sa.Column("learner_id", sa.Uuid(), nullable=False),
        sa.Column("program_id", sa.Uuid(), nullable=False),
        sa.Column("last_week", sa.Date(), nullable=False),
        sa.Column("weeks", sa.BigInteger(), nullable=False),
        sa.Column("organization_id", sa.Uuid(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.ForeignKeyConstraint(
            ["learner_id"], ["learners.id"], name=op.f("fk_points_streaks_learner_id_learners")
        ),
        sa.ForeignKeyConstraint(
            ["organization_id"],
            ["organizations.id"],
            name=op.f("fk_points_streaks_organization_id_organizations"),
            ondelete="RESTRICT",
        ),
        sa.ForeignKeyConstraint(
            ["program_id"], ["programs.id"], name=op.f("fk_points_streaks_program_id_programs")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_points_streaks")),
        sa.UniqueConstraint(
            "organization_id",
            "livemode",
            "learner_id",
            "program_id",
            name=op.f("uq_points_streaks_organization_id_livemode_learner_id_program_id"),
        ),
    )
    op.create_table(
        "points_transactions",
        sa.Column("livemode", sa.Boolean(), nullable=False),
        sa.Column("key", sa.String(length=200), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("learner_id", sa.Uuid(), nullable=True),
        sa.Column("program_id", sa.Uuid(), nullable=True),
        sa.Column("reward_id", sa.Uuid(), nullable=True),
        sa.Column("reverses_id", sa.Uuid(), nullable=True),
        sa.Column("points", sa.BigInteger(), nullable=False),
        sa.Column("memo", sa.String(length=500), nullable=False),
        sa.Column("details", JSON, nullable=False),
        sa.Column("actor", sa.String(length=200), nullable=False),
        sa.Column("occurred_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("organization_id", sa.Uuid(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.ForeignKeyConstraint(
            ["learner_id"], ["learners.id"], name=op.f("fk_points_transactions_learner_id_learners")
        ),
        sa.ForeignKeyConstraint(
            ["organization_id"],
            ["organizations.id"],
            name=op.f("fk_points_transactions_organization_id_organizations"),
            ondelete="RESTRICT",
        ),
        sa.ForeignKeyConstraint(
            ["program_id"], ["programs.id"], name=op.f("fk_points_transactions_program_id_programs")
        ),
        sa.ForeignKeyConstraint(
            ["reverses_id"],
            ["points_transactions.id"],
            name=op.f("fk_points_transactions_reverses_id_points_transactions"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_points_transactions")),
        sa.UniqueConstraint(
            "organization_id",
            "livemode",
            "key",
            name=op.f("uq_points_transactions_organization_id_livemode_key"),
        ),
    )
    op.create_index(
        op.f("ix_points_transactions_organization_id_livemode_learner_id_id"),
        "points_transactions",
        ["organization_id", "livemode", "learner_id", "id"],
        unique=False,
    )
    op.create_table(
        "points_entries",
        sa.Column("transaction_id", sa.Uuid(), nullable=False),
        sa.Column("account_id", sa.Uuid(), nullable=False),
        sa.Column("amount", sa.BigInteger(), nullable=False),
        sa.Column("organization_id", sa.Uuid(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.ForeignKeyConstraint(
            ["account_id"],
            ["points_accounts.id"],
            name=op.f("fk_points_entries_account_id_points_accounts"),
        ),
        sa.ForeignKeyConstraint(
            ["organization_id"],
            ["organizations.id"],
            name=op.f("fk_points_entries_organization_id_organizations"),
            ondelete="RESTRICT",
        ),
        sa.ForeignKeyConstraint(
            ["transaction_id"],
            ["points_transactions.id"],
            name=op.f("fk_points_entries_transaction_id_points_transactions"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_points_entries")),
    )
    op.create_index(
        op.f("ix_points_entries_account_id_id"),
        "points_entries",
        ["account_id", "id"],
        unique=False,
    )
    op.create_index(
        op.f("ix_points_entries_transaction_id"), "points_entries", ["transaction_id"], unique=False
    )
    op.create_table(
        "points_grants",
        sa.Column("livemode", sa.Boolean(), nullable=False),
        sa.Column("request_key", sa.String(length=200), nullable=False),
        sa.Column("learner_id", sa.Uuid(), nullable=False),
        sa.Column("program_id", sa.Uuid(), nullable=True),
        sa.Column("points", sa.BigInteger(), nullable=False),
        sa.Column("reason", sa.String(length=500), nullable=False),
        sa.Column("activity", sa.String(length=64), nullable=False),
        sa.Column("state", sa.String(length=16), nullable=False),
        sa.Column("requested_by", sa.String(length=200), nullable=False),
        sa.Column("decided_by", sa.String(length=200), nullable=True),
        sa.Column("decided_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("transaction_id", sa.Uuid(), nullable=True),
        sa.Column("organization_id", sa.Uuid(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.ForeignKeyConstraint(
            ["learner_id"], ["learners.id"], name=op.f("fk_points_grants_learner_id_learners")
        ),
        sa.ForeignKeyConstraint(
            ["organization_id"],
            ["organizations.id"],
            name=op.f("fk_points_grants_organization_id_organizations"),
            ondelete="RESTRICT",
        ),
        sa.ForeignKeyConstraint(
            ["program_id"], ["programs.id"], name=op.f("fk_points_grants_program_id_programs")
        ),
        sa.ForeignKeyConstraint(
            ["transaction_id"],
            ["points_transactions.id"],
            name=op.f("fk_points_grants_transaction_id_points_transactions"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_points_grants")),
        sa.UniqueConstraint(
            "organization_id",
            "livemode",
            "request_key",
            name=op.f("uq_points_grants_organization_id_livemode_request_key"),
        ),
    )
    op.create_index(
        op.f("ix_points_grants_organization_id_state"),
        "points_grants",
        ["organization_id", "state"],
        unique=False,
    )
    op.create_table(
        "points_lots",
        sa.Column("livemode", sa.Boolean(), nullable=False),
        sa.Column("learner_id", sa.Uuid(), nullable=False),
        sa.Column("program_id", sa.Uuid(), nullable=True),
        sa.Column("transaction_id", sa.Uuid(), nullable=False),
        sa.Column("points", sa.BigInteger(), nullable=False),
        sa.Column("remaining", sa.BigInteger(), nullable=False),
        sa.Column("earned_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("organization_id", sa.Uuid(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.ForeignKeyConstraint(
            ["learner_id"], ["learners.id"], name=op.f("fk_points_lots_learner_id_learners")
        ),
        sa.ForeignKeyConstraint(
            ["organization_id"],
            ["organizations.id"],
            name=op.f("fk_points_lots_organization_id_organizations"),
            ondelete="RESTRICT",
        ),
        sa.ForeignKeyConstraint(
            ["program_id"], ["programs.id"], name=op.f("fk_points_lots_program_id_programs")
        ),
        sa.ForeignKeyConstraint(
            ["transaction_id"],
            ["points_transactions.id"],
            name=op.f("fk_points_lots_transaction_id_points_transactions"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_points_lots")),
    )
    op.create_index(op.f("ix_points_lots_expires_at"), "points_lots", ["expires_at"], unique=False)
    op.create_index(
        op.f("ix_points_lots_organization_id_livemode_learner_id_expires_at"),
        "points_lots",
        ["organization_id", "livemode", "learner_id", "expires_at"],
        unique=False,
    )
    op.create_table(
        "points_redemptions",
        sa.Column("livemode", sa.Boolean(), nullable=False),
        sa.Column("request_key", sa.String(length=200), nullable=False),
        sa.Column("learner_id", sa.Uuid(), nullable=False),
        sa.Column("offer_id", sa.Uuid(), nullable=False),
        sa.Column("points", sa.BigInteger(), nullable=False),
        sa.Column("value_minor", sa.BigInteger(), nullable=False),
        sa.Column("currency", sa.String(length=3), nullable=False),
        sa.Column("state", sa.String(length=16), nullable=False),
        sa.Column("reward_id", sa.Uuid(), nullable=True),
        sa.Column("debit_id", sa.Uuid(), nullable=False),
        sa.Column("refund_id", sa.Uuid(), nullable=True),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("organization_id", sa.Uuid(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.ForeignKeyConstraint(
            ["debit_id"],
            ["points_transactions.id"],
            name=op.f("fk_points_redemptions_debit_id_points_transactions"),
        ),
        sa.ForeignKeyConstraint(
            ["learner_id"], ["learners.id"], name=op.f("fk_points_redemptions_learner_id_learners")
        ),
        sa.ForeignKeyConstraint(
            ["offer_id"],
            ["points_offers.id"],
            name=op.f("fk_points_redemptions_offer_id_points_offers"),
        ),
        sa.ForeignKeyConstraint(
            ["organization_id"],
            ["organizations.id"],
            name=op.f("fk_points_redemptions_organization_id_organizations"),
            ondelete="RESTRICT",
        ),
        sa.ForeignKeyConstraint(
            ["refund_id"],
            ["points_transactions.id"],
            name=op.f("fk_points_redemptions_refund_id_points_transactions"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_points_redemptions")),
        sa.UniqueConstraint(
            "organization_id",
            "livemode",
            "request_key",
            name=op.f("uq_points_redemptions_organization_id_livemode_request_key"),
        ),
        sa.UniqueConstraint("reward_id", name=op.f("uq_points_redemptions_reward_id")),
    )
    op.create_index(
        op.f("ix_points_redemptions_organization_id_livemode_learner_id"),
        "points_redemptions",
        ["organization_id", "livemode", "learner_id"],
        unique=False,
    )
    # Department leaderboards (and a manager's team) read a department's learners.
    op.create_index(
        op.f("ix_learners_organization_id_livemode_department"),
        "learners",
        ["organization_id", "livemode", "department"],
        unique=False,
    )
    # A points redemption is a reward without a course or a completion event.
    with op.batch_alter_table("rewards", schema=None) as batch_op:
        batch_op.alter_column("course_id", existing_type=sa.Uuid(), nullable=True)
        batch_op.alter_column("event_id", existing_type=sa.Uuid(), nullable=True)
    triggers = _PG_TRIGGERS if op.get_bind().dialect.name == "postgresql" else _SQLITE_TRIGGERS
    for statement in triggers:
        op.execute(statement)


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute("DROP TRIGGER points_entries_immutable ON points_entries")
        op.execute("DROP FUNCTION points_entries_immutable()")
    else:
        op.execute("DROP TRIGGER points_entries_no_update")
        op.execute("DROP TRIGGER points_entries_no_delete")
    op.drop_index(op.f("ix_learners_organization_id_livemode_department"), table_name="learners")
    with op.batch_alter_table("rewards", schema=None) as batch_op:
        batch_op.alter_column("event_id", existing_type=sa.Uuid(), nullable=False)
        batch_op.alter_column("course_id", existing_type=sa.Uuid(), nullable=False)
    op.drop_index(
        op.f("ix_points_redemptions_organization_id_livemode_learner_id"),
        table_name="points_redemptions",
    )
    op.drop_table("points_redemptions")
    op.drop_index(
        op.f("ix_points_lots_organization_id_livemode_learner_id_expires_at"),
        table_name="points_lots",
    )
    op.drop_index(op.f("ix_points_lots_expires_at"), table_name="points_lots")
    op.drop_table("points_lots")
    op.drop_index(op.f("ix_points_grants_organization_id_state"), table_name="points_grants")
    op.drop_table("points_grants")
    op.drop_index(op.f("ix_points_entries_transaction_id"), table_name="points_entries")
    op.drop_index(op.f("ix_points_entries_account_id_id"), table_name="points_entries")
    op.drop_table("points_entries")
    op.drop_index(
        op.f("ix_points_transactions_organization_id_livemode_learner_id_id"),
        table_name="points_transactions",
    )
    op.drop_table("points_transactions")
    op.drop_table("points_streaks")
    op.drop_table("points_settings")
    op.drop_table("points_preferences")
    op.drop_table("points_policies")
    op.drop_index("ix_points_period_totals_board", table_name="points_period_totals")
    op.drop_table("points_period_totals")
    op.drop_table("points_expiry_notices")
    op.drop_index(
        op.f("ix_points_badge_awards_organization_id_livemode_learner_id"),
        table_name="points_badge_awards",
    )
    op.drop_table("points_badge_awards")
    op.drop_table("points_accounts")
    op.drop_table("points_offers")
    op.drop_table("points_badges")
