"""The program preview: find the learner and the course typed, then ask the rewards dry run.

"This learner finishing this course would get $X through Y, held for Z" comes from
``rewards.dryrun``: the real decision and the real gates, rolled back. This module only turns
what was typed (an external id or an email) into records the caller may see.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.orm import Session

from laurel.courses.models import Course
from laurel.events.models import Outcome
from laurel.kit.actor import Actor
from laurel.learners import service as learners
from laurel.learners.models import Learner
from laurel.rewards import dryrun


@dataclass(frozen=True, slots=True)
class Preview:
    learner: Learner
    course: Course
    outcome: dryrun.ProgramOutcome | None
    """None: the program is not in force now (paused, ended or not started)."""


def _learner(session: Session, actor: Actor, typed: str) -> Learner | None:
    return session.scalar(
        select(Learner)
        .where(
            Learner.organization_id == actor.organization_id,
            Learner.livemode == actor.livemode,
            learners.named(session, typed.strip()),
            *learners.in_scope(actor),
        )
        .order_by(Learner.id)
        .limit(1)
    )


def _course(session: Session, actor: Actor, typed: str) -> Course | None:
    return session.scalar(
        select(Course).where(
            Course.organization_id == actor.organization_id,
            Course.livemode == actor.livemode,
            Course.external_id == typed,
        )
    )


def preview(
    session: Session,
    actor: Actor,
    program_id: uuid.UUID,
    learner: str,
    course: str,
    outcome: Outcome = Outcome.passed,
    score: float | None = None,
) -> Preview | str:
    """The preview, or a message naming the field that found nothing."""
    person = _learner(session, actor, learner)
    if person is None:
        return f"learner: no learner with external id or email {learner!r}"
    taken = _course(session, actor, course)
    if taken is None:
        return f"course: no course with external id {course!r}"
    run = dryrun.dry_run(session, actor, person.id, taken.id, outcome=outcome, score=score)
    return Preview(person, taken, run.for_program(program_id))


def choices(session: Session, actor: Actor, limit: int) -> tuple[list[Learner], list[Course]]:
    """Learners (as the caller may see them) and courses to pick from in the preview."""
    people = list(
        session.scalars(
            select(Learner)
            .where(
                Learner.organization_id == actor.organization_id,
                Learner.livemode == actor.livemode,
                *learners.in_scope(actor),
            )
            .order_by(Learner.external_id)
            .limit(limit)
        )
    )
    taught = list(
        session.scalars(
            select(Course)
            .where(
                Course.organization_id == actor.organization_id,
                Course.livemode == actor.livemode,
            )
            .order_by(Course.external_id)
            .limit(limit)
        )
    )
    return people, taught
