"""FCPA, four-eyes approvals, department budgets

Approvals become requests with rounds (kind, status, requester, expiry); budgets gain a
department and a period, with the money kept per window; a reward may hold a reservation on
every budget that applies to it.

The three tables are rebuilt rather than altered: SQLite alters a table by copying it, which
fails with foreign keys on while reservations point at budgets. Their rows are read first and
written back in the new shape (only budgets and their reservations exist so far, a few rows per
program and one per reward).

Revision ID: 0012
Revises: 0011
Create Date: 2026-11-26 06:00:00
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import sqlalchemy as sa
from alembic import op

revision: str = "0012"
down_revision: str | None = "0011"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


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


def _stash(*tables: str) -> None:
    """Plain copies (rows only) under ``old_<name>``: CREATE TABLE AS works on both databases
    and keeps every value in its stored form."""
    for table in tables:
        op.execute(f"CREATE TABLE old_{table} AS SELECT * FROM {table}")  # noqa: S608 - fixed names
        op.drop_table(table)


def _drop_stash(*tables: str) -> None:
    for table in tables:
        op.execute(f"DROP TABLE old_{table}")


def _create_new() -> None:
    op.create_table(
        "approvals",
        sa.Column("reward_id", sa.Uuid(), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("round", sa.BigInteger(), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("requester", sa.String(length=200), nullable=True),
        sa.Column("requested_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("actor", sa.String(length=200), nullable=True),
        sa.Column("reason", sa.String(length=1000), nullable=False),
        sa.Column("decided_at", sa.DateTime(timezone=True), nullable=True),
        *_tenant("approvals"),
        sa.ForeignKeyConstraint(
            ["reward_id"], ["rewards.id"], name=op.f("fk_approvals_reward_id_rewards")
        ),
        sa.UniqueConstraint(
            "reward_id", "kind", "round", name=op.f("uq_approvals_reward_id_kind_round")
        ),
    )
    op.create_index(
        op.f("ix_approvals_organization_id_status"), "approvals", ["organization_id", "status"]
    )
    op.create_index(op.f("ix_approvals_status_expires_at"), "approvals", ["status", "expires_at"])
    op.create_table(
        "budgets",
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("program_id", sa.Uuid(), nullable=True),
        sa.Column("department", sa.String(length=200), nullable=True),
        sa.Column("period", sa.String(length=16), nullable=False),
        sa.Column("scope_key", sa.String(length=300), nullable=False),
        sa.Column("currency", sa.String(length=3), nullable=False),
        sa.Column("limit_minor", sa.BigInteger(), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        *_tenant("budgets"),
        sa.ForeignKeyConstraint(
            ["program_id"], ["programs.id"], name=op.f("fk_budgets_program_id_programs")
        ),
        sa.UniqueConstraint(
            "organization_id", "scope_key", name=op.f("uq_budgets_organization_id_scope_key")
        ),
    )
    op.create_table(
        "budget_windows",
        sa.Column("budget_id", sa.Uuid(), nullable=False),
        sa.Column("starts_on", sa.Date(), nullable=False),
        sa.Column("ends_on", sa.Date(), nullable=True),
        sa.Column("reserved_minor", sa.BigInteger(), nullable=False),
        sa.Column("spent_minor", sa.BigInteger(), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        *_tenant("budget_windows"),
        sa.CheckConstraint(
            "reserved_minor >= 0 AND spent_minor >= 0",
            name=op.f("ck_budget_windows_non_negative"),
        ),
        sa.ForeignKeyConstraint(
            ["budget_id"], ["budgets.id"], name=op.f("fk_budget_windows_budget_id_budgets")
        ),
        sa.UniqueConstraint(
            "budget_id", "starts_on", name=op.f("uq_budget_windows_budget_id_starts_on")
        ),
    )
    op.create_table(
        "budget_reservations",
        sa.Column("budget_id", sa.Uuid(), nullable=False),
        sa.Column("window_id", sa.Uuid(), nullable=False),
        sa.Column("reward_id", sa.Uuid(), nullable=False),
        sa.Column("amount_minor", sa.BigInteger(), nullable=False),
        sa.Column("state", sa.String(length=16), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        *_tenant("budget_reservations"),
        sa.ForeignKeyConstraint(
            ["budget_id"], ["budgets.id"], name=op.f("fk_budget_reservations_budget_id_budgets")
        ),
        sa.ForeignKeyConstraint(
            ["window_id"],
            ["budget_windows.id"],
            name=op.f("fk_budget_reservations_window_id_budget_windows"),
        ),
        sa.ForeignKeyConstraint(
            ["reward_id"], ["rewards.id"], name=op.f("fk_budget_reservations_reward_id_rewards")
        ),
        sa.UniqueConstraint(
            "reward_id", "budget_id", name=op.f("uq_budget_reservations_reward_id_budget_id")
        ),
    )


def upgrade() -> None:
    _stash("approvals", "budget_reservations", "budgets")
    _create_new()
    op.execute(
        "INSERT INTO approvals (id, organization_id, created_at, reward_id, kind, round, status,"
        " requester, requested_at, expires_at, actor, reason, decided_at)"
        " SELECT id, organization_id, created_at, reward_id, 'approval', 1, decision,"
        " NULL, decided_at, NULL, actor, reason, decided_at FROM old_approvals"
    )
    # The one window of a total budget takes the budget's id: ids are unique per table.
    op.execute(
        "INSERT INTO budgets (id, organization_id, created_at, name, program_id, department,"
        " period, scope_key, currency, limit_minor, updated_at)"
        " SELECT id, organization_id, created_at, '', program_id, NULL, 'total',"
        " program_id, currency, limit_minor, updated_at FROM old_budgets"
    )
    op.execute(
        "INSERT INTO budget_windows (id, organization_id, created_at, budget_id, starts_on,"
        " ends_on, reserved_minor, spent_minor, updated_at)"
        " SELECT id, organization_id, created_at, id, '1970-01-01', NULL,"
        " reserved_minor, spent_minor, updated_at FROM old_budgets"
    )
    op.execute(_SCOPE_KEY[op.get_bind().dialect.name])
    op.execute(
        "INSERT INTO budget_reservations (id, organization_id, created_at, budget_id, window_id,"
        " reward_id, amount_minor, state, updated_at)"
        " SELECT id, organization_id, created_at, budget_id, budget_id, reward_id,"
        " amount_minor, state, updated_at FROM old_budget_reservations"
    )
    _drop_stash("approvals", "budget_reservations", "budgets")


_SCOPE_KEY = {
    # ``<program id>/*/total`` as the service writes it: hyphenated UUID text.
    "postgresql": "UPDATE budgets SET scope_key = CAST(program_id AS TEXT) || '/*/total'",
    # SQLite stores UUIDs as 32 hex digits.
    "sqlite": "UPDATE budgets SET scope_key = lower(substr(program_id, 1, 8) || '-' ||"
    " substr(program_id, 9, 4) || '-' || substr(program_id, 13, 4) || '-' ||"
    " substr(program_id, 17, 4) || '-' || substr(program_id, 21)) || '/*/total'",
}


def downgrade() -> None:
    """Back to one decision per reward and one total budget per program: department,
    org-wide and periodic budgets, expired rounds and pending requests are dropped."""
    _stash("budget_reservations", "budget_windows", "budgets", "approvals")
    op.create_table(
        "approvals",
        sa.Column("reward_id", sa.Uuid(), nullable=False),
        sa.Column("decision", sa.String(length=16), nullable=False),
        sa.Column("actor", sa.String(length=200), nullable=False),
        sa.Column("reason", sa.String(length=1000), nullable=False),
        sa.Column("decided_at", sa.DateTime(timezone=True), nullable=False),
        *_tenant("approvals"),
        sa.ForeignKeyConstraint(
            ["reward_id"], ["rewards.id"], name=op.f("fk_approvals_reward_id_rewards")
        ),
        sa.UniqueConstraint("reward_id", name=op.f("uq_approvals_reward_id")),
    )
    op.create_table(
        "budgets",
        sa.Column("program_id", sa.Uuid(), nullable=False),
        sa.Column("currency", sa.String(length=3), nullable=False),
        sa.Column("limit_minor", sa.BigInteger(), nullable=False),
        sa.Column("reserved_minor", sa.BigInteger(), nullable=False),
        sa.Column("spent_minor", sa.BigInteger(), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        *_tenant("budgets"),
        sa.CheckConstraint(
            "reserved_minor >= 0 AND spent_minor >= 0", name=op.f("ck_budgets_non_negative")
        ),
        sa.ForeignKeyConstraint(
            ["program_id"], ["programs.id"], name=op.f("fk_budgets_program_id_programs")
        ),
        sa.UniqueConstraint("program_id", name=op.f("uq_budgets_program_id")),
    )
    op.create_table(
        "budget_reservations",
        sa.Column("budget_id", sa.Uuid(), nullable=False),
        sa.Column("reward_id", sa.Uuid(), nullable=False),
        sa.Column("amount_minor", sa.BigInteger(), nullable=False),
        sa.Column("state", sa.String(length=16), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        *_tenant("budget_reservations"),
        sa.ForeignKeyConstraint(
            ["budget_id"], ["budgets.id"], name=op.f("fk_budget_reservations_budget_id_budgets")
        ),
        sa.ForeignKeyConstraint(
            ["reward_id"], ["rewards.id"], name=op.f("fk_budget_reservations_reward_id_rewards")
        ),
        sa.UniqueConstraint("reward_id", name=op.f("uq_budget_reservations_reward_id")),
    )
    # The newest decided round of the approval kind per reward.
    op.execute(
        "INSERT INTO approvals (id, organization_id, created_at, reward_id, decision, actor,"
        " reason, decided_at)"
        " SELECT a.id, a.organization_id, a.created_at, a.reward_id, a.status,"
        " COALESCE(a.actor, ''), a.reason, a.decided_at FROM old_approvals a"
        " WHERE a.kind = 'approval' AND a.status IN ('approved', 'rejected')"
        " AND a.round = (SELECT MAX(b.round) FROM old_approvals b WHERE b.reward_id = a.reward_id"
        " AND b.kind = 'approval' AND b.status IN ('approved', 'rejected'))"
    )
    op.execute(
        "INSERT INTO budgets (id, organization_id, created_at, program_id, currency,"
        " limit_minor, reserved_minor, spent_minor, updated_at)"
        " SELECT b.id, b.organization_id, b.created_at, b.program_id, b.currency, b.limit_minor,"
        " COALESCE(w.reserved_minor, 0), COALESCE(w.spent_minor, 0), b.updated_at"
        " FROM old_budgets b LEFT JOIN old_budget_windows w ON w.budget_id = b.id"
        " WHERE b.program_id IS NOT NULL AND b.department IS NULL AND b.period = 'total'"
    )
    # A reward with reservations on several budgets keeps the one on its program's budget.
    op.execute(
        "INSERT INTO budget_reservations (id, organization_id, created_at, budget_id, reward_id,"
        " amount_minor, state, updated_at)"
        " SELECT r.id, r.organization_id, r.created_at, r.budget_id, r.reward_id,"
        " r.amount_minor, r.state, r.updated_at"
        " FROM old_budget_reservations r JOIN old_budgets b ON b.id = r.budget_id"
        " WHERE b.program_id IS NOT NULL AND b.department IS NULL AND b.period = 'total'"
    )
    _drop_stash("budget_reservations", "budget_windows", "budgets", "approvals")
