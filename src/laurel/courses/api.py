from __future__ import annotations

import uuid

from fastapi import APIRouter, Response, status

from laurel.courses import service
from laurel.courses.models import CourseType
from laurel.courses.schemas import CourseCreate, CourseOut, CourseUpdate
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

router = APIRouter(prefix="/api/v1/courses", tags=["courses"])


@router.get(
    "", response_model=PageOut[CourseOut], responses=errors(401, 403, 422), summary="List courses"
)
def list_courses(
    actor: Reader,
    db: DatabaseDep,
    limit: Limit = 50,
    cursor: Cursor = None,
    type: CourseType | None = None,
) -> PageOut[CourseOut]:
    with read_only(db) as session:
        page = service.list_courses(session, actor, limit=limit, cursor=cursor, course_type=type)
        return PageOut[CourseOut](
            data=[CourseOut.model_validate(x) for x in page.items],
            next_cursor=str(page.next_cursor) if page.next_cursor else None,
        )


@router.post(
    "",
    status_code=status.HTTP_201_CREATED,
    response_model=CourseOut,
    responses=errors(401, 403, 409, 422),
    summary="Create a course",
)
def create_course(body: CourseCreate, actor: Admin, db: DatabaseDep) -> CourseOut:
    with unit_of_work(db) as session:
        return CourseOut.model_validate(service.create(session, actor, body))


@router.get(
    "/{course_id}",
    response_model=CourseOut,
    responses=errors(401, 403, 404),
    summary="Get a course",
)
def get_course(course_id: uuid.UUID, actor: Reader, db: DatabaseDep) -> CourseOut:
    with read_only(db) as session:
        return CourseOut.model_validate(service.get(session, actor, course_id))


@router.patch(
    "/{course_id}",
    response_model=CourseOut,
    responses=errors(401, 403, 404, 422),
    summary="Change a course",
)
def update_course(
    course_id: uuid.UUID, body: CourseUpdate, actor: Admin, db: DatabaseDep
) -> CourseOut:
    with unit_of_work(db) as session:
        return CourseOut.model_validate(service.update(session, actor, course_id, body))


@router.delete(
    "/{course_id}",
    status_code=204,
    responses=errors(401, 403, 404, 409),
    summary="Delete a course nobody has completed",
)
def delete_course(course_id: uuid.UUID, actor: Admin, db: DatabaseDep) -> Response:
    with unit_of_work(db) as session:
        service.delete(session, actor, course_id)
    return Response(status_code=204)
