from __future__ import annotations

import uuid
from typing import Any

from fastapi import APIRouter, Request, Response, status
from pydantic import ValidationError

from laurel.events import service
from laurel.events.grouped import GroupIntake
from laurel.events.schemas import (
    MAX_BATCH,
    BatchIn,
    BatchOut,
    CompletionIn,
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
from laurel.rewards.schemas import reward_summary

router = APIRouter(prefix="/api/v1", tags=["events"])


def event_json(intake: service.Intake) -> dict[str, Any]:
    """The ``EventOut`` answer for one event as plain values.

    Pydantic models cost several microseconds each to build, valid or not, and a batch answer
    holds thousands (an event, its rewards, a decision per program); these dicts have exactly
    the models' fields and are encoded by the same serializer (see ``json_response``).
    """
    e = intake.event
    return {
        "id": e.id,
        "event_id": e.source_event_id,
        "source": e.source,
        "livemode": e.livemode,
        "outcome": e.outcome,
        "score": e.score,
        "occurred_at": e.occurred_at,
        "received_at": e.received_at,
        "learner_id": e.learner_id,
        "course_id": e.course_id,
        "replayed": intake.replayed,
        "rewards": [reward_summary(r) for r in intake.rewards],
        "decisions": [
            {
                "program_id": d.program_id,
                "program_key": d.program_key,
                "result": d.result,
                "reason": d.reason,
                "reward_id": d.reward_id,
            }
            for d in intake.decisions
        ],
    }


def _grouped(request: Request) -> GroupIntake:
    grouped: GroupIntake = request.app.state.intake
    return grouped


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
def post_completion(body: CompletionIn, actor: EventWriter, request: Request) -> Response:
    """Stores the event and decides its rewards; answers once they are committed.

    202 with the stored event and the rewards it produced; 200 with the same answer when the
    `event_id` was already received with the same body; 409 when it was received with another.
    """
    intake = _grouped(request).submit(actor, body)
    out = event_json(intake)
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
    results: dict[int, dict[str, Any]] = {}
    valid: list[tuple[int, CompletionIn]] = []
    for index, raw in enumerate(body.events):
        try:
            valid.append((index, CompletionIn.model_validate(raw)))
        except ValidationError as exc:
            EVENTS_REJECTED.labels("validation_error").inc()
            results[index] = _item(
                index,
                422,
                error="validation_error",
                detail=describe_errors(exc.errors(), prefix=f"events[{index}]"),
            )
    intakes: list[service.Intake] = []
    with unit_of_work(db) as session:
        answers = service.ingest_many(session, actor, [item for _, item in valid])
    for (index, _), answer in zip(valid, answers, strict=True):
        if isinstance(answer, AppError):
            EVENTS_REJECTED.labels(answer.code).inc()
            results[index] = _item(
                index, answer.status, error=answer.code, detail=_within(answer.detail, index)
            )
            continue
        intakes.append(answer)
        results[index] = _item(index, 200 if answer.replayed else 202, event=event_json(answer))
    for intake in intakes:
        _count(intake)
    statuses = [r["status"] for r in results.values()]
    return json_response(
        {
            "accepted": statuses.count(202),
            "replayed": statuses.count(200),
            "rejected": sum(1 for s in statuses if s >= 400),
            "results": [results[index] for index in range(len(body.events))],
        }
    )


def _item(
    index: int,
    status: int,
    *,
    event: dict[str, Any] | None = None,
    error: str | None = None,
    detail: Any = None,
) -> dict[str, Any]:
    """One ``BatchItemOut``."""
    return {"index": index, "status": status, "event": event, "error": error, "detail": detail}


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
def get_event(event_id: uuid.UUID, actor: Reader, db: DatabaseDep) -> Response:
    with read_only(db) as session:
        return json_response(event_json(service.get(session, actor, event_id)))
