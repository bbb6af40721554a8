from __future__ import annotations

import uuid
from datetime import datetime
from enum import StrEnum

from sqlalchemy import ForeignKey, String
from sqlalchemy.orm import Mapped, mapped_column

from laurel.kit.orm import Base, TenantMixin


class Decision(StrEnum):
    approved = "approved"
    rejected = "rejected"


class Approval(TenantMixin, Base):
    __tablename__ = "approvals"

    reward_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("rewards.id"), unique=True)
    decision: Mapped[str] = mapped_column(String(16))
    actor: Mapped[str] = mapped_column(String(200))
    reason: Mapped[str] = mapped_column(String(1000), default="")
    decided_at: Mapped[datetime]
