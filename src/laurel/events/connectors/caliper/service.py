"""Storing Caliper events and ingesting the ones that describe results.

An envelope is all or nothing: any malformed event refuses it before anything is written. Events
are idempotent on their ``id``: a resent envelope stores nothing twice and pays nothing twice;
the same id with other content is a conflict. Completions go through
``events.service.ingest_many`` with source ``caliper`` and the event id as the event id.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy import select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from laurel.events import service as intake
from laurel.events.connectors.caliper import mapping
from laurel.events.connectors.caliper.models import CaliperEvent
from laurel.events.connectors.caliper.validation import (
    MalformedEnvelope,
    check_envelope,
    check_item,
    is_event,
)
from laurel.events.schemas import CompletionIn
from laurel.kit.actor import Actor
from laurel.kit.canonical import canonical_json, sha256_hex
from laurel.kit.clock import utcnow
from laurel.kit.errors import AppError, Conflict
from laurel.kit.ids import uuid7
from laurel.learners import sealing

SOURCE = "caliper"


class CaliperConflict(Conflict):
    code = "event_id_conflict"


class CaliperEventRefused(AppError):
    status = 400
    code = "invalid_event"


@dataclass(frozen=True, slots=True)
class Received:
    events: int
    entities: int
    stored: int
    replayed: int
    completions: list[intake.Intake]


@dataclass
class _Item:
    index: int
    event: dict[str, Any]
    digest: str
    reading: mapping.Reading
    event_id: Any = None
    learner_id: Any = None
    """The learner of the completion it became: the event is sealed under their key."""


def validate(envelope: Any) -> list[dict[str, Any]]:
    """The envelope's events (entities are descriptions: checked, not kept)."""
    data = check_envelope(envelope)
    problems = [p for index, item in enumerate(data) for p in check_item(item, index)]
    if problems:
        raise MalformedEnvelope(problems)
    keys = [item["id"] for item in data if is_event(item)]
    if len(keys) != len(set(keys)):
        raise MalformedEnvelope("the same event id twice in one envelope")
    return list(data)


def store(session: Session, actor: Actor, envelope: dict[str, Any]) -> Received:
    data = validate(envelope)
    found = [item for item in data if is_event(item)]
    existing = dict(
        session.execute(
            select(CaliperEvent.event_key, CaliperEvent.body_hash).where(
                CaliperEvent.organization_id == actor.organization_id,
                CaliperEvent.livemode == actor.livemode,
                CaliperEvent.event_key.in_([e["id"] for e in found]),
            )
        ).all()
    )
    fresh: list[_Item] = []
    now = utcnow()
    for index, event in enumerate(found):
        digest = sha256_hex(canonical_json(event))
        known = existing.get(event["id"])
        if known is not None:
            if known != digest:
                raise _conflict(event["id"])
            continue
        fresh.append(_Item(index, event, digest, mapping.read(event, received_at=now)))
    intakes = _ingest(session, actor, fresh)
    _insert(session, actor, envelope, fresh)
    return Received(
        events=len(found),
        entities=len(data) - len(found),
        stored=len(fresh),
        replayed=len(found) - len(fresh),
        completions=intakes,
    )


def _conflict(key: str) -> CaliperConflict:
    return CaliperConflict(
        f"event {key} was already received with different content; send a new id for a new event"
    )


def _ingest(session: Session, actor: Actor, fresh: list[_Item]) -> list[intake.Intake]:
    chosen = [
        i
        for i in fresh
        if i.reading.outcome is not None
        and i.reading.learner is not None
        and i.reading.course is not None
    ]
    if not chosen:
        return []
    completions = []
    for item in chosen:
        reading = item.reading
        assert reading.outcome is not None
        assert reading.learner is not None
        assert reading.course is not None
        completions.append(
            CompletionIn(
                event_id=item.event["id"],
                occurred_at=reading.occurred_at,
                outcome=reading.outcome,
                score=reading.score,
                learner=reading.learner,
                course=reading.course,
            )
        )
    answers = intake.ingest_many(
        session, actor, completions, source=SOURCE, payloads=[i.event for i in chosen]
    )
    intakes: list[intake.Intake] = []
    for item, answer in zip(chosen, answers, strict=True):
        if isinstance(answer, intake.EventIdConflict):
            raise _conflict(item.event["id"])
        if isinstance(answer, AppError):
            detail = answer.detail
            message = (
                f"{detail[0].get('field')} {detail[0].get('message')}"
                if isinstance(detail, list) and detail and isinstance(detail[0], dict)
                else str(detail)
            )
            raise CaliperEventRefused(
                [
                    {
                        "field": f"data[{item.index}]",
                        "message": message.replace("occurred_at", "eventTime"),
                    }
                ]
            )
        item.event_id = answer.event.id
        item.learner_id = answer.event.learner_id
        if not answer.replayed:
            intakes.append(answer)
    return intakes


def _insert(session: Session, actor: Actor, envelope: dict[str, Any], fresh: list[_Item]) -> None:
    if not fresh:
        return
    now = utcnow()
    rows = [
        {
            "id": uuid7(),
            "organization_id": actor.organization_id,
            "livemode": actor.livemode,
            "created_at": now,
            "event_key": item.event["id"],
            "body_hash": item.digest,
            "type": item.event["type"][:64],
            "action": item.event["action"][:64],
            "sensor": envelope["sensor"][:2048],
            "data_version": envelope["dataVersion"],
            "event_id": item.event_id,
            "outcome": item.reading.outcome,
            "note": item.reading.note[:500],
            "event": {},
            "event_sealed": token,
        }
        for item, token in zip(
            fresh,
            sealing.seal_many(
                session,
                actor.organization_id,
                sealing.CALIPER_EVENT,
                [(item.learner_id, item.event) for item in fresh],
            ),
            strict=True,
        )
    ]
    module: Any = postgresql if session.get_bind().dialect.name == "postgresql" else sqlite
    inserted = set(
        session.scalars(
            module.insert(CaliperEvent)
            .on_conflict_do_nothing(index_elements=["organization_id", "livemode", "event_key"])
            .returning(CaliperEvent.event_key),
            rows,
        )
    )
    for item in fresh:
        if item.event["id"] not in inserted:
            # A concurrent delivery of this event committed first.
            winner = session.scalar(
                select(CaliperEvent.body_hash).where(
                    CaliperEvent.organization_id == actor.organization_id,
                    CaliperEvent.livemode == actor.livemode,
                    CaliperEvent.event_key == item.event["id"],
                )
            )
            if winner != item.digest:
                raise _conflict(item.event["id"])
