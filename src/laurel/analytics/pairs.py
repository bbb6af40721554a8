"""Learner-course pairs: when each was enrolled and when (if ever) it was completed.

An enrolment comes from the enrolments table (API, LMS, roster, imports); a completion without
one counts as enrolled when it completed, so rates never exceed 100 %. Completed means an event
with outcome ``completed`` or ``passed``; the first such event is the completion time.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from laurel.enrolments.models import Enrolment
from laurel.events.models import CompletionEvent

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


def load(
    session: Session,
    organization_id: uuid.UUID,
    livemode: bool,
    *,
    course_ids: set[uuid.UUID] | None = None,
) -> list[Pair]:
    enrolled = select(Enrolment.learner_id, Enrolment.course_id, Enrolment.enrolled_at).where(
        Enrolment.organization_id == organization_id, Enrolment.livemode == livemode
    )
    completed = (
        select(
            CompletionEvent.learner_id,
            CompletionEvent.course_id,
            func.min(CompletionEvent.occurred_at),
        )
        .where(
            CompletionEvent.organization_id == organization_id,
            CompletionEvent.livemode == livemode,
            CompletionEvent.outcome.in_(COMPLETED),
        )
        .group_by(CompletionEvent.learner_id, CompletionEvent.course_id)
    )
    if course_ids is not None:
        enrolled = enrolled.where(Enrolment.course_id.in_(course_ids))
        completed = completed.where(CompletionEvent.course_id.in_(course_ids))
    pairs: dict[tuple[uuid.UUID, uuid.UUID], Pair] = {}
    for learner_id, course_id, at in session.execute(enrolled):
        pairs[(learner_id, course_id)] = Pair(learner_id, course_id, at, None)
    for learner_id, course_id, at in session.execute(completed):
        found = pairs.get((learner_id, course_id))
        if found is None:
            pairs[(learner_id, course_id)] = Pair(learner_id, course_id, at, at)
        else:
            found.completed_at = at
    return list(pairs.values())
