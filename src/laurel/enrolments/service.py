"""Recording enrolments in bulk; learners and courses are created on first sight, as events do."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from functools import cache
from typing import Any

from sqlalchemy import Table, bindparam, update
from sqlalchemy.orm import Session

from laurel.audit import service as audit
from laurel.courses import service as courses
from laurel.enrolments.models import Enrolment
from laurel.enrolments.schemas import EnrolmentIn
from laurel.kit.actor import Actor
from laurel.kit.clock import utcnow
from laurel.kit.errors import field_error
from laurel.kit.ids import uuid7
from laurel.kit.sql import insert_rows
from laurel.learners import service as learners

_TABLE: Table = Enrolment.__table__  # type: ignore[assignment]


@dataclass(frozen=True, slots=True)
class Recorded:
    recorded: int
    already_known: int


def record_many(session: Session, actor: Actor, items: Sequence[EnrolmentIn]) -> Recorded:
    """Keep one enrolment per learner and course: the earliest time wins."""
    now = utcnow()
    for index, item in enumerate(items):
        if item.enrolled_at > now:
            raise field_error(f"enrolments[{index}].enrolled_at", "is in the future")
    people = learners.observe_many(session, actor, [i.learner for i in items])
    titles = courses.observe_many(session, actor, [i.course for i in items])
    earliest: dict[tuple[Any, Any], dict[str, Any]] = {}
    for item in items:
        learner_id = people.rows[item.learner.external_id].id
        course_id = titles.rows[item.course.external_id].id
        key = (learner_id, course_id)
        if key in earliest and earliest[key]["enrolled_at"] <= item.enrolled_at:
            continue
        earliest[key] = {
            "id": uuid7(),
            "organization_id": actor.organization_id,
            "livemode": actor.livemode,
            "learner_id": learner_id,
            "course_id": course_id,
            "enrolled_at": item.enrolled_at,
            "source": item.source,
            "created_at": now,
        }
    rows = list(earliest.values())
    inserted = insert_rows(
        session, _TABLE, rows, ("organization_id", "livemode", "learner_id", "course_id")
    )
    known = [r for r in rows if r["id"] not in inserted]
    if known:  # an earlier time than the one stored moves the enrolment back
        session.execute(
            _move_back(),
            [
                {
                    "_org": actor.organization_id,
                    "_live": actor.livemode,
                    "_learner": row["learner_id"],
                    "_course": row["course_id"],
                    "_at": row["enrolled_at"],
                }
                for row in known
            ],
        )
    if inserted:
        audit.record(
            session,
            organization_id=actor.organization_id,
            actor=actor.name,
            action="enrolments:batch:record",
            target_type="enrolments",
            target_id=str(len(inserted)),
            details={"recorded": len(inserted), "already_known": len(known)},
        )
    return Recorded(recorded=len(inserted), already_known=len(known))


@cache
def _move_back() -> Any:
    # Built on first use, once every table's column types are resolved.
    return (
        update(_TABLE)
        .where(
            _TABLE.c.organization_id == bindparam("_org"),
            _TABLE.c.livemode == bindparam("_live"),
            _TABLE.c.learner_id == bindparam("_learner"),
            _TABLE.c.course_id == bindparam("_course"),
            _TABLE.c.enrolled_at > bindparam("_at"),
        )
        .values(enrolled_at=bindparam("_at"))
    )
