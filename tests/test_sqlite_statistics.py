"""Laurel keeps SQLite's planner statistics current as its tables grow (sqlite_statistics)."""

from __future__ import annotations

import uuid

import pytest
from sqlalchemy import text

from laurel import sqlite_statistics
from laurel.db import Database
from laurel.kit.clock import utcnow
from laurel.kit.sql import insert_many
from laurel.learners.models import Learner
from tests.conftest import Tenant


def _add_learners(database: Database, tenant: Tenant, count: int, prefix: str) -> None:
    now = utcnow()
    rows = [
        {
            "id": uuid.uuid4(),
            "organization_id": tenant.id,
            "livemode": True,
            "external_id": f"{prefix}{i}",
            "classification": "employee",
            "department": f"{prefix}{i}",
            "email_index": "shared",
            "created_at": now,
            "updated_at": now,
        }
        for i in range(count)
    ]
    with database.session() as session:
        insert_many(session, Learner.__table__, rows)  # type: ignore[arg-type]


def _recorded_rows(database: Database, table: str) -> int | None:
    with database.engine.connect() as connection:
        stat = connection.execute(
            text("SELECT stat FROM sqlite_stat1 WHERE tbl = :t LIMIT 1"), {"t": table}
        ).scalar()
    return None if stat is None else int(str(stat).split(" ", 1)[0])


def test_tables_are_analysed_when_they_grow(database: Database, tenant: Tenant) -> None:
    if not database.is_sqlite:
        assert sqlite_statistics.refresh(database) == []  # PostgreSQL keeps its own
        return
    # A new database: every table is small, nothing to analyse.
    assert sqlite_statistics.refresh(database) == []

    _add_learners(database, tenant, 1_200, "a")
    assert "learners" in sqlite_statistics.refresh(database)
    first = _recorded_rows(database, "learners")
    assert first == 1_200
    # Analysed and not grown since: nothing to do.
    assert "learners" not in sqlite_statistics.refresh(database)

    _add_learners(database, tenant, 400, "b")  # grown by a third: the statistics still hold
    assert "learners" not in sqlite_statistics.refresh(database)
    _add_learners(database, tenant, 1_200, "c")  # more than doubled: analysed again
    assert "learners" in sqlite_statistics.refresh(database)
    again = _recorded_rows(database, "learners")
    assert again == 2_800


def test_the_planner_uses_them(database: Database, tenant: Tenant) -> None:
    """Statistics change what SQLite does: without them an equality on the email index looks as
    narrow as one on the department (and wins the tie); with them SQLite knows every learner
    here shares that index value and seeks the department instead."""
    if not database.is_sqlite:
        pytest.skip("PostgreSQL plans from its own statistics")
    _add_learners(database, tenant, 1_500, "p")
    query = (
        "EXPLAIN QUERY PLAN SELECT id FROM learners WHERE organization_id = ? AND livemode = 1 "
        "AND department = ? AND email_index = 'shared'"
    )

    def plan() -> str:
        with database.engine.connect() as connection:
            rows = connection.exec_driver_sql(query, (tenant.id.hex, "p7"))
            return " ".join(str(row[3]) for row in rows)

    before = plan()
    assert "email_index=?" in before, before
    sqlite_statistics.refresh(database)
    after = plan()
    assert "department=?" in after, (before, after)
    assert "email_index=?" not in after, (before, after)


def test_a_page_of_the_newest_walks_the_ids(database: Database, tenant: Tenant) -> None:
    """A list page (one organization's rows, newest id first) after a refresh: whole
    statistics know the organization holds every row and walk the ids for 51 of them. A sampled
    analysis believed it held a thousand and sorted them all (750 ms at 68,000 rewards)."""
    if not database.is_sqlite:
        pytest.skip("PostgreSQL plans from its own statistics")
    _add_learners(database, tenant, 20_000, "n")
    sqlite_statistics.refresh(database)
    query = (
        "EXPLAIN QUERY PLAN SELECT * FROM learners WHERE organization_id = ? AND livemode = 1 "
        "ORDER BY id DESC LIMIT 51"
    )
    with database.engine.connect() as connection:
        rows = connection.exec_driver_sql(query, (tenant.id.hex,))
        plan = " ".join(str(row[3]) for row in rows)
    assert "TEMP B-TREE" not in plan, plan
