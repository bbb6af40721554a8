"""enrolments and program holdout (control groups)

Revision ID: 0016
Revises: 0015
Create Date: 2026-11-26 06:30:00
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import sqlalchemy as sa
from alembic import op

revision: str = "0016"
down_revision: str | None = "0015"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def _tenant(table: str) -> list[Any]:
    return [
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("organization_id", sa.Uuid(), nullable=False),
        sa.ForeignKeyConstraint(
            ["organization_id"],
            ["organizations.id"],
            name=op.f(f"fk_{table}_organization_id_organizations"),
            ondelete="RESTRICT",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f(f"pk_{table}")),
    ]


def upgrade() -> None:
    with op.batch_alter_table("program_versions") as batch:
        batch.add_column(
            sa.Column("holdout_bps", sa.BigInteger(), server_default="0", nullable=False)
        )
    op.create_table(
        "holdout_assignments",
        sa.Column("livemode", sa.Boolean(), nullable=False),
        sa.Column("program_id", sa.Uuid(), nullable=False),
        sa.Column("learner_id", sa.Uuid(), nullable=False),
        sa.Column("control", sa.Boolean(), nullable=False),
        sa.Column("share_bps", sa.BigInteger(), nullable=False),
        sa.Column("assigned_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        *_tenant("holdout_assignments"),
        sa.ForeignKeyConstraint(
            ["program_id"], ["programs.id"], name=op.f("fk_holdout_assignments_program_id_programs")
        ),
        sa.ForeignKeyConstraint(
            ["learner_id"], ["learners.id"], name=op.f("fk_holdout_assignments_learner_id_learners")
        ),
        sa.UniqueConstraint(
            "program_id", "learner_id", name=op.f("uq_holdout_assignments_program_id_learner_id")
        ),
    )
    op.create_table(
        "enrolments",
        sa.Column("livemode", sa.Boolean(), nullable=False),
        sa.Column("learner_id", sa.Uuid(), nullable=False),
        sa.Column("course_id", sa.Uuid(), nullable=False),
        sa.Column("enrolled_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("source", sa.String(length=32), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        *_tenant("enrolments"),
        sa.ForeignKeyConstraint(
            ["learner_id"], ["learners.id"], name=op.f("fk_enrolments_learner_id_learners")
        ),
        sa.ForeignKeyConstraint(
            ["course_id"], ["courses.id"], name=op.f("fk_enrolments_course_id_courses")
        ),
        sa.UniqueConstraint(
            "organization_id",
            "livemode",
            "learner_id",
            "course_id",
            name=op.f("uq_enrolments_organization_id_livemode_learner_id_course_id"),
        ),
    )
    op.create_index(
        op.f("ix_enrolments_organization_id_course_id"),
        "enrolments",
        ["organization_id", "course_id"],
        unique=False,
    )


def downgrade() -> None:
    op.drop_index(op.f("ix_enrolments_organization_id_course_id"), table_name="enrolments")
    op.drop_table("enrolments")
    op.drop_table("holdout_assignments")
    # A plain DROP COLUMN (SQLite 3.35+): rebuilding a table other tables refer to would fail.
    op.drop_column("program_versions", "holdout_bps")
