from __future__ import annotations

import uuid
from datetime import datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import ForeignKey, Index, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from laurel.kit import crypto
from laurel.kit.clock import utcnow
from laurel.kit.orm import Base, TenantMixin


class Jurisdiction(StrEnum):
    gdpr = "gdpr"
    """EU/EEA member states and the United Kingdom (UK GDPR)."""
    ccpa = "ccpa"
    """California (CCPA as amended by the CPRA)."""
    pipeda = "pipeda"
    """Canada."""
    other = "other"


class RequestKind(StrEnum):
    access = "access"
    deletion = "deletion"
    correction = "correction"
    opt_out = "opt_out"
    """CCPA: do not sell or share personal information."""


class RequestStatus(StrEnum):
    open = "open"
    completed = "completed"
    refused = "refused"


class LawfulBasis(StrEnum):
    consent = "consent"
    contract = "contract"
    legal_obligation = "legal_obligation"
    vital_interests = "vital_interests"
    public_task = "public_task"
    legitimate_interests = "legitimate_interests"


class DataKind(StrEnum):
    personal = "personal"
    """Who the learner is: name, email, ids, raw LMS payloads."""
    financial = "financial"
    """What was paid: rewards, deliveries, budgets, screening and tax records."""


class ConsentRecord(TenantMixin, Base):
    """One consent decision (given or withdrawn); the newest per purpose is the current one."""

    __tablename__ = "consent_records"
    __table_args__ = (Index(None, "organization_id", "learner_id", "purpose"),)

    learner_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("learners.id"))
    purpose: Mapped[str] = mapped_column(String(64))
    lawful_basis: Mapped[str] = mapped_column(String(32))
    granted: Mapped[bool]
    recorded_at: Mapped[datetime]
    """When the learner gave or withdrew it (as the source says), UTC."""
    source: Mapped[str] = mapped_column(String(200))
    """Where it was captured: ``lms:moodle``, ``hris``, ``form:signup-2026``…"""
    actor: Mapped[str] = mapped_column(String(200))


class PrivacyRequest(TenantMixin, Base):
    """A data-subject request, tracked against its legal deadline."""

    __tablename__ = "privacy_requests"
    __table_args__ = (
        Index(None, "organization_id", "learner_id"),
        Index(None, "status", "due_at"),
    )

    learner_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("learners.id"))
    kind: Mapped[str] = mapped_column(String(16))
    jurisdiction: Mapped[str] = mapped_column(String(16))
    status: Mapped[str] = mapped_column(String(16), default=RequestStatus.open)
    received_at: Mapped[datetime]
    due_at: Mapped[datetime]
    """received_at plus the jurisdiction's answer period (30 days GDPR/PIPEDA, 45 days CCPA)."""
    completed_at: Mapped[datetime | None] = mapped_column(default=None)
    reminded_at: Mapped[datetime | None] = mapped_column(default=None)
    requested_by: Mapped[str] = mapped_column(String(200))
    request: Mapped[dict[str, Any]] = mapped_column(default=dict)
    """What was asked: corrections, the deletion mode…"""
    outcome: Mapped[dict[str, Any]] = mapped_column(default=dict)
    """The answer: what was done, what is kept, why and until when."""


class RetentionPolicy(TenantMixin, Base):
    """How long a kind of data is kept after a learner's last activity, per jurisdiction."""

    __tablename__ = "retention_policies"
    __table_args__ = (UniqueConstraint("organization_id", "jurisdiction", "data_kind"),)

    jurisdiction: Mapped[str] = mapped_column(String(16))
    """A :class:`Jurisdiction`, or ``any`` for the organization's default."""
    data_kind: Mapped[str] = mapped_column(String(16))
    days: Mapped[int]


class PhiRecord(TenantMixin, Base):
    """Protected health information about a learner, kept apart from the learner's row.

    Only organizations flagged HIPAA hold these; values are encrypted with the key ring and
    every read is audited (``privacy:phi:read``).
    """

    __tablename__ = "phi_records"
    __table_args__ = (UniqueConstraint("organization_id", "learner_id", "field"),)

    learner_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("learners.id"))
    field: Mapped[str] = mapped_column(String(64))
    value_encrypted: Mapped[str] = mapped_column(Text)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)


PHI_VALUE = crypto.register("phi_records", "value_encrypted", context="privacy:phi")
