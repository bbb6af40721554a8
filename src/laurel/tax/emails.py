"""The form request email: queued in the notifications outbox with the request it announces.

:func:`enqueue_request` is the default entry of :data:`laurel.tax.requests.SENDERS`, so the
outbox row commits with the request (or neither does) and the worker sends it after commit, in
the learner's language (the request's locale; es, fr, de, pt-BR and ja catalogs, English
otherwise). The link is the only way into the form page: it goes into the row encrypted
(``enqueue_email(secrets=...)``) and is decrypted only when the message is composed; it is never
logged. One email per request (deduplicated by the request id).
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

from laurel.notifications import service as notifications
from laurel.notifications.compose import TAX_FORM_REQUEST

if TYPE_CHECKING:
    from sqlalchemy.orm import Session

    from laurel.tax.requests import Notice

log = logging.getLogger("laurel.tax")


def enqueue_request(session: Session, notice: Notice) -> bool:
    """Queue the email for a new form request; False when there is nobody to send it to
    (no usable address, or a test-mode request the organization did not ask emails for)."""
    if not notice.recipient_email or not notifications.valid_address(notice.recipient_email):
        log.info("form request %s: the learner has no usable email address", notice.request_id)
        return False
    if not notice.livemode and not notifications.wants_test_mode(session, notice.organization_id):
        return False
    written = notifications.enqueue_email(
        session,
        notice.organization_id,
        notice.recipient_email,
        TAX_FORM_REQUEST,
        notice.locale,
        {
            "form": notice.form,
            "request_id": str(notice.request_id),
            "expires_on": notice.expires_at.date().isoformat(),
        },
        livemode=notice.livemode,
        dedupe_key=f"{TAX_FORM_REQUEST}:{notice.request_id}",
        learner_id=notice.learner_id,
        secrets={"link": notice.link},
    )
    return written is not None
