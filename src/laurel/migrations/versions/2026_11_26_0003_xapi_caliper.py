"""xAPI statements and Caliper events

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-26 03:00:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0003"
down_revision: str | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_JSON = sa.JSON().with_variant(postgresql.JSONB(), "postgresql")


def _tenant_columns(table: str) -> list[sa.schema.SchemaItem]:
    return [
        sa.Column("organization_id", sa.Uuid(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
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
        "xapi_statements",
        sa.Column("livemode", sa.Boolean(), nullable=False),
        sa.Column("statement_id", sa.Uuid(), nullable=False),
        sa.Column("body_hash", sa.String(length=64), nullable=False),
        sa.Column("verb", sa.String(length=2048), nullable=False),
        sa.Column("learner_key", sa.String(length=200), nullable=True),
        sa.Column("object_id", sa.String(length=2048), nullable=True),
        sa.Column("registration", sa.Uuid(), nullable=True),
        sa.Column("voided", sa.Boolean(), nullable=False),
        sa.Column("event_id", sa.Uuid(), nullable=True),
        sa.Column("outcome", sa.String(length=32), nullable=True),
        sa.Column("note", sa.String(length=500), nullable=False),
        sa.Column("statement", _JSON, nullable=False),
        *_tenant_columns("xapi_statements"),
        sa.ForeignKeyConstraint(
            ["event_id"],
            ["completion_events.id"],
            name=op.f("fk_xapi_statements_event_id_completion_events"),
        ),
        sa.UniqueConstraint(
            "organization_id",
            "livemode",
            "statement_id",
            name=op.f("uq_xapi_statements_organization_id_livemode_statement_id"),
        ),
    )
    op.create_index(
        "ix_xapi_statements_registration",
        "xapi_statements",
        ["organization_id", "livemode", "registration", "object_id"],
    )
    op.create_table(
        "xapi_reviews",
        sa.Column("livemode", sa.Boolean(), nullable=False),
        sa.Column("reward_id", sa.Uuid(), nullable=False),
        sa.Column("voided_statement_id", sa.Uuid(), nullable=False),
        sa.Column("voiding_statement_id", sa.Uuid(), nullable=False),
        sa.Column("reward_state", sa.String(length=16), nullable=False),
        sa.Column("state", sa.String(length=16), nullable=False),
        sa.Column("reason", sa.String(length=500), nullable=False),
        *_tenant_columns("xapi_reviews"),
        sa.ForeignKeyConstraint(
            ["reward_id"], ["rewards.id"], name=op.f("fk_xapi_reviews_reward_id_rewards")
        ),
        sa.UniqueConstraint(
            "reward_id",
            "voided_statement_id",
            name=op.f("uq_xapi_reviews_reward_id_voided_statement_id"),
        ),
    )
    op.create_table(
        "caliper_events",
        sa.Column("livemode", sa.Boolean(), nullable=False),
        sa.Column("event_key", sa.String(length=300), nullable=False),
        sa.Column("body_hash", sa.String(length=64), nullable=False),
        sa.Column("type", sa.String(length=64), nullable=False),
        sa.Column("action", sa.String(length=64), nullable=False),
        sa.Column("sensor", sa.String(length=2048), nullable=False),
        sa.Column("data_version", sa.String(length=200), nullable=False),
        sa.Column("event_id", sa.Uuid(), nullable=True),
        sa.Column("outcome", sa.String(length=32), nullable=True),
        sa.Column("note", sa.String(length=500), nullable=False),
        sa.Column("event", _JSON, nullable=False),
        *_tenant_columns("caliper_events"),
        sa.ForeignKeyConstraint(
            ["event_id"],
            ["completion_events.id"],
            name=op.f("fk_caliper_events_event_id_completion_events"),
        ),
        sa.UniqueConstraint(
            "organization_id",
            "livemode",
            "event_key",
            name=op.f("uq_caliper_events_organization_id_livemode_event_key"),
        ),
    )


def downgrade() -> None:
    op.drop_table("caliper_events")
    op.drop_table("xapi_reviews")
    op.drop_index("ix_xapi_statements_registration", table_name="xapi_statements")
    op.drop_table("xapi_statements")
