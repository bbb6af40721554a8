from __future__ import annotations

import uuid
from datetime import datetime
from enum import StrEnum

from sqlalchemy import ForeignKey, Index, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from laurel.kit import crypto
from laurel.kit.orm import Base, ExternalMixin, TenantMixin


class Classification(StrEnum):
    employee = "employee"
    contractor = "contractor"
    channel_partner = "channel_partner"
    customer = "customer"


class Learner(ExternalMixin, Base):
    __tablename__ = "learners"
    __table_args__ = (
        UniqueConstraint("organization_id", "livemode", "external_id"),
        # A department's learners (department leaderboards, a manager's team).
        Index(None, "organization_id", "livemode", "department"),
        # Lookups by email (dashboard search, roster matching) go through the blind index.
        Index(None, "organization_id", "livemode", "email_index"),
    )

    # Personal fields are sealed with the learner's own data key (``learner_keys``): erasure
    # destroys the key. Read and write them through the ``email``, ``name`` and ``manager``
    # properties (laurel.learners.personal); the ``*_index`` columns are keyed blind indexes
    # (``<ring key id>:<hmac>``) for lookups and for telling an unchanged value from a new one
    # without decrypting.
    email_sealed: Mapped[str | None] = mapped_column(Text, default=None)
    email_index: Mapped[str | None] = mapped_column(String(100), default=None)
    """Blind index of the lower-cased email."""
    name_sealed: Mapped[str | None] = mapped_column(Text, default=None)
    name_index: Mapped[str | None] = mapped_column(String(100), default=None)
    classification: Mapped[str] = mapped_column(String(32), default=Classification.employee)
    department: Mapped[str | None] = mapped_column(String(200), default=None)
    manager_sealed: Mapped[str | None] = mapped_column(Text, default=None)
    """The manager's name or id, as the LMS or the HR roster gives it (sealed)."""
    manager_index: Mapped[str | None] = mapped_column(String(100), default=None)
    country: Mapped[str | None] = mapped_column(String(2), default=None)
    """ISO 3166-1 alpha-2."""
    region: Mapped[str | None] = mapped_column(String(3), default=None)
    """ISO 3166-2 subdivision within ``country`` (``CA`` for California), for jurisdiction."""
    locale: Mapped[str | None] = mapped_column(String(35), default=None)
    """BCP 47 language tag, e.g. es-MX."""
    screening_blocked_at: Mapped[datetime | None] = mapped_column(default=None)
    """Set when a compliance reviewer confirms a sanctions match; later rewards are held."""
    pseudonymised_at: Mapped[datetime | None] = mapped_column(default=None)
    """Set when personal fields were erased (privacy request or retention); the id stays."""
    sale_opt_out_at: Mapped[datetime | None] = mapped_column(default=None)
    """CCPA: the learner opted out of the sale or sharing of personal information."""

    @property
    def email(self) -> str | None:
        return personal.reveal(self, "email")

    @email.setter
    def email(self, value: str | None) -> None:
        personal.write(self, "email", value)

    @property
    def name(self) -> str | None:
        return personal.reveal(self, "name")

    @name.setter
    def name(self, value: str | None) -> None:
        personal.write(self, "name", value)

    @property
    def manager(self) -> str | None:
        return personal.reveal(self, "manager")

    @manager.setter
    def manager(self, value: str | None) -> None:
        personal.write(self, "manager", value)


class LearnerKey(TenantMixin, Base):
    """A learner's data key, wrapped by the key ring (rotation re-wraps it). Deleting the row
    is what erasure does: the learner's sealed fields, wherever copies of them are (backups
    included), can no longer be read."""

    __tablename__ = "learner_keys"
    __table_args__ = (UniqueConstraint("learner_id"),)

    learner_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("learners.id", ondelete="CASCADE"))
    wrapped_key: Mapped[str] = mapped_column(Text)
    """32 random bytes (base64), encrypted with the ring (context ``learners:data-key``)."""


DATA_KEY = crypto.register("learner_keys", "wrapped_key", context="learners:data-key")

# personal reads the models above; sealing registers the sealed columns (keys rotate).
from laurel.learners import personal, sealing  # noqa: E402, F401
