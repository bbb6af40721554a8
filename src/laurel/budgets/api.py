"""Budgets per program, department and period: create, read, change the limit, delete.

Live admin keys only, like programs: budgets are shared by live and test mode (test-mode
rewards never draw on them).
"""

from __future__ import annotations

import uuid
from datetime import date
from typing import Annotated

from fastapi import APIRouter, Query, Response, status

from laurel.budgets import service
from laurel.budgets.schemas import BudgetCreate, BudgetOut, BudgetUpdate
from laurel.kit.http import DatabaseDep, LiveAdmin, Reader, errors, read_only, unit_of_work

router = APIRouter(prefix="/api/v1/budgets", tags=["budgets"])

On = Annotated[
    date | None, Query(description="Show the window holding this day (default: today, UTC)")
]


@router.get(
    "",
    response_model=list[BudgetOut],
    responses=errors(401, 403, 422),
    summary="List budgets with the money of their current window",
)
def list_budgets(
    actor: Reader,
    db: DatabaseDep,
    program_id: uuid.UUID | None = None,
    department: str | None = None,
    on: On = None,
) -> list[BudgetOut]:
    with read_only(db) as session:
        views = service.list_budgets(
            session, actor.organization_id, program_id=program_id, department=department, on=on
        )
        return [BudgetOut.of(v) for v in views]


@router.post(
    "",
    response_model=BudgetOut,
    status_code=status.HTTP_201_CREATED,
    responses=errors(401, 403, 409, 422),
    summary="Create a budget for a program, a department, or both, in total or per period",
)
def create_budget(actor: LiveAdmin, db: DatabaseDep, body: BudgetCreate) -> BudgetOut:
    with unit_of_work(db) as session:
        view = service.create(
            session,
            organization_id=actor.organization_id,
            limit=body.limit.to_money(),
            actor=actor.name,
            program_id=body.program_id,
            department=body.department,
            period=body.period,
            name=body.name,
        )
        return BudgetOut.of(view)


@router.get(
    "/{budget_id}",
    response_model=BudgetOut,
    responses=errors(401, 403, 404, 422),
    summary="Get a budget and the money of one window",
)
def get_budget(budget_id: uuid.UUID, actor: Reader, db: DatabaseDep, on: On = None) -> BudgetOut:
    with read_only(db) as session:
        return BudgetOut.of(service.get(session, actor.organization_id, budget_id, on))


@router.patch(
    "/{budget_id}",
    response_model=BudgetOut,
    responses=errors(401, 403, 404, 422),
    summary="Change a budget's limit or name; a raise releases held rewards, oldest first",
)
def update_budget(
    budget_id: uuid.UUID, actor: LiveAdmin, db: DatabaseDep, body: BudgetUpdate
) -> BudgetOut:
    with unit_of_work(db) as session:
        view = service.change(
            session,
            organization_id=actor.organization_id,
            budget_id=budget_id,
            actor=actor.name,
            limit=body.limit.to_money() if body.limit is not None else None,
            name=body.name,
        )
        return BudgetOut.of(view)


@router.delete(
    "/{budget_id}",
    status_code=status.HTTP_204_NO_CONTENT,
    response_class=Response,
    responses=errors(401, 403, 404, 409),
    summary="Delete a budget no reward holds money on",
)
def delete_budget(budget_id: uuid.UUID, actor: LiveAdmin, db: DatabaseDep) -> Response:
    with unit_of_work(db) as session:
        service.delete(
            session, organization_id=actor.organization_id, budget_id=budget_id, actor=actor.name
        )
    return Response(status_code=status.HTTP_204_NO_CONTENT)
