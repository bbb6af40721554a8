from __future__ import annotations

import uuid

from fastapi import APIRouter, Request, Response

from laurel.config import Environment, Settings
from laurel.kit.http import (
    Admin,
    Cursor,
    DatabaseDep,
    Limit,
    Reader,
    errors,
    read_only,
    unit_of_work,
)
from laurel.kit.schemas import PageOut
from laurel.webhooks import service
from laurel.webhooks.models import MessageStatus
from laurel.webhooks.schemas import (
    MessageOut,
    SubscriptionCreate,
    SubscriptionCreated,
    SubscriptionOut,
    SubscriptionUpdate,
)

router = APIRouter(prefix="/api/v1/outgoing-webhooks", tags=["outgoing webhooks"])


def _allow_http(request: Request) -> bool:
    settings: Settings = request.app.state.settings
    return settings.environment is not Environment.production or settings.webhook_allow_http


@router.post(
    "/subscriptions",
    status_code=201,
    response_model=SubscriptionCreated,
    responses=errors(401, 403, 409, 422),
    summary="Subscribe a URL to reward events; the answer holds the signing secret, once",
)
def create_subscription(
    body: SubscriptionCreate, request: Request, actor: Admin, db: DatabaseDep
) -> SubscriptionCreated:
    settings: Settings = request.app.state.settings
    with unit_of_work(db) as session:
        row, secret = service.create_subscription(
            session,
            actor,
            url=body.url,
            event_types=[t.value for t in body.event_types],
            description=body.description,
            box=service.secret_box(settings.secret_key),
            allow_http=_allow_http(request),
        )
        return SubscriptionCreated(**SubscriptionOut.of(row).model_dump(), secret=secret)


@router.get(
    "/subscriptions",
    response_model=list[SubscriptionOut],
    responses=errors(401, 403),
    summary="Subscriptions of this organization in the key's mode",
)
def list_subscriptions(actor: Reader, db: DatabaseDep) -> list[SubscriptionOut]:
    with read_only(db) as session:
        return [SubscriptionOut.of(row) for row in service.list_subscriptions(session, actor)]


@router.get(
    "/subscriptions/{subscription_id}",
    response_model=SubscriptionOut,
    responses=errors(401, 403, 404),
    summary="One subscription",
)
def get_subscription(subscription_id: uuid.UUID, actor: Reader, db: DatabaseDep) -> SubscriptionOut:
    with read_only(db) as session:
        return SubscriptionOut.of(service.get_subscription(session, actor, subscription_id))


@router.patch(
    "/subscriptions/{subscription_id}",
    response_model=SubscriptionOut,
    responses=errors(401, 403, 404, 422),
    summary="Change a subscription's URL or events, or enable / disable it",
)
def update_subscription(
    subscription_id: uuid.UUID,
    body: SubscriptionUpdate,
    request: Request,
    actor: Admin,
    db: DatabaseDep,
) -> SubscriptionOut:
    changes = body.model_dump(exclude_unset=True, mode="json")
    with unit_of_work(db) as session:
        row = service.update_subscription(
            session, actor, subscription_id, changes=changes, allow_http=_allow_http(request)
        )
        return SubscriptionOut.of(row)


@router.delete(
    "/subscriptions/{subscription_id}",
    status_code=204,
    response_class=Response,
    responses=errors(401, 403, 404),
    summary="Delete a subscription; its delivery log stays readable",
)
def delete_subscription(subscription_id: uuid.UUID, actor: Admin, db: DatabaseDep) -> Response:
    with unit_of_work(db) as session:
        service.delete_subscription(session, actor, subscription_id)
    return Response(status_code=204)


@router.get(
    "/subscriptions/{subscription_id}/messages",
    response_model=PageOut[MessageOut],
    responses=errors(401, 403, 404, 422),
    summary="Messages sent (or being sent) to a subscription, newest first",
)
def list_messages(
    subscription_id: uuid.UUID,
    actor: Reader,
    db: DatabaseDep,
    limit: Limit = 50,
    cursor: Cursor = None,
    status: MessageStatus | None = None,
) -> PageOut[MessageOut]:
    with read_only(db) as session:
        page = service.list_messages(
            session, actor, subscription_id, limit=limit, cursor=cursor, status=status
        )
        return PageOut[MessageOut](
            data=[MessageOut.of(row) for row in page.items],
            next_cursor=str(page.next_cursor) if page.next_cursor else None,
        )


@router.get(
    "/messages/{message_id}",
    response_model=MessageOut,
    responses=errors(401, 403, 404),
    summary="A message with every delivery attempt: status, latency, response excerpt",
)
def get_message(message_id: uuid.UUID, actor: Reader, db: DatabaseDep) -> MessageOut:
    with read_only(db) as session:
        row = service.get_message(session, actor, message_id)
        return MessageOut.of(row, service.attempts_of(session, actor, message_id))


@router.post(
    "/messages/{message_id}/redeliver",
    response_model=MessageOut,
    responses=errors(401, 403, 404, 409),
    summary="Send a message again now (same webhook-id and body, signed afresh)",
)
def redeliver_message(message_id: uuid.UUID, actor: Admin, db: DatabaseDep) -> MessageOut:
    with unit_of_work(db) as session:
        return MessageOut.of(service.redeliver(session, actor, message_id))
