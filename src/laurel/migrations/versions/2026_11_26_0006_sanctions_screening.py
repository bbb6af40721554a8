"""sanctions lists and screening

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-26 03:00:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0006"
down_revision: str | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

JSON = sa.JSON().with_variant(postgresql.JSONB(), "postgresql")


def upgrade() -> None:
    op.create_table(
        "sanctions_list_versions",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("checksum", sa.String(length=64), nullable=False),
        sa.Column("list_date", sa.DateTime(timezone=True), nullable=True),
        sa.Column("list_date_source", sa.String(length=32), nullable=False),
        sa.Column("source", sa.String(length=2000), nullable=False),
        sa.Column("files", JSON, nullable=False),
        sa.Column("entries", sa.BigInteger(), nullable=False),
        sa.Column("imported_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("imported_by", sa.String(length=200), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_sanctions_list_versions")),
        sa.UniqueConstraint("checksum", name=op.f("uq_sanctions_list_versions_checksum")),
    )
    op.create_table(
        "sanctions_entries",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("list_version_id", sa.Uuid(), nullable=False),
        sa.Column("list_code", sa.String(length=8), nullable=False),
        sa.Column("ent_num", sa.BigInteger(), nullable=False),
        sa.Column("name", sa.String(length=500), nullable=False),
        sa.Column("sdn_type", sa.String(length=16), nullable=False),
        sa.Column("programs", JSON, nullable=False),
        sa.Column("remarks", sa.Text(), nullable=False),
        sa.Column("aliases", JSON, nullable=False),
        sa.Column("countries", JSON, nullable=False),
        sa.ForeignKeyConstraint(
            ["list_version_id"],
            ["sanctions_list_versions.id"],
            name=op.f("fk_sanctions_entries_list_version_id_sanctions_list_versions"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_sanctions_entries")),
        sa.UniqueConstraint(
            "list_version_id",
            "list_code",
            "ent_num",
            name=op.f("uq_sanctions_entries_list_version_id_list_code_ent_num"),
        ),
    )
    op.create_table(
        "screening_results",
        sa.Column("livemode", sa.Boolean(), nullable=False),
        sa.Column("reward_id", sa.Uuid(), nullable=True),
        sa.Column("learner_id", sa.Uuid(), nullable=True),
        sa.Column("list_version_id", sa.Uuid(), nullable=True),
        sa.Column("screen_key", sa.String(length=64), nullable=False),
        sa.Column("query_name", sa.String(length=500), nullable=True),
        sa.Column("query_country", sa.String(length=8), nullable=True),
        sa.Column("decision", sa.String(length=16), nullable=False),
        sa.Column("score", sa.Double(), nullable=True),
        sa.Column("threshold", sa.Double(), nullable=False),
        sa.Column("country_hit", sa.String(length=8), nullable=True),
        sa.Column("matches", JSON, nullable=False),
        sa.Column("actor", sa.String(length=200), nullable=False),
        sa.Column("organization_id", sa.Uuid(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.ForeignKeyConstraint(
            ["learner_id"], ["learners.id"], name=op.f("fk_screening_results_learner_id_learners")
        ),
        sa.ForeignKeyConstraint(
            ["list_version_id"],
            ["sanctions_list_versions.id"],
            name=op.f("fk_screening_results_list_version_id_sanctions_list_versions"),
        ),
        sa.ForeignKeyConstraint(
            ["organization_id"],
            ["organizations.id"],
            name=op.f("fk_screening_results_organization_id_organizations"),
            ondelete="RESTRICT",
        ),
        sa.ForeignKeyConstraint(
            ["reward_id"], ["rewards.id"], name=op.f("fk_screening_results_reward_id_rewards")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_screening_results")),
        sa.UniqueConstraint(
            "reward_id", "screen_key", name=op.f("uq_screening_results_reward_id_screen_key")
        ),
    )
    op.create_index(
        op.f("ix_screening_results_organization_id_created_at"),
        "screening_results",
        ["organization_id", "created_at"],
        unique=False,
    )
    op.create_table(
        "screening_cases",
        sa.Column("livemode", sa.Boolean(), nullable=False),
        sa.Column("reward_id", sa.Uuid(), nullable=False),
        sa.Column("learner_id", sa.Uuid(), nullable=False),
        sa.Column("result_id", sa.Uuid(), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("reviewer", sa.String(length=200), nullable=True),
        sa.Column("reason", sa.String(length=2000), nullable=True),
        sa.Column("decided_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("organization_id", sa.Uuid(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.ForeignKeyConstraint(
            ["learner_id"], ["learners.id"], name=op.f("fk_screening_cases_learner_id_learners")
        ),
        sa.ForeignKeyConstraint(
            ["organization_id"],
            ["organizations.id"],
            name=op.f("fk_screening_cases_organization_id_organizations"),
            ondelete="RESTRICT",
        ),
        sa.ForeignKeyConstraint(
            ["result_id"],
            ["screening_results.id"],
            name=op.f("fk_screening_cases_result_id_screening_results"),
        ),
        sa.ForeignKeyConstraint(
            ["reward_id"], ["rewards.id"], name=op.f("fk_screening_cases_reward_id_rewards")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_screening_cases")),
        sa.UniqueConstraint("reward_id", name=op.f("uq_screening_cases_reward_id")),
    )
    op.create_index(
        op.f("ix_screening_cases_organization_id_status"),
        "screening_cases",
        ["organization_id", "status"],
        unique=False,
    )
    op.create_table(
        "sanctions_reports",
        sa.Column("case_id", sa.Uuid(), nullable=False),
        sa.Column("reward_id", sa.Uuid(), nullable=False),
        sa.Column("learner_id", sa.Uuid(), nullable=False),
        sa.Column("reviewer", sa.String(length=200), nullable=False),
        sa.Column("details", JSON, nullable=False),
        sa.Column("due_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("organization_id", sa.Uuid(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.ForeignKeyConstraint(
            ["case_id"],
            ["screening_cases.id"],
            name=op.f("fk_sanctions_reports_case_id_screening_cases"),
        ),
        sa.ForeignKeyConstraint(
            ["learner_id"], ["learners.id"], name=op.f("fk_sanctions_reports_learner_id_learners")
        ),
        sa.ForeignKeyConstraint(
            ["organization_id"],
            ["organizations.id"],
            name=op.f("fk_sanctions_reports_organization_id_organizations"),
            ondelete="RESTRICT",
        ),
        sa.ForeignKeyConstraint(
            ["reward_id"], ["rewards.id"], name=op.f("fk_sanctions_reports_reward_id_rewards")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_sanctions_reports")),
        sa.UniqueConstraint("case_id", name=op.f("uq_sanctions_reports_case_id")),
    )
    # Additive: the learners table only gains a nullable column.
    with op.batch_alter_table("learners", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("screening_blocked_at", sa.DateTime(timezone=True), nullable=True)
        )


def downgrade() -> None:
    with op.batch_alter_table("learners", schema=None) as batch_op:
        batch_op.drop_column("screening_blocked_at")
    op.drop_table("sanctions_reports")
    op.drop_index(op.f("ix_screening_cases_organization_id_status"), table_name="screening_cases")
    op.drop_table("screening_cases")
    op.drop_index(
        op.f("ix_screening_results_organization_id_created_at"), table_name="screening_results"
    )
    op.drop_table("screening_results")
    op.drop_table("sanctions_entries")
    op.drop_table("sanctions_list_versions")
