"""insert_rows: many rows in, the keys of those that went in out, on both databases."""

from __future__ import annotations

from typing import Any

from sqlalchemy import Table, func, select

from laurel.db import Database
from laurel.kit.clock import utcnow
from laurel.kit.ids import uuid7
from laurel.kit.sql import insert_rows
from laurel.learners.models import Learner
from tests.conftest import Tenant

KEY = ("organization_id", "livemode", "external_id")


def _row(tenant: Tenant, external_id: str) -> dict[str, Any]:
    now = utcnow()
    return {
        "id": uuid7(),
        "organization_id": tenant.id,
        "livemode": True,
        "external_id": external_id,
        "classification": "employee",
        "created_at": now,
        "updated_at": now,
    }


def test_all_new_rows_go_in(database: Database, tenant: Tenant) -> None:
    table: Table = Learner.__table__  # type: ignore[assignment]
    rows = [_row(tenant, f"L{n}") for n in range(5)]
    with database.session() as session:
        assert insert_rows(session, table, rows, KEY) == {r["id"] for r in rows}


def test_rows_that_conflict_are_left_out(database: Database, tenant: Tenant) -> None:
    table: Table = Learner.__table__  # type: ignore[assignment]
    first = [_row(tenant, "A"), _row(tenant, "B")]
    with database.session() as session:
        insert_rows(session, table, first, KEY)
    again = [_row(tenant, "A"), _row(tenant, "C"), _row(tenant, "B"), _row(tenant, "D")]
    with database.session() as session:
        went_in = insert_rows(session, table, again, KEY)
    assert went_in == {again[1]["id"], again[3]["id"]}
    with database.read_session() as session:
        assert session.scalar(select(func.count()).select_from(table)) == 4
