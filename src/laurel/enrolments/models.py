"""An enrolment: a learner assigned to (or starting) a course, once per learner and course."""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import ForeignKey, Index, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from laurel.kit.clock import utcnow
from laurel.kit.orm import Base, TenantMixin


class Enrolment(TenantMixin, Base):
    __tablename__ = "enrolments"
    __table_args__ = (
        UniqueConstraint("organization_id", "livemode", "learner_id", "course_id"),
        Index(None, "organization_id", "course_id"),
    )

    livemode: Mapped[bool] = mapped_column(default=True)
    learner_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("learners.id"))
    course_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("courses.id"))
    enrolled_at: Mapped[datetime]
    source: Mapped[str] = mapped_column(String(32))
    """``api``, ``lms`` (an LMS enrolment event), ``roster`` (an HR assignment) or ``import``."""
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
