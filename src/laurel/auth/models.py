from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import ForeignKey, Index, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from laurel.kit.orm import Base, TenantMixin


class ApiKey(TenantMixin, Base):
    __tablename__ = "api_keys"

    name: Mapped[str] = mapped_column(String(200), default="")
    prefix: Mapped[str] = mapped_column(String(32))
    """The first characters of the key, kept to tell keys apart in lists; not a secret."""
    key_hash: Mapped[str] = mapped_column(String(64), unique=True)
    """SHA-256 of the whole key. Keys are 192 random bits, so a fast hash is safe here."""
    scopes: Mapped[list[Any]] = mapped_column(default=list)
    livemode: Mapped[bool] = mapped_column(default=True)
    last_used_at: Mapped[datetime | None] = mapped_column(default=None)
    revoked_at: Mapped[datetime | None] = mapped_column(default=None)
    expires_at: Mapped[datetime | None] = mapped_column(default=None)
    """After this time the key is refused; set at creation or by a rotation's overlap end."""
    replaced_by_id: Mapped[uuid.UUID | None] = mapped_column(default=None)
    """The key that a rotation created in this one's place (no foreign key: SQLite cannot add
    one to an existing table without rebuilding it)."""


class User(TenantMixin, Base):
    """A person who signs in to the dashboard of one organization."""

    __tablename__ = "users"
    __table_args__ = (UniqueConstraint("organization_id", "email"),)

    email: Mapped[str] = mapped_column(String(320))
    """Lowercased; unique within the organization."""
    name: Mapped[str] = mapped_column(String(200), default="")
    password_hash: Mapped[str | None] = mapped_column(String(200), default=None)
    """Argon2id (argon2-cffi's encoded form); None for users who only sign in through SSO."""
    roles: Mapped[list[Any]] = mapped_column(default=list)
    departments: Mapped[list[Any]] = mapped_column(default=list)
    """The departments a ``department_manager`` sees; ignored for other roles."""
    learner_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("learners.id", ondelete="SET NULL"), default=None
    )
    """The learner this user is, for the ``learner`` role (own wallet and history)."""
    sso_subject: Mapped[str | None] = mapped_column(String(300), default=None)
    """``issuer|sub`` of the OpenID Connect identity last used to sign in."""
    failed_sign_ins: Mapped[int] = mapped_column(default=0)
    """Consecutive failed password sign-ins; reset by a successful one."""
    locked_until: Mapped[datetime | None] = mapped_column(default=None)
    last_sign_in_at: Mapped[datetime | None] = mapped_column(default=None)
    disabled_at: Mapped[datetime | None] = mapped_column(default=None)
    locale: Mapped[str | None] = mapped_column(String(35), default=None)
    """BCP 47 tag for the emails this user receives as an operator (alerts, digests); None:
    the organization's (``email_settings.admin_locale``), else English."""


class UserSession(TenantMixin, Base):
    """A signed-in browser. The cookie holds a random token; only its SHA-256 is stored."""

    __tablename__ = "user_sessions"

    user_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    csrf_hash: Mapped[str] = mapped_column(String(64))
    """SHA-256 of the synchronizer token unsafe requests must echo (header or form field)."""
    method: Mapped[str] = mapped_column(String(16))
    """``password`` or ``oidc``."""
    expires_at: Mapped[datetime]
    last_seen_at: Mapped[datetime | None] = mapped_column(default=None)
    revoked_at: Mapped[datetime | None] = mapped_column(default=None)

    __table_args__ = (Index(None, "user_id"),)


class PasswordReset(TenantMixin, Base):
    """A single-use reset link: the token is mailed, only its SHA-256 is stored."""

    __tablename__ = "password_resets"

    user_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    expires_at: Mapped[datetime]
    used_at: Mapped[datetime | None] = mapped_column(default=None)


class OidcProvider(TenantMixin, Base):
    """An organization's OpenID Connect identity provider (Okta, Entra ID, Google Workspace)."""

    __tablename__ = "oidc_providers"
    __table_args__ = (UniqueConstraint("organization_id"),)

    issuer: Mapped[str] = mapped_column(String(500))
    client_id: Mapped[str] = mapped_column(String(300))
    client_secret_sealed: Mapped[str] = mapped_column(String(2000))
    """Encrypted under ``LAUREL_SECRET_KEY`` (the connector secret box)."""
    role_claim: Mapped[str] = mapped_column(String(100), default="groups")
    role_mapping: Mapped[dict[str, Any]] = mapped_column(default=dict)
    """Claim value (e.g. a group name) -> Laurel role."""
    department_claim: Mapped[str | None] = mapped_column(String(100), default=None)
    """Claim whose values become a department manager's departments (e.g. ``department``)."""
    create_users: Mapped[bool] = mapped_column(default=True)
    """Create the user at first sign-in when the mapping grants at least one role."""


class OidcLogin(TenantMixin, Base):
    """One authorization-code flow in progress: state, nonce and PKCE verifier, used once."""

    __tablename__ = "oidc_logins"

    state_hash: Mapped[str] = mapped_column(String(64), unique=True)
    nonce: Mapped[str] = mapped_column(String(100))
    code_verifier: Mapped[str] = mapped_column(String(200))
    redirect_to: Mapped[str] = mapped_column(String(500), default="/")
    expires_at: Mapped[datetime]
    used_at: Mapped[datetime | None] = mapped_column(default=None)
