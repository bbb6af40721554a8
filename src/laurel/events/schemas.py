from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated, Any

from pydantic import (
    AwareDatetime,
    BaseModel,
    ConfigDict,
    Field,
    StringConstraints,
    field_validator,
)

from laurel.courses.schemas import CourseRef
from laurel.events.models import Outcome
from laurel.kit.clock import as_utc
from laurel.learners.schemas import LearnerRef
from laurel.rewards.schemas import RewardSummary

MAX_BATCH = 1000


class CompletionIn(BaseModel):
    """One learning event from any source, in Laurel's own shape."""

    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [
                {
                    "event_id": "lms-8812",
                    "occurred_at": "2026-11-25T10:00:00Z",
                    "outcome": "passed",
                    "score": 0.92,
                    "learner": {
                        "external_id": "E1001",
                        "email": "ana@example.com",
                        "name": "Ana Díaz",
                        "classification": "employee",
                        "department": "Sales",
                        "country": "US",
                        "locale": "es-MX",
                    },
                    "course": {
                        "external_id": "SEC-101",
                        "title": "Security Awareness 2026",
                        "type": "compliance",
                        "duration_minutes": 45,
                    },
                }
            ]
        },
    )

    event_id: Annotated[
        str, StringConstraints(strip_whitespace=True, min_length=1, max_length=300)
    ] = Field(description="The source's own id for this event: a retry sends the same id")
    occurred_at: AwareDatetime = Field(description="When the learner finished; with a timezone")
    outcome: Outcome
    score: Annotated[float, Field(ge=0, le=1, strict=True)] | None = Field(
        default=None, description="Scaled score from 0 to 1"
    )
    learner: LearnerRef
    course: CourseRef

    @field_validator("occurred_at")
    @classmethod
    def _representable(cls, value: datetime) -> datetime:
        as_utc(value)  # OutOfRange, a ValueError, is pydantic's message for the field
        return value


class Decision(BaseModel):
    program_id: uuid.UUID
    program_key: str
    result: str = Field(
        description="rewarded, duplicate, not_eligible, no_matching_rule, holdout "
        "(the learner is in the program's control group and is never paid) or override_refused "
        "(an imported amount override in another currency than the program's)"
    )
    reason: str | None
    reward_id: uuid.UUID | None


class EventOut(BaseModel):
    id: uuid.UUID
    event_id: str
    source: str
    livemode: bool
    outcome: Outcome
    score: float | None
    occurred_at: datetime
    received_at: datetime
    learner_id: uuid.UUID
    course_id: uuid.UUID
    replayed: bool = Field(description="True when this answers a repeat of an earlier event")
    rewards: list[RewardSummary]
    decisions: list[Decision]


class BatchIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    events: list[Any] = Field(max_length=MAX_BATCH, description=f"1 to {MAX_BATCH} events")


class BatchItemOut(BaseModel):
    index: int
    status: int = Field(description="202 created, 200 replay, 409 conflict, 422 invalid")
    event: EventOut | None = None
    error: str | None = None
    detail: Any = None


class BatchOut(BaseModel):
    accepted: int
    replayed: int
    rejected: int
    results: list[BatchItemOut]
