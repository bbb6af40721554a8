"""Inviting users: an account without a password and an email with a link that sets one.

The link is a password reset token (single use, stored as its SHA-256) that lasts
:data:`INVITE_DAYS`; the email goes through the notifications outbox in the same transaction as
the account, with the link sealed by the key ring (``enqueue_email(secrets=...)``), so the
outbox table alone cannot set anyone's password. The same link can be sent again later (a new
token; earlier ones keep their own expiry).
"""

from __future__ import annotations

import secrets
import uuid
from collections.abc import Iterable
from datetime import timedelta

from sqlalchemy.orm import Session

from laurel.audit import service as audit
from laurel.auth import users
from laurel.auth.mail import reset_link
from laurel.auth.models import PasswordReset, User
from laurel.auth.permissions import Role
from laurel.config import Settings
from laurel.kit.clock import utcnow
from laurel.kit.errors import Invalid, field_error
from laurel.notifications import service as notifications
from laurel.organizations import service as organizations

INVITE_DAYS = 7
TEMPLATE = "user_invite"


def check_departments(roles: Iterable[str], departments: Iterable[str]) -> None:
    """A department manager sees only their departments: without one they would see nothing."""
    if Role.department_manager in set(roles) and not any(d.strip() for d in departments):
        raise field_error("departments", "a department manager needs at least one department")


def invite(
    session: Session,
    settings: Settings,
    *,
    organization_id: uuid.UUID,
    actor: str,
    email: str,
    roles: Iterable[str],
    name: str = "",
    departments: Iterable[str] = (),
) -> User:
    """Create the user (no password) and queue the invitation with its set-password link."""
    roles, departments = list(roles), [d.strip() for d in departments if d.strip()]
    # Every problem at once, so a form shows each beside its field.
    problems: list[dict[str, str]] = []
    if not notifications.valid_address(email.strip()):
        problems.extend(_problems("email", "give an email address such as ana@example.com"))
    if not roles:
        problems.extend(_problems("roles", "give the user at least one role"))
    try:
        users.parse_roles(roles)
        check_departments(roles, departments)
    except Invalid as exc:
        problems.extend(exc.detail)
    if problems:
        raise Invalid(problems)
    user = users.create(
        session,
        organization_id=organization_id,
        email=email,
        name=name,
        roles=roles,
        departments=departments,
        actor=actor,
    )
    send_link(session, settings, user, actor=actor, invited=True)
    return user


def _problems(field: str, message: str) -> list[dict[str, str]]:
    detail: list[dict[str, str]] = field_error(field, message).detail
    return detail


def send_link(
    session: Session, settings: Settings, user: User, *, actor: str, invited: bool
) -> uuid.UUID | None:
    """Queue an email with a fresh set-password link for ``user``; answers the outbox row."""
    token = secrets.token_urlsafe(32)
    expires_at = utcnow() + timedelta(days=INVITE_DAYS)
    session.add(
        PasswordReset(
            organization_id=user.organization_id,
            user_id=user.id,
            token_hash=users.digest(token),
            expires_at=expires_at,
        )
    )
    org = organizations.get(session, user.organization_id)
    context = {
        "organization": org.name,
        "slug": org.slug,
        "email": user.email,
        "days": INVITE_DAYS,
        "invited": invited,
    }
    row = notifications.enqueue_email(
        session,
        user.organization_id,
        user.email,
        TEMPLATE,
        None,
        context,
        secrets={"link": reset_link(settings, token)},
    )
    audit.record(
        session,
        organization_id=user.organization_id,
        actor=actor,
        action="auth:user:invite" if invited else "auth:user:set_password_link",
        target_type="user",
        target_id=user.id,
        details={"expires_at": expires_at.isoformat(), "email_id": str(row) if row else None},
    )
    return row
