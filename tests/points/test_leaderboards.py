"""Leaderboards by organization, department and program, with opt-out and name privacy."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

import pytest

from laurel.db import Database
from laurel.kit.errors import Invalid
from laurel.points import leaderboards, ledger
from laurel.points.leaderboards import BoardScope
from laurel.points.models import TransactionKind
from tests.conftest import Tenant
from tests.points.support import add_learner, add_program, scope

NOV = datetime(2026, 11, 5, tzinfo=UTC)
OCT = datetime(2026, 10, 5, tzinfo=UTC)


def _earn(
    database: Database,
    tenant: Tenant,
    learner: uuid.UUID,
    program: uuid.UUID,
    points: int,
    when: datetime,
) -> None:
    with database.session() as session:
        ledger.post(
            session,
            scope(tenant),
            key=f"{learner}:{program}:{points}:{when.month}",
            kind=TransactionKind.earn,
            legs=[(ledger.liability(program), -points), (ledger.wallet(learner), points)],
            actor="test",
            program_id=program,
            occurred_at=when,
        )


@pytest.fixture
def people(database: Database, tenant: Tenant) -> dict[str, uuid.UUID]:
    with database.session() as session:
        found = {
            "ana": add_learner(
                session, tenant, "A", name="Ana Díaz", country="US", department="Sales"
            ),
            "bo": add_learner(
                session, tenant, "B", name="Bo Schmidt", country="DE", department="Sales"
            ),
            "cy": add_learner(
                session, tenant, "C", name="Cy Martin", country="FR", department="Eng"
            ),
            "di": add_learner(session, tenant, "D", name="Di Lee", country="US", department="Eng"),
            "p1": add_program(session, tenant, "p1"),
            "p2": add_program(session, tenant, "p2"),
        }
    _earn(database, tenant, found["ana"], found["p1"], 300, NOV)
    _earn(database, tenant, found["bo"], found["p1"], 500, NOV)
    _earn(database, tenant, found["cy"], found["p1"], 900, NOV)
    _earn(database, tenant, found["di"], found["p2"], 300, NOV)
    _earn(database, tenant, found["ana"], found["p2"], 1000, OCT)
    with database.session() as session:
        leaderboards.set_preference(session, tenant.actor, found["cy"], leaderboard_opt_out=True)
        leaderboards.set_preference(session, tenant.actor, found["di"], show_name=False)
    return found


def _board(database: Database, tenant: Tenant, **kw: object) -> leaderboards.Board:
    with database.read_session() as session:
        return leaderboards.leaderboard(session, scope(tenant), **kw)  # type: ignore[arg-type]


def test_organization_board_hides_opted_out_and_private_names(
    database: Database, tenant: Tenant, people: dict[str, uuid.UUID]
) -> None:
    board = _board(database, tenant, board=BoardScope.organization, period="2026-11")
    # Cy opted out; Bo (Germany) shows as initials; Di chose to hide the name; Ana and Di tie.
    assert sorted((p.rank, p.name, p.points) for p in board.places) == [
        (1, "B. S.", 500),
        (2, "Ana Díaz", 300),
        (2, "D. L.", 300),
    ]
    with database.session() as session:
        leaderboards.set_preference(session, tenant.actor, people["bo"], show_name=True)
    board = _board(database, tenant, board=BoardScope.organization, period="2026-Q4")
    assert [(p.name, p.points) for p in board.places] == [
        ("Ana Díaz", 1300),
        ("Bo Schmidt", 500),
        ("D. L.", 300),
    ]


def test_department_and_program_boards(
    database: Database, tenant: Tenant, people: dict[str, uuid.UUID]
) -> None:
    sales = _board(database, tenant, board=BoardScope.department, department="Sales", period="2026")
    assert [p.learner_id for p in sales.places] == [people["ana"], people["bo"]]
    p2 = _board(database, tenant, board=BoardScope.program, program_id=people["p2"], period="2026")
    assert [(p.learner_id, p.points) for p in p2.places] == [
        (people["ana"], 1000),
        (people["di"], 300),
    ]
    # A viewer outside the top sees their own place.
    top = _board(
        database,
        tenant,
        board=BoardScope.organization,
        period="2026-11",
        limit=1,
        viewer=people["di"],
    )
    assert [p.learner_id for p in top.places] == [people["bo"]]
    assert top.you is not None
    assert (top.you.rank, top.you.points) == (2, 300)


def test_bad_periods_are_named(database: Database, tenant: Tenant) -> None:
    with pytest.raises(Invalid) as caught:
        _board(database, tenant, board=BoardScope.organization, period="November")
    assert caught.value.detail[0]["field"] == "period"
    with pytest.raises(Invalid) as caught:
        _board(database, tenant, board=BoardScope.department, period="2026")
    assert caught.value.detail[0]["field"] == "department"
