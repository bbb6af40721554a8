from __future__ import annotations

import uuid
from typing import Any

from fastapi import APIRouter, Response, status
from pydantic import ValidationError

from laurel.events import service
from laurel.events.models import Outcome
from laurel.events.schemas import (
    MAX_BATCH,
    BatchIn,
    BatchItemOut,
    BatchOut,
    CompletionIn,
    Decision,
    EventOut,
)
from laurel.kit.errors import AppError, field_error
from laurel.kit.http import (
    DatabaseDep,
    EventWriter,
    Reader,
    errors,
    json_response,
    read_only,
    unit_of_work,
)
from laurel.kit.validation import describe_errors
from laurel.metrics import EVENTS_RECEIVED, EVENTS_REJECTED
from laurel.rewards.schemas import RewardSummary

router = APIRouter(prefix="/api/v1", tags=["events"])


def event_out(intake: service.Intake) -> EventOut:
    """The answer for one event, built without re-validating what was just stored (the batch
    endpoint builds a thousand of these per request)."""
    e = intake.event
    return EventOut.model_construct(
        id=e.id,
        event_id=e.source_event_id,
        source=e.source,
        livemode=e.livemode,
        outcome=Outcome(e.outcome),
        score=e.score,
        occurred_at=e.occurred_at,
        received_at=e.received_at,
        learner_id=e.learner_id,
        course_id=e.course_id,
        replayed=intake.replayed,
        rewards=[RewardSummary.of(r) for r in intake.rewards],
        decisions=[
            Decision.model_construct(
                program_id=d.program_id,
                program_key=d.program_key,
                result=d.result,
                reason=d.reason,
                reward_id=d.reward_id,
            )
            for d in intake.decisions
        ],
    )


def _count(intake: service.Intake) -> None:
    if not intake.replayed:
        e = intake.event
        EVENTS_RECEIVED.labels(e.source, e.outcome, "live" if e.livemode else "test").inc()


@router.post(
    "/completions",
    status_code=status.HTTP_202_ACCEPTED,
    response_model=EventOut,
    responses={
        200: {"model": EventOut, "description": "A replay of an event already stored"},
        **errors(401, 403, 409, 422),
    },
    summary="Send one learning event",
)
def post_completion(body: CompletionIn, actor: EventWriter, db: DatabaseDep) -> Response:
    """Stores the event and decides its rewards in one transaction.

    202 with the stored event and the rewards it produced; 200 with the same answer when the
    `event_id` was already received with the same body; 409 when it was received with another.
    """
    with unit_of_work(db) as session:
        intake = service.ingest(session, actor, body)
        out = event_out(intake)
    _count(intake)
    return json_response(out, status.HTTP_200_OK if intake.replayed else status.HTTP_202_ACCEPTED)


@router.post(
    "/completions/batch",
    response_model=BatchOut,
    responses=errors(401, 403, 422),
    summary=f"Send up to {MAX_BATCH} learning events",
)
def post_completions_batch(body: BatchIn, actor: EventWriter, db: DatabaseDep) -> Response:
    """Each event is validated and answered on its own; the valid ones are kept even when
    others in the batch are refused. One transaction stores them all."""
    if not body.events:
        raise field_error("events", "send at least one event")
    results: dict[int, BatchItemOut] = {}
    valid: list[tuple[int, CompletionIn]] = []
    for index, raw in enumerate(body.events):
        try:
            valid.append((index, CompletionIn.model_validate(raw)))
        except ValidationError as exc:
            EVENTS_REJECTED.labels("validation_error").inc()
            results[index] = BatchItemOut(
                index=index,
                status=422,
                error="validation_error",
                detail=describe_errors(exc.errors(), prefix=f"events[{index}]"),
            )
    intakes: list[service.Intake] = []
    with unit_of_work(db) as session:
        answers = service.ingest_many(session, actor, [item for _, item in valid])
    for (index, _), answer in zip(valid, answers, strict=True):
        if isinstance(answer, AppError):
            EVENTS_REJECTED.labels(answer.code).inc()
            results[index] = BatchItemOut(
                index=index,
                status=answer.status,
                error=answer.code,
                detail=_within(answer.detail, index),
            )
            continue
        intakes.append(answer)
        results[index] = BatchItemOut(
            index=index, status=200 if answer.replayed else 202, event=event_out(answer)
        )
    for intake in intakes:
        _count(intake)
    out = BatchOut.model_construct(
        accepted=sum(1 for r in results.values() if r.status == 202),
        replayed=sum(1 for r in results.values() if r.status == 200),
        rejected=sum(1 for r in results.values() if r.status >= 400),
        results=[results[index] for index in range(len(body.events))],
    )
    return json_response(out)


def _within(detail: Any, index: int) -> Any:
    """Field errors of one batch item, named from the batch: ``events[3].occurred_at``."""
    if isinstance(detail, list):
        return [
            {**d, "field": f"events[{index}].{d['field']}"}
            if isinstance(d, dict) and "field" in d
            else d
            for d in detail
        ]
    return detail


@router.get(
    "/events/{event_id}",
    response_model=EventOut,
    responses=errors(401, 403, 404),
    summary="Get a stored event with its rewards",
)
def get_event(event_id: uuid.UUID, actor: Reader, db: DatabaseDep) -> EventOut:
    with read_only(db) as session:
        return event_out(service.get(session, actor, event_id))
