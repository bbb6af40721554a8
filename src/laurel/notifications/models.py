"""Email settings per organization and the email outbox.

An outbox row is written in the same transaction as the change it reports, and the worker
sends it after commit. A row is sent by one worker at a time: it is claimed with a lease
(``pending -> sending``), like a reward being issued.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import ForeignKey, Index, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from laurel.kit.clock import utcnow
from laurel.kit.orm import Base, TenantMixin


class OutboxStatus(StrEnum):
    pending = "pending"
    sending = "sending"
    sent = "sent"
    failed = "failed"
    skipped = "skipped"
    """Nothing to send: the learner has no email address, or the reward is gone."""


class EmailSettings(TenantMixin, Base):
    """One row per organization; no row means email is off."""

    __tablename__ = "email_settings"
    __table_args__ = (UniqueConstraint("organization_id"),)

    enabled: Mapped[bool] = mapped_column(default=False)
    sender_address: Mapped[str | None] = mapped_column(String(320), default=None)
    """From address; unset: LAUREL_EMAIL_FROM."""
    sender_name: Mapped[str | None] = mapped_column(String(200), default=None)
    """Display name beside the address; unset: the organization's brand name, else its name."""
    reply_to: Mapped[str | None] = mapped_column(String(320), default=None)
    admin_recipients: Mapped[list[Any]] = mapped_column(default=list)
    """Addresses told about held and failed rewards (never the learner)."""
    learner_emails: Mapped[bool] = mapped_column(default=True)
    """Tell learners their reward was delivered."""
    test_mode: Mapped[bool] = mapped_column(default=False)
    """Also email for test-mode rewards (off: test events never write to real inboxes)."""
    admin_locale: Mapped[str | None] = mapped_column(String(35), default=None)
    """The organization's language for operator emails to addresses that are no user's (or
    whose user set none); None: English."""
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)


class OutboxEmail(TenantMixin, Base):
    __tablename__ = "email_outbox"
    __table_args__ = (
        UniqueConstraint("organization_id", "dedupe_key"),
        Index(None, "status", "next_attempt_at"),
        Index(None, "organization_id", "reward_id"),
        Index(None, "organization_id", "created_at"),
    )

    livemode: Mapped[bool] = mapped_column(default=True)
    template: Mapped[str] = mapped_column(String(64))
    reward_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("rewards.id"), default=None)
    learner_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("learners.id"), default=None)
    """Whose address and locale are read at send time when ``recipient`` is unset."""
    recipient: Mapped[str | None] = mapped_column(String(320), default=None)
    locale: Mapped[str | None] = mapped_column(String(35), default=None)
    context: Mapped[dict[str, Any]] = mapped_column(default=dict)
    """Empty: the template values are in ``context_sealed``."""
    recipient_sealed: Mapped[str | None] = mapped_column(Text, default=None)
    """The address (given, or the learner's once sent), sealed under the learner's key, or
    under the key ring for operator emails (:mod:`laurel.learners.sealing`); ``recipient``
    stays empty."""
    context_sealed: Mapped[str | None] = mapped_column(Text, default=None)
    """Template values known when the row is written (the rest is read when it is sent),
    sealed like ``recipient_sealed``."""
    secrets_sealed: Mapped[str | None] = mapped_column(Text, default=None)
    """``enqueue_email(secrets=)`` values (a one-time link), sealed under the key ring and
    bound to this row; ``laurel keys rotate`` re-encrypts them."""
    dedupe_key: Mapped[str | None] = mapped_column(String(200), default=None)
    """At most one row per key and organization (one 'delivered' email per reward)."""
    status: Mapped[str] = mapped_column(String(16), default=OutboxStatus.pending)
    attempts: Mapped[int] = mapped_column(default=0)
    next_attempt_at: Mapped[datetime | None] = mapped_column(default=None)
    lease_expires_at: Mapped[datetime | None] = mapped_column(default=None)
    last_error: Mapped[str | None] = mapped_column(String(1000), default=None)
    message_id: Mapped[str | None] = mapped_column(String(200), default=None)
    """The Message-ID header sent: the same on every attempt, so a receiver can drop repeats."""
    sent_at: Mapped[datetime | None] = mapped_column(default=None)
    purged_at: Mapped[datetime | None] = mapped_column(default=None)
    """When the retention job emptied ``context`` and ``recipient`` (the personal data) of
    this settled row; the row itself goes after the log retention."""
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)
