"""Data-subject requests and consent records.

A request is opened against a learner, gets the deadline of the learner's jurisdiction, and is
answered by the matching action: an access archive, an erasure, a correction or a CCPA
opt-out. Open requests close to their deadline are reminded by :func:`remind` (the worker's
privacy sweep, or ``laurel privacy remind``).
"""

from __future__ import annotations

import logging
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from pydantic import ValidationError
from sqlalchemy import or_, select
from sqlalchemy.orm import Session

from laurel.audit import service as audit
from laurel.kit.actor import Actor
from laurel.kit.clock import utcnow
from laurel.kit.crypto import KeyRing
from laurel.kit.errors import Conflict, Invalid, NotFound, field_error
from laurel.kit.validation import describe_errors
from laurel.learners import service as learners
from laurel.learners.schemas import LearnerUpdate
from laurel.organizations import service as organizations
from laurel.privacy import archive, erasure, subject
from laurel.privacy.jurisdiction import ANSWER_PERIOD, jurisdiction
from laurel.privacy.models import (
    ConsentRecord,
    Jurisdiction,
    LawfulBasis,
    PrivacyRequest,
    RequestKind,
    RequestStatus,
)

log = logging.getLogger("laurel.privacy")

REMIND_WITHIN = timedelta(days=7)
"""Open requests are reminded once a day from this long before their deadline."""


class PrivacyRequestNotFound(NotFound):
    code = "privacy_request_not_found"


class RequestClosed(Conflict):
    code = "privacy_request_closed"


class WrongKind(Conflict):
    code = "privacy_request_wrong_kind"


def _corrections(kind: RequestKind, corrections: dict[str, Any] | None) -> dict[str, Any]:
    if kind is not RequestKind.correction:
        if corrections:
            raise field_error("corrections", "only a correction request carries corrections")
        return {}
    if not corrections:
        raise field_error("corrections", "name the fields to correct and their right values")
    try:
        fields = LearnerUpdate.model_validate(corrections)
    except ValidationError as exc:
        raise Invalid(describe_errors(exc.errors(), prefix="corrections")) from None
    return fields.model_dump(exclude_unset=True)


def open_request(
    session: Session,
    actor: Actor,
    *,
    learner_id: uuid.UUID,
    kind: RequestKind,
    corrections: dict[str, Any] | None = None,
    received_at: datetime | None = None,
) -> PrivacyRequest:
    """Record a request received on ``received_at`` (default now); its deadline follows the
    learner's jurisdiction."""
    learner = learners.get(session, actor, learner_id)
    if learner.pseudonymised_at is not None and kind is not RequestKind.access:
        raise Conflict("this learner's personal data was already erased")
    fields = _corrections(kind, corrections)
    where = jurisdiction(learner.country, learner.region)
    received = received_at or utcnow()
    if received > utcnow() + timedelta(minutes=5):
        raise field_error("received_at", "is in the future")
    request = PrivacyRequest(
        organization_id=actor.organization_id,
        learner_id=learner.id,
        kind=kind,
        jurisdiction=where,
        status=RequestStatus.open,
        received_at=received,
        due_at=received + ANSWER_PERIOD[where],
        requested_by=actor.name,
        request={"corrections": fields} if fields else {},
        outcome={},
    )
    session.add(request)
    session.flush()
    audit.record(
        session,
        organization_id=actor.organization_id,
        actor=actor.name,
        action="privacy:request:open",
        target_type="privacy_request",
        target_id=request.id,
        details={
            "learner_id": str(learner.id),
            "kind": kind.value,
            "jurisdiction": where.value,
            "due_at": request.due_at.isoformat(),
            "fields": sorted(request.request.get("corrections", {})),
        },
    )
    return request


def get_request(
    session: Session, actor: Actor, request_id: uuid.UUID, *, lock: bool = False
) -> PrivacyRequest:
    """The request; with ``lock``, its row is held until commit (answering it is done once)."""
    query = select(PrivacyRequest).where(
        PrivacyRequest.organization_id == actor.organization_id,
        PrivacyRequest.id == request_id,
    )
    found = session.scalar(query.with_for_update() if lock else query)
    if found is None:
        raise PrivacyRequestNotFound(f"no privacy request {request_id}")
    return found


def list_requests(
    session: Session,
    actor: Actor,
    *,
    status: RequestStatus | None = None,
    learner_id: uuid.UUID | None = None,
    due_before: datetime | None = None,
    limit: int = 100,
) -> list[PrivacyRequest]:
    query = select(PrivacyRequest).where(PrivacyRequest.organization_id == actor.organization_id)
    if status is not None:
        query = query.where(PrivacyRequest.status == status)
    if learner_id is not None:
        query = query.where(PrivacyRequest.learner_id == learner_id)
    if due_before is not None:
        query = query.where(PrivacyRequest.due_at < due_before)
    return list(session.scalars(query.order_by(PrivacyRequest.due_at).limit(limit)))


def _close(
    session: Session,
    actor: Actor,
    request: PrivacyRequest,
    status: RequestStatus,
    outcome: dict[str, Any],
) -> PrivacyRequest:
    now = utcnow()
    request.status = status
    request.completed_at = now
    request.outcome = outcome | {"on_time": now <= request.due_at}
    audit.record(
        session,
        organization_id=request.organization_id,
        actor=actor.name,
        action=f"privacy:request:{'complete' if status is RequestStatus.completed else 'refuse'}",
        target_type="privacy_request",
        target_id=request.id,
        details={"kind": request.kind, "on_time": now <= request.due_at},
    )
    return request


def _open(request: PrivacyRequest) -> None:
    if request.status != RequestStatus.open:
        raise RequestClosed(f"privacy request {request.id} is already {request.status}")


@dataclass(frozen=True, slots=True)
class AccessArchive:
    request: PrivacyRequest
    content: bytes
    filename: str


def access_archive(
    session: Session, actor: Actor, request_id: uuid.UUID, ring: KeyRing
) -> AccessArchive:
    """Everything about the learner as one zip (JSON and CSV). Producing it is a sensitive
    read; the first one answers the request."""
    request = get_request(session, actor, request_id, lock=True)
    if request.kind != RequestKind.access:
        raise WrongKind(f"privacy request {request.id} is a {request.kind} request")
    if request.status == RequestStatus.refused:
        raise RequestClosed(f"privacy request {request.id} was refused")
    found = subject.collect(session, request.organization_id, request.learner_id, ring)
    organization = organizations.get(session, request.organization_id)
    content = archive.build(
        found,
        organization=organization.slug,
        request_id=str(request.id),
        jurisdiction=request.jurisdiction,
        generated_at=utcnow(),
    )
    counts = {name: len(rows) for name, rows in sorted(found.items())}
    audit.sensitive_read(
        session,
        actor,
        "privacy:access_export",
        "privacy_request",
        request.id,
        {"learner_id": str(request.learner_id), "rows": counts},
    )
    if request.status == RequestStatus.open:
        _close(session, actor, request, RequestStatus.completed, {"rows": counts})
    return AccessArchive(request, content, f"access-{request.learner_id}.zip")


def fulfil(session: Session, actor: Actor, request_id: uuid.UUID) -> PrivacyRequest:
    """Carry out an erasure, a correction or an opt-out, and answer the request (once, also
    when two callers race: the request's row lock orders them)."""
    request = get_request(session, actor, request_id, lock=True)
    _open(request)
    now = utcnow()
    kind = RequestKind(request.kind)
    if kind is RequestKind.access:
        raise WrongKind("an access request is answered by its archive (GET …/archive)")
    if kind is RequestKind.deletion:
        done = erasure.erase(
            session,
            request.organization_id,
            request.learner_id,
            actor=actor.name,
            now=now,
            reason=f"privacy_request:{request.id}",
        )
        return _close(session, actor, request, RequestStatus.completed, done.as_outcome())
    learner = learners.get(session, actor, request.learner_id)
    if kind is RequestKind.correction:
        corrections = dict(request.request.get("corrections", {}))
        learners.update(session, actor, learner.id, LearnerUpdate.model_validate(corrections))
        return _close(
            session, actor, request, RequestStatus.completed, {"corrected": sorted(corrections)}
        )
    if learner.sale_opt_out_at is None:
        learner.sale_opt_out_at = now
    return _close(
        session,
        actor,
        request,
        RequestStatus.completed,
        {
            "opted_out_at": learner.sale_opt_out_at.isoformat(),
            "note": "Laurel neither sells nor shares personal information for cross-context "
            "advertising; the opt-out is recorded so no future integration may",
        },
    )


def refuse(session: Session, actor: Actor, request_id: uuid.UUID, reason: str) -> PrivacyRequest:
    request = get_request(session, actor, request_id, lock=True)
    _open(request)
    if not reason.strip():
        raise field_error("reason", "say why the request is refused")
    return _close(session, actor, request, RequestStatus.refused, {"reason": reason.strip()})


def remind(session: Session, *, now: datetime) -> list[PrivacyRequest]:
    """Open requests due within :data:`REMIND_WITHIN` (or overdue) not reminded today, across
    organizations: each is marked, audited and logged (by id, never by person)."""
    due = list(
        session.scalars(
            select(PrivacyRequest)
            .where(
                PrivacyRequest.status == RequestStatus.open,
                PrivacyRequest.due_at <= now + REMIND_WITHIN,
                or_(
                    PrivacyRequest.reminded_at.is_(None),
                    PrivacyRequest.reminded_at <= now - timedelta(days=1),
                ),
            )
            .order_by(PrivacyRequest.due_at)
            .with_for_update(skip_locked=True)
        )
    )
    for request in due:
        request.reminded_at = now
        overdue = request.due_at < now
        audit.record(
            session,
            organization_id=request.organization_id,
            actor="worker",
            action="privacy:request:remind",
            target_type="privacy_request",
            target_id=request.id,
            details={"due_at": request.due_at.isoformat(), "overdue": overdue},
        )
        log.warning(
            "privacy request %s (%s, %s) is %s %s",
            request.id,
            request.kind,
            request.jurisdiction,
            "OVERDUE since" if overdue else "due",
            request.due_at.isoformat(timespec="minutes"),
        )
    return due


def record_consent(
    session: Session,
    actor: Actor,
    *,
    learner_id: uuid.UUID,
    purpose: str,
    lawful_basis: LawfulBasis,
    granted: bool,
    recorded_at: datetime | None,
    source: str,
) -> ConsentRecord:
    learner = learners.get(session, actor, learner_id)
    if not purpose.strip():
        raise field_error("purpose", "name what the data is used for")
    if not source.strip():
        raise field_error("source", "say where the consent was captured")
    record = ConsentRecord(
        organization_id=actor.organization_id,
        learner_id=learner.id,
        purpose=purpose.strip(),
        lawful_basis=lawful_basis,
        granted=granted,
        recorded_at=recorded_at or utcnow(),
        source=source.strip(),
        actor=actor.name,
    )
    session.add(record)
    session.flush()
    audit.record(
        session,
        organization_id=actor.organization_id,
        actor=actor.name,
        action=f"privacy:consent:{'grant' if granted else 'withdraw'}",
        target_type="learner",
        target_id=learner.id,
        details={"purpose": record.purpose, "lawful_basis": lawful_basis.value},
    )
    return record


def consents(session: Session, actor: Actor, learner_id: uuid.UUID) -> list[ConsentRecord]:
    """Every consent record of a learner, newest first (the first per purpose is current)."""
    learner = learners.get(session, actor, learner_id)
    return list(
        session.scalars(
            select(ConsentRecord)
            .where(
                ConsentRecord.organization_id == actor.organization_id,
                ConsentRecord.learner_id == learner.id,
            )
            .order_by(ConsentRecord.recorded_at.desc(), ConsentRecord.id.desc())
        )
    )


@dataclass(frozen=True, slots=True)
class PrivacyProfile:
    learner_id: uuid.UUID
    jurisdiction: Jurisdiction
    pseudonymised_at: datetime | None
    sale_opt_out_at: datetime | None
    consents: list[ConsentRecord]
    requests: list[PrivacyRequest]


def profile(session: Session, actor: Actor, learner_id: uuid.UUID) -> PrivacyProfile:
    learner = learners.get(session, actor, learner_id)
    return PrivacyProfile(
        learner_id=learner.id,
        jurisdiction=jurisdiction(learner.country, learner.region),
        pseudonymised_at=learner.pseudonymised_at,
        sale_opt_out_at=learner.sale_opt_out_at,
        consents=consents(session, actor, learner_id),
        requests=list_requests(session, actor, learner_id=learner_id),
    )
