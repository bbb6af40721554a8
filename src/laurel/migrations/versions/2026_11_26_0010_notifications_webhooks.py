"""email outbox and outgoing webhooks

Revision ID: 0010
Revises: 0009
Create Date: 2026-11-26 06:00:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0010"
down_revision: str | None = "0009"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

JSON = sa.JSON().with_variant(postgresql.JSONB(), "postgresql")


def upgrade() -> None:
    op.create_table(
        "email_settings",
        sa.Column("enabled", sa.Boolean(), nullable=False),
        sa.Column("sender_address", sa.String(length=320), nullable=True),
        sa.Column("sender_name", sa.String(length=200), nullable=True),
        sa.Column("reply_to", sa.String(length=320), nullable=True),
        sa.Column("admin_recipients", JSON, nullable=False),
        sa.Column("learner_emails", sa.Boolean(), nullable=False),
        sa.Column("test_mode", sa.Boolean(), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("organization_id", sa.Uuid(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.ForeignKeyConstraint(
            ["organization_id"],
            ["organizations.id"],
            name=op.f("fk_email_settings_organization_id_organizations"),
            ondelete="RESTRICT",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_email_settings")),
        sa.UniqueConstraint("organization_id", name=op.f("uq_email_settings_organization_id")),
    )
    op.create_table(
        "webhook_subscriptions",
        sa.Column("livemode", sa.Boolean(), nullable=False),
        sa.Column("url", sa.String(length=2000), nullable=False),
        sa.Column("event_types", JSON, nullable=False),
        sa.Column("description", sa.String(length=200), nullable=True),
        sa.Column("secret_sealed", sa.String(length=500), nullable=False),
        sa.Column("secret_hint", sa.String(length=16), nullable=False),
        sa.Column("enabled", sa.Boolean(), nullable=False),
        sa.Column("disabled_reason", sa.String(length=200), nullable=True),
        sa.Column("disabled_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("deleted_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("organization_id", sa.Uuid(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.ForeignKeyConstraint(
            ["organization_id"],
            ["organizations.id"],
            name=op.f("fk_webhook_subscriptions_organization_id_organizations"),
            ondelete="RESTRICT",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_webhook_subscriptions")),
    )
    op.create_index(
        op.f("ix_webhook_subscriptions_organization_id_livemode"),
        "webhook_subscriptions",
        ["organization_id", "livemode"],
        unique=False,
    )
    op.create_table(
        "email_outbox",
        sa.Column("livemode", sa.Boolean(), nullable=False),
        sa.Column("template", sa.String(length=64), nullable=False),
        sa.Column("reward_id", sa.Uuid(), nullable=True),
        sa.Column("learner_id", sa.Uuid(), nullable=True),
        sa.Column("recipient", sa.String(length=320), nullable=True),
        sa.Column("locale", sa.String(length=35), nullable=True),
        sa.Column("context", JSON, nullable=False),
        sa.Column("dedupe_key", sa.String(length=200), nullable=True),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("attempts", sa.BigInteger(), nullable=False),
        sa.Column("next_attempt_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("lease_expires_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("last_error", sa.String(length=1000), nullable=True),
        sa.Column("message_id", sa.String(length=200), nullable=True),
        sa.Column("sent_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("organization_id", sa.Uuid(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.ForeignKeyConstraint(
            ["learner_id"], ["learners.id"], name=op.f("fk_email_outbox_learner_id_learners")
        ),
        sa.ForeignKeyConstraint(
            ["organization_id"],
            ["organizations.id"],
            name=op.f("fk_email_outbox_organization_id_organizations"),
            ondelete="RESTRICT",
        ),
        sa.ForeignKeyConstraint(
            ["reward_id"], ["rewards.id"], name=op.f("fk_email_outbox_reward_id_rewards")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_email_outbox")),
        sa.UniqueConstraint(
            "organization_id", "dedupe_key", name=op.f("uq_email_outbox_organization_id_dedupe_key")
        ),
    )
    op.create_index(
        op.f("ix_email_outbox_organization_id_created_at"),
        "email_outbox",
        ["organization_id", "created_at"],
        unique=False,
    )
    op.create_index(
        op.f("ix_email_outbox_organization_id_reward_id"),
        "email_outbox",
        ["organization_id", "reward_id"],
        unique=False,
    )
    op.create_index(
        op.f("ix_email_outbox_status_next_attempt_at"),
        "email_outbox",
        ["status", "next_attempt_at"],
        unique=False,
    )
    op.create_table(
        "webhook_messages",
        sa.Column("livemode", sa.Boolean(), nullable=False),
        sa.Column("subscription_id", sa.Uuid(), nullable=False),
        sa.Column("event_id", sa.String(length=64), nullable=False),
        sa.Column("event_type", sa.String(length=64), nullable=False),
        sa.Column("reward_id", sa.Uuid(), nullable=True),
        sa.Column("body", sa.Text(), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("attempts", sa.BigInteger(), nullable=False),
        sa.Column("next_attempt_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("lease_expires_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("last_attempt_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("last_status_code", sa.BigInteger(), nullable=True),
        sa.Column("last_error", sa.String(length=1000), nullable=True),
        sa.Column("succeeded_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("manual", sa.Boolean(), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("organization_id", sa.Uuid(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.ForeignKeyConstraint(
            ["organization_id"],
            ["organizations.id"],
            name=op.f("fk_webhook_messages_organization_id_organizations"),
            ondelete="RESTRICT",
        ),
        sa.ForeignKeyConstraint(
            ["reward_id"], ["rewards.id"], name=op.f("fk_webhook_messages_reward_id_rewards")
        ),
        sa.ForeignKeyConstraint(
            ["subscription_id"],
            ["webhook_subscriptions.id"],
            name=op.f("fk_webhook_messages_subscription_id_webhook_subscriptions"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_webhook_messages")),
        sa.UniqueConstraint(
            "subscription_id", "event_id", name=op.f("uq_webhook_messages_subscription_id_event_id")
        ),
    )
    op.create_index(
        op.f("ix_webhook_messages_organization_id_subscription_id_created_at"),
        "webhook_messages",
        ["organization_id", "subscription_id", "created_at"],
        unique=False,
    )
    op.create_index(
        op.f("ix_webhook_messages_status_next_attempt_at"),
        "webhook_messages",
        ["status", "next_attempt_at"],
        unique=False,
    )
    op.create_table(
        "webhook_attempts",
        sa.Column("message_id", sa.Uuid(), nullable=False),
        sa.Column("number", sa.BigInteger(), nullable=False),
        sa.Column("trigger", sa.String(length=16), nullable=False),
        sa.Column("status_code", sa.BigInteger(), nullable=True),
        sa.Column("latency_ms", sa.BigInteger(), nullable=False),
        sa.Column("response_excerpt", sa.String(length=1000), nullable=True),
        sa.Column("error", sa.String(length=1000), nullable=True),
        sa.Column("succeeded", sa.Boolean(), nullable=False),
        sa.Column("organization_id", sa.Uuid(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.ForeignKeyConstraint(
            ["message_id"],
            ["webhook_messages.id"],
            name=op.f("fk_webhook_attempts_message_id_webhook_messages"),
        ),
        sa.ForeignKeyConstraint(
            ["organization_id"],
            ["organizations.id"],
            name=op.f("fk_webhook_attempts_organization_id_organizations"),
            ondelete="RESTRICT",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_webhook_attempts")),
    )
    op.create_index(
        op.f("ix_webhook_attempts_organization_id_message_id_created_at"),
        "webhook_attempts",
        ["organization_id", "message_id", "created_at"],
        unique=False,
    )


def downgrade() -> None:
    op.drop_table("webhook_attempts")
    op.drop_table("webhook_messages")
    op.drop_table("email_outbox")
    op.drop_table("webhook_subscriptions")
    op.drop_table("email_settings")
