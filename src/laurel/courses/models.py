from __future__ import annotations

from enum import StrEnum
from typing import Any

from sqlalchemy import String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from laurel.kit.orm import Base, ExternalMixin


class CourseType(StrEnum):
    compliance = "compliance"
    certification = "certification"
    leadership = "leadership"
    partner_certification = "partner_certification"
    onboarding = "onboarding"
    microlearning = "microlearning"
    elective = "elective"


class Course(ExternalMixin, Base):
    __tablename__ = "courses"
    __table_args__ = (UniqueConstraint("organization_id", "livemode", "external_id"),)

    title: Mapped[str] = mapped_column(String(300), default="")
    type: Mapped[str] = mapped_column(String(32), default=CourseType.elective)
    duration_minutes: Mapped[int | None] = mapped_column(default=None)
    importance: Mapped[str | None] = mapped_column(String(8), default=None)
    """Four-factor course importance, a decimal string in [1.0, 4.0]; None means 1.0."""
    tags: Mapped[list[Any]] = mapped_column(default=list)
