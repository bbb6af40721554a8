"""analytics daily rollup: completions and settled rewards per UTC day, delivery latencies

Revision ID: 0028
Revises: 0027
Create Date: 2026-11-26 16:00:00

``analytics_daily`` (``laurel.analytics.models.Daily``) counts, per organization, mode, UTC
day, kind, currency and learner department: completion events (kind ``completion``, day of
``occurred_at``) and rewards in a settled state (kind = the state, day of ``created_at``, with
their amounts). ``analytics_latency`` counts rewards with a ``delivered_at`` per department and
millisecond of event→delivery latency. The overview and the finance pages read them instead of
scanning every event and reward.

Rewards in ``pending``, ``ready`` or ``issuing`` are not counted: those states are transient
and few, the reports read them from the rewards' state index, and so the worker's claim
(``ready → issuing``) and the intake's ``pending → ready`` write nothing here.

Triggers keep both in the writing transaction; the upgrade fills them from the rows already
there. SQLite: row triggers with ``WHEN`` guards, one upsert per counted change. PostgreSQL:
statement triggers over the transition tables, one grouped ``INSERT … SELECT … ORDER BY key …
ON CONFLICT`` per statement, so a statement touching many rollup rows (a batch of events, a
bulk transition) locks them in key order, and rows that net to zero are not touched. A learner
changing department moves their rows (on PostgreSQL under an organization-wide transaction
lock, as 0024 does). A SQLite ``batch_alter_table`` of ``completion_events``, ``rewards`` or
``learners`` drops these triggers: re-create them after one.
"""

# The statements are assembled from this file's own constants; nothing comes from input.
# ruff: noqa: S608

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0028"
down_revision: str | None = "0027"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

TRANSIENT = "('pending', 'ready', 'issuing')"
DONE = "('completed', 'passed')"
DAILY_KEY = "organization_id, livemode, day, kind, currency, department"
LATENCY_KEY = "organization_id, livemode, latency_ms, department"


def _day(postgresql: bool, column: str) -> str:
    if postgresql:
        return f"to_char({column} AT TIME ZONE 'UTC', 'YYYY-MM-DD')"
    return f"substr({column}, 1, 10)"  # stored as 'YYYY-MM-DD HH:MM:SS.ffffff' (UTC)


def _latency(postgresql: bool, r: str) -> str:
    """Milliseconds from the event's receipt to delivery, rounded half away from zero (what
    ``laurel.analytics.periods.sql_millis`` computes for the scan)."""
    if postgresql:
        return f"round(extract(epoch FROM {r}.delivered_at - {r}.event_received_at) * 1000)::bigint"
    micros = (
        f"((unixepoch({r}.delivered_at) - unixepoch({r}.event_received_at)) * 1000000 "
        f"+ CAST(substr({r}.delivered_at, 21, 6) AS INTEGER) "
        f"- CAST(substr({r}.event_received_at, 21, 6) AS INTEGER))"
    )
    return f"(CASE WHEN {micros} >= 0 THEN ({micros} + 500) / 1000 ELSE -((500 - {micros}) / 1000) END)"


def _events(postgresql: bool, e: str, tables: str, where: str, department: str, sign: int) -> str:
    """Delta rows of ``analytics_daily`` for completion events ``e`` (a record or an alias)."""
    return (
        f"SELECT {e}.organization_id AS organization_id, {e}.livemode AS livemode, "
        f"{_day(postgresql, f'{e}.occurred_at')} AS day, 'completion' AS kind, '' AS currency, "
        f"{department} AS department, {sign} AS n, 0 AS amount_minor "
        f"FROM {tables} WHERE {e}.outcome IN {DONE} AND {where}"
    )


def _rewards(postgresql: bool, r: str, tables: str, where: str, department: str, sign: int) -> str:
    """Delta rows of ``analytics_daily`` for settled rewards ``r``."""
    return (
        f"SELECT {r}.organization_id AS organization_id, {r}.livemode AS livemode, "
        f"{_day(postgresql, f'{r}.created_at')} AS day, {r}.state AS kind, "
        f"{r}.currency AS currency, {department} AS department, {sign} AS n, "
        f"{sign} * {r}.amount_minor AS amount_minor "
        f"FROM {tables} WHERE {r}.state NOT IN {TRANSIENT} AND {where}"
    )


def _latencies(
    postgresql: bool, r: str, tables: str, where: str, department: str, sign: int
) -> str:
    """Delta rows of ``analytics_latency`` for delivered rewards ``r``."""
    return (
        f"SELECT {r}.organization_id AS organization_id, {r}.livemode AS livemode, "
        f"{_latency(postgresql, r)} AS latency_ms, {department} AS department, {sign} AS n "
        f"FROM {tables} WHERE {r}.delivered_at IS NOT NULL AND {where}"
    )


def _daily_upsert(deltas: list[str]) -> str:
    """The deltas summed per key in key order (PostgreSQL locks the rows in that order); keys
    that net to zero are left alone."""
    union = " UNION ALL ".join(deltas)
    return (
        f"INSERT INTO analytics_daily ({DAILY_KEY}, n, amount_minor) "
        f"SELECT {DAILY_KEY}, sum(n), sum(amount_minor) FROM ({union}) AS d "
        f"GROUP BY {DAILY_KEY} HAVING sum(n) <> 0 OR sum(amount_minor) <> 0 "
        f"ORDER BY {DAILY_KEY} "
        f"ON CONFLICT ({DAILY_KEY}) DO UPDATE SET n = analytics_daily.n + excluded.n, "
        "amount_minor = analytics_daily.amount_minor + excluded.amount_minor"
    )


def _latency_upsert(deltas: list[str]) -> str:
    union = " UNION ALL ".join(deltas)
    return (
        f"INSERT INTO analytics_latency ({LATENCY_KEY}, n) "
        f"SELECT {LATENCY_KEY}, sum(n) FROM ({union}) AS d "
        f"GROUP BY {LATENCY_KEY} HAVING sum(n) <> 0 ORDER BY {LATENCY_KEY} "
        f"ON CONFLICT ({LATENCY_KEY}) DO UPDATE SET n = analytics_latency.n + excluded.n"
    )


_JOINED = "coalesce(l.department, '')"


def _backfill(postgresql: bool) -> list[str]:
    events = "completion_events e JOIN learners l ON l.id = e.learner_id"
    rewards = "rewards r JOIN learners l ON l.id = r.learner_id"
    return [
        _daily_upsert(
            [
                _events(postgresql, "e", events, "1 = 1", _JOINED, 1),
                _rewards(postgresql, "r", rewards, "1 = 1", _JOINED, 1),
            ]
        ),
        _latency_upsert([_latencies(postgresql, "r", rewards, "1 = 1", _JOINED, 1)]),
    ]


# SQLite: row triggers. A row's department is its learner's, read by primary key.


def _sqlite_one(table: str, key: str, row_sql: str) -> str:
    """One row's delta upserted as it is (no grouping: the trigger's ``WHEN`` and the row's
    ``WHERE`` decide whether it counts)."""
    if table == "analytics_daily":
        add = "n = analytics_daily.n + excluded.n, amount_minor = analytics_daily.amount_minor + excluded.amount_minor"
        columns = f"{key}, n, amount_minor"
    else:
        add = "n = analytics_latency.n + excluded.n"
        columns = f"{key}, n"
    return f"INSERT INTO {table} ({columns}) {row_sql} ON CONFLICT ({key}) DO UPDATE SET {add}"


def _own(record: str) -> tuple[str, str]:
    """The tables and condition that find ``record``'s learner (a primary-key read)."""
    return "learners l", f"l.id = {record}.learner_id"


def _sqlite_event(record: str, sign: int) -> str:
    tables, where = _own(record)
    return _sqlite_one(
        "analytics_daily", DAILY_KEY, _events(False, record, tables, where, _JOINED, sign)
    )


def _sqlite_reward(record: str, sign: int) -> str:
    tables, where = _own(record)
    return _sqlite_one(
        "analytics_daily", DAILY_KEY, _rewards(False, record, tables, where, _JOINED, sign)
    )


def _sqlite_latency(record: str, sign: int) -> str:
    tables, where = _own(record)
    return _sqlite_one(
        "analytics_latency", LATENCY_KEY, _latencies(False, record, tables, where, _JOINED, sign)
    )


def _moves(postgresql: bool) -> list[str]:
    """A learner's rows moved from ``OLD.department`` to ``NEW.department`` (learner trigger)."""
    mine = "x.organization_id = NEW.organization_id AND x.learner_id = NEW.id"
    before, after = "coalesce(OLD.department, '')", "coalesce(NEW.department, '')"
    events, rewards = "completion_events x", "rewards x"
    return [
        _daily_upsert(
            [
                _events(postgresql, "x", events, mine, before, -1),
                _events(postgresql, "x", events, mine, after, 1),
                _rewards(postgresql, "x", rewards, mine, before, -1),
                _rewards(postgresql, "x", rewards, mine, after, 1),
            ]
        ),
        _latency_upsert(
            [
                _latencies(postgresql, "x", rewards, mine, before, -1),
                _latencies(postgresql, "x", rewards, mine, after, 1),
            ]
        ),
    ]


_MOVED = "OLD.department IS NOT NEW.department"
_SETTLED_CHANGE = (
    f"(OLD.state NOT IN {TRANSIENT} OR NEW.state NOT IN {TRANSIENT}) AND ("
    "OLD.state IS NOT NEW.state OR OLD.amount_minor IS NOT NEW.amount_minor "
    "OR OLD.currency IS NOT NEW.currency OR OLD.created_at IS NOT NEW.created_at "
    "OR OLD.learner_id IS NOT NEW.learner_id)"
)
_DELIVERY_CHANGE = (
    "OLD.delivered_at IS NOT NEW.delivered_at "
    "OR OLD.event_received_at IS NOT NEW.event_received_at "
    "OR OLD.learner_id IS NOT NEW.learner_id"
)


def _body(statements: list[str]) -> str:
    return ";\n".join(statements) + ";"


def _sqlite() -> list[str]:
    return [
        f"""
        CREATE TRIGGER analytics_daily_event_insert AFTER INSERT ON completion_events
        WHEN NEW.outcome IN {DONE}
        BEGIN {_sqlite_event("NEW", 1)}; END
        """,
        f"""
        CREATE TRIGGER analytics_daily_event_delete AFTER DELETE ON completion_events
        WHEN OLD.outcome IN {DONE}
        BEGIN {_sqlite_event("OLD", -1)}; END
        """,
        f"""
        CREATE TRIGGER analytics_daily_reward_insert AFTER INSERT ON rewards
        WHEN NEW.state NOT IN {TRANSIENT} OR NEW.delivered_at IS NOT NULL
        BEGIN {_body([_sqlite_reward("NEW", 1), _sqlite_latency("NEW", 1)])} END
        """,
        f"""
        CREATE TRIGGER analytics_daily_reward_update AFTER UPDATE OF state, amount_minor,
        currency, created_at, learner_id ON rewards WHEN {_SETTLED_CHANGE}
        BEGIN {_body([_sqlite_reward("OLD", -1), _sqlite_reward("NEW", 1)])} END
        """,
        f"""
        CREATE TRIGGER analytics_latency_reward_update AFTER UPDATE OF delivered_at,
        event_received_at, learner_id ON rewards WHEN {_DELIVERY_CHANGE}
        BEGIN {_body([_sqlite_latency("OLD", -1), _sqlite_latency("NEW", 1)])} END
        """,
        f"""
        CREATE TRIGGER analytics_daily_reward_delete AFTER DELETE ON rewards
        WHEN OLD.state NOT IN {TRANSIENT} OR OLD.delivered_at IS NOT NULL
        BEGIN {_body([_sqlite_reward("OLD", -1), _sqlite_latency("OLD", -1)])} END
        """,
        f"""
        CREATE TRIGGER analytics_daily_learner_move AFTER UPDATE OF department ON learners
        WHEN {_MOVED}
        BEGIN {_body(_moves(False))} END
        """,
    ]


_SQLITE_DOWN = [
    "DROP TRIGGER analytics_daily_learner_move",
    "DROP TRIGGER analytics_daily_reward_delete",
    "DROP TRIGGER analytics_latency_reward_update",
    "DROP TRIGGER analytics_daily_reward_update",
    "DROP TRIGGER analytics_daily_reward_insert",
    "DROP TRIGGER analytics_daily_event_delete",
    "DROP TRIGGER analytics_daily_event_insert",
]


# PostgreSQL: statement triggers over transition tables (``added``, ``removed``).


def _pg_counted(tables: list[str]) -> str:
    """Whether any of the transition tables holds a reward the rollups count: a statement
    trigger fires for every UPDATE of rewards, and most (a claim, a retry, a lease) move
    rewards between transient states only; this check is cheaper than the grouped upserts."""
    return " OR ".join(
        f"EXISTS (SELECT 1 FROM {t} r WHERE r.state NOT IN {TRANSIENT} "
        "OR r.delivered_at IS NOT NULL)"
        for t in tables
    )


def _pg_function(name: str, statements: list[str], lock: bool = False, only_if: str = "") -> str:
    """A trigger function running ``statements``: first, with ``lock``, the organization's
    move lock; with ``only_if``, nothing unless that condition holds."""
    first = ""
    if lock:
        # Moving a learner's rows rewrites many shared rollup rows: moves of one organization
        # take turns (as 0024's), so two moving transactions cannot lock them in opposite
        # orders.
        first = (
            "PERFORM pg_advisory_xact_lock("
            "hashtextextended('analytics_daily:' || NEW.organization_id::text, 0));"
        )
    elif only_if:
        first = f"IF NOT ({only_if}) THEN RETURN NULL; END IF;"
    return f"""
        CREATE FUNCTION {name}() RETURNS trigger LANGUAGE plpgsql AS $$
        BEGIN
            {first}
            {_body(statements)}
            RETURN NULL;
        END
        $$
        """


def _pg_events(table: str, sign: int) -> list[str]:
    tables = f"{table} e JOIN learners l ON l.id = e.learner_id"
    return [_daily_upsert([_events(True, "e", tables, "1 = 1", _JOINED, sign)])]


def _pg_rewards(sources: list[tuple[str, int]]) -> list[str]:
    joined = [
        (f"{table} r JOIN learners l ON l.id = r.learner_id", sign) for table, sign in sources
    ]
    return [
        _daily_upsert([_rewards(True, "r", t, "1 = 1", _JOINED, s) for t, s in joined]),
        _latency_upsert([_latencies(True, "r", t, "1 = 1", _JOINED, s) for t, s in joined]),
    ]


def _pg() -> list[str]:
    return [
        _pg_function("analytics_daily_events_added", _pg_events("added", 1)),
        _pg_function("analytics_daily_events_removed", _pg_events("removed", -1)),
        _pg_function(
            "analytics_daily_rewards_added",
            _pg_rewards([("added", 1)]),
            only_if=_pg_counted(["added"]),
        ),
        _pg_function(
            "analytics_daily_rewards_changed",
            _pg_rewards([("removed", -1), ("added", 1)]),
            only_if=_pg_counted(["removed", "added"]),
        ),
        _pg_function(
            "analytics_daily_rewards_removed",
            _pg_rewards([("removed", -1)]),
            only_if=_pg_counted(["removed"]),
        ),
        _pg_function("analytics_daily_from_learner", _moves(True), lock=True),
        """
        CREATE TRIGGER analytics_daily_event_insert AFTER INSERT ON completion_events
        REFERENCING NEW TABLE AS added
        FOR EACH STATEMENT EXECUTE FUNCTION analytics_daily_events_added()
        """,
        """
        CREATE TRIGGER analytics_daily_event_delete AFTER DELETE ON completion_events
        REFERENCING OLD TABLE AS removed
        FOR EACH STATEMENT EXECUTE FUNCTION analytics_daily_events_removed()
        """,
        """
        CREATE TRIGGER analytics_daily_reward_insert AFTER INSERT ON rewards
        REFERENCING NEW TABLE AS added
        FOR EACH STATEMENT EXECUTE FUNCTION analytics_daily_rewards_added()
        """,
        """
        CREATE TRIGGER analytics_daily_reward_update AFTER UPDATE ON rewards
        REFERENCING OLD TABLE AS removed NEW TABLE AS added
        FOR EACH STATEMENT EXECUTE FUNCTION analytics_daily_rewards_changed()
        """,
        """
        CREATE TRIGGER analytics_daily_reward_delete AFTER DELETE ON rewards
        REFERENCING OLD TABLE AS removed
        FOR EACH STATEMENT EXECUTE FUNCTION analytics_daily_rewards_removed()
        """,
        """
        CREATE TRIGGER analytics_daily_learner_move AFTER UPDATE OF department ON learners
        FOR EACH ROW WHEN (OLD.department IS DISTINCT FROM NEW.department)
        EXECUTE FUNCTION analytics_daily_from_learner()
        """,
    ]


_PG_DOWN = [
    "DROP TRIGGER analytics_daily_learner_move ON learners",
    "DROP TRIGGER analytics_daily_reward_delete ON rewards",
    "DROP TRIGGER analytics_daily_reward_update ON rewards",
    "DROP TRIGGER analytics_daily_reward_insert ON rewards",
    "DROP TRIGGER analytics_daily_event_delete ON completion_events",
    "DROP TRIGGER analytics_daily_event_insert ON completion_events",
    "DROP FUNCTION analytics_daily_from_learner()",
    "DROP FUNCTION analytics_daily_rewards_removed()",
    "DROP FUNCTION analytics_daily_rewards_changed()",
    "DROP FUNCTION analytics_daily_rewards_added()",
    "DROP FUNCTION analytics_daily_events_removed()",
    "DROP FUNCTION analytics_daily_events_added()",
]


def upgrade() -> None:
    op.create_table(
        "analytics_daily",
        sa.Column("organization_id", sa.Uuid(), nullable=False),
        sa.Column("livemode", sa.Boolean(), nullable=False),
        sa.Column("day", sa.String(length=10), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("currency", sa.String(length=3), nullable=False),
        sa.Column("department", sa.String(length=200), nullable=False),
        sa.Column("n", sa.Integer(), nullable=False),
        sa.Column("amount_minor", sa.BigInteger(), nullable=False),
        sa.ForeignKeyConstraint(
            ["organization_id"],
            ["organizations.id"],
            name=op.f("fk_analytics_daily_organization_id_organizations"),
            ondelete="RESTRICT",
        ),
        sa.PrimaryKeyConstraint(
            "organization_id",
            "livemode",
            "day",
            "kind",
            "currency",
            "department",
            name=op.f("pk_analytics_daily"),
        ),
        sqlite_with_rowid=False,
    )
    op.create_table(
        "analytics_latency",
        sa.Column("organization_id", sa.Uuid(), nullable=False),
        sa.Column("livemode", sa.Boolean(), nullable=False),
        sa.Column("latency_ms", sa.BigInteger(), nullable=False),
        sa.Column("department", sa.String(length=200), nullable=False),
        sa.Column("n", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["organization_id"],
            ["organizations.id"],
            name=op.f("fk_analytics_latency_organization_id_organizations"),
            ondelete="RESTRICT",
        ),
        sa.PrimaryKeyConstraint(
            "organization_id",
            "livemode",
            "latency_ms",
            "department",
            name=op.f("pk_analytics_latency"),
        ),
        sqlite_with_rowid=False,
    )
    postgresql = op.get_bind().dialect.name == "postgresql"
    for statement in _backfill(postgresql):
        op.execute(statement)
    for statement in _pg() if postgresql else _sqlite():
        op.execute(statement)


def downgrade() -> None:
    postgresql = op.get_bind().dialect.name == "postgresql"
    for statement in _PG_DOWN if postgresql else _SQLITE_DOWN:
        op.execute(statement)
    op.drop_table("analytics_latency")
    op.drop_table("analytics_daily")
