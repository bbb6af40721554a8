"""Completion intake: store first, idempotently, then decide in the same transaction.

An event is unique per (organization, mode, source, source event id). The same id with the same
body is a replay and answers what the first delivery produced; the same id with another body is
a conflict. Creation is an insert that ignores a conflict on that key, so twenty identical posts
racing each other store one event and pay one reward.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from laurel.audit import service as audit
from laurel.courses import service as courses
from laurel.events.models import PAYABLE_OUTCOMES, CompletionEvent, Outcome
from laurel.events.schemas import CompletionIn
from laurel.kit.actor import Actor
from laurel.kit.canonical import canonical_json, sha256_hex
from laurel.kit.clock import utcnow
from laurel.kit.errors import AppError, Conflict, NotFound, field_error
from laurel.kit.ids import uuid7
from laurel.kit.sql import insert_ignore_returning
from laurel.learners import service as learners
from laurel.programs.rules import Subject
from laurel.rewards import service as rewards
from laurel.rewards.models import Reward

API_SOURCE = "api"
# Completion times a little ahead of our clock are drift; further ahead they are wrong.
_FUTURE_TOLERANCE = timedelta(minutes=5)


class EventNotFound(NotFound):
    code = "event_not_found"


class EventIdConflict(Conflict):
    code = "event_id_conflict"


@dataclass(frozen=True, slots=True)
class Intake:
    event: CompletionEvent
    rewards: list[Reward]
    replayed: bool


def body_hash(data: CompletionIn) -> str:
    return sha256_hex(canonical_json(data.model_dump(mode="json", exclude_unset=True)))


def _find(
    session: Session, actor: Actor, source: str, source_event_id: str
) -> CompletionEvent | None:
    return session.scalar(
        select(CompletionEvent).where(
            CompletionEvent.organization_id == actor.organization_id,
            CompletionEvent.livemode == actor.livemode,
            CompletionEvent.source == source,
            CompletionEvent.source_event_id == source_event_id,
        )
    )


def _replay(session: Session, event: CompletionEvent, digest: str) -> Intake:
    if event.body_hash != digest:
        raise EventIdConflict(
            f"event_id {event.source_event_id!r} was already used for a different event "
            f"({event.id}); send a new event_id for a new event"
        )
    found = rewards.for_events(session, event.organization_id, [event.id])
    return Intake(event, found[event.id], replayed=True)


def ingest(
    session: Session,
    actor: Actor,
    data: CompletionIn,
    *,
    source: str = API_SOURCE,
    payload: dict[str, Any] | None = None,
) -> Intake:
    """Store one completion and decide its rewards. Raises EventIdConflict on a reused id."""
    now = utcnow()
    if data.occurred_at > now + _FUTURE_TOLERANCE:
        raise field_error("occurred_at", "is in the future")
    digest = body_hash(data)
    existing = _find(session, actor, source, data.event_id)
    if existing is not None:
        return _replay(session, existing, digest)
    learner = learners.observe(session, actor, data.learner)
    course = courses.observe(session, actor, data.course)
    event_id = uuid7()
    event = insert_ignore_returning(
        session,
        CompletionEvent,
        {
            "id": event_id,
            "organization_id": actor.organization_id,
            "livemode": actor.livemode,
            "source": source,
            "source_event_id": data.event_id,
            "body_hash": digest,
            "learner_id": learner.id,
            "course_id": course.id,
            "outcome": data.outcome,
            "score": data.score,
            "occurred_at": data.occurred_at,
            "received_at": now,
            "payload": payload if payload is not None else data.model_dump(mode="json"),
            "decisions": [],
            "created_at": now,
        },
        ["organization_id", "livemode", "source", "source_event_id"],
    )
    if event is None:
        # Lost a race with an identical delivery: it committed first, answer as a replay.
        winner = _find(session, actor, source, data.event_id)
        assert winner is not None
        return _replay(session, winner, digest)
    audit.record(
        session,
        organization_id=actor.organization_id,
        actor=actor.name,
        action="events:completion:receive",
        target_type="event",
        target_id=event_id,
        details={
            "source": source,
            "source_event_id": data.event_id,
            "outcome": data.outcome,
            "learner_id": str(learner.id),
            "course_id": str(course.id),
            "livemode": actor.livemode,
        },
    )
    if data.outcome not in PAYABLE_OUTCOMES:
        return Intake(event, [], replayed=False)
    subject = Subject(
        classification=learner.classification,
        department=learner.department,
        country=learner.country,
        course_external_id=course.external_id,
        course_type=course.type,
        course_tags=tuple(course.tags),
        course_importance=course.importance,
        course_duration_minutes=course.duration_minutes,
        outcome=Outcome(data.outcome),
        score=data.score,
        occurred_at=data.occurred_at,
    )
    decisions, created = rewards.decide(
        session,
        actor,
        rewards.EventFacts(
            event_id=event_id,
            organization_id=actor.organization_id,
            livemode=actor.livemode,
            learner_id=learner.id,
            course_id=course.id,
            received_at=now,
            subject=subject,
        ),
    )
    event.decisions = [d.to_json() for d in decisions]
    return Intake(event, created, replayed=False)


def get(session: Session, actor: Actor, event_id: uuid.UUID) -> Intake:
    event = session.scalar(
        select(CompletionEvent).where(
            CompletionEvent.organization_id == actor.organization_id,
            CompletionEvent.livemode == actor.livemode,
            CompletionEvent.id == event_id,
        )
    )
    if event is None:
        raise EventNotFound(f"no event {event_id}")
    found = rewards.for_events(session, actor.organization_id, [event.id])
    return Intake(event, found[event.id], replayed=False)


def ingest_isolated(
    session: Session,
    actor: Actor,
    data: CompletionIn,
    *,
    source: str = API_SOURCE,
    payload: dict[str, Any] | None = None,
) -> Intake:
    """``ingest`` inside a savepoint: a refused event leaves no trace in a shared transaction."""
    position = audit.mark(session)
    savepoint = session.begin_nested()
    try:
        intake = ingest(session, actor, data, source=source, payload=payload)
    except BaseException:
        savepoint.rollback()
        audit.rollback_to(session, position)
        raise
    savepoint.commit()
    return intake


def ingest_many(
    session: Session,
    actor: Actor,
    items: Sequence[CompletionIn],
    *,
    source: str = API_SOURCE,
    payloads: Sequence[dict[str, Any] | None] | None = None,
) -> list[Intake | AppError]:
    """Store many completions in one transaction, each answered on its own.

    Every connector and importer hands its events here: an item that is refused (a conflicting
    id, a time in the future) leaves no trace and does not stop the others.
    """
    answers: list[Intake | AppError] = []
    for index, item in enumerate(items):
        payload = payloads[index] if payloads is not None else None
        try:
            answers.append(ingest_isolated(session, actor, item, source=source, payload=payload))
        except AppError as exc:
            answers.append(exc)
    return answers


def has_history(
    session: Session,
    organization_id: uuid.UUID,
    *,
    learner_id: uuid.UUID | None = None,
    course_id: uuid.UUID | None = None,
) -> bool:
    """Whether any event names this learner or course (then it must stay, for the record)."""
    query = select(CompletionEvent.id).where(CompletionEvent.organization_id == organization_id)
    if learner_id is not None:
        query = query.where(CompletionEvent.learner_id == learner_id)
    if course_id is not None:
        query = query.where(CompletionEvent.course_id == course_id)
    return session.scalar(query.limit(1)) is not None
