from __future__ import annotations

import uuid

from fastapi import APIRouter, Response, status

from laurel.kit.http import (
    Admin,
    Cursor,
    DatabaseDep,
    Limit,
    Reader,
    errors,
    read_only,
    unit_of_work,
)
from laurel.kit.schemas import PageOut
from laurel.learners import service
from laurel.learners.models import Classification
from laurel.learners.schemas import LearnerCreate, LearnerOut, LearnerUpdate

router = APIRouter(prefix="/api/v1/learners", tags=["learners"])


@router.get(
    "", response_model=PageOut[LearnerOut], responses=errors(401, 403, 422), summary="List learners"
)
def list_learners(
    actor: Reader,
    db: DatabaseDep,
    limit: Limit = 50,
    cursor: Cursor = None,
    classification: Classification | None = None,
    department: str | None = None,
) -> PageOut[LearnerOut]:
    with read_only(db) as session:
        page = service.list_learners(
            session,
            actor,
            limit=limit,
            cursor=cursor,
            classification=classification,
            department=department,
        )
        return PageOut[LearnerOut](
            data=[LearnerOut.model_validate(x) for x in page.items],
            next_cursor=str(page.next_cursor) if page.next_cursor else None,
        )


@router.post(
    "",
    status_code=status.HTTP_201_CREATED,
    response_model=LearnerOut,
    responses=errors(401, 403, 409, 422),
    summary="Create a learner",
)
def create_learner(body: LearnerCreate, actor: Admin, db: DatabaseDep) -> LearnerOut:
    with unit_of_work(db) as session:
        return LearnerOut.model_validate(service.create(session, actor, body))


@router.get(
    "/{learner_id}",
    response_model=LearnerOut,
    responses=errors(401, 403, 404),
    summary="Get a learner",
)
def get_learner(learner_id: uuid.UUID, actor: Reader, db: DatabaseDep) -> LearnerOut:
    with read_only(db) as session:
        return LearnerOut.model_validate(service.get(session, actor, learner_id))


@router.patch(
    "/{learner_id}",
    response_model=LearnerOut,
    responses=errors(401, 403, 404, 422),
    summary="Change a learner's attributes",
)
def update_learner(
    learner_id: uuid.UUID, body: LearnerUpdate, actor: Admin, db: DatabaseDep
) -> LearnerOut:
    with unit_of_work(db) as session:
        return LearnerOut.model_validate(service.update(session, actor, learner_id, body))


@router.delete(
    "/{learner_id}",
    status_code=204,
    responses=errors(401, 403, 404, 409),
    summary="Delete a learner without history",
)
def delete_learner(learner_id: uuid.UUID, actor: Admin, db: DatabaseDep) -> Response:
    with unit_of_work(db) as session:
        service.delete(session, actor, learner_id)
    return Response(status_code=204)
