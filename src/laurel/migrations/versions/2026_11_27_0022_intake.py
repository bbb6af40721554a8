"""intake speed: configuration revisions kept by triggers

Every change to an organization's configuration tables gives the organization a fresh
``config_revision``, so processes can keep what they read of it until it changes
(laurel.organizations.revision). A change to a table shared by all organizations (sanctions
list versions) gives every organization a fresh revision. Fresh values are never reused: a
sequence on PostgreSQL, a random 63-bit number on SQLite.

Revision ID: 0022
Revises: 0021
Create Date: 2026-11-26 09:00:00
"""

from __future__ import annotations

from collections.abc import Sequence

from alembic import op

revision: str = "0022"
down_revision: str | None = "0021"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# Copied, not imported: a migration must keep meaning what it meant when it was written.
TABLES = ("budgets", "fcpa_settings", "provider_routes", "tax_settings", "tax_thresholds")
GLOBAL_TABLES = ("sanctions_list_versions",)
_OPS = ("insert", "update", "delete")


def _sqlite_up() -> None:
    fresh = "(random() & 9223372036854775807)"
    for table in TABLES:
        for verb in _OPS:
            row = "OLD" if verb == "delete" else "NEW"
            op.execute(
                f"CREATE TRIGGER config_revision_{table}_{verb} AFTER {verb.upper()} ON {table} "  # noqa: S608
                f"FOR EACH ROW BEGIN UPDATE organizations SET config_revision = {fresh} "
                f"WHERE id = {row}.organization_id; END"
            )
    for table in GLOBAL_TABLES:
        for verb in _OPS:
            op.execute(
                f"CREATE TRIGGER config_revision_{table}_{verb} AFTER {verb.upper()} ON {table} "  # noqa: S608
                f"FOR EACH ROW BEGIN UPDATE organizations SET config_revision = {fresh}; END"
            )


def _postgresql_up() -> None:
    op.execute("CREATE SEQUENCE config_revision_seq")
    op.execute(
        """
        CREATE FUNCTION laurel_config_changed() RETURNS trigger LANGUAGE plpgsql AS $$
        BEGIN
            IF TG_OP = 'DELETE' THEN
                UPDATE organizations SET config_revision = nextval('config_revision_seq')
                WHERE id = OLD.organization_id;
            ELSE
                UPDATE organizations SET config_revision = nextval('config_revision_seq')
                WHERE id = NEW.organization_id;
            END IF;
            RETURN NULL;
        END $$
        """
    )
    op.execute(
        """
        CREATE FUNCTION laurel_config_changed_everywhere() RETURNS trigger LANGUAGE plpgsql AS $$
        BEGIN
            UPDATE organizations SET config_revision = nextval('config_revision_seq');
            RETURN NULL;
        END $$
        """
    )
    for table in TABLES:
        op.execute(
            f"CREATE TRIGGER config_revision_{table} AFTER INSERT OR UPDATE OR DELETE ON {table} "
            "FOR EACH ROW EXECUTE FUNCTION laurel_config_changed()"
        )
    for table in GLOBAL_TABLES:
        op.execute(
            f"CREATE TRIGGER config_revision_{table} AFTER INSERT OR UPDATE OR DELETE ON {table} "
            "FOR EACH STATEMENT EXECUTE FUNCTION laurel_config_changed_everywhere()"
        )


def upgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        _postgresql_up()
    else:
        _sqlite_up()


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        for table in (*TABLES, *GLOBAL_TABLES):
            op.execute(f"DROP TRIGGER config_revision_{table} ON {table}")
        op.execute("DROP FUNCTION laurel_config_changed_everywhere()")
        op.execute("DROP FUNCTION laurel_config_changed()")
        op.execute("DROP SEQUENCE config_revision_seq")
    else:
        for table in (*TABLES, *GLOBAL_TABLES):
            for verb in _OPS:
                op.execute(f"DROP TRIGGER config_revision_{table}_{verb}")
