"""batch imports and the HR roster

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-26 03:00:00
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0005"
down_revision: str | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

JSON = sa.JSON().with_variant(postgresql.JSONB(), "postgresql")


def _tenant(table: str) -> list[Any]:
    """organization_id, created_at and id, as every tenant table carries them."""
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
        "import_mappings",
        sa.Column("kind", sa.String(length=32), nullable=False),
        sa.Column("name", sa.String(length=64), nullable=False),
        sa.Column("columns", JSON, nullable=False),
        sa.Column("options", JSON, nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=True),
        *_tenant("import_mappings"),
        sa.UniqueConstraint(
            "organization_id",
            "kind",
            "name",
            name=op.f("uq_import_mappings_organization_id_kind_name"),
        ),
    )
    op.create_table(
        "imports",
        sa.Column("kind", sa.String(length=32), nullable=False),
        sa.Column("livemode", sa.Boolean(), nullable=False),
        sa.Column("actor", sa.String(length=200), nullable=False),
        sa.Column("filename", sa.String(length=300), nullable=False),
        sa.Column("format", sa.String(length=8), nullable=False),
        sa.Column("sha256", sa.String(length=64), nullable=False),
        sa.Column("size_bytes", sa.BigInteger(), nullable=False),
        sa.Column("stored_path", sa.String(length=1000), nullable=True),
        sa.Column("mapping_name", sa.String(length=64), nullable=True),
        sa.Column("mapping", JSON, nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("rows_total", sa.BigInteger(), nullable=True),
        sa.Column("rows_read", sa.BigInteger(), nullable=False),
        sa.Column("accepted", sa.BigInteger(), nullable=False),
        sa.Column("replayed", sa.BigInteger(), nullable=False),
        sa.Column("rejected", sa.BigInteger(), nullable=False),
        sa.Column("rewards", sa.BigInteger(), nullable=False),
        sa.Column("error", sa.String(length=2000), nullable=True),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("finished_at", sa.DateTime(timezone=True), nullable=True),
        *_tenant("imports"),
    )
    op.create_index(
        op.f("ix_imports_organization_id_kind_sha256"),
        "imports",
        ["organization_id", "kind", "sha256"],
        unique=False,
    )
    op.create_table(
        "import_rejections",
        sa.Column("import_id", sa.Uuid(), nullable=False),
        sa.Column("line", sa.BigInteger(), nullable=False),
        sa.Column("errors", JSON, nullable=False),
        sa.Column("values", JSON, nullable=False),
        *_tenant("import_rejections"),
        sa.ForeignKeyConstraint(
            ["import_id"], ["imports.id"], name=op.f("fk_import_rejections_import_id_imports")
        ),
        sa.UniqueConstraint("import_id", "line", name=op.f("uq_import_rejections_import_id_line")),
    )
    op.create_table(
        "rosters",
        sa.Column("import_id", sa.Uuid(), nullable=False),
        sa.Column("entries", sa.BigInteger(), nullable=False),
        sa.Column("completed_at", sa.DateTime(timezone=True), nullable=True),
        *_tenant("rosters"),
        sa.ForeignKeyConstraint(
            ["import_id"], ["imports.id"], name=op.f("fk_rosters_import_id_imports")
        ),
        sa.UniqueConstraint("import_id", name=op.f("uq_rosters_import_id")),
    )
    op.create_index(
        op.f("ix_rosters_organization_id_completed_at"),
        "rosters",
        ["organization_id", "completed_at"],
        unique=False,
    )
    op.create_table(
        "roster_entries",
        sa.Column("roster_id", sa.Uuid(), nullable=False),
        sa.Column("employee_id", sa.String(length=200), nullable=False),
        sa.Column("email", sa.String(length=320), nullable=True),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("rows_total", sa.BigInteger(), nullable=True),
        sa.Column("department", sa.String(length=200), nullable=True),
        sa.Column("manager", sa.String(length=200), nullable=True),
        sa.Column("classification", sa.String(length=32), nullable=True),
        sa.Column("country", sa.String(length=2), nullable=True),
        sa.Column("hire_date", sa.Date(), nullable=True),
        sa.Column("line", sa.BigInteger(), nullable=False),
        *_tenant("roster_entries"),
        sa.ForeignKeyConstraint(
            ["roster_id"], ["rosters.id"], name=op.f("fk_roster_entries_roster_id_rosters")
        ),
        sa.UniqueConstraint(
            "roster_id", "employee_id", name=op.f("uq_roster_entries_roster_id_employee_id")
        ),
    )
    op.create_index(
        op.f("ix_roster_entries_roster_id_email"),
        "roster_entries",
        ["roster_id", "email"],
        unique=False,
    )
    with op.batch_alter_table("learners", schema=None) as batch_op:
        batch_op.add_column(sa.Column("manager", sa.String(length=200), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("learners", schema=None) as batch_op:
        batch_op.drop_column("manager")
    op.drop_index(op.f("ix_roster_entries_roster_id_email"), table_name="roster_entries")
    op.drop_table("roster_entries")
    op.drop_index(op.f("ix_rosters_organization_id_completed_at"), table_name="rosters")
    op.drop_table("rosters")
    op.drop_table("import_rejections")
    op.drop_index(op.f("ix_imports_organization_id_kind_sha256"), table_name="imports")
    op.drop_table("imports")
    op.drop_table("import_mappings")
