"""verifiable audit and privacy

Revision ID: 0014
Revises: 0013
Create Date: 2026-11-26 06:00:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

JSON = sa.JSON().with_variant(postgresql.JSONB(), "postgresql")

revision: str = "0014"
down_revision: str | None = "0013"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# The audit log is append-only in the database itself, not only in the code: any UPDATE or
# DELETE of an entry is refused, and a chain head can only move forward. TRUNCATE is a table
# operation that row triggers do not see (test fixtures rely on it); a truncated log is caught
# by a signed head exported earlier (docs/audit.md).
_PG_UP = [
    """
    CREATE FUNCTION laurel_audit_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN
        RAISE EXCEPTION 'audit entries are append-only: % refused', TG_OP
            USING ERRCODE = 'insufficient_privilege';
    END
    $$
    """,
    """
    CREATE TRIGGER audit_entries_append_only BEFORE UPDATE OR DELETE ON audit_entries
    FOR EACH ROW EXECUTE FUNCTION laurel_audit_append_only()
    """,
    """
    CREATE TRIGGER audit_heads_forward_only BEFORE UPDATE ON audit_heads
    FOR EACH ROW WHEN (NEW.seq < OLD.seq OR (NEW.seq = OLD.seq AND NEW.hash <> OLD.hash))
    EXECUTE FUNCTION laurel_audit_append_only()
    """,
    """
    CREATE TRIGGER audit_heads_no_delete BEFORE DELETE ON audit_heads
    FOR EACH ROW EXECUTE FUNCTION laurel_audit_append_only()
    """,
]
_PG_DOWN = [
    "DROP TRIGGER audit_heads_no_delete ON audit_heads",
    "DROP TRIGGER audit_heads_forward_only ON audit_heads",
    "DROP TRIGGER audit_entries_append_only ON audit_entries",
    "DROP FUNCTION laurel_audit_append_only()",
]
_SQLITE_UP = [
    """
    CREATE TRIGGER audit_entries_no_update BEFORE UPDATE ON audit_entries
    BEGIN SELECT RAISE(ABORT, 'audit entries are append-only: UPDATE refused'); END
    """,
    """
    CREATE TRIGGER audit_entries_no_delete BEFORE DELETE ON audit_entries
    BEGIN SELECT RAISE(ABORT, 'audit entries are append-only: DELETE refused'); END
    """,
    """
    CREATE TRIGGER audit_heads_forward_only BEFORE UPDATE ON audit_heads
    WHEN NEW.seq < OLD.seq OR (NEW.seq = OLD.seq AND NEW.hash <> OLD.hash)
    BEGIN SELECT RAISE(ABORT, 'audit entries are append-only: UPDATE refused'); END
    """,
    """
    CREATE TRIGGER audit_heads_no_delete BEFORE DELETE ON audit_heads
    BEGIN SELECT RAISE(ABORT, 'audit entries are append-only: DELETE refused'); END
    """,
]
_SQLITE_DOWN = [
    "DROP TRIGGER audit_heads_no_delete",
    "DROP TRIGGER audit_heads_forward_only",
    "DROP TRIGGER audit_entries_no_delete",
    "DROP TRIGGER audit_entries_no_update",
]


def _triggers(postgresql: list[str], sqlite: list[str]) -> None:
    statements = postgresql if op.get_bind().dialect.name == "postgresql" else sqlite
    for statement in statements:
        op.execute(statement)


def _tenant_columns() -> list[sa.Column[object]]:
    return [
        sa.Column("organization_id", sa.Uuid(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("id", sa.Uuid(), nullable=False),
    ]


def _org_fk(table: str) -> sa.ForeignKeyConstraint:
    return sa.ForeignKeyConstraint(
        ["organization_id"],
        ["organizations.id"],
        name=op.f(f"fk_{table}_organization_id_organizations"),
        ondelete="RESTRICT",
    )


def _learner_fk(table: str) -> sa.ForeignKeyConstraint:
    return sa.ForeignKeyConstraint(
        ["learner_id"], ["learners.id"], name=op.f(f"fk_{table}_learner_id_learners")
    )


def upgrade() -> None:
    _triggers(_PG_UP, _SQLITE_UP)
    with op.batch_alter_table("learners", schema=None) as batch_op:
        batch_op.add_column(sa.Column("region", sa.String(length=3), nullable=True))
        batch_op.add_column(
            sa.Column("pseudonymised_at", sa.DateTime(timezone=True), nullable=True)
        )
        batch_op.add_column(sa.Column("sale_opt_out_at", sa.DateTime(timezone=True), nullable=True))
    with op.batch_alter_table("organizations", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("hipaa", sa.Boolean(), server_default=sa.false(), nullable=False)
        )
    op.create_table(
        "consent_records",
        sa.Column("learner_id", sa.Uuid(), nullable=False),
        sa.Column("purpose", sa.String(length=64), nullable=False),
        sa.Column("lawful_basis", sa.String(length=32), nullable=False),
        sa.Column("granted", sa.Boolean(), nullable=False),
        sa.Column("recorded_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("source", sa.String(length=200), nullable=False),
        sa.Column("actor", sa.String(length=200), nullable=False),
        *_tenant_columns(),
        _learner_fk("consent_records"),
        _org_fk("consent_records"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_consent_records")),
    )
    op.create_index(
        op.f("ix_consent_records_organization_id_learner_id_purpose"),
        "consent_records",
        ["organization_id", "learner_id", "purpose"],
    )
    op.create_table(
        "privacy_requests",
        sa.Column("learner_id", sa.Uuid(), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("jurisdiction", sa.String(length=16), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("received_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("due_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("completed_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("reminded_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("requested_by", sa.String(length=200), nullable=False),
        sa.Column("request", JSON, nullable=False),
        sa.Column("outcome", JSON, nullable=False),
        *_tenant_columns(),
        _learner_fk("privacy_requests"),
        _org_fk("privacy_requests"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_privacy_requests")),
    )
    op.create_index(
        op.f("ix_privacy_requests_organization_id_learner_id"),
        "privacy_requests",
        ["organization_id", "learner_id"],
    )
    op.create_index(
        op.f("ix_privacy_requests_status_due_at"), "privacy_requests", ["status", "due_at"]
    )
    op.create_table(
        "retention_policies",
        sa.Column("jurisdiction", sa.String(length=16), nullable=False),
        sa.Column("data_kind", sa.String(length=16), nullable=False),
        sa.Column("days", sa.BigInteger(), nullable=False),
        *_tenant_columns(),
        _org_fk("retention_policies"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_retention_policies")),
        sa.UniqueConstraint(
            "organization_id",
            "jurisdiction",
            "data_kind",
            name=op.f("uq_retention_policies_organization_id_jurisdiction_data_kind"),
        ),
    )
    op.create_table(
        "phi_records",
        sa.Column("learner_id", sa.Uuid(), nullable=False),
        sa.Column("field", sa.String(length=64), nullable=False),
        sa.Column("value_encrypted", sa.Text(), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        *_tenant_columns(),
        _learner_fk("phi_records"),
        _org_fk("phi_records"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_phi_records")),
        sa.UniqueConstraint(
            "organization_id",
            "learner_id",
            "field",
            name=op.f("uq_phi_records_organization_id_learner_id_field"),
        ),
    )


def downgrade() -> None:
    op.drop_table("phi_records")
    op.drop_table("retention_policies")
    op.drop_index(op.f("ix_privacy_requests_status_due_at"), table_name="privacy_requests")
    op.drop_index(
        op.f("ix_privacy_requests_organization_id_learner_id"), table_name="privacy_requests"
    )
    op.drop_table("privacy_requests")
    op.drop_index(
        op.f("ix_consent_records_organization_id_learner_id_purpose"),
        table_name="consent_records",
    )
    op.drop_table("consent_records")
    with op.batch_alter_table("organizations", schema=None) as batch_op:
        batch_op.drop_column("hipaa")
    with op.batch_alter_table("learners", schema=None) as batch_op:
        batch_op.drop_column("sale_opt_out_at")
        batch_op.drop_column("pseudonymised_at")
        batch_op.drop_column("region")
    _triggers(_PG_DOWN, _SQLITE_DOWN)
