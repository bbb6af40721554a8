"""dashboard: learning pairs kept by triggers for the completion reports

Revision ID: 0021
Revises: 0020
Create Date: 2026-11-26 09:00:00

``learning_pairs`` holds one row per learner and course (``laurel.analytics.models``). Triggers
on ``enrolments`` (insert, a change of ``enrolled_at``, delete) and on ``completion_events``
(insert, delete) keep it in the writing transaction; the upgrade fills it from the rows already
there. Completion events are never updated (only inserted, or deleted by erasure).
"""

# The statements are assembled from this file's own constants; nothing comes from input.
# ruff: noqa: S608

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0021"
down_revision: str | None = "0020"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_KEY = "organization_id, livemode, learner_id, course_id"
_INDEXES = [
    (
        "ix_completion_events_overview",
        "completion_events",
        ["organization_id", "livemode", "outcome", "occurred_at"],
    ),
    (
        "ix_rewards_overview",
        "rewards",
        ["organization_id", "livemode", "created_at", "state", "currency", "amount_minor"],
    ),
]
_DONE = "('completed', 'passed')"


def _same(row: str, alias: str = "learning_pairs") -> str:
    return (
        f"{alias}.organization_id = {row}.organization_id AND {alias}.livemode = {row}.livemode "
        f"AND {alias}.learner_id = {row}.learner_id AND {alias}.course_id = {row}.course_id"
    )


def _first_completion(row: str) -> str:
    return (
        "(SELECT min(e.occurred_at) FROM completion_events e WHERE "
        f"{_same(row, 'e')} AND e.outcome IN {_DONE})"
    )


_SQLITE = [
    f"""
    CREATE TRIGGER learning_pairs_enrolment_insert AFTER INSERT ON enrolments
    BEGIN
        INSERT INTO learning_pairs ({_KEY}, enrolled_at, completed_at, enrolled)
        VALUES (NEW.organization_id, NEW.livemode, NEW.learner_id, NEW.course_id,
                NEW.enrolled_at, NULL, 1)
        ON CONFLICT ({_KEY}) DO UPDATE SET enrolled_at = excluded.enrolled_at, enrolled = 1;
    END
    """,
    f"""
    CREATE TRIGGER learning_pairs_enrolment_update AFTER UPDATE OF enrolled_at ON enrolments
    BEGIN
        UPDATE learning_pairs SET enrolled_at = NEW.enrolled_at WHERE {_same("NEW")};
    END
    """,
    f"""
    CREATE TRIGGER learning_pairs_enrolment_delete AFTER DELETE ON enrolments
    BEGIN
        DELETE FROM learning_pairs WHERE {_same("OLD")} AND completed_at IS NULL;
        UPDATE learning_pairs SET enrolled_at = completed_at, enrolled = 0 WHERE {_same("OLD")};
    END
    """,
    f"""
    CREATE TRIGGER learning_pairs_completion_insert AFTER INSERT ON completion_events
    WHEN NEW.outcome IN {_DONE}
    BEGIN
        INSERT INTO learning_pairs ({_KEY}, enrolled_at, completed_at, enrolled)
        VALUES (NEW.organization_id, NEW.livemode, NEW.learner_id, NEW.course_id,
                NEW.occurred_at, NEW.occurred_at, 0)
        ON CONFLICT ({_KEY}) DO UPDATE SET
            completed_at = CASE
                WHEN completed_at IS NULL OR excluded.completed_at < completed_at
                THEN excluded.completed_at ELSE completed_at END,
            enrolled_at = CASE
                WHEN NOT enrolled AND excluded.enrolled_at < enrolled_at
                THEN excluded.enrolled_at ELSE enrolled_at END;
    END
    """,
    f"""
    CREATE TRIGGER learning_pairs_completion_delete AFTER DELETE ON completion_events
    WHEN OLD.outcome IN {_DONE}
    BEGIN
        UPDATE learning_pairs SET completed_at = {_first_completion("OLD")} WHERE {_same("OLD")};
        UPDATE learning_pairs SET enrolled_at = completed_at
            WHERE {_same("OLD")} AND NOT enrolled AND completed_at IS NOT NULL;
        DELETE FROM learning_pairs
            WHERE {_same("OLD")} AND NOT enrolled AND completed_at IS NULL;
    END
    """,
]
_SQLITE_DOWN = [
    "DROP TRIGGER learning_pairs_completion_delete",
    "DROP TRIGGER learning_pairs_completion_insert",
    "DROP TRIGGER learning_pairs_enrolment_delete",
    "DROP TRIGGER learning_pairs_enrolment_update",
    "DROP TRIGGER learning_pairs_enrolment_insert",
]

_PG = [
    f"""
    CREATE FUNCTION learning_pairs_from_enrolment() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN
        IF TG_OP = 'DELETE' THEN
            DELETE FROM learning_pairs WHERE {_same("OLD")} AND completed_at IS NULL;
            UPDATE learning_pairs SET enrolled_at = completed_at, enrolled = false
                WHERE {_same("OLD")};
            RETURN OLD;
        END IF;
        INSERT INTO learning_pairs ({_KEY}, enrolled_at, completed_at, enrolled)
        VALUES (NEW.organization_id, NEW.livemode, NEW.learner_id, NEW.course_id,
                NEW.enrolled_at, NULL, true)
        ON CONFLICT ({_KEY}) DO UPDATE SET enrolled_at = EXCLUDED.enrolled_at, enrolled = true;
        RETURN NEW;
    END
    $$
    """,
    """
    CREATE TRIGGER learning_pairs_enrolments
    AFTER INSERT OR UPDATE OF enrolled_at OR DELETE ON enrolments
    FOR EACH ROW EXECUTE FUNCTION learning_pairs_from_enrolment()
    """,
    f"""
    CREATE FUNCTION learning_pairs_from_completion() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN
        IF TG_OP = 'DELETE' THEN
            IF OLD.outcome IN {_DONE} THEN
                UPDATE learning_pairs SET completed_at = {_first_completion("OLD")}
                    WHERE {_same("OLD")};
                UPDATE learning_pairs SET enrolled_at = completed_at
                    WHERE {_same("OLD")} AND NOT enrolled AND completed_at IS NOT NULL;
                DELETE FROM learning_pairs
                    WHERE {_same("OLD")} AND NOT enrolled AND completed_at IS NULL;
            END IF;
            RETURN OLD;
        END IF;
        IF NEW.outcome IN {_DONE} THEN
            INSERT INTO learning_pairs ({_KEY}, enrolled_at, completed_at, enrolled)
            VALUES (NEW.organization_id, NEW.livemode, NEW.learner_id, NEW.course_id,
                    NEW.occurred_at, NEW.occurred_at, false)
            ON CONFLICT ({_KEY}) DO UPDATE SET
                completed_at = LEAST(learning_pairs.completed_at, EXCLUDED.completed_at),
                enrolled_at = CASE WHEN learning_pairs.enrolled THEN learning_pairs.enrolled_at
                    ELSE LEAST(learning_pairs.enrolled_at, EXCLUDED.enrolled_at) END;
        END IF;
        RETURN NEW;
    END
    $$
    """,
    """
    CREATE TRIGGER learning_pairs_completions AFTER INSERT OR DELETE ON completion_events
    FOR EACH ROW EXECUTE FUNCTION learning_pairs_from_completion()
    """,
]
_PG_DOWN = [
    "DROP TRIGGER learning_pairs_completions ON completion_events",
    "DROP FUNCTION learning_pairs_from_completion()",
    "DROP TRIGGER learning_pairs_enrolments ON enrolments",
    "DROP FUNCTION learning_pairs_from_enrolment()",
]


def _backfill(postgresql: bool) -> str:
    any_enrolment = "bool_or(enrolled)" if postgresql else "max(enrolled)"
    return f"""
    INSERT INTO learning_pairs ({_KEY}, enrolled_at, completed_at, enrolled)
    SELECT {_KEY}, coalesce(min(enrolled_at), min(completed_at)), min(completed_at),
           {any_enrolment}
    FROM (
        SELECT {_KEY}, enrolled_at, NULL AS completed_at, {"true" if postgresql else "1"}
            AS enrolled
        FROM enrolments
        UNION ALL
        SELECT {_KEY}, NULL, occurred_at, {"false" if postgresql else "0"}
        FROM completion_events WHERE outcome IN {_DONE}
    ) AS sources
    GROUP BY {_KEY}
    """


def upgrade() -> None:
    op.create_table(
        "learning_pairs",
        sa.Column("organization_id", sa.Uuid(), nullable=False),
        sa.Column("livemode", sa.Boolean(), nullable=False),
        sa.Column("learner_id", sa.Uuid(), nullable=False),
        sa.Column("course_id", sa.Uuid(), nullable=False),
        sa.Column("enrolled_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("completed_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("enrolled", sa.Boolean(), nullable=False),
        sa.ForeignKeyConstraint(
            ["organization_id"],
            ["organizations.id"],
            name=op.f("fk_learning_pairs_organization_id_organizations"),
            ondelete="RESTRICT",
        ),
        sa.ForeignKeyConstraint(
            ["learner_id"], ["learners.id"], name=op.f("fk_learning_pairs_learner_id_learners")
        ),
        sa.ForeignKeyConstraint(
            ["course_id"], ["courses.id"], name=op.f("fk_learning_pairs_course_id_courses")
        ),
        sa.PrimaryKeyConstraint(
            "organization_id",
            "livemode",
            "learner_id",
            "course_id",
            name=op.f("pk_learning_pairs"),
        ),
        sqlite_with_rowid=False,
    )
    op.create_index(
        op.f("ix_learning_pairs_organization_id_livemode_enrolled_at"),
        "learning_pairs",
        ["organization_id", "livemode", "enrolled_at"],
        unique=False,
    )
    for name, table, columns in _INDEXES:
        op.create_index(op.f(name), table, columns, unique=False)
    postgresql = op.get_bind().dialect.name == "postgresql"
    op.execute(_backfill(postgresql))
    for statement in _PG if postgresql else _SQLITE:
        op.execute(statement)


def downgrade() -> None:
    postgresql = op.get_bind().dialect.name == "postgresql"
    for statement in _PG_DOWN if postgresql else _SQLITE_DOWN:
        op.execute(statement)
    for name, table, _ in _INDEXES:
        op.drop_index(op.f(name), table_name=table)
    op.drop_index(
        op.f("ix_learning_pairs_organization_id_livemode_enrolled_at"),
        table_name="learning_pairs",
    )
    op.drop_table("learning_pairs")
