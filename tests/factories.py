"""Small typed helpers that build programs and rules through the real API."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from fastapi.testclient import TestClient
from sqlalchemy import event
from sqlalchemy.engine.interfaces import CacheStats

from laurel.kit.sql import watch_driver
from tests.conftest import Tenant


def fixed_program(
    client: TestClient,
    tenant: Tenant,
    *,
    key: str = "compliance",
    amount: str = "25.00",
    currency: str = "USD",
    conditions: dict[str, Any] | None = None,
    **fields: Any,
) -> dict[str, Any]:
    body: dict[str, Any] = {
        "key": key,
        "name": key.title(),
        "currency": currency,
        "rules": [
            {
                "name": "flat",
                "conditions": conditions or {},
                "value": {"kind": "fixed", "amount": {"amount": amount, "currency": currency}},
            }
        ],
        **fields,
    }
    response = client.post("/api/v1/programs", json=body, headers=tenant.headers)
    assert response.status_code == 201, response.text
    result: dict[str, Any] = response.json()
    return result


def table_counts(database: Any) -> dict[str, int]:
    """Row count of every table: 'the database is unchanged' is these numbers staying put."""
    from sqlalchemy import func, select

    from laurel.models import Base

    with database.sessionmaker() as session:
        return {
            t.name: session.scalar(select(func.count()).select_from(t)) or 0
            for t in Base.metadata.sorted_tables
        }


def backdate_program(database: Any, program_id: str, when: Any) -> None:
    """Set a program's and its rules' versions to start at ``when`` (test set-up only).

    The API refuses past effective times on purpose; tests about periods need history.
    """
    import uuid

    from sqlalchemy import update

    from laurel.organizations import revision
    from laurel.organizations.models import Organization
    from laurel.programs.models import ProgramVersion, RewardRuleVersion

    pid = uuid.UUID(program_id)
    with database.session() as session:
        session.execute(
            update(ProgramVersion)
            .where(ProgramVersion.program_id == pid)
            .values(effective_from=when)
        )
        session.execute(
            update(RewardRuleVersion)
            .where(RewardRuleVersion.program_id == pid)
            .values(effective_from=when)
        )
        # Processes cache decision data per configuration revision: tell them it changed.
        # A fresh value, never one the sequence could hand out later (a later change would
        # then look like no change to whatever compares revisions, such as the lift snapshots).
        session.execute(
            update(Organization).values(
                config_revision=revision.fresh_revision(session.get_bind().dialect.name)
            )
        )


def program_budget(client: TestClient, tenant: Tenant, program_id: str) -> dict[str, str]:
    """A program's budget as the API shows it: limit, reserved, spent, available amounts."""
    response = client.get(f"/api/v1/programs/{program_id}", headers=tenant.headers)
    assert response.status_code == 200, response.text
    budget: dict[str, dict[str, str]] | None = response.json()["budget"]
    assert budget is not None, "the program has no budget"
    return {name: money["amount"] for name, money in budget.items()}


def role_key(database: Any, tenant: Tenant, *roles: str, livemode: bool = True) -> dict[str, str]:
    """Headers of a new key for ``tenant`` that reads and acts with ``roles`` (``finance``,
    ``compliance``, ``org_admin``): an approver other than the admin key that set things up."""
    from laurel.auth import service as auth

    with database.session() as session:
        created = auth.create_key(
            session,
            organization_id=tenant.id,
            scopes=["read", *(f"role:{r}" for r in roles)],
            livemode=livemode,
            actor="test",
        )
    return {"Authorization": f"Bearer {created.secret}"}


def opened(database: Any, row: Any, entry: Any) -> Any:
    """A sealed column of a loaded row, opened in a unit of work of its own
    (:mod:`laurel.learners.sealing`)."""
    from laurel.learners import sealing

    with database.read_session() as session:
        return sealing.readable(
            session, entry, getattr(row, entry.column), getattr(row, entry.clear)
        )


@contextmanager
def statements_sent(
    database: Any, *, without_cache_key: bool = False
) -> Iterator[list[tuple[str, Any]]]:
    """Every statement (with its parameters) the driver is handed while the block runs; with
    ``without_cache_key``, only the compiled ones SQLAlchemy could not cache (compiled afresh
    on every execution)."""
    seen: list[tuple[str, Any]] = []

    def note(
        _conn: Any, _cursor: Any, statement: str, parameters: Any, context: Any, _many: Any
    ) -> None:
        if without_cache_key and (
            context.compiled is None or context.cache_hit is not CacheStats.NO_CACHE_KEY
        ):
            return
        seen.append((statement, parameters))

    event.listen(database.engine, "before_cursor_execute", note)

    # Statements laurel.kit.sql sends on SQLite's driver itself (compiled once, so never
    # among those without a cache key).
    def driven(statement: str, parameters: Any) -> None:
        seen.append((statement, parameters))

    stop = watch_driver(driven) if not without_cache_key else None
    try:
        yield seen
    finally:
        if stop is not None:
            stop()
        event.remove(database.engine, "before_cursor_execute", note)
