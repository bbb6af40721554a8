"""analytics rollups: pairs counted per enrolment month, dimension value and days to complete

Revision ID: 0024
Revises: 0023
Create Date: 2026-11-26 12:00:00

``analytics_cohorts`` (``laurel.analytics.models.Cohort``) counts the ``learning_pairs`` per
dimension value (course, classification, country), department, enrolment month and whole days
to complete (``-1``: not completed). Triggers on
``learning_pairs`` (insert, a change of ``enrolled_at`` or ``completed_at``, delete) and on
``learners`` (a change of department, classification or country moves the learner's pairs) keep
them in the writing transaction; the upgrade fills them from the pairs already there.

The same statement text serves both databases: one grouped ``INSERT … SELECT … ON CONFLICT DO
UPDATE``, its source being one pair and its learner (pair triggers), one learner's
pairs (learner trigger) or every pair (backfill). A SQLite ``batch_alter_table`` of
``learning_pairs`` or ``learners`` drops these triggers: re-create them after one.
"""

# The statements are assembled from this file's own constants; nothing comes from input.
# ruff: noqa: S608

from __future__ import annotations

from collections.abc import Sequence
from typing import NamedTuple

import sqlalchemy as sa
from alembic import op

revision: str = "0024"
down_revision: str | None = "0023"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_DIMENSIONS = (
    "(SELECT 'course' AS dimension UNION ALL SELECT 'classification' UNION ALL SELECT 'country')"
)


class _Source(NamedTuple):
    """Where the counted pairs and their learner's attributes come from (a named tuple:
    Alembic loads this file outside ``sys.modules``, where a dataclass cannot be made)."""

    pair: str  # the pair's alias or trigger record (NEW, OLD, p)
    learner: str  # the learner's alias or trigger record
    tables: str  # the FROM clause (with the dimensions' rows added)
    where: str


def _exprs(postgresql: bool, p: str) -> tuple[str, str, str]:
    """The course id as text, the enrolment month and the whole days to complete of pair
    ``p`` (a record or an alias), for either database."""
    if postgresql:
        month = f"to_char({p}.enrolled_at AT TIME ZONE 'UTC', 'YYYY-MM')"
        days = (
            f"greatest(0, floor(extract(epoch FROM {p}.completed_at - {p}.enrolled_at) "
            "/ 86400))::integer"
        )
        return f"{p}.course_id::text", month, days
    # Whole days from the microseconds, in integers (stored text ends in six digits).
    micros = (
        f"(unixepoch({p}.completed_at) - unixepoch({p}.enrolled_at)) * 1000000 "
        f"+ CAST(substr({p}.completed_at, 21, 6) AS INTEGER) "
        f"- CAST(substr({p}.enrolled_at, 21, 6) AS INTEGER)"
    )
    return (
        f"{p}.course_id",
        f"strftime('%Y-%m', {p}.enrolled_at)",
        f"max(0, ({micros}) / 86400000000)",
    )


_KEY = "organization_id, livemode, dimension, value, month, days, department"
_ADD = f"ON CONFLICT ({_KEY}) DO UPDATE SET pairs = analytics_cohorts.pairs + excluded.pairs"


def _sql(postgresql: bool, source: _Source, sign: int) -> list[str]:
    """Many pairs counted: one grouped statement (a learner's pairs, or every pair)."""
    p, lrn = source.pair, source.learner
    course, month, days = _exprs(postgresql, p)
    value = (
        f"CASE v.dimension WHEN 'course' THEN {course} "
        f"WHEN 'classification' THEN coalesce({lrn}.classification, '') "
        f"ELSE coalesce({lrn}.country, '') END"
    )
    return [
        f"""
        INSERT INTO analytics_cohorts ({_KEY}, pairs)
        SELECT {p}.organization_id, {p}.livemode, v.dimension, {value}, {month},
               CASE WHEN {p}.completed_at IS NULL THEN -1 ELSE {days} END,
               coalesce({lrn}.department, ''), {sign} * count(*)
        FROM {source.tables}, {_DIMENSIONS} AS v WHERE {source.where}
        GROUP BY 1, 2, 3, 4, 5, 6, 7
        {_ADD}
        """
    ]


def _one(postgresql: bool, p: str, attributes: tuple[str, str, str], sign: int) -> str:
    """One pair counted (the pair triggers): three rows of plain values, no join, no grouping.
    ``attributes`` are the learner's department, classification and country, each ``''`` when
    missing."""
    course, month, days = _exprs(postgresql, p)
    department, classification, country = attributes
    done = f"CASE WHEN {p}.completed_at IS NULL THEN -1 ELSE {days} END"
    rows = ",\n".join(
        f"({p}.organization_id, {p}.livemode, '{name}', {value}, {month}, {done}, "
        f"{department}, {sign})"
        for name, value in (
            ("course", course),
            ("classification", classification),
            ("country", country),
        )
    )
    return f"INSERT INTO analytics_cohorts ({_KEY}, pairs) VALUES {rows} {_ADD}"


def _sqlite_attributes(p: str) -> tuple[str, str, str]:
    """The learner's attributes as scalar subqueries (SQLite triggers have no variables)."""

    def of(name: str) -> str:
        return f"(SELECT coalesce(l.{name}, '') FROM learners l WHERE l.id = {p}.learner_id)"

    return of("department"), of("classification"), of("country")


_PG_ATTRIBUTES = ("d", "c", "k")  # the trigger function's variables


def _learners_pairs(record: str) -> _Source:
    return _Source(
        "p",
        record,
        "learning_pairs p",
        "p.organization_id = NEW.organization_id AND p.livemode = NEW.livemode "
        "AND p.learner_id = NEW.id",
    )


_EVERY_PAIR = _Source("p", "l", "learning_pairs p JOIN learners l ON l.id = p.learner_id", "1 = 1")
_MOVED = (
    "OLD.department IS NOT NEW.department OR OLD.classification IS NOT NEW.classification "
    "OR OLD.country IS NOT NEW.country"
)
_CHANGED = "OLD.enrolled_at IS NOT NEW.enrolled_at OR OLD.completed_at IS NOT NEW.completed_at"


def _body(statements: list[str]) -> str:
    return ";\n".join(s.strip() for s in statements) + ";"


def _sqlite() -> list[str]:
    return [
        f"""
        CREATE TRIGGER analytics_pairs_insert AFTER INSERT ON learning_pairs
        BEGIN
        {_one(False, "NEW", _sqlite_attributes("NEW"), 1)};
        END
        """,
        f"""
        CREATE TRIGGER analytics_pairs_update AFTER UPDATE OF enrolled_at, completed_at
        ON learning_pairs WHEN {_CHANGED}
        BEGIN
        {_one(False, "OLD", _sqlite_attributes("OLD"), -1)};
        {_one(False, "NEW", _sqlite_attributes("NEW"), 1)};
        END
        """,
        f"""
        CREATE TRIGGER analytics_pairs_delete AFTER DELETE ON learning_pairs
        BEGIN
        {_one(False, "OLD", _sqlite_attributes("OLD"), -1)};
        END
        """,
        f"""
        CREATE TRIGGER analytics_learners_move AFTER UPDATE OF department, classification,
        country ON learners WHEN {_MOVED}
        BEGIN
        {_body(_sql(False, _learners_pairs("OLD"), -1) + _sql(False, _learners_pairs("NEW"), 1))}
        END
        """,
    ]


_SQLITE_DOWN = [
    "DROP TRIGGER analytics_learners_move",
    "DROP TRIGGER analytics_pairs_delete",
    "DROP TRIGGER analytics_pairs_update",
    "DROP TRIGGER analytics_pairs_insert",
]


def _pg() -> list[str]:
    return [
        f"""
        CREATE FUNCTION analytics_from_pair() RETURNS trigger LANGUAGE plpgsql AS $$
        DECLARE
            d text;
            c text;
            k text;
        BEGIN
            IF TG_OP = 'DELETE' THEN
                SELECT coalesce(department, ''), coalesce(classification, ''),
                       coalesce(country, '')
                    INTO d, c, k FROM learners WHERE id = OLD.learner_id;
            ELSE
                SELECT coalesce(department, ''), coalesce(classification, ''),
                       coalesce(country, '')
                    INTO d, c, k FROM learners WHERE id = NEW.learner_id;
            END IF;
            IF TG_OP IN ('UPDATE', 'DELETE') THEN
                {_one(True, "OLD", _PG_ATTRIBUTES, -1)};
            END IF;
            IF TG_OP IN ('INSERT', 'UPDATE') THEN
                {_one(True, "NEW", _PG_ATTRIBUTES, 1)};
            END IF;
            RETURN NULL;
        END
        $$
        """,
        """
        CREATE TRIGGER analytics_pairs AFTER INSERT OR DELETE ON learning_pairs
        FOR EACH ROW EXECUTE FUNCTION analytics_from_pair()
        """,
        f"""
        CREATE TRIGGER analytics_pairs_update AFTER UPDATE OF enrolled_at, completed_at
        ON learning_pairs FOR EACH ROW WHEN ({_CHANGED.replace("IS NOT", "IS DISTINCT FROM")})
        EXECUTE FUNCTION analytics_from_pair()
        """,
        f"""
        CREATE FUNCTION analytics_from_learner() RETURNS trigger LANGUAGE plpgsql AS $$
        BEGIN
            -- Moving a learner's pairs rewrites many shared rollup rows; two transactions
            -- moving learners (retention sweeps, roster imports) took them in opposite
            -- orders and deadlocked. Moves of one organization take turns instead.
            PERFORM pg_advisory_xact_lock(
                hashtextextended('analytics_cohorts:' || NEW.organization_id::text, 0));
            {_body(_sql(True, _learners_pairs("OLD"), -1) + _sql(True, _learners_pairs("NEW"), 1))}
            RETURN NULL;
        END
        $$
        """,
        f"""
        CREATE TRIGGER analytics_learners_move AFTER UPDATE OF department, classification,
        country ON learners FOR EACH ROW WHEN ({_MOVED.replace("IS NOT", "IS DISTINCT FROM")})
        EXECUTE FUNCTION analytics_from_learner()
        """,
    ]


_PG_DOWN = [
    "DROP TRIGGER analytics_learners_move ON learners",
    "DROP FUNCTION analytics_from_learner()",
    "DROP TRIGGER analytics_pairs_update ON learning_pairs",
    "DROP TRIGGER analytics_pairs ON learning_pairs",
    "DROP FUNCTION analytics_from_pair()",
]


def upgrade() -> None:
    op.create_table(
        "analytics_cohorts",
        sa.Column("organization_id", sa.Uuid(), nullable=False),
        sa.Column("livemode", sa.Boolean(), nullable=False),
        sa.Column("dimension", sa.String(length=16), nullable=False),
        sa.Column("value", sa.String(length=64), nullable=False),
        sa.Column("month", sa.String(length=7), nullable=False),
        sa.Column("days", sa.Integer(), nullable=False),
        sa.Column("department", sa.String(length=200), nullable=False),
        sa.Column("pairs", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["organization_id"],
            ["organizations.id"],
            name=op.f("fk_analytics_cohorts_organization_id_organizations"),
            ondelete="RESTRICT",
        ),
        sa.PrimaryKeyConstraint(
            "organization_id",
            "livemode",
            "dimension",
            "value",
            "month",
            "days",
            "department",
            name=op.f("pk_analytics_cohorts"),
        ),
        sqlite_with_rowid=False,
    )
    op.create_index(
        op.f("ix_rewards_organization_id_livemode_state_id"),
        "rewards",
        ["organization_id", "livemode", "state", "id"],
    )
    postgresql = op.get_bind().dialect.name == "postgresql"
    for statement in _sql(postgresql, _EVERY_PAIR, 1):
        op.execute(statement)
    for statement in _pg() if postgresql else _sqlite():
        op.execute(statement)


def downgrade() -> None:
    postgresql = op.get_bind().dialect.name == "postgresql"
    for statement in _PG_DOWN if postgresql else _SQLITE_DOWN:
        op.execute(statement)
    op.drop_table("analytics_cohorts")
    op.drop_index(op.f("ix_rewards_organization_id_livemode_state_id"), table_name="rewards")
