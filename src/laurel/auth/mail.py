"""The password reset email, queued in the notifications outbox.

``queue_reset`` writes the email in the transaction that stores the reset token, so the mail
exists exactly when the token does (a rolled-back request sends nothing); the worker sends it
through the organization's email settings (``LAUREL_SMTP_HOST``), in the language the browser
asked for. The link is a secret: it is never logged, and the outbox row forgets it once sent.
"""

from __future__ import annotations

from sqlalchemy.orm import Session

from laurel.auth.users import ResetRequest
from laurel.config import Settings
from laurel.notifications import service as notifications

TEMPLATE = "password_reset"


def reset_link(settings: Settings, token: str) -> str:
    return f"{settings.public_url.rstrip('/')}/password-reset/confirm?token={token}"


def queue_reset(
    session: Session, settings: Settings, found: ResetRequest, locale: str | None
) -> None:
    """Queue the reset link to the user (``locale``: a BCP 47 tag or Accept-Language value)."""
    notifications.enqueue_email(
        session,
        found.user.organization_id,
        found.user.email,
        TEMPLATE,
        _first_language(locale),
        {
            "url": reset_link(settings, found.token),
            "minutes": int(settings.password_reset_minutes),
        },
    )


def _first_language(header: str | None) -> str | None:
    """The first tag of an Accept-Language header (``fr-CA,fr;q=0.8`` → ``fr-CA``)."""
    if not header:
        return None
    first = header.split(",")[0].split(";")[0].strip()
    return first if first and first != "*" and len(first) <= 35 else None
