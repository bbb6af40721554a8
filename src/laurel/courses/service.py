from __future__ import annotations

import uuid
from collections.abc import Sequence
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from laurel.audit import service as audit
from laurel.courses.models import Course, CourseType
from laurel.courses.schemas import CourseCreate, CourseFields, CourseRef
from laurel.kit.actor import Actor
from laurel.kit.clock import utcnow
from laurel.kit.errors import Conflict, NotFound
from laurel.kit.observe import ObservedMany
from laurel.kit.observe import observe as observe_row
from laurel.kit.observe import observe_many as observe_rows
from laurel.kit.pagination import Page, paginate


class CourseNotFound(NotFound):
    code = "course_not_found"


def _record(
    session: Session, actor: Actor, course: Course, verb: str, details: dict[str, Any]
) -> None:
    audit.record(
        session,
        organization_id=actor.organization_id,
        actor=actor.name,
        action=f"courses:course:{verb}",
        target_type="course",
        target_id=course.id,
        details=details,
    )


def observe(session: Session, actor: Actor, ref: CourseRef) -> Course:
    """The course an event names: created on first sight, refreshed with what the event says."""
    changes = {k: v for k, v in ref.model_dump(exclude_unset=True).items() if v is not None}
    changes.pop("external_id", None)
    seen = observe_row(
        session,
        Course,
        organization_id=actor.organization_id,
        livemode=actor.livemode,
        external_id=ref.external_id,
        defaults={"title": "", "type": CourseType.elective, "tags": []},
        changes=changes,
    )
    if seen.created:
        _record(
            session, actor, seen.row, "create", {"external_id": ref.external_id, "from": "event"}
        )
    elif seen.changed:
        _record(session, actor, seen.row, "update", {"changed": seen.changed, "from": "event"})
    return seen.row


OBSERVED = ("title", "type", "duration_minutes", "importance", "tags")


def observe_many(session: Session, actor: Actor, refs: Sequence[CourseRef]) -> ObservedMany:
    """The courses a batch of events names, in a constant number of statements."""
    items = []
    for ref in refs:
        changes = {k: v for k, v in ref.model_dump(exclude_unset=True).items() if v is not None}
        changes.pop("external_id", None)
        items.append((ref.external_id, changes))
    seen = observe_rows(
        session,
        Course.__table__,  # type: ignore[arg-type]
        organization_id=actor.organization_id,
        livemode=actor.livemode,
        items=items,
        defaults={"title": "", "type": CourseType.elective, "tags": []},
        columns=OBSERVED,
    )
    for row_id, verb, details in seen.news():
        audit.record(
            session,
            organization_id=actor.organization_id,
            actor=actor.name,
            action=f"courses:course:{verb}",
            target_type="course",
            target_id=row_id,
            details=details,
        )
    return seen


def create(session: Session, actor: Actor, data: CourseCreate) -> Course:
    exists = session.scalar(
        select(Course.id).where(
            Course.organization_id == actor.organization_id,
            Course.livemode == actor.livemode,
            Course.external_id == data.external_id,
        )
    )
    if exists is not None:
        raise Conflict(f"course {data.external_id!r} already exists ({exists})")
    return observe(session, actor, data)


def get(session: Session, actor: Actor, course_id: uuid.UUID) -> Course:
    course = session.scalar(
        select(Course).where(
            Course.organization_id == actor.organization_id,
            Course.livemode == actor.livemode,
            Course.id == course_id,
        )
    )
    if course is None:
        raise CourseNotFound(f"no course {course_id}")
    return course


def get_many(
    session: Session, organization_id: uuid.UUID, ids: set[uuid.UUID]
) -> dict[uuid.UUID, Course]:
    if not ids:
        return {}
    rows = session.scalars(
        select(Course).where(Course.organization_id == organization_id, Course.id.in_(ids))
    )
    return {row.id: row for row in rows}


def update(session: Session, actor: Actor, course_id: uuid.UUID, data: CourseFields) -> Course:
    course = get(session, actor, course_id)
    changes = {
        k: v for k, v in data.model_dump(exclude_unset=True).items() if getattr(course, k) != v
    }
    for k, v in changes.items():
        setattr(course, k, v)
    if changes:
        course.updated_at = utcnow()
        _record(session, actor, course, "update", {"changed": sorted(changes)})
    return course


def list_courses(
    session: Session,
    actor: Actor,
    *,
    limit: int,
    cursor: uuid.UUID | None,
    course_type: str | None = None,
) -> Page[Course]:
    query = select(Course).where(
        Course.organization_id == actor.organization_id, Course.livemode == actor.livemode
    )
    if course_type:
        query = query.where(Course.type == course_type)
    return paginate(session, query, Course.id, limit=limit, cursor=cursor)


def delete(session: Session, actor: Actor, course_id: uuid.UUID) -> None:
    """Remove a course nobody has completed; one with history stays."""
    from laurel.events import service as events  # noqa: PLC0415 - events call this domain

    course = get(session, actor, course_id)
    if events.has_history(session, actor.organization_id, course_id=course.id):
        raise Conflict("this course has completion history and cannot be deleted")
    session.delete(course)
    _record(session, actor, course, "delete", {"external_id": course.external_id})


def ids_by_type(
    session: Session, organization_id: uuid.UUID, livemode: bool, types: Sequence[str]
) -> dict[str, set[uuid.UUID]]:
    """Every course of these types, per type (badge criteria such as 'all compliance courses')."""
    found: dict[str, set[uuid.UUID]] = {t: set() for t in types}
    if not types:
        return found
    rows = session.execute(
        select(Course.type, Course.id).where(
            Course.organization_id == organization_id,
            Course.livemode == livemode,
            Course.type.in_(list(types)),
        )
    )
    for kind, course_id in rows:
        found[kind].add(course_id)
    return found
