"""The look-ups every completion pays for must seek, not walk, on SQLite.

SQLite keeps no statistics unless told to, so its planner guesses from the shape of a query; two
guesses cost time that grew with the rewards table (the dedupe look-up walked every reward of the
organization, a state guard walked every reward in that state). The statements the intake really
sends are captured here and their plans asked of SQLite: each must seek the index meant for it.
"""

from __future__ import annotations

from typing import Any

import pytest
from fastapi.testclient import TestClient

from laurel.db import Database
from tests.conftest import Tenant, completion
from tests.factories import fixed_program, statements_sent


def _plan(database: Database, statement: str, parameters: Any) -> str:
    with database.engine.connect() as connection:
        rows = connection.exec_driver_sql("EXPLAIN QUERY PLAN " + statement, parameters)
        return "\n".join(str(row[3]) for row in rows)


def test_intake_seeks_the_dedupe_index_and_moves_rewards_by_id(
    client: TestClient, tenant: Tenant, database: Database
) -> None:
    if not database.is_sqlite:
        pytest.skip("PostgreSQL plans from statistics")
    fixed_program(client, tenant, amount="25.00")
    first = client.post("/api/v1/completions", headers=tenant.headers, json=completion("p-1"))
    assert first.status_code == 202, first.text

    with statements_sent(database) as sent:
        # A learner already known: the dedupe look-up runs, and the new reward moves to ready.
        again = completion("p-2", course="SEC-202")
        response = client.post("/api/v1/completions", headers=tenant.headers, json=again)
    assert response.status_code == 202, response.text
    assert response.json()["rewards"][0]["state"] == "ready"
    lookups = [s for s in sent if "dedupe_key FROM rewards WHERE organization_id" in s[0]]
    moves = [s for s in sent if s[0].startswith("UPDATE rewards SET state")]
    assert lookups
    assert moves
    for statement, parameters in lookups:
        plan = _plan(database, statement, parameters)
        assert "program_id=? AND learner_id=? AND course_id=?" in plan, plan
        assert "SCAN" not in plan, plan
    for statement, parameters in moves:
        plan = _plan(database, statement, parameters)
        assert "(id=?)" in plan, plan
        assert "state=?" not in plan, plan


def test_a_budget_windows_reservations_are_found_by_index(database: Database) -> None:
    """The burn-down of a window and a budget's reservations by state (migration 0031)."""
    if not database.is_sqlite:
        pytest.skip("PostgreSQL plans from statistics")
    window = _plan(
        database,
        "SELECT amount_minor FROM budget_reservations WHERE organization_id = ? AND window_id = ?",
        ("o", "w"),
    )
    assert "ix_budget_reservations_window_id" in window, window
    by_state = _plan(
        database,
        "SELECT id FROM budget_reservations WHERE budget_id = ? AND state = ? LIMIT 10",
        ("b", "reserved"),
    )
    assert "ix_budget_reservations_budget_id_state" in by_state, by_state
