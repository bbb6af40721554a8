"""Form requests: a link that lets one learner send one W-9 or W-8BEN.

The link carries a random token; only its SHA-256 is stored, so the database alone cannot
open a form page. A request expires (``LAUREL_TAX_FORM_LINK_DAYS``) and takes one submission:
the UPDATE that closes it is guarded by ``status = 'open'``, so two submissions racing on the
same link cannot both be accepted. At most one request per learner is open at a time (a unique
key on ``open_slot``), so the gate can ask for a form on every reward without sending a
learner a pile of links.

The email itself goes out through the notifications outbox: :data:`SENDERS` are called in the
unit of work that creates the request (the only moment the link exists in plain text); the
default sender (:mod:`laurel.tax.emails`) queues the email there, the link encrypted.
"""

from __future__ import annotations

import hashlib
import secrets
import uuid
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta
from functools import cache
from typing import Any

from sqlalchemy import bindparam, select, update
from sqlalchemy.orm import Session

from laurel.audit import service as audit
from laurel.config import get_settings
from laurel.kit.actor import Actor
from laurel.kit.clock import utcnow
from laurel.kit.errors import AppError, NotFound
from laurel.kit.ids import uuid7
from laurel.kit.observe import chunks
from laurel.kit.sql import insert_ignore
from laurel.learners import sealing
from laurel.tax.models import RequestStatus, TaxFormRequest


class RequestNotFound(NotFound):
    code = "tax_form_request_not_found"


class RequestClosed(AppError):
    status = 410
    code = "tax_form_request_closed"

    def __init__(self, detail: str, locale: str | None = None) -> None:
        super().__init__(detail)
        self.locale = locale
        """The request's language: the page says it is closed in the learner's words."""


class RequestUsed(RequestClosed):
    code = "tax_form_request_used"


class RequestExpired(RequestClosed):
    code = "tax_form_request_expired"


@dataclass(frozen=True, slots=True)
class Notice:
    """What the email to the learner needs. ``link`` is secret: never log or store it."""

    organization_id: uuid.UUID
    request_id: uuid.UUID
    learner_id: uuid.UUID
    form: str
    locale: str
    recipient_email: str | None
    link: str
    expires_at: datetime
    livemode: bool = True


def _email(session: Session, notice: Notice) -> None:
    from laurel.tax import emails  # noqa: PLC0415 - notifications imports rewards; keep tax light

    emails.enqueue_request(session, notice)


SENDERS: list[Callable[[Session, Notice], None]] = [_email]
"""Called with each new request inside its unit of work: the email through the notifications
outbox (:mod:`laurel.tax.emails`) by default, its row committed with the request."""


def token_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def link_for(token: str) -> str:
    return f"{get_settings().public_url.rstrip('/')}/tax/forms/{token}"


def open_for(
    session: Session, organization_id: uuid.UUID, livemode: bool, learner_ids: Iterable[uuid.UUID]
) -> dict[uuid.UUID, TaxFormRequest]:
    """Each learner's open request (one query per 500 learners)."""
    found: dict[uuid.UUID, TaxFormRequest] = {}
    params = {"_org": organization_id, "_live": livemode}
    for part in chunks(sorted(set(learner_ids))):
        for row in session.scalars(_open_sql(), params | {"_ids": part}):
            found[row.learner_id] = row
    return found


@cache
def _open_sql() -> Any:
    # Built once with parameters: the tax gate asks this for every group of single events, and
    # building the statement each time cost more than running it.
    return select(TaxFormRequest).where(
        TaxFormRequest.organization_id == bindparam("_org"),
        TaxFormRequest.livemode == bindparam("_live"),
        TaxFormRequest.learner_id.in_(bindparam("_ids", expanding=True)),
        TaxFormRequest.open_slot == "open",
    )


def _close(session: Session, request: TaxFormRequest, status: RequestStatus) -> bool:
    now = utcnow()
    closed = session.execute(
        update(TaxFormRequest)
        .where(TaxFormRequest.id == request.id, TaxFormRequest.status == RequestStatus.open)
        .values(
            status=status,
            open_slot=str(request.id),
            updated_at=now,
            submitted_at=now if status is RequestStatus.submitted else None,
        )
        .returning(TaxFormRequest.id)
        .execution_options(synchronize_session=False)
    ).first()
    if closed is not None:
        request.status = status
        request.open_slot = str(request.id)
    return closed is not None


@dataclass(frozen=True, slots=True)
class Issued:
    request: TaxFormRequest
    link: str


def issue(
    session: Session,
    *,
    organization_id: uuid.UUID,
    livemode: bool,
    learner_id: uuid.UUID,
    form: str,
    reason: str,
    locale: str | None,
    email: str | None,
    actor: str,
    current: TaxFormRequest | None = None,
) -> Issued | None:
    """Open a request unless one is open and unexpired (None then). An expired one is
    cancelled first. ``current`` is the learner's open request when the caller read it."""
    now = utcnow()
    if current is not None:
        if current.expires_at > now and current.form == form:
            return None
        _close(session, current, RequestStatus.cancelled)
    token = secrets.token_urlsafe(32)
    days = get_settings().tax_form_link_days
    values = {
        "id": uuid7(),
        "organization_id": organization_id,
        "livemode": livemode,
        "learner_id": learner_id,
        "form": form,
        "token_hash": token_hash(token),
        "status": RequestStatus.open,
        "open_slot": "open",
        "reason": reason,
        "locale": locale or "en",
        "recipient_email": None,
        "recipient_email_sealed": sealing.seal(
            session, organization_id, sealing.TAX_RECIPIENT, learner_id, email
        ),
        "expires_at": now + timedelta(days=days),
        "submitted_at": None,
        "created_at": now,
        "updated_at": now,
    }
    inserted = insert_ignore(
        session,
        TaxFormRequest.__table__,  # type: ignore[arg-type]
        values,
        ["organization_id", "livemode", "learner_id", "open_slot"],
    )
    if not inserted:
        return None  # another transaction opened one first
    request = session.get(TaxFormRequest, values["id"])
    assert request is not None
    audit.record(
        session,
        organization_id=organization_id,
        actor=actor,
        action="tax:form_request:create",
        target_type="tax_form_request",
        target_id=request.id,
        details={
            "learner_id": str(learner_id),
            "form": form,
            "reason": reason,
            "expires_at": request.expires_at.isoformat(),
        },
    )
    link = link_for(token)
    notice = Notice(
        organization_id=organization_id,
        request_id=request.id,
        learner_id=learner_id,
        form=form,
        locale=request.locale,
        recipient_email=email,
        link=link,
        expires_at=request.expires_at,
        livemode=livemode,
    )
    for send in SENDERS:
        send(session, notice)
    return Issued(request, link)


def by_token(session: Session, token: str, *, lock: bool = False) -> TaxFormRequest:
    """The open, unexpired request behind ``token``; 404 unknown, 410 used or expired."""
    query = select(TaxFormRequest).where(TaxFormRequest.token_hash == token_hash(token))
    request = session.scalar(query.with_for_update() if lock else query)
    if request is None:
        raise RequestNotFound("this link is not valid")
    if request.status != RequestStatus.open:
        raise RequestUsed("this link was already used", request.locale)
    if request.expires_at <= utcnow():
        raise RequestExpired("this link has expired", request.locale)
    return request


def mark_submitted(session: Session, request: TaxFormRequest) -> bool:
    """Close the request as submitted; False when another submission closed it first."""
    return _close(session, request, RequestStatus.submitted)


def cancel_open(
    session: Session, organization_id: uuid.UUID, livemode: bool, learner_id: uuid.UUID
) -> None:
    """A form arrived another way (entered by finance): the open link is no longer needed."""
    current = open_for(session, organization_id, livemode, [learner_id]).get(learner_id)
    if current is not None:
        _close(session, current, RequestStatus.cancelled)


def list_for(session: Session, actor: Actor, learner_id: uuid.UUID) -> list[TaxFormRequest]:
    """A learner's form requests, newest first. ``learners.get`` applies the caller's scope:
    a learner sees their own, anyone else's is a 404."""
    from laurel.learners import service as learners  # noqa: PLC0415 - learners call tax

    learner = learners.get(session, actor, learner_id)
    return list(
        session.scalars(
            select(TaxFormRequest)
            .where(
                TaxFormRequest.organization_id == actor.organization_id,
                TaxFormRequest.livemode == actor.livemode,
                TaxFormRequest.learner_id == learner.id,
            )
            .order_by(TaxFormRequest.id.desc())
        )
    )
