"""HTTP for enrolments: an LMS or HR system reports who was enrolled in which course."""

from __future__ import annotations

from fastapi import APIRouter

from laurel.enrolments import service
from laurel.enrolments.schemas import EnrolmentBatchIn, EnrolmentBatchOut
from laurel.kit.http import DatabaseDep, EventWriter, errors, unit_of_work

router = APIRouter(prefix="/api/v1/enrolments", tags=["enrolments"])


@router.post(
    "",
    response_model=EnrolmentBatchOut,
    responses=errors(401, 403, 422),
    summary="Record enrolments (up to 1,000 per request); the denominator of completion rates",
    description="Learners and courses are created on first sight, as completions create them. "
    "Sending a pair again is harmless; an earlier `enrolled_at` than the one stored moves it "
    "back. A completion without an enrolment counts as enrolled when it completed.",
)
def record_enrolments(
    body: EnrolmentBatchIn, actor: EventWriter, db: DatabaseDep
) -> EnrolmentBatchOut:
    with unit_of_work(db) as session:
        done = service.record_many(session, actor, body.enrolments)
    return EnrolmentBatchOut(recorded=done.recorded, already_known=done.already_known)
