"""Learner sign-in: emailed single-use links and the sessions they open.

Learners are not dashboard users: they sign in to their own pages (wallet, history,
marketplace) with a link mailed to the address the organization holds for them. Both tables
keep only the SHA-256 of the random tokens, so a database reader cannot sign in as anyone.
"""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import ForeignKey, Index, String
from sqlalchemy.orm import Mapped, mapped_column

from laurel.kit.orm import Base, TenantMixin


class LearnerSignInLink(TenantMixin, Base):
    """A mailed sign-in link: single use, minutes long."""

    __tablename__ = "learner_sign_in_links"
    __table_args__ = (Index(None, "organization_id", "learner_id", "created_at"),)

    learner_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("learners.id", ondelete="CASCADE"))
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    """SHA-256 of the 256 random bits in the link."""
    expires_at: Mapped[datetime]
    used_at: Mapped[datetime | None] = mapped_column(default=None)


class LearnerSession(TenantMixin, Base):
    """A learner's signed-in browser; the cookie holds a random token, this row its SHA-256."""

    __tablename__ = "learner_sessions"
    __table_args__ = (Index(None, "learner_id"),)

    learner_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("learners.id", ondelete="CASCADE"))
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    csrf_hash: Mapped[str] = mapped_column(String(64))
    """SHA-256 of the synchronizer token every form posted with this session must carry."""
    method: Mapped[str] = mapped_column(String(16))
    """``email_link`` (``oidc`` once learners sign in through the organization's SSO)."""
    expires_at: Mapped[datetime]
    last_seen_at: Mapped[datetime | None] = mapped_column(default=None)
    revoked_at: Mapped[datetime | None] = mapped_column(default=None)
