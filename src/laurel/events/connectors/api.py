"""HTTP: the webhook endpoint, connector configuration, dead letters. Translation only."""

from __future__ import annotations

import dataclasses
import uuid
from functools import lru_cache
from typing import Annotated, Any

from fastapi import APIRouter, Query, Request, Response, status
from starlette.concurrency import run_in_threadpool

from laurel.events.connectors import intake, polling, registry, service
from laurel.events.connectors.base import Incoming
from laurel.events.connectors.mapping import ConnectorMapping
from laurel.events.connectors.models import ConnectorSecret, DeadLetter, DeadLetterState
from laurel.events.connectors.schemas import (
    ConnectorOut,
    DeadLetterOut,
    DeliveryOut,
    PollOut,
    ReplayOut,
    SecretCreate,
    SecretCreated,
    SecretOut,
)
from laurel.events.connectors.secretbox import SecretBox
from laurel.kit.actor import Actor
from laurel.kit.errors import BodyTooLarge
from laurel.kit.http import (
    Admin,
    Cursor,
    DatabaseDep,
    ErrorOut,
    Limit,
    LiveAdmin,
    errors,
    read_only,
    unit_of_work,
)
from laurel.kit.schemas import PageOut

router = APIRouter(prefix="/api/v1", tags=["connectors"])

MAX_BODY = 5 * 1024 * 1024


@lru_cache(maxsize=4)
def _box_for(secret_key: str) -> SecretBox:
    return SecretBox(secret_key)


def secret_box(request: Request) -> SecretBox:
    return _box_for(request.app.state.settings.secret_key)


def secret_out(row: ConnectorSecret) -> SecretOut:
    return SecretOut(
        id=row.id,
        livemode=row.livemode,
        name=row.name,
        hint=row.hint,
        created_at=row.created_at,
        last_used_at=row.last_used_at,
        retired_at=row.retired_at,
    )


def delivery_out(outcome: intake.Outcome) -> DeliveryOut:
    return DeliveryOut(
        accepted=outcome.accepted,
        replayed=outcome.replayed,
        ignored=outcome.ignored,
        dead_letter_id=outcome.dead_letter.id if outcome.dead_letter is not None else None,
        results=outcome.results,
    )


def letter_out(letter: DeadLetter) -> DeadLetterOut:
    return DeadLetterOut(
        id=letter.id,
        connector=letter.connector,
        livemode=letter.livemode,
        state=letter.state,
        reason=letter.reason,
        message=letter.message,
        errors=letter.errors,
        body=intake.body_of(letter).decode("utf-8", errors="replace"),
        headers=letter.headers,
        query=letter.query,
        received_at=letter.received_at,
        replays=letter.replays,
        last_replayed_at=letter.last_replayed_at,
        resolved_at=letter.resolved_at,
        event_ids=[str(e) for e in letter.event_ids],
    )


@router.post(
    "/webhooks/{connector}",
    status_code=status.HTTP_202_ACCEPTED,
    response_model=DeliveryOut,
    responses={
        200: {"model": DeliveryOut, "description": "A verification ping with an empty body"},
        **errors(401, 404),
        413: {"description": "Body larger than 5 MiB"},
        503: {
            "model": ErrorOut,
            "description": "Canvas signed payloads: the configured JWKS cannot be fetched",
        },
    },
    summary="Receive an LMS webhook",
    openapi_extra={
        "requestBody": {
            "required": True,
            "content": {"application/json": {"schema": {"type": "object"}}},
            "description": "The LMS's own payload, as it sends it (see docs/connectors/)",
        }
    },
)
async def receive_webhook(
    connector: str,
    request: Request,
    db: DatabaseDep,
    response: Response,
    org: Annotated[str, Query(description="The organization's slug")],
) -> DeliveryOut:
    """Verified by the connector's own credentials (HMAC, token or Basic auth), not API keys.

    202 with what each event became; events that cannot be read or mapped are kept as a dead
    letter (its id is in the answer) and still answered 202, because the LMS cannot fix them.
    401 when the credentials are missing or wrong (nothing is stored), 404 for an unknown
    connector or organization.
    """
    body = await request.body()
    if len(body) > MAX_BODY:
        raise BodyTooLarge(f"the body is {len(body)} bytes; at most {MAX_BODY} are read")
    incoming = Incoming(
        body=body,
        headers={k.lower(): v for k, v in request.headers.items()},
        query=dict(request.query_params),
    )
    box = secret_box(request)

    # The raw body needs an async route; the database work is synchronous, so it runs in the
    # thread pool like every other route's.
    def _work() -> DeliveryOut:
        with unit_of_work(db) as session:
            outcome = intake.receive(
                session, box, connector_name=connector, organization=org, incoming=incoming
            )
            return delivery_out(outcome)

    out = await run_in_threadpool(_work)
    if not body.strip():
        response.status_code = status.HTTP_200_OK
    return out


def _connector_out(session: Any, actor: Actor, name: str) -> ConnectorOut:
    source = registry.get(name)
    organization_id = actor.organization_id
    found = polling.standing(session, organization_id, actor.livemode) if source.polled else None
    return ConnectorOut(
        name=source.name,
        title=source.title,
        polled=source.polled,
        webhook_path=None if source.polled else f"/api/v1/webhooks/{source.name}",
        credentials=[c.label for c in source.accepts],
        learner_keys=list(source.learner_keys),
        course_keys=list(source.course_keys),
        mapping=service.mapping_of(session, organization_id, name),
        secrets=[secret_out(s) for s in service.list_secrets(session, organization_id, name)],
        poll=None if found is None else PollOut(**dataclasses.asdict(found)),
    )


@router.get(
    "/connectors",
    response_model=list[ConnectorOut],
    responses=errors(401, 403),
    summary="List connectors with this organization's mapping and secrets",
)
def list_connectors(actor: Admin, db: DatabaseDep) -> list[ConnectorOut]:
    with read_only(db) as session:
        return [_connector_out(session, actor, name) for name in sorted(registry.connectors())]


@router.get(
    "/connectors/{connector}",
    response_model=ConnectorOut,
    responses=errors(401, 403, 404),
    summary="Get one connector's mapping and secrets",
)
def get_connector(connector: str, actor: Admin, db: DatabaseDep) -> ConnectorOut:
    with read_only(db) as session:
        return _connector_out(session, actor, connector)


@router.put(
    "/connectors/{connector}/mapping",
    response_model=ConnectorOut,
    responses=errors(401, 403, 404, 422),
    summary="Replace a connector's mapping options",
)
def put_mapping(
    connector: str, body: ConnectorMapping, actor: LiveAdmin, db: DatabaseDep
) -> ConnectorOut:
    """Shared by live and test mode: live admin keys only. Audited with before and after."""
    with unit_of_work(db) as session:
        service.set_mapping(session, actor, connector, body.model_dump(exclude_unset=True))
        return _connector_out(session, actor, connector)


@router.post(
    "/connectors/{connector}/secrets",
    status_code=status.HTTP_201_CREATED,
    response_model=SecretCreated,
    responses=errors(401, 403, 404, 422),
    summary="Add a secret (shown once)",
)
def create_secret(
    connector: str, body: SecretCreate, request: Request, actor: LiveAdmin, db: DatabaseDep
) -> SecretCreated:
    """Active secrets all verify, so rotate by adding a new one, moving the LMS to it, and
    retiring the old one."""
    with unit_of_work(db) as session:
        created = service.add_secret(
            session,
            actor,
            secret_box(request),
            connector,
            livemode=body.livemode,
            name=body.name,
            secret=body.secret,
        )
        out = secret_out(created.row)
    return SecretCreated(**out.model_dump(), secret=created.secret)


@router.delete(
    "/connectors/{connector}/secrets/{secret_id}",
    response_model=SecretOut,
    responses=errors(401, 403, 404),
    summary="Retire a secret",
)
def retire_secret(
    connector: str, secret_id: uuid.UUID, actor: LiveAdmin, db: DatabaseDep
) -> SecretOut:
    with unit_of_work(db) as session:
        return secret_out(service.retire_secret(session, actor, connector, secret_id))


@router.get(
    "/dead-letters",
    response_model=PageOut[DeadLetterOut],
    responses=errors(401, 403),
    summary="List dead letters (newest first)",
)
def list_dead_letters(
    actor: Admin,
    db: DatabaseDep,
    limit: Limit = 50,
    cursor: Cursor = None,
    connector: Annotated[str | None, Query(description="Only this connector")] = None,
    state: Annotated[DeadLetterState | None, Query(description="open or resolved")] = None,
) -> PageOut[DeadLetterOut]:
    with read_only(db) as session:
        page = intake.list_letters(
            session, actor, connector=connector, state=state, limit=limit, cursor=cursor
        )
        return PageOut[DeadLetterOut](
            data=[letter_out(x) for x in page.items],
            next_cursor=str(page.next_cursor) if page.next_cursor else None,
        )


@router.get(
    "/dead-letters/{letter_id}",
    response_model=DeadLetterOut,
    responses=errors(401, 403, 404),
    summary="Get a dead letter with its raw body and reasons",
)
def get_dead_letter(letter_id: uuid.UUID, actor: Admin, db: DatabaseDep) -> DeadLetterOut:
    with read_only(db) as session:
        return letter_out(intake.get(session, actor, letter_id))


@router.post(
    "/dead-letters/{letter_id}/replay",
    response_model=ReplayOut,
    responses=errors(401, 403, 404, 409),
    summary="Run a dead letter through the current mapping again",
)
def replay_dead_letter(letter_id: uuid.UUID, actor: Admin, db: DatabaseDep) -> ReplayOut:
    """Resolved when every event in it goes through; otherwise it stays open with the new
    reasons. Events it already produced are not stored or paid twice."""
    with unit_of_work(db) as session:
        outcome = intake.replay(session, actor, letter_id)
        assert outcome.dead_letter is not None
        return ReplayOut(
            dead_letter=letter_out(outcome.dead_letter), delivery=delivery_out(outcome)
        )
