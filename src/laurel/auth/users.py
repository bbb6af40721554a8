"""Users of an organization: Argon2 passwords, sign-in with lockout, sessions, password reset.

Sessions are server-side rows: the cookie holds 256 random bits, the table only their SHA-256,
so a database reader cannot sign in as anyone. Each sign-in makes a new session (rotation: a
token planted before sign-in is never promoted). Every session has a synchronizer CSRF token
that unsafe cookie-authenticated requests must echo.

Failures that must be remembered (a failed attempt counts towards lockout) are returned as
outcomes, not raised, so the caller commits them before answering.
"""

from __future__ import annotations

import hashlib
import secrets
import uuid
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from sqlalchemy import select, update
from sqlalchemy.orm import Session

from laurel import i18n
from laurel.audit import service as audit
from laurel.auth.models import PasswordReset, User, UserSession
from laurel.auth.permissions import ALL_ROLES, Role, role_scopes
from laurel.kit.actor import Actor
from laurel.kit.clock import utcnow
from laurel.kit.errors import AppError, Conflict, NotFound, Unauthorized, field_error
from laurel.organizations import service as organizations

_hasher = PasswordHasher()
# Verified when the email is unknown, so "no such user" takes as long as "wrong password".
_DUMMY_HASH = _hasher.hash(secrets.token_urlsafe(16))
MIN_PASSWORD = 12
MAX_PASSWORD = 1024


class UserNotFound(NotFound):
    code = "user_not_found"


class AccountLocked(AppError):
    status = 429
    code = "account_locked"


class InvalidToken(AppError):
    status = 400
    code = "invalid_token"


def digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def hash_password(password: str) -> str:
    check_password(password)
    return _hasher.hash(password)


def check_password(password: str, field: str = "password") -> None:
    if len(password) < MIN_PASSWORD:
        raise field_error(field, f"use at least {MIN_PASSWORD} characters")
    if len(password) > MAX_PASSWORD:
        raise field_error(field, f"use at most {MAX_PASSWORD} characters")


def parse_roles(roles: Iterable[str], field: str = "roles") -> list[str]:
    items = sorted({r.strip() for r in roles if r.strip()})
    unknown = [r for r in items if r not in ALL_ROLES]
    if unknown:
        raise field_error(
            field, f"unknown role(s) {', '.join(unknown)}; use {', '.join(sorted(ALL_ROLES))}"
        )
    return items


def actor_for(user: User) -> Actor:
    """The caller a signed-in user is, before the permission table narrows it per route."""
    roles = frozenset(user.roles)
    return Actor(
        name=f"user:{user.id}",
        organization_id=user.organization_id,
        livemode=True,
        scopes=role_scopes(roles),
        roles=roles,
        departments=frozenset(user.departments) if Role.department_manager in roles else None,
        learner_id=user.learner_id,
    )


# ---------------------------------------------------------------- managing users


def create(
    session: Session,
    *,
    organization_id: uuid.UUID,
    email: str,
    roles: Iterable[str],
    actor: str,
    name: str = "",
    password: str | None = None,
    departments: Iterable[str] = (),
    learner_id: uuid.UUID | None = None,
) -> User:
    email = normalize_email(email)
    parsed = parse_roles(roles)
    if session.scalar(
        select(User.id).where(User.organization_id == organization_id, User.email == email)
    ):
        raise Conflict(f"a user with email {email!r} already exists")
    user = User(
        organization_id=organization_id,
        email=email,
        name=name,
        roles=parsed,
        departments=sorted(set(departments)),
        learner_id=learner_id,
        password_hash=hash_password(password) if password is not None else None,
    )
    session.add(user)
    session.flush()
    audit.record(
        session,
        organization_id=organization_id,
        actor=actor,
        action="auth:user:create",
        target_type="user",
        target_id=user.id,
        details={"email": email, "roles": parsed, "departments": user.departments},
    )
    return user


def normalize_email(email: str) -> str:
    email = email.strip().lower()
    if "@" not in email or len(email) > 320:
        raise field_error("email", "give an email address")
    return email


def get(session: Session, organization_id: uuid.UUID, user_id: uuid.UUID) -> User:
    user = session.scalar(
        select(User).where(User.organization_id == organization_id, User.id == user_id)
    )
    if user is None:
        raise UserNotFound(f"no user {user_id}")
    return user


def list_users(session: Session, organization_id: uuid.UUID) -> list[User]:
    return list(
        session.scalars(
            select(User).where(User.organization_id == organization_id).order_by(User.email)
        )
    )


def update_user(
    session: Session,
    organization_id: uuid.UUID,
    user_id: uuid.UUID,
    *,
    actor: str,
    name: str | None = None,
    roles: Iterable[str] | None = None,
    departments: Iterable[str] | None = None,
    learner_id: uuid.UUID | None = None,
    password: str | None = None,
    disabled: bool | None = None,
    locale: str | None = None,
) -> User:
    """``locale`` "" clears it (operator emails then use the organization's language)."""
    user = get(session, organization_id, user_id)
    changes: dict[str, object] = {}
    if locale is not None:
        if locale and i18n.parse_locale(locale) is None:
            raise field_error("locale", f"{locale!r} is not a language tag such as de or pt-BR")
        user.locale = changes["locale"] = locale or None
    if name is not None:
        user.name = changes["name"] = name
    if roles is not None:
        user.roles = parse_roles(roles)
        changes["roles"] = user.roles
    if departments is not None:
        user.departments = sorted(set(departments))
        changes["departments"] = user.departments
    if learner_id is not None:
        user.learner_id = learner_id
        changes["learner_id"] = str(learner_id)
    if password is not None:
        user.password_hash = hash_password(password)
        changes["password"] = "changed"  # noqa: S105 - the audit says it changed, not to what
    if disabled is not None:
        user.disabled_at = utcnow() if disabled else None
        changes["disabled"] = disabled
    if "roles" in changes or "password" in changes or disabled:
        # Whoever was signed in with the old roles or password signs in again.
        end_sessions(session, user.id)
    audit.record(
        session,
        organization_id=organization_id,
        actor=actor,
        action="auth:user:update",
        target_type="user",
        target_id=user.id,
        details=changes,
    )
    return user


def locales_for(
    session: Session, organization_id: uuid.UUID, emails: Iterable[str]
) -> dict[str, str]:
    """The email language set by each of these addresses' users (lowercased address -> tag);
    addresses with no user, or whose user set none, are left out."""
    wanted = {e.strip().lower() for e in emails}
    if not wanted:
        return {}
    rows = session.execute(
        select(User.email, User.locale).where(
            User.organization_id == organization_id,
            User.email.in_(wanted),
            User.locale.is_not(None),
        )
    )
    return {email: locale for email, locale in rows if locale}


def delete(session: Session, organization_id: uuid.UUID, user_id: uuid.UUID, actor: str) -> None:
    user = get(session, organization_id, user_id)
    audit.record(
        session,
        organization_id=organization_id,
        actor=actor,
        action="auth:user:delete",
        target_type="user",
        target_id=user.id,
        details={"email": user.email},
    )
    session.delete(user)
    session.flush()


# ---------------------------------------------------------------- signing in


@dataclass(frozen=True, slots=True)
class NewSession:
    user: User
    token: str
    """The cookie value; exists only here and in the answer that sets the cookie."""
    csrf_token: str
    expires_at: datetime


class Failure(StrEnum):
    bad_credentials = "bad_credentials"
    locked = "locked"


@dataclass(frozen=True, slots=True)
class SignIn:
    """What a sign-in attempt came to. On failure the caller commits, then raises ``error``."""

    session: NewSession | None = None
    failure: Failure | None = None
    locked_until: datetime | None = None

    def error(self) -> AppError:
        if self.failure is Failure.locked and self.locked_until is not None:
            when = self.locked_until.strftime("%Y-%m-%d %H:%M:%S UTC")
            return AccountLocked(
                {
                    "message": "too many failed sign-ins: this account is locked; "
                    f"try again after {when} or reset the password",
                    "locked_until": self.locked_until.isoformat(),
                }
            )
        return Unauthorized("wrong organization, email or password")


@dataclass(frozen=True, slots=True)
class Policy:
    session_lifetime: timedelta
    max_failures: int
    lockout: timedelta


def sign_in(
    session: Session,
    *,
    organization: str,
    email: str,
    password: str,
    policy: Policy,
    replaces: str | None = None,
) -> SignIn:
    """Check a password; count failures and lock after ``policy.max_failures`` in a row."""
    now = utcnow()
    # The row lock serializes attempts on one account, so parallel guesses cannot each read
    # the same failure count and get more tries than the policy allows.
    user = _find(session, organization, email, lock=True)
    if user is None or user.password_hash is None or user.disabled_at is not None:
        verify_password(_DUMMY_HASH, password)
        return SignIn(failure=Failure.bad_credentials)
    if user.locked_until is not None and user.locked_until > now:
        return SignIn(failure=Failure.locked, locked_until=user.locked_until)
    if not verify_password(user.password_hash, password):
        failures = user.failed_sign_ins + 1
        locked = failures >= policy.max_failures
        user.failed_sign_ins = 0 if locked else failures
        user.locked_until = now + policy.lockout if locked else None
        audit.record(
            session,
            organization_id=user.organization_id,
            actor="anonymous",
            action="auth:user:sign_in_failed",
            target_type="user",
            target_id=user.id,
            details={"locked": locked},
        )
        if locked:
            return SignIn(failure=Failure.locked, locked_until=user.locked_until)
        return SignIn(failure=Failure.bad_credentials)
    if _hasher.check_needs_rehash(user.password_hash):
        user.password_hash = _hasher.hash(password)
    user.failed_sign_ins = 0
    user.locked_until = None
    if replaces:
        end_session(session, replaces)
    return SignIn(session=start_session(session, user, method="password", policy=policy))


def _find(session: Session, organization: str, email: str, *, lock: bool = False) -> User | None:
    try:
        org = organizations.get_by_slug(session, organization)
    except NotFound:
        return None
    query = select(User).where(User.organization_id == org.id, User.email == email.strip().lower())
    return session.scalar(query.with_for_update() if lock else query)


def verify_password(encoded: str, password: str) -> bool:
    try:
        return _hasher.verify(encoded, password)
    except (VerificationError, InvalidHashError):
        return False


def start_session(session: Session, user: User, *, method: str, policy: Policy) -> NewSession:
    now = utcnow()
    token = secrets.token_urlsafe(32)
    csrf = secrets.token_urlsafe(32)
    row = UserSession(
        organization_id=user.organization_id,
        user_id=user.id,
        token_hash=digest(token),
        csrf_hash=digest(csrf),
        method=method,
        expires_at=now + policy.session_lifetime,
        last_seen_at=now,
    )
    session.add(row)
    user.last_sign_in_at = now
    session.flush()
    audit.record(
        session,
        organization_id=user.organization_id,
        actor=f"user:{user.id}",
        action="auth:user:sign_in",
        target_type="user",
        target_id=user.id,
        details={"method": method, "session": str(row.id)},
    )
    return NewSession(user=user, token=token, csrf_token=csrf, expires_at=row.expires_at)


@dataclass(frozen=True, slots=True)
class Resolved:
    actor: Actor
    csrf_hash: str


def resolve(session: Session, token: str) -> Resolved:
    """The user behind a session cookie; expired, revoked and unknown sessions are one 401."""
    now = utcnow()
    found = session.execute(
        select(UserSession, User)
        .join(User, User.id == UserSession.user_id)
        .where(UserSession.token_hash == digest(token))
    ).first()
    if found is None:
        raise Unauthorized("not signed in")
    row, user = found[0], found[1]
    if row.revoked_at is not None or row.expires_at <= now or user.disabled_at is not None:
        raise Unauthorized("the session has ended: sign in again")
    if row.last_seen_at is None or (now - row.last_seen_at).total_seconds() > 60:
        session.execute(
            update(UserSession).where(UserSession.id == row.id).values(last_seen_at=now)
        )
    return Resolved(actor=actor_for(user), csrf_hash=row.csrf_hash)


def end_session(session: Session, token: str) -> None:
    session.execute(
        update(UserSession)
        .where(UserSession.token_hash == digest(token), UserSession.revoked_at.is_(None))
        .values(revoked_at=utcnow())
    )


def end_sessions(session: Session, user_id: uuid.UUID) -> None:
    session.execute(
        update(UserSession)
        .where(UserSession.user_id == user_id, UserSession.revoked_at.is_(None))
        .values(revoked_at=utcnow())
    )


def csrf_matches(expected_hash: str, sent: str | None) -> bool:
    return sent is not None and secrets.compare_digest(expected_hash, digest(sent))


# ---------------------------------------------------------------- password reset


@dataclass(frozen=True, slots=True)
class ResetRequest:
    user: User
    token: str
    """Goes into the emailed link only."""


def request_reset(
    session: Session, *, organization: str, email: str, lifetime: timedelta
) -> ResetRequest | None:
    """A single-use reset token for a known, enabled user; None otherwise (the answer to the
    caller is the same either way, so the form does not reveal who has an account)."""
    user = _find(session, organization, email)
    if user is None or user.disabled_at is not None:
        return None
    token = secrets.token_urlsafe(32)
    session.add(
        PasswordReset(
            organization_id=user.organization_id,
            user_id=user.id,
            token_hash=digest(token),
            expires_at=utcnow() + lifetime,
        )
    )
    audit.record(
        session,
        organization_id=user.organization_id,
        actor="anonymous",
        action="auth:user:reset_requested",
        target_type="user",
        target_id=user.id,
    )
    return ResetRequest(user=user, token=token)


def confirm_reset(session: Session, *, token: str, password: str) -> User:
    """Set a new password with a reset token: once, before it expires. Ends every session
    and lifts a lockout."""
    check_password(password)
    now = utcnow()
    reset = session.scalar(
        select(PasswordReset).where(PasswordReset.token_hash == digest(token)).with_for_update()
    )
    if reset is None or reset.used_at is not None or reset.expires_at <= now:
        raise InvalidToken("this reset link is unknown, used or expired: ask for a new one")
    # Guarded: two concurrent confirmations of one link cannot both succeed.
    used = session.execute(
        update(PasswordReset)
        .where(PasswordReset.id == reset.id, PasswordReset.used_at.is_(None))
        .values(used_at=now)
    )
    if used.rowcount != 1:  # type: ignore[attr-defined]
        raise InvalidToken("this reset link was just used: ask for a new one")
    user = session.get_one(User, reset.user_id)
    user.password_hash = _hasher.hash(password)
    user.failed_sign_ins = 0
    user.locked_until = None
    end_sessions(session, user.id)
    audit.record(
        session,
        organization_id=user.organization_id,
        actor=f"user:{user.id}",
        action="auth:user:password_reset",
        target_type="user",
        target_id=user.id,
    )
    return user
