from __future__ import annotations

import uuid
from datetime import datetime
from enum import StrEnum

from sqlalchemy import ForeignKey, Index, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from laurel.kit.orm import Base, TenantMixin


class Decision(StrEnum):
    approved = "approved"
    rejected = "rejected"


class Status(StrEnum):
    pending = "pending"
    approved = "approved"
    rejected = "rejected"
    expired = "expired"
    """Approved, but the reward was not issued before the approval lapsed (a new round
    follows); or never decided before the request's deadline (the reward was cancelled,
    ``approval_expired``; ``decided_at`` and ``actor`` say when and by which sweep)."""


class Kind(StrEnum):
    approval = "approval"
    """Above the program's approval threshold: finance or an org admin decides."""
    fcpa = "fcpa"
    """A non-US channel partner above the FCPA limits: compliance decides."""


class Approval(TenantMixin, Base):
    """One request for a decision on one reward, of one kind, in one round.

    A round ends approved, rejected or expired; an expired approval opens the next round (a new
    row), so every decision ever taken stays on record. The unique key makes raising a request
    idempotent under concurrent gate runs.
    """

    __tablename__ = "approvals"
    __table_args__ = (
        UniqueConstraint("reward_id", "kind", "round"),
        Index(None, "organization_id", "status"),
        Index(None, "status", "expires_at"),
    )

    reward_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("rewards.id"))
    kind: Mapped[str] = mapped_column(String(16))
    round: Mapped[int]
    status: Mapped[str] = mapped_column(String(16))
    requester: Mapped[str | None] = mapped_column(String(200), default=None)
    """Who asked for the money: the owner of the program version that decided the reward."""
    requested_at: Mapped[datetime]
    expires_at: Mapped[datetime | None] = mapped_column(default=None)
    """Pending: when the request expires undecided (requested_at + the program version's
    ``approval_expiry_days``). Approved: when the approval lapses if the reward has not
    started issuing by then. Rejected: None."""
    actor: Mapped[str | None] = mapped_column(String(200), default=None)
    """Who decided."""
    reason: Mapped[str] = mapped_column(String(1000), default="")
    decided_at: Mapped[datetime | None] = mapped_column(default=None)
