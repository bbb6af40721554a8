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


def test_many_rows_across_statements_keep_order_and_conflicts(
    database: Database, tenant: Tenant
) -> None:
    """Hundreds of rows go in as several multi-row statements on SQLite: a conflict with a row
    stored before, or with an earlier row of the same call (same or another statement), leaves
    out the later row only, and the keys answered are exactly those stored."""
    table: Table = Learner.__table__  # type: ignore[assignment]
    with database.session() as session:
        insert_rows(session, table, [_row(tenant, "L7"), _row(tenant, "L150")], KEY)
    rows = [_row(tenant, f"L{n}") for n in range(201)]
    rows.insert(70, _row(tenant, "L3"))  # repeats a row of the first statement in the second
    rows.append(_row(tenant, "L200"))  # repeats a row of the same (last) statement
    with database.session() as session:
        went_in = insert_rows(session, table, rows, KEY)
    repeats = {id(rows[70]), id(rows[-1])}
    expected = {
        r["id"] for r in rows if r["external_id"] not in ("L7", "L150") and id(r) not in repeats
    }
    assert went_in == expected
    with database.read_session() as session:
        stored = dict(session.execute(select(table.c.external_id, table.c.id)).all())
    assert len(stored) == 201
    assert {stored[f"L{n}"] for n in range(201) if n not in (7, 150)} == expected


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


def test_postgresql_array_inserts_store_what_sqlalchemy_stores(database: Database) -> None:
    """On PostgreSQL rows go in as one array per column (``unnest``); every stored value must be
    the one SQLAlchemy's own multi-row INSERT stores, for each column type the models use."""
    import enum
    import uuid
    from datetime import UTC, date, datetime, timedelta, timezone

    from sqlalchemy import (
        BigInteger,
        Boolean,
        Column,
        Date,
        Double,
        Integer,
        LargeBinary,
        MetaData,
        String,
        Text,
        Uuid,
    )
    from sqlalchemy.dialects import postgresql
    from sqlalchemy.orm import Session

    from laurel.kit.orm import JSONType, UTCDateTime
    from laurel.kit.sql import EncodedJSON, insert_many

    if database.engine.dialect.name != "postgresql":
        return  # SQLite's own fast path: test_fast_sqlite_inserts_store_what_sqlalchemy_stores

    class Colour(enum.StrEnum):
        red = "red"

    metadata = MetaData()
    table = Table(
        f"samples_{uuid.uuid4().hex[:8]}",
        metadata,
        Column("id", Uuid(), primary_key=True),
        Column("name", String(20), nullable=False),
        Column("other", Uuid(), nullable=True),
        Column("at", UTCDateTime(), nullable=True),
        Column("day", Date(), nullable=True),
        Column("flag", Boolean(), nullable=True),
        Column("colour", String(8), nullable=True),
        Column("amount", BigInteger(), nullable=True),
        Column("small", Integer(), nullable=True),
        Column("score", Double(), nullable=True),
        Column("doc", JSONType, nullable=True),
        Column("note", Text(), nullable=True),
        Column("body", LargeBinary(), nullable=True),
    )
    plus_two = timezone(timedelta(hours=2))
    values: list[dict[str, Any]] = [
        {
            "other": uuid.uuid4(),
            "at": datetime(2026, 11, 26, 7, 5, 3, 120, tzinfo=plus_two),
            "day": date(2026, 1, 2),
            "flag": True,
            "colour": Colour.red,
            "amount": 2**40,
            "small": 7,
            "score": 1,  # an int among floats: one array of doubles
            "doc": {"b": [1, "ü", None], "a": 1.5},
            "note": 'quote " comma , brace { }',
            "body": b"\x00\xff",
        },
        {
            "other": None,
            "at": datetime(2026, 11, 26, 7, 5, 3, tzinfo=UTC),
            "day": None,
            "flag": False,
            "colour": "x",  # plain str beside a str enum
            "amount": 0,
            "small": None,
            "score": 0.92,
            "doc": None,  # JSON null, as SQLAlchemy stores None in a JSON column
            "note": None,
            "body": None,
        },
    ]
    metadata.create_all(database.engine)
    try:
        with Session(database.engine) as session, session.begin():
            statement = postgresql.insert(table)
            for k, row in enumerate(values):
                session.execute(statement, [{"id": uuid.uuid4(), "name": f"sa{k}", **row}])
            ours = [{"id": uuid.uuid4(), "name": f"ours{k}", **row} for k, row in enumerate(values)]
            assert insert_many(session, table, ours) == 2
            # Conflicts are left out and RETURNING names the rows that went in.
            again = [{**ours[0], "name": "dup"}, {**ours[1], "id": uuid.uuid4(), "name": "new"}]
            assert insert_rows(session, table, again, ["id"]) == {again[1]["id"]}
            doc = EncodedJSON('{"a":1}')
            encoded = {**values[1], "id": uuid.uuid4(), "name": "enc", "doc": doc}
            insert_many(session, table, [encoded])
        columns = [c for c in table.columns if c.name not in ("id", "name")]
        with database.engine.connect() as connection:
            stored = {
                row[0]: tuple(row[1:])
                for row in connection.execute(select(table.c.name, *columns)).all()
            }
            raw_docs: dict[str, str] = dict(
                connection.exec_driver_sql(
                    f"SELECT name, jsonb_typeof(doc) FROM {table.name} WHERE name LIKE '%%1'"
                ).all()
            )
        assert stored["ours0"] == stored["sa0"]
        assert stored["ours1"] == stored["sa1"]
        assert stored["new"] == stored["sa1"]
        assert stored["enc"][columns.index(table.c.doc)] == {"a": 1}
        assert raw_docs == {"sa1": "null", "ours1": "null"}
        assert stored["ours0"][columns.index(table.c.colour)] == "red"
    finally:
        metadata.drop_all(database.engine)
