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
from datetime import UTC, datetime, timedelta
from functools import cache
from typing import Any

from sqlalchemy import Table, bindparam, select, update
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
from laurel.kit.money import Money
from laurel.kit.observe import chunks
from laurel.kit.orm import from_row
from laurel.kit.sql import insert_rows, read_rows
from laurel.learners import personal, sealing
from laurel.learners import service as learners
from laurel.programs.rules import Subject
from laurel.rewards import service as rewards
from laurel.rewards.models import Reward
from laurel.rewards.service import Decision as ProgramDecision

API_SOURCE = "api"
# Completion times a little ahead of our clock are drift; further ahead they are wrong.
_FUTURE_TOLERANCE = timedelta(minutes=5)
_EVENTS: Table = CompletionEvent.__table__  # type: ignore[assignment]


# Built once with parameters: building a statement costs more than running it on SQLite.
@cache
def _stored_sql() -> Any:
    # Built on first use, once every table's column types are resolved.
    return select(_EVENTS.c.source_event_id, _EVENTS.c.id, _EVENTS.c.body_hash).where(
        _EVENTS.c.organization_id == bindparam("_org"),
        _EVENTS.c.livemode == bindparam("_live"),
        _EVENTS.c.source == bindparam("_source"),
        _EVENTS.c.source_event_id.in_(bindparam("_ids", expanding=True)),
    )


_NATURAL_KEY = ("organization_id", "livemode", "source", "source_event_id")


class EventNotFound(NotFound):
    code = "event_not_found"


class EventIdConflict(Conflict):
    code = "event_id_conflict"


@dataclass(frozen=True, slots=True)
class Intake:
    event: CompletionEvent
    rewards: list[Reward]
    replayed: bool
    decisions: list[ProgramDecision]
    """What each program in force decided about the event (also stored on the event)."""


def _sent(data: CompletionIn) -> dict[str, Any]:
    """The event as sent (fields left out stay out): hashed, and stored as its payload."""
    return data.model_dump(mode="json", exclude_unset=True)


def _kept(sent: dict[str, Any]) -> dict[str, Any]:
    """What is stored of an event sent to the API: all of it but the learner's email, name and
    manager, which live on the learner, sealed under the learner's own key (erasing the
    learner destroys the key; a copy here would outlive it)."""
    learner = sent.get("learner")
    if not isinstance(learner, dict) or not learner.keys() & _PERSONAL:
        return sent
    return {**sent, "learner": {k: v for k, v in learner.items() if k not in _PERSONAL}}


_PERSONAL = frozenset(personal.FIELDS)


def _stored(
    session: Session, actor: Actor, source: str, source_event_ids: Sequence[str]
) -> dict[str, tuple[uuid.UUID, str]]:
    """Events already stored under these source ids: source id -> (id, body hash)."""
    found: dict[str, tuple[uuid.UUID, str]] = {}
    for part in chunks(list(dict.fromkeys(source_event_ids))):
        params = {"_org": actor.organization_id, "_live": actor.livemode, "_source": source}
        for row in read_rows(session, _stored_sql(), params | {"_ids": part}):
            found[row[0]] = (row[1], row[2])
    return found


def _decisions(event: CompletionEvent) -> list[ProgramDecision]:
    return [ProgramDecision.from_json(d) for d in event.decisions]


def _conflict(source_event_id: str, event_id: uuid.UUID) -> EventIdConflict:
    return EventIdConflict(
        f"event_id {source_event_id!r} was already used for a different event "
        f"({event_id}); send a new event_id for a new event"
    )


def ingest(
    session: Session,
    actor: Actor,
    data: CompletionIn,
    *,
    source: str = API_SOURCE,
    payload: dict[str, Any] | None = None,
) -> Intake:
    """Store one completion and decide its rewards. Raises EventIdConflict on a reused id."""
    answer = ingest_many(
        session, actor, [data], source=source, payloads=None if payload is None else [payload]
    )[0]
    if isinstance(answer, AppError):
        raise answer
    return answer


def ingest_many(
    session: Session,
    actor: Actor,
    items: Sequence[CompletionIn],
    *,
    source: str = API_SOURCE,
    payloads: Sequence[dict[str, Any] | None] | None = None,
    overrides: Sequence[Money | None] | None = None,
) -> list[Intake | AppError]:
    """Store completions and decide their rewards in one transaction, each answered on its own.

    Every connector and importer hands its events here. An item that is refused (a reused id
    with another body, a time in the future) writes nothing and does not stop the others; an
    id repeated inside the batch is answered like a repeat sent later. The work is set-based:
    a constant number of statements per batch (one per table touched, per chunk of 500), so a
    batch of 1,000 costs little more than a handful of single events.

    ``overrides`` (batch imports only) gives, per item, an amount that replaces the matching
    rule's value; the rules still decide whether the item pays at all.
    """
    now = utcnow()
    answers: list[Intake | AppError | None] = [None] * len(items)
    sent = [_sent(item) for item in items]
    digests = [sha256_hex(canonical_json(body)) for body in sent]
    leaders: dict[str, int] = {}
    for index, item in enumerate(items):
        if item.occurred_at > now + _FUTURE_TOLERANCE:
            answers[index] = field_error("occurred_at", "is in the future")
        elif item.event_id not in leaders:
            leaders[item.event_id] = index
    stored = _stored(session, actor, source, list(leaders))
    new = [i for i in leaders.values() if items[i].event_id not in stored]
    if payloads is None:
        payloads = [_kept(body) for body in sent]
    made, lost = _store_new(session, actor, items, new, digests, payloads, source, now, overrides)
    for index, intake in made.items():
        answers[index] = intake
    if lost:
        # Identical deliveries raced and another transaction stored these first (PostgreSQL).
        stored.update(_stored(session, actor, source, [items[i].event_id for i in lost]))
    # Every item still unanswered names an event that exists: a replay or a conflict.
    waiting = [i for i, answer in enumerate(answers) if answer is None]
    mine = {intake.event.source_event_id: intake for intake in made.values()}
    theirs = _load(
        session,
        actor,
        {stored[items[i].event_id][0] for i in waiting if items[i].event_id not in mine},
    )
    for index in waiting:
        source_id = items[index].event_id
        known = mine.get(source_id) or theirs[stored[source_id][0]]
        if known.event.body_hash != digests[index]:
            answers[index] = _conflict(source_id, known.event.id)
        else:
            answers[index] = Intake(known.event, known.rewards, True, known.decisions)
    return [answer for answer in answers if answer is not None]


def _load(session: Session, actor: Actor, ids: set[uuid.UUID]) -> dict[uuid.UUID, Intake]:
    """Stored events with their rewards, to answer repeats."""
    if not ids:
        return {}
    events: list[CompletionEvent] = []
    for part in chunks(sorted(ids)):
        events.extend(
            session.scalars(
                select(CompletionEvent).where(
                    CompletionEvent.organization_id == actor.organization_id,
                    CompletionEvent.id.in_(part),
                )
            )
        )
    found = rewards.for_events(session, actor.organization_id, [e.id for e in events])
    return {e.id: Intake(e, found[e.id], True, _decisions(e)) for e in events}


def _facts(
    actor: Actor,
    row: dict[str, Any],
    item: CompletionIn,
    learner: dict[str, Any],
    course: dict[str, Any],
    new_learner: bool,
    override: Money | None = None,
) -> rewards.EventFacts:
    return rewards.EventFacts(
        event_id=row["id"],
        organization_id=actor.organization_id,
        livemode=actor.livemode,
        learner_id=row["learner_id"],
        course_id=row["course_id"],
        received_at=row["received_at"],
        subject=Subject(
            classification=learner["classification"],
            department=learner.get("department"),
            country=learner.get("country"),
            course_external_id=item.course.external_id,
            course_type=course["type"],
            course_tags=tuple(course.get("tags") or ()),
            course_importance=course.get("importance"),
            course_duration_minutes=course.get("duration_minutes"),
            outcome=Outcome(item.outcome),
            score=item.score,
            occurred_at=item.occurred_at,
        ),
        new_learner=new_learner,
        amount_override=override,
    )


def _store_new(
    session: Session,
    actor: Actor,
    items: Sequence[CompletionIn],
    new: list[int],
    digests: list[str],
    payloads: Sequence[dict[str, Any] | None] | None,
    source: str,
    now: datetime,
    overrides: Sequence[Money | None] | None = None,
) -> tuple[dict[int, Intake], list[int]]:
    """Store the events not seen before and create their rewards. Answers the intakes by item
    index, and the items that another transaction stored first."""
    if not new:
        return {}, []
    people = learners.observe_many(session, actor, [items[i].learner for i in new])
    places = courses.observe_many(session, actor, [items[i].course for i in new])
    rows: list[dict[str, Any]] = []
    facts: list[rewards.EventFacts] = []
    payable: list[int] = []
    for position, index in enumerate(new):
        item = items[index]
        payload = payloads[index] if payloads is not None else None
        row: dict[str, Any] = {
            "id": uuid7(),
            "organization_id": actor.organization_id,
            "livemode": actor.livemode,
            "source": source,
            "source_event_id": item.event_id,
            "body_hash": digests[index],
            "learner_id": people.rows[item.learner.external_id].id,
            "course_id": places.rows[item.course.external_id].id,
            "outcome": item.outcome,
            "score": item.score,
            # Stored in UTC: answer with what a later read will show.
            "occurred_at": item.occurred_at.astimezone(UTC),
            "received_at": now,
            "payload": {},
            "payload_sealed": payload if payload is not None else _sent(item),
            "decisions": [],
            "created_at": now,
        }
        rows.append(row)
        if item.outcome in PAYABLE_OUTCOMES:
            payable.append(position)
            facts.append(
                _facts(
                    actor,
                    row,
                    item,
                    people.snapshots[position],
                    places.snapshots[position],
                    people.rows[item.learner.external_id].created,
                    overrides[index] if overrides is not None else None,
                )
            )
    planned = rewards.plan(session, facts)
    for k, position in enumerate(payable):
        rows[position]["decisions"] = [d.to_json() for d in planned.decisions[k]]
    # Sealed after the gates ran: they loaded the learners' keys this reuses.
    sealed = sealing.seal_many(
        session,
        actor.organization_id,
        sealing.COMPLETION_PAYLOAD,
        [(row["learner_id"], row["payload_sealed"]) for row in rows],
    )
    for row, token in zip(rows, sealed, strict=True):
        row["payload_sealed"] = token
    table = _EVENTS
    inserted: set[uuid.UUID] = insert_rows(session, table, rows, _NATURAL_KEY)
    for row in rows:
        if row["id"] in inserted:
            audit.record(
                session,
                organization_id=actor.organization_id,
                actor=actor.name,
                action="events:completion:receive",
                target_type="event",
                target_id=row["id"],
                details={
                    "source": source,
                    "source_event_id": row["source_event_id"],
                    "outcome": row["outcome"],
                    "learner_id": str(row["learner_id"]),
                    "course_id": str(row["course_id"]),
                    "livemode": actor.livemode,
                },
            )
    created, changed = rewards.create_planned(session, actor, planned, inserted)
    for k in changed:
        row = rows[payable[k]]
        row["decisions"] = [d.to_json() for d in planned.decisions[k]]
        session.execute(
            update(table).where(table.c.id == row["id"]).values(decisions=row["decisions"])
        )
    made_for = {position: created[k] for k, position in enumerate(payable)}
    decided = {position: planned.decisions[k] for k, position in enumerate(payable)}
    intakes: dict[int, Intake] = {}
    lost: list[int] = []
    for position, index in enumerate(new):
        row = rows[position]
        if row["id"] in inserted:
            intakes[index] = Intake(
                from_row(CompletionEvent, row),
                made_for.get(position, []),
                False,
                decided.get(position, []),
            )
        else:
            lost.append(index)
    return intakes, lost


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
    return Intake(event, found[event.id], False, _decisions(event))


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


@dataclass(frozen=True, slots=True)
class Completion:
    id: uuid.UUID
    learner_id: uuid.UUID
    course_id: uuid.UUID
    outcome: str
    occurred_at: datetime


def completions_of(
    session: Session,
    organization_id: uuid.UUID,
    *,
    livemode: bool,
    learner_ids: Sequence[uuid.UUID] = (),
    event_ids: Sequence[uuid.UUID] = (),
    since: datetime | None = None,
) -> list[Completion]:
    """Payable completions (completed, passed) of these learners or these events, oldest first:
    what points and badges are earned from. One statement per chunk of ids."""
    found: list[Completion] = []
    for column, ids in ((_EVENTS.c.learner_id, learner_ids), (_EVENTS.c.id, event_ids)):
        for part in chunks(sorted(set(ids))):
            query = select(
                _EVENTS.c.id,
                _EVENTS.c.learner_id,
                _EVENTS.c.course_id,
                _EVENTS.c.outcome,
                _EVENTS.c.occurred_at,
            ).where(
                _EVENTS.c.organization_id == organization_id,
                _EVENTS.c.livemode == livemode,
                _EVENTS.c.outcome.in_([str(o) for o in PAYABLE_OUTCOMES]),
                column.in_(part),
            )
            if since is not None:
                query = query.where(_EVENTS.c.occurred_at >= since)
            found.extend(Completion(*row) for row in session.execute(query))
    return sorted(found, key=lambda c: (c.occurred_at, c.id))
