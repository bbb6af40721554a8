"""webhook connectors, secrets, dead letters

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-26 03:00:00
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0004"
down_revision: str | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_JSON = sa.JSON().with_variant(postgresql.JSONB(), "postgresql")


def _tenant_columns(table: str) -> list[Any]:
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
        "connector_configs",
        sa.Column("connector", sa.String(length=64), nullable=False),
        sa.Column("mapping", _JSON, nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        *_tenant_columns("connector_configs"),
        sa.UniqueConstraint(
            "organization_id",
            "connector",
            name=op.f("uq_connector_configs_organization_id_connector"),
        ),
    )
    op.create_table(
        "connector_secrets",
        sa.Column("connector", sa.String(length=64), nullable=False),
        sa.Column("livemode", sa.Boolean(), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("hint", sa.String(length=16), nullable=False),
        sa.Column("secret_encrypted", sa.Text(), nullable=False),
        sa.Column("last_used_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("retired_at", sa.DateTime(timezone=True), nullable=True),
        *_tenant_columns("connector_secrets"),
    )
    op.create_index(
        op.f("ix_connector_secrets_organization_id_connector"),
        "connector_secrets",
        ["organization_id", "connector"],
        unique=False,
    )
    op.create_table(
        "dead_letters",
        sa.Column("connector", sa.String(length=64), nullable=False),
        sa.Column("livemode", sa.Boolean(), nullable=False),
        sa.Column("state", sa.String(length=16), nullable=False),
        sa.Column("reason", sa.String(length=64), nullable=False),
        sa.Column("message", sa.Text(), nullable=False),
        sa.Column("errors", _JSON, nullable=False),
        sa.Column("body", sa.LargeBinary(), nullable=False),
        sa.Column("headers", _JSON, nullable=False),
        sa.Column("query", _JSON, nullable=False),
        sa.Column("received_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("replays", sa.BigInteger(), nullable=False),
        sa.Column("last_replayed_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("resolved_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("event_ids", _JSON, nullable=False),
        *_tenant_columns("dead_letters"),
    )
    op.create_index(
        op.f("ix_dead_letters_organization_id_livemode_state_connector"),
        "dead_letters",
        ["organization_id", "livemode", "state", "connector"],
        unique=False,
    )
    op.create_table(
        "poll_cursors",
        sa.Column("connector", sa.String(length=64), nullable=False),
        sa.Column("livemode", sa.Boolean(), nullable=False),
        sa.Column("position", _JSON, nullable=False),
        sa.Column("last_polled_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("last_error", sa.Text(), nullable=True),
        *_tenant_columns("poll_cursors"),
        sa.UniqueConstraint(
            "organization_id",
            "connector",
            "livemode",
            name=op.f("uq_poll_cursors_organization_id_connector_livemode"),
        ),
    )


def downgrade() -> None:
    op.drop_table("poll_cursors")
    op.drop_index(
        op.f("ix_dead_letters_organization_id_livemode_state_connector"), table_name="dead_letters"
    )
    op.drop_table("dead_letters")
    op.drop_index(
        op.f("ix_connector_secrets_organization_id_connector"), table_name="connector_secrets"
    )
    op.drop_table("connector_secrets")
    op.drop_table("connector_configs")
