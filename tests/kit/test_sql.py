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


def test_fast_sqlite_inserts_store_what_sqlalchemy_stores(tmp_path: Any) -> None:
    """insert_many converts values itself on SQLite; each stored form must be SQLAlchemy's."""
    import enum
    import uuid
    from datetime import UTC, date, datetime, timedelta, timezone

    from sqlalchemy import BigInteger, Boolean, Column, Date, MetaData, String, Uuid, text
    from sqlalchemy.orm import Session

    from laurel.kit.orm import JSONType, UTCDateTime
    from laurel.kit.sql import EncodedJSON, insert_many

    class Colour(enum.StrEnum):
        red = "red"

    metadata = MetaData()
    table = Table(
        "samples",
        metadata,
        Column("id", Uuid(), primary_key=True),
        Column("other", Uuid(), nullable=True),
        Column("at", UTCDateTime(), nullable=True),
        Column("day", Date(), nullable=True),
        Column("flag", Boolean()),
        Column("colour", String(8)),
        Column("amount", BigInteger()),
        Column("doc", JSONType, nullable=True),
    )
    database = Database(f"sqlite:///{tmp_path / 'forms.db'}")
    metadata.create_all(database.engine)
    plus_two = timezone(timedelta(hours=2))
    values: list[dict[str, Any]] = [
        {
            "other": uuid.uuid4(),
            "at": datetime(2026, 11, 26, 7, 5, 3, 120, tzinfo=plus_two),
            "day": date(2026, 1, 2),
            "flag": True,
            "colour": Colour.red,
            "amount": 2**40,
            "doc": {"b": [1, "ü", None], "a": 1.5},
        },
        {
            "other": None,
            "at": datetime(2026, 11, 26, 7, 5, 3, tzinfo=UTC),
            "day": None,
            "flag": False,
            "colour": "x",
            "amount": 0,
            "doc": None,
        },
    ]
    with Session(database.engine) as session, session.begin():
        for row in values:
            session.execute(table.insert(), [{"id": uuid.uuid4(), **row}])
        assert insert_many(session, table, [{"id": uuid.uuid4(), **row} for row in values]) == 2
    with database.engine.connect() as connection:
        stored = connection.exec_driver_sql(
            "SELECT other, at, day, flag, colour, amount, doc FROM samples ORDER BY rowid"
        ).all()
        assert len(stored) == 4
        assert stored[2] == stored[0]
        assert stored[3] == stored[1]
        kinds = connection.execute(text("SELECT typeof(id) FROM samples")).scalars().all()
        assert set(kinds) == {"text"}
    # Already-encoded JSON text is stored as it is, not encoded a second time.
    with Session(database.engine) as session, session.begin():
        insert_many(
            session,
            table,
            [{**values[1], "id": uuid.uuid4(), "doc": EncodedJSON('{"a":1}')}],
        )
        doc = session.execute(text("SELECT doc FROM samples ORDER BY rowid DESC")).scalar()
        assert doc == '{"a":1}'
    # Rows of a single column take their own path (a one-name itemgetter answers no tuple).
    lone = [uuid.uuid4(), uuid.uuid4()]
    with Session(database.engine) as session, session.begin():
        assert insert_many(session, table, [{"id": i} for i in lone]) == 2
        ids = session.execute(
            text("SELECT id FROM samples WHERE flag IS NULL ORDER BY rowid")
        ).scalars()
        assert list(ids) == [i.hex for i in lone]
    database.dispose()
