"""read_rows and write_rows: the rows and guards of the session, past its ORM layer.

On SQLite ``read_rows`` runs a SELECT on the driver itself, converting parameters and results
with SQLAlchemy's own processors; every type the models use must come back exactly as
``session.execute`` returns it. On both databases a pending ORM object is seen (autoflush), a
read-only unit of work refuses writes, and a write to a watched table reaches its watcher.
"""

from __future__ import annotations

import enum
import uuid
from datetime import UTC, date, datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import (
    BigInteger,
    Boolean,
    Column,
    Date,
    Float,
    MetaData,
    String,
    Table,
    Uuid,
    bindparam,
    select,
    update,
)
from sqlalchemy.orm import Session

from laurel.db import Database, ReadOnlySessionError
from laurel.kit import session_writes
from laurel.kit.orm import JSONType, UTCDateTime
from laurel.kit.sql import Rows, read_rows, write_rows
from laurel.learners.models import Learner
from tests.conftest import Tenant


class Colour(enum.StrEnum):
    red = "red"


METADATA = MetaData()
SAMPLES = Table(
    "read_samples",
    METADATA,
    Column("id", Uuid(), primary_key=True),
    Column("other", Uuid(), nullable=True),
    Column("at", UTCDateTime(), nullable=True),
    Column("day", Date(), nullable=True),
    Column("flag", Boolean(), nullable=True),
    Column("colour", String(8), nullable=True),
    Column("amount", BigInteger(), nullable=True),
    Column("ratio", Float(), nullable=True),
    Column("doc", JSONType, nullable=True),
)
PLUS_TWO = timezone(timedelta(hours=2))


def _rows() -> list[dict[str, Any]]:
    full = {
        "other": uuid.uuid4(),
        "at": datetime(2026, 11, 26, 7, 5, 3, 120, tzinfo=PLUS_TWO),
        "day": date(2026, 1, 2),
        "flag": True,
        "colour": Colour.red,
        "amount": 2**40,
        "ratio": 0.1,
        "doc": {"b": [1, "ü", None], "a": 1.5},
    }
    empty = dict.fromkeys(full) | {"flag": False, "colour": "x", "amount": 0}
    return [{"id": uuid.uuid4(), **full}, {"id": uuid.uuid4(), **empty}]


@pytest.fixture
def samples(tmp_path: Path) -> Any:
    database = Database(f"sqlite:///{tmp_path / 'reads.db'}")
    METADATA.create_all(database.engine)
    rows = _rows()
    with Session(database.engine) as session, session.begin():
        session.execute(SAMPLES.insert(), rows)
    yield database, rows
    database.dispose()


def _both(session: Session, statement: Any, params: dict[str, Any]) -> tuple[Any, Any]:
    fast = read_rows(session, statement, params).all()
    slow = session.execute(statement, params).all()
    return [tuple(r) for r in fast], [tuple(r) for r in slow]


def test_sqlite_reads_answer_what_sqlalchemy_answers(samples: Any) -> None:
    database, rows = samples
    c = SAMPLES.c
    every = select(*SAMPLES.columns).where(c.id.in_(bindparam("_ids", expanding=True)))
    with Session(database.engine) as session, session.begin():
        ids = [r["id"] for r in rows]
        fast, slow = _both(session, every.order_by(c.amount.desc()), {"_ids": ids})
        assert fast == slow
        assert len(fast) == 2
        assert fast[0][0] == ids[0]
        assert isinstance(fast[0][0], uuid.UUID)
        assert fast[0][2] == rows[0]["at"]
        assert fast[0][2].tzinfo is UTC
        assert fast[0][3] == date(2026, 1, 2)
        assert fast[0][4] is True
        assert fast[1][4] is False
        assert fast[0][8] == {"b": [1, "ü", None], "a": 1.5}
        # One list, then another length: the text is rendered per shape, the values bound.
        assert _both(session, every, {"_ids": ids[1:]})[0] == [tuple(_values(rows[1]))]
        # Two lists and scalars in one statement, a literal the statement carries, a datetime
        # in another zone.
        mixed = select(c.id, c.colour).where(
            c.id.in_(bindparam("_ids", expanding=True)),
            c.colour.in_(bindparam("_colours", expanding=True)),
            c.amount >= bindparam("_least"),
            c.flag.is_not(None),
            c.ratio.is_(None) | (c.ratio < 5),
            c.at.is_(None) | (c.at <= bindparam("_by")),
        )
        params = {
            "_ids": ids,
            "_colours": ["red", "x"],
            "_least": 0,
            "_by": datetime(2026, 11, 26, 8, 0, tzinfo=PLUS_TWO),
        }
        fast, slow = _both(session, mixed, params)
        assert fast == slow
        assert len(fast) == 2
        # Both ran on the driver, not through SQLAlchemy's execution.
        assert isinstance(read_rows(session, mixed, params), Rows)
        assert isinstance(read_rows(session, every, {"_ids": ids}), Rows)
        literal = select(c.amount).where(c.colour == "red", c.flag == True)  # noqa: E712
        assert read_rows(session, literal).scalar() == 2**40
        # An empty list takes SQLAlchemy's path (it renders a false expression of its own).
        assert read_rows(session, every, {"_ids": []}).all() == []
        nothing = select(c.amount).where(c.colour == "none")
        assert read_rows(session, nothing).scalar() is None


def _values(row: dict[str, Any]) -> list[Any]:
    return [row[column.name] for column in SAMPLES.columns]


def _learner(tenant: Tenant, external_id: str) -> Learner:
    return Learner(organization_id=tenant.id, livemode=True, external_id=external_id)


def test_a_read_sees_what_the_session_has_not_flushed(database: Database, tenant: Tenant) -> None:
    by_external = select(Learner.__table__.c.id).where(
        Learner.__table__.c.external_id == bindparam("_e")
    )
    with database.session() as session:
        person = _learner(tenant, "pending-1")
        session.add(person)
        assert read_rows(session, by_external, {"_e": "pending-1"}).scalar() == person.id
        with session.no_autoflush:
            session.add(_learner(tenant, "pending-2"))
            assert read_rows(session, by_external, {"_e": "pending-2"}).scalar() is None


def test_writes_keep_the_sessions_guards(database: Database, tenant: Tenant) -> None:
    table: Table = Learner.__table__  # type: ignore[assignment]
    with database.session() as session:
        session.add(_learner(tenant, "W1"))
    rename = update(table).where(table.c.external_id == bindparam("_e")).values(department="Legal")
    with database.read_session() as session, pytest.raises(ReadOnlySessionError):
        write_rows(session, rename, {"_e": "W1"})
    seen: list[str] = []
    session_writes.on_write(
        frozenset({"learners"}),
        lambda s: seen.append("learners"),
        watching=lambda s: "test.sql_reads" in s.info,
    )
    with database.session() as session:
        session.info["test.sql_reads"] = True
        write_rows(session, rename, {"_e": "W1"})
    assert seen == ["learners"]
    assert session_writes.watched("learners")
    assert not session_writes.watched("rewards")
