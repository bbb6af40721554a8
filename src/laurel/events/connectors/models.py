"""Per-organization connector settings, webhook secrets, dead letters and polling cursors."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import Index, LargeBinary, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from laurel.kit.clock import utcnow
from laurel.kit.orm import Base, TenantMixin


class ConnectorConfig(TenantMixin, Base):
    """How one organization maps one connector's payloads (shared by live and test mode)."""

    __tablename__ = "connector_configs"
    __table_args__ = (UniqueConstraint("organization_id", "connector"),)

    connector: Mapped[str] = mapped_column(String(64))
    mapping: Mapped[dict[str, Any]] = mapped_column(default=dict)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)


class ConnectorSecret(TenantMixin, Base):
    """A secret a source proves itself with. Several may be active at once (rotation).

    HMAC verification needs the secret itself, not a hash of it, so it is stored encrypted
    (Fernet, key derived from ``LAUREL_SECRET_KEY``). The plain value is shown once, on creation.
    """

    __tablename__ = "connector_secrets"
    __table_args__ = (Index(None, "organization_id", "connector"),)

    connector: Mapped[str] = mapped_column(String(64))
    livemode: Mapped[bool] = mapped_column(default=True)
    """The mode of the events this secret lets in."""
    name: Mapped[str] = mapped_column(String(200), default="")
    hint: Mapped[str] = mapped_column(String(16))
    """The last characters of the secret, to tell secrets apart; not enough to guess it."""
    secret_encrypted: Mapped[str] = mapped_column(Text)
    last_used_at: Mapped[datetime | None] = mapped_column(default=None)
    retired_at: Mapped[datetime | None] = mapped_column(default=None)


class DeadLetterState(StrEnum):
    open = "open"
    resolved = "resolved"


class DeadLetter(TenantMixin, Base):
    """A verified delivery that could not be read or mapped, kept as received for replay."""

    __tablename__ = "dead_letters"
    __table_args__ = (Index(None, "organization_id", "livemode", "state", "connector"),)

    connector: Mapped[str] = mapped_column(String(64))
    livemode: Mapped[bool] = mapped_column(default=True)
    state: Mapped[str] = mapped_column(String(16), default=DeadLetterState.open)
    reason: Mapped[str] = mapped_column(String(64))
    """A stable code: ``unreadable_body``, ``unmapped``, ``refused`` (see docs/connectors)."""
    message: Mapped[str] = mapped_column(Text)
    errors: Mapped[list[Any]] = mapped_column(default=list)
    """One entry per event that failed: index in the delivery, field and why."""
    body: Mapped[bytes] = mapped_column(LargeBinary)
    """Empty: the body is in ``body_sealed``."""
    body_sealed: Mapped[str | None] = mapped_column(Text, default=None)
    """The request body as received (a token carried inside it is redacted), sealed under the
    key ring: no learner is known for it (:mod:`laurel.learners.sealing`)."""
    headers: Mapped[dict[str, Any]] = mapped_column(default=dict)
    """The headers that say what was sent (content type, event name); never credentials."""
    query: Mapped[dict[str, Any]] = mapped_column(default=dict)
    """Query parameters other than credentials."""
    received_at: Mapped[datetime] = mapped_column(default=utcnow)
    replays: Mapped[int] = mapped_column(default=0)
    last_replayed_at: Mapped[datetime | None] = mapped_column(default=None)
    resolved_at: Mapped[datetime | None] = mapped_column(default=None)
    event_ids: Mapped[list[Any]] = mapped_column(default=list)
    """Laurel ids of the events this delivery produced once it went through."""


class PollCursor(TenantMixin, Base):
    """Where polling of a source stopped; moved in the transaction that stores what was read."""

    __tablename__ = "poll_cursors"
    __table_args__ = (UniqueConstraint("organization_id", "connector", "livemode"),)

    connector: Mapped[str] = mapped_column(String(64))
    livemode: Mapped[bool] = mapped_column(default=True)
    position: Mapped[dict[str, Any]] = mapped_column(default=dict)
    last_polled_at: Mapped[datetime | None] = mapped_column(default=None)
    last_error: Mapped[str | None] = mapped_column(Text, default=None)
