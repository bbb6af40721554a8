"""Outgoing webhook subscriptions, their outbox of messages and the log of every attempt."""

from __future__ import annotations

import uuid
from datetime import datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import ForeignKey, Index, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from laurel.kit.clock import utcnow
from laurel.kit.orm import Base, TenantMixin


class EventType(StrEnum):
    reward_delivered = "reward.delivered"
    reward_held = "reward.held"
    reward_redeemed = "reward.redeemed"
    reward_failed = "reward.failed"
    reward_cancelled = "reward.cancelled"


class MessageStatus(StrEnum):
    pending = "pending"
    sending = "sending"
    succeeded = "succeeded"
    failed = "failed"
    """Out of attempts, or the endpoint answered 410 Gone."""


class Subscription(TenantMixin, Base):
    __tablename__ = "webhook_subscriptions"
    __table_args__ = (Index(None, "organization_id", "livemode"),)

    livemode: Mapped[bool] = mapped_column(default=True)
    url: Mapped[str] = mapped_column(String(2000))
    event_types: Mapped[list[Any]] = mapped_column(default=list)
    description: Mapped[str | None] = mapped_column(String(200), default=None)
    secret_sealed: Mapped[str] = mapped_column(String(500))
    """The ``whsec_`` secret, encrypted under LAUREL_SECRET_KEY (signing needs it back)."""
    secret_hint: Mapped[str] = mapped_column(String(16))
    """Last characters of the secret, so an admin can tell which one a receiver holds."""
    enabled: Mapped[bool] = mapped_column(default=True)
    disabled_reason: Mapped[str | None] = mapped_column(String(200), default=None)
    disabled_at: Mapped[datetime | None] = mapped_column(default=None)
    deleted_at: Mapped[datetime | None] = mapped_column(default=None)
    """Deleted subscriptions keep their messages and log; nothing more is sent to them."""
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)


class Message(TenantMixin, Base):
    """One event for one subscription: the exact body, signed anew on each attempt."""

    __tablename__ = "webhook_messages"
    __table_args__ = (
        UniqueConstraint("subscription_id", "event_id"),
        Index(None, "status", "next_attempt_at"),
        Index(None, "organization_id", "subscription_id", "created_at"),
    )

    livemode: Mapped[bool] = mapped_column(default=True)
    subscription_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("webhook_subscriptions.id"))
    event_id: Mapped[str] = mapped_column(String(64))
    """``webhook-id``: the same for every attempt and every subscription of one event."""
    event_type: Mapped[str] = mapped_column(String(64))
    reward_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("rewards.id"), default=None)
    body: Mapped[str] = mapped_column(Text)
    """The JSON sent, byte for byte what was signed."""
    status: Mapped[str] = mapped_column(String(16), default=MessageStatus.pending)
    attempts: Mapped[int] = mapped_column(default=0)
    next_attempt_at: Mapped[datetime | None] = mapped_column(default=None)
    lease_expires_at: Mapped[datetime | None] = mapped_column(default=None)
    last_attempt_at: Mapped[datetime | None] = mapped_column(default=None)
    last_status_code: Mapped[int | None] = mapped_column(default=None)
    last_error: Mapped[str | None] = mapped_column(String(1000), default=None)
    succeeded_at: Mapped[datetime | None] = mapped_column(default=None)
    manual: Mapped[bool] = mapped_column(default=False)
    purged_at: Mapped[datetime | None] = mapped_column(default=None)
    """When the retention job emptied ``body`` of this settled message (the log stays)."""
    """A manual redelivery: one attempt, then the message settles either way."""
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)


class Attempt(TenantMixin, Base):
    """One HTTP request to a receiver and what it answered."""

    __tablename__ = "webhook_attempts"
    __table_args__ = (Index(None, "organization_id", "message_id", "created_at"),)

    message_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("webhook_messages.id"))
    number: Mapped[int]
    trigger: Mapped[str] = mapped_column(String(16))
    """scheduled | manual"""
    status_code: Mapped[int | None] = mapped_column(default=None)
    latency_ms: Mapped[int]
    """From sending the request to the end of the answer (or the failure), in milliseconds."""
    response_excerpt: Mapped[str | None] = mapped_column(String(1000), default=None)
    error: Mapped[str | None] = mapped_column(String(1000), default=None)
    succeeded: Mapped[bool] = mapped_column(default=False)
