"""Sending the password reset mail.

``send_reset`` is the one place that sends it. When the notifications outbox exists
(``laurel.notifications.service.enqueue_email``), point this function at it; until then it
speaks SMTP to ``LAUREL_AUTH_MAIL_HOST`` after the reset token has been committed. The link is
a secret: it is never logged.
"""

from __future__ import annotations

import logging
import smtplib
from email.message import EmailMessage

from laurel.config import Settings

log = logging.getLogger("laurel.auth")


def reset_link(settings: Settings, token: str) -> str:
    return f"{settings.public_url.rstrip('/')}/password-reset/confirm?token={token}"


def send_reset(settings: Settings, *, to: str, organization: str, token: str) -> bool:
    """Mail the reset link; False when no mail server is configured (nothing is sent)."""
    if not settings.auth_mail_host:
        log.warning("password reset requested but LAUREL_AUTH_MAIL_HOST is not set: no mail sent")
        return False
    message = EmailMessage()
    message["From"] = settings.auth_mail_from
    message["To"] = to
    message["Subject"] = f"Reset your Laurel password ({organization})"
    minutes = int(settings.password_reset_minutes)
    message.set_content(
        "Someone asked to reset the password of your Laurel account.\n\n"
        f"Set a new password here (the link works once, for {minutes} minutes):\n"
        f"{reset_link(settings, token)}\n\n"
        "If it was not you, ignore this mail: your password stays as it is.\n"
    )
    with smtplib.SMTP(settings.auth_mail_host, settings.auth_mail_port, timeout=10) as smtp:
        smtp.send_message(message)
    return True
