"""Learner-course pairs: when each was enrolled and when (if ever) it was completed.

An enrolment comes from the enrolments table (API, LMS, roster, imports); a completion without
one counts as enrolled when it completed, so rates never exceed 100 %. Completed means an event
with outcome ``completed`` or ``passed``; the first such event is the completion time.

The database keeps the pairs (``learning_pairs``, by triggers) and the reports group and count
them there (:func:`subquery`), so a million events never travel to Python. :func:`load` still
reads them as objects for the lift report, which judges each pair against a program's rules.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import (
    ColumnElement,
    Select,
    Subquery,
    func,
    literal,
    null,
    select,
    type_coerce,
    union_all,
)
from sqlalchemy.orm import Session

from laurel.analytics.models import LearningPair
from laurel.enrolments.models import Enrolment
from laurel.events.models import CompletionEvent
from laurel.kit.orm import UTCDateTime
from laurel.learners.models import Learner

COMPLETED = ("completed", "passed")


@dataclass(slots=True)
class Pair:
    learner_id: uuid.UUID
    course_id: uuid.UUID
    enrolled_at: datetime
    completed_at: datetime | None

    @property
    def days_to_complete(self) -> float | None:
        if self.completed_at is None:
            return None
        return max(0.0, (self.completed_at - self.enrolled_at).total_seconds() / 86_400)


def subquery(
    organization_id: uuid.UUID,
    livemode: bool,
    *,
    course_ids: Iterable[uuid.UUID] | None = None,
    learners: Select[Any] | None = None,
) -> Subquery:
    """``(learner_id, course_id, enrolled_at, completed_at)``, one row per pair.

    Read from ``learning_pairs``, which the database keeps from the enrolments and completion
    events (:mod:`laurel.analytics.models`). ``learners`` (a select of learner ids) keeps a
    department manager to their people; ``course_ids`` to some courses.
    """
    query = select(
        LearningPair.learner_id,
        LearningPair.course_id,
        LearningPair.enrolled_at,
        LearningPair.completed_at,
    ).where(LearningPair.organization_id == organization_id, LearningPair.livemode == livemode)
    if course_ids is not None:
        query = query.where(LearningPair.course_id.in_(sorted(set(course_ids))))
    if learners is not None:
        query = query.where(LearningPair.learner_id.in_(learners))
    return query.subquery("pairs")


def from_sources(organization_id: uuid.UUID, livemode: bool) -> Subquery:
    """The same pairs grouped from the source tables: what ``learning_pairs`` must equal."""
    enrolled = select(
        Enrolment.learner_id.label("learner_id"),
        Enrolment.course_id.label("course_id"),
        Enrolment.enrolled_at.label("enrolled"),
        type_coerce(null(), UTCDateTime()).label("completed"),
    ).where(Enrolment.organization_id == organization_id, Enrolment.livemode == livemode)
    completed = select(
        CompletionEvent.learner_id,
        CompletionEvent.course_id,
        type_coerce(null(), UTCDateTime()),
        CompletionEvent.occurred_at,
    ).where(
        CompletionEvent.organization_id == organization_id,
        CompletionEvent.livemode == livemode,
        CompletionEvent.outcome.in_(COMPLETED),
    )
    both = union_all(enrolled, completed).subquery("sources")
    first_done = func.min(both.c.completed)
    return (
        select(
            both.c.learner_id,
            both.c.course_id,
            type_coerce(func.coalesce(func.min(both.c.enrolled), first_done), UTCDateTime()).label(
                "enrolled_at"
            ),
            type_coerce(first_done, UTCDateTime()).label("completed_at"),
        )
        .group_by(both.c.learner_id, both.c.course_id)
        .subquery("pairs")
    )


def scope_learners(
    organization_id: uuid.UUID, conditions: list[ColumnElement[bool]]
) -> Select[Any] | None:
    """The ids of the learners matching ``conditions`` (``learners.in_scope``), or None."""
    if not conditions:
        return None
    return select(Learner.id).where(Learner.organization_id == organization_id, *conditions)


def load(
    session: Session,
    organization_id: uuid.UUID,
    livemode: bool,
    *,
    course_ids: set[uuid.UUID] | None = None,
    learners: Select[Any] | None = None,
    enrolled_from: datetime | None = None,
    enrolled_until: datetime | None = None,
) -> list[Pair]:
    """The pairs as objects, optionally only those enrolled in ``[from, until]``."""
    pairs = subquery(organization_id, livemode, course_ids=course_ids, learners=learners)
    query = select(pairs.c.learner_id, pairs.c.course_id, pairs.c.enrolled_at, pairs.c.completed_at)
    if enrolled_from is not None:
        query = query.where(pairs.c.enrolled_at >= enrolled_from)
    if enrolled_until is not None:
        query = query.where(pairs.c.enrolled_at <= enrolled_until)
    if course_ids is not None and not course_ids:
        query = query.where(literal(False))
    return [Pair(*row) for row in session.execute(query)]
