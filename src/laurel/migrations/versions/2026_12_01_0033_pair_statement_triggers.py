"""PostgreSQL: learning pairs and their cohort counts kept by statement triggers

Revision ID: 0033
Revises: 0032
Create Date: 2026-12-01 09:00:00

0021 keeps ``learning_pairs`` from ``completion_events`` and 0024 keeps ``analytics_cohorts``
from ``learning_pairs`` with row triggers: on PostgreSQL a plpgsql call per inserted event, then
one per pair, each an upsert of its own. An array of 100 xAPI statements (or a chunk of a batch
import) spent about a quarter of its database time there. Here, on PostgreSQL only, the inserts
of events and every change of pairs are counted by statement triggers over the transition
tables: one grouped upsert per statement, its rows in key order (two transactions touching the
same shared cohort rows lock them in the same order), keys that net to zero left alone.

- Events inserted: their done outcomes grouped per pair (several events of one pair in one
  statement are one row: an upsert may touch a row once), a pair's completion the earliest,
  an existing pair updated only when that moves one of its times.
- Pairs inserted, updated or deleted: three cohort rows each (course, classification,
  country), with the learner's attributes at that moment. The update trigger cannot be limited
  to ``enrolled_at`` and ``completed_at`` (PostgreSQL refuses column lists beside transition
  tables); an update that moves neither nets to zero.

Deleting events (erasure) and enrolments keep their row triggers: rare, and their logic (the
next-earliest completion of the pair) is per pair. SQLite is unchanged: its row triggers are
cheap (no procedural language, no per-call setup) and it has no transition tables.
"""

# The statements are assembled from this file's own constants; nothing comes from input.
# ruff: noqa: S608

from __future__ import annotations

from collections.abc import Sequence
from importlib import import_module

from alembic import op

revision: str = "0033"
down_revision: str | None = "0032"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_PAIR = "organization_id, livemode, learner_id, course_id"
_COHORT = "organization_id, livemode, dimension, value, month, days, department"
_DONE = "('completed', 'passed')"
_DIMENSIONS = "(VALUES ('course'), ('classification'), ('country')) AS v (dimension)"


def _cohort_deltas(table: str, sign: int) -> str:
    """Three delta rows per pair of transition table ``table``, as 0024 counts one pair."""
    return f"""
        SELECT p.organization_id, p.livemode, v.dimension,
               CASE v.dimension WHEN 'course' THEN p.course_id::text
                    WHEN 'classification' THEN coalesce(l.classification, '')
                    ELSE coalesce(l.country, '') END AS value,
               to_char(p.enrolled_at AT TIME ZONE 'UTC', 'YYYY-MM') AS month,
               CASE WHEN p.completed_at IS NULL THEN -1
                    ELSE greatest(0, floor(extract(epoch FROM p.completed_at - p.enrolled_at)
                                           / 86400))::integer END AS days,
               coalesce(l.department, '') AS department, {sign} AS n
        FROM {table} p JOIN learners l ON l.id = p.learner_id, {_DIMENSIONS}
    """


def _cohort_function(name: str, sources: list[tuple[str, int]]) -> str:
    union = " UNION ALL ".join(_cohort_deltas(table, sign) for table, sign in sources)
    return f"""
    CREATE FUNCTION {name}() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN
        INSERT INTO analytics_cohorts ({_COHORT}, pairs)
        SELECT {_COHORT}, sum(n) FROM ({union}) AS d
        GROUP BY {_COHORT} HAVING sum(n) <> 0 ORDER BY {_COHORT}
        ON CONFLICT ({_COHORT}) DO UPDATE SET pairs = analytics_cohorts.pairs + excluded.pairs;
        RETURN NULL;
    END
    $$
    """


_UPGRADE = [
    "DROP TRIGGER learning_pairs_completions ON completion_events",
    """
    CREATE TRIGGER learning_pairs_completions AFTER DELETE ON completion_events
    FOR EACH ROW EXECUTE FUNCTION learning_pairs_from_completion()
    """,
    f"""
    CREATE FUNCTION learning_pairs_from_completions() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN
        INSERT INTO learning_pairs AS lp ({_PAIR}, enrolled_at, completed_at, enrolled)
        SELECT {_PAIR}, min(occurred_at), min(occurred_at), false
        FROM added WHERE outcome IN {_DONE}
        GROUP BY {_PAIR} ORDER BY {_PAIR}
        ON CONFLICT ({_PAIR}) DO UPDATE SET
            completed_at = LEAST(lp.completed_at, excluded.completed_at),
            enrolled_at = CASE WHEN lp.enrolled THEN lp.enrolled_at
                ELSE LEAST(lp.enrolled_at, excluded.enrolled_at) END
        -- A later completion of a pair already completed changes nothing: no row version.
        WHERE lp.completed_at IS NULL OR excluded.completed_at < lp.completed_at
            OR (NOT lp.enrolled AND excluded.enrolled_at < lp.enrolled_at);
        RETURN NULL;
    END
    $$
    """,
    """
    CREATE TRIGGER learning_pairs_completions_added AFTER INSERT ON completion_events
    REFERENCING NEW TABLE AS added
    FOR EACH STATEMENT EXECUTE FUNCTION learning_pairs_from_completions()
    """,
    "DROP TRIGGER analytics_pairs_update ON learning_pairs",
    "DROP TRIGGER analytics_pairs ON learning_pairs",
    "DROP FUNCTION analytics_from_pair()",
    _cohort_function("analytics_pairs_added", [("added", 1)]),
    _cohort_function("analytics_pairs_changed", [("removed", -1), ("added", 1)]),
    _cohort_function("analytics_pairs_removed", [("removed", -1)]),
    """
    CREATE TRIGGER analytics_pairs_insert AFTER INSERT ON learning_pairs
    REFERENCING NEW TABLE AS added
    FOR EACH STATEMENT EXECUTE FUNCTION analytics_pairs_added()
    """,
    """
    CREATE TRIGGER analytics_pairs_update AFTER UPDATE ON learning_pairs
    REFERENCING OLD TABLE AS removed NEW TABLE AS added
    FOR EACH STATEMENT EXECUTE FUNCTION analytics_pairs_changed()
    """,
    """
    CREATE TRIGGER analytics_pairs_delete AFTER DELETE ON learning_pairs
    REFERENCING OLD TABLE AS removed
    FOR EACH STATEMENT EXECUTE FUNCTION analytics_pairs_removed()
    """,
]

# Back to 0021's and 0024's row triggers (their functions' text, as those revisions made them).
_DOWNGRADE_DROP = [
    "DROP TRIGGER analytics_pairs_delete ON learning_pairs",
    "DROP TRIGGER analytics_pairs_update ON learning_pairs",
    "DROP TRIGGER analytics_pairs_insert ON learning_pairs",
    "DROP FUNCTION analytics_pairs_removed()",
    "DROP FUNCTION analytics_pairs_changed()",
    "DROP FUNCTION analytics_pairs_added()",
    "DROP TRIGGER learning_pairs_completions_added ON completion_events",
    "DROP FUNCTION learning_pairs_from_completions()",
    "DROP TRIGGER learning_pairs_completions ON completion_events",
    """
    CREATE TRIGGER learning_pairs_completions AFTER INSERT OR DELETE ON completion_events
    FOR EACH ROW EXECUTE FUNCTION learning_pairs_from_completion()
    """,
]


def upgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    for statement in _UPGRADE:
        op.execute(statement)


def downgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    for statement in _DOWNGRADE_DROP:
        op.execute(statement)
    # 0024's row function and triggers, from that revision's own text.
    rollups = import_module("laurel.migrations.versions.2026_11_28_0024_analytics_rollups")
    for statement in rollups._pg():
        if "analytics_from_learner" in statement or "analytics_learners_move" in statement:
            continue  # never dropped here
        op.execute(statement)
