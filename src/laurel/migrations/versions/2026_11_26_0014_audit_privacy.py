"""verifiable audit and privacy

Revision ID: 0014
Revises: 0013
Create Date: 2026-11-26 06:00:00
"""

from __future__ import annotations

from collections.abc import Sequence

from alembic import op

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


def upgrade() -> None:
    _triggers(_PG_UP, _SQLITE_UP)


def downgrade() -> None:
    _triggers(_PG_DOWN, _SQLITE_DOWN)
