"""Small typed helpers for points tests: learners and programs as rows the ledger can name."""

from __future__ import annotations

import uuid

from sqlalchemy.orm import Session

from laurel.db import Database
from laurel.kit.clock import utcnow
from laurel.learners.models import Learner
from laurel.points.ledger import Scope
from laurel.programs.models import Program
from tests.conftest import Tenant


def scope(tenant: Tenant, livemode: bool = True) -> Scope:
    return Scope(tenant.id, livemode)


def add_learner(
    session: Session,
    tenant: Tenant,
    external_id: str,
    *,
    name: str = "Ana Díaz",
    country: str = "US",
    department: str = "Sales",
    livemode: bool = True,
) -> uuid.UUID:
    now = utcnow()
    learner = Learner(
        organization_id=tenant.id,
        livemode=livemode,
        external_id=external_id,
        name=name,
        email=f"{external_id.lower()}@example.com",
        country=country,
        department=department,
        created_at=now,
        updated_at=now,
    )
    session.add(learner)
    session.flush()
    return learner.id


def add_program(session: Session, tenant: Tenant, key: str = "points") -> uuid.UUID:
    program = Program(organization_id=tenant.id, key=key)
    session.add(program)
    session.flush()
    return program.id


def learners(database: Database, tenant: Tenant, count: int, prefix: str = "L") -> list[uuid.UUID]:
    with database.session() as session:
        return [add_learner(session, tenant, f"{prefix}{n}") for n in range(count)]


def program(database: Database, tenant: Tenant, key: str = "points") -> uuid.UUID:
    with database.session() as session:
        return add_program(session, tenant, key)
