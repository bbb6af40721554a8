from __future__ import annotations

import uuid
from datetime import datetime
from decimal import Decimal
from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field, StringConstraints, field_validator

from laurel.courses.models import CourseType
from laurel.kit.schemas import refuse_null
from laurel.learners.schemas import ExternalId

Tag = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=64)]
Title = Annotated[str, StringConstraints(strip_whitespace=True, max_length=300)]


class CourseFields(BaseModel):
    model_config = ConfigDict(extra="forbid")

    title: Title | None = None
    type: CourseType | None = None
    duration_minutes: int | None = Field(default=None, ge=0, le=100_000, strict=True)
    importance: str | None = Field(
        default=None, description="Four-factor importance, decimal string from 1.0 to 4.0"
    )
    tags: list[Tag] | None = Field(default=None, max_length=50)

    @field_validator("importance")
    @classmethod
    def _importance(cls, value: str | None) -> str | None:
        if value is None:
            return None
        try:
            number = Decimal(value)
        except ArithmeticError:
            raise ValueError('importance must be a decimal string such as "2.5"') from None
        if not Decimal("1.0") <= number <= Decimal("4.0"):
            raise ValueError("importance must be between 1.0 and 4.0")
        return value


class CourseRef(CourseFields):
    external_id: ExternalId


class CourseCreate(CourseRef):
    pass


class CourseUpdate(CourseFields):
    """Attributes to change; null clears duration or importance."""

    _not_null = field_validator("title", "type", "tags")(refuse_null)


class CourseOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: uuid.UUID
    external_id: str
    title: str
    type: CourseType
    duration_minutes: int | None
    importance: str | None
    tags: list[str]
    livemode: bool
    created_at: datetime
    updated_at: datetime
