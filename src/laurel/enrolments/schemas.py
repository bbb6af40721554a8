"""API shapes for enrolments."""

from __future__ import annotations

from typing import Literal

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field

from laurel.courses.schemas import CourseRef
from laurel.learners.schemas import LearnerRef


class EnrolmentIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    learner: LearnerRef
    course: CourseRef
    enrolled_at: AwareDatetime = Field(description="When the learner was enrolled or assigned")
    source: Literal["api", "lms", "roster", "import"] = "api"


class EnrolmentBatchIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    enrolments: list[EnrolmentIn] = Field(min_length=1, max_length=1000)


class EnrolmentBatchOut(BaseModel):
    recorded: int = Field(description="Enrolments new to Laurel")
    already_known: int = Field(
        description="Learner and course pairs enrolled before (the earliest time is kept)"
    )
