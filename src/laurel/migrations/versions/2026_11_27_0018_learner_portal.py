"""learner portal: learner sign-in links and sessions

Revision ID: 0018
Revises: 0017
Create Date: 2026-11-26 09:00:00
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import sqlalchemy as sa
from alembic import op

revision: str = "0018"
down_revision: str | None = "0017"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def _tenant(table: str) -> list[Any]:
    return [
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("organization_id", sa.Uuid(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["organization_id"],
            ["organizations.id"],
            name=op.f(f"fk_{table}_organization_id_organizations"),
            ondelete="RESTRICT",
        ),
        sa.ForeignKeyConstraint(
            ["learner_id"],
            ["learners.id"],
            name=op.f(f"fk_{table}_learner_id_learners"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f(f"pk_{table}")),
    ]


def upgrade() -> None:
    op.create_table(
        "learner_sign_in_links",
        sa.Column("learner_id", sa.Uuid(), nullable=False),
        sa.Column("token_hash", sa.String(length=64), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("used_at", sa.DateTime(timezone=True), nullable=True),
        *_tenant("learner_sign_in_links"),
        sa.UniqueConstraint("token_hash", name=op.f("uq_learner_sign_in_links_token_hash")),
    )
    op.create_index(
        op.f("ix_learner_sign_in_links_organization_id_learner_id_created_at"),
        "learner_sign_in_links",
        ["organization_id", "learner_id", "created_at"],
    )
    op.create_table(
        "learner_sessions",
        sa.Column("learner_id", sa.Uuid(), nullable=False),
        sa.Column("token_hash", sa.String(length=64), nullable=False),
        sa.Column("csrf_hash", sa.String(length=64), nullable=False),
        sa.Column("method", sa.String(length=16), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("last_seen_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("revoked_at", sa.DateTime(timezone=True), nullable=True),
        *_tenant("learner_sessions"),
        sa.UniqueConstraint("token_hash", name=op.f("uq_learner_sessions_token_hash")),
    )
    op.create_index(op.f("ix_learner_sessions_learner_id"), "learner_sessions", ["learner_id"])


def downgrade() -> None:
    op.drop_index(op.f("ix_learner_sessions_learner_id"), table_name="learner_sessions")
    op.drop_table("learner_sessions")
    op.drop_index(
        op.f("ix_learner_sign_in_links_organization_id_learner_id_created_at"),
        table_name="learner_sign_in_links",
    )
    op.drop_table("learner_sign_in_links")
