from __future__ import annotations

import uuid
from typing import Any

from sqlalchemy import ForeignKey, Index, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from laurel.kit.orm import Base, TenantMixin


class XapiStatement(TenantMixin, Base):
    """Every accepted statement, as received: ids, replays, voiding and cmi5 state need them."""

    __tablename__ = "xapi_statements"
    __table_args__ = (
        # Statement ids are the client's idempotency keys: a retry stores nothing twice.
        UniqueConstraint("organization_id", "livemode", "statement_id"),
        # cmi5: earlier statements of one registration, activity and learner decide moveOn.
        Index(
            "ix_xapi_statements_registration",
            "organization_id",
            "livemode",
            "registration",
            "object_id",
        ),
    )

    livemode: Mapped[bool] = mapped_column(default=True)
    statement_id: Mapped[uuid.UUID]
    body_hash: Mapped[str] = mapped_column(String(64))
    """SHA-256 of the canonical statement without LRS-set fields: tells replays from conflicts."""
    verb: Mapped[str] = mapped_column(String(2048))
    learner_key: Mapped[str | None] = mapped_column(String(200), default=None)
    """The learner external id the actor maps to; None for groups and non-agent actors."""
    object_id: Mapped[str | None] = mapped_column(String(2048), default=None)
    registration: Mapped[uuid.UUID | None] = mapped_column(default=None)
    voided: Mapped[bool] = mapped_column(default=False)
    event_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("completion_events.id"), default=None
    )
    """The completion event the statement became, when it maps to one."""
    outcome: Mapped[str | None] = mapped_column(String(32), default=None)
    note: Mapped[str] = mapped_column(String(500), default="")
    """Why the statement did or did not become a completion event."""
    statement: Mapped[dict[str, Any]] = mapped_column(default=dict)
    """Empty: the statement is in ``statement_sealed``."""
    statement_sealed: Mapped[str | None] = mapped_column(Text, default=None)
    """The statement as the client sent it (with the id Laurel assigned when it had none),
    sealed under the learner's key when it became a completion, else under the key ring
    (:mod:`laurel.learners.sealing`)."""
    attachments_sealed: Mapped[str | None] = mapped_column(Text, default=None)
    """The content of its attachments sent as multipart/mixed parts (a list of sha2,
    contentType and base64 content), sealed like ``statement_sealed``; None without any."""


class ReviewState:
    open = "open"


class XapiReview(TenantMixin, Base):
    """A voided statement whose reward had already gone out: a person decides what to do."""

    __tablename__ = "xapi_reviews"
    __table_args__ = (UniqueConstraint("reward_id", "voided_statement_id"),)

    livemode: Mapped[bool] = mapped_column(default=True)
    reward_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("rewards.id"))
    voided_statement_id: Mapped[uuid.UUID]
    voiding_statement_id: Mapped[uuid.UUID]
    reward_state: Mapped[str] = mapped_column(String(16))
    """The reward's state when the voiding arrived (issuing or delivered)."""
    state: Mapped[str] = mapped_column(String(16), default=ReviewState.open)
    reason: Mapped[str] = mapped_column(String(500))
