from __future__ import annotations

import uuid

from fastapi import APIRouter

from laurel.kit.http import (
    Admin,
    Cursor,
    DatabaseDep,
    Limit,
    LiveAdmin,
    Reader,
    errors,
    read_only,
    unit_of_work,
)
from laurel.kit.schemas import PageOut
from laurel.notifications import service
from laurel.notifications.models import OutboxStatus
from laurel.notifications.schemas import EmailOut, EmailSettingsIn, EmailSettingsOut

router = APIRouter(prefix="/api/v1/notifications", tags=["notifications"])


@router.get(
    "/email-settings",
    response_model=EmailSettingsOut,
    responses=errors(401, 403),
    summary="The organization's email settings",
)
def get_email_settings(actor: Reader, db: DatabaseDep) -> EmailSettingsOut:
    with read_only(db) as session:
        return EmailSettingsOut.of(service.get_settings(session, actor.organization_id))


@router.patch(
    "/email-settings",
    response_model=EmailSettingsOut,
    responses=errors(401, 403, 422),
    summary="Turn email on or off, set the sender and who hears about holds",
)
def update_email_settings(
    body: EmailSettingsIn, actor: LiveAdmin, db: DatabaseDep
) -> EmailSettingsOut:
    change = service.SettingsUpdate(
        **body.model_dump(exclude_unset=True), fields_set=frozenset(body.model_fields_set)
    )
    with unit_of_work(db) as session:
        return EmailSettingsOut.of(service.update_settings(session, actor, change))


@router.get(
    "/emails",
    response_model=PageOut[EmailOut],
    responses=errors(401, 403, 422),
    summary="Emails in the outbox, newest first: pending, sent, failed or skipped",
)
def list_emails(
    actor: Reader,
    db: DatabaseDep,
    limit: Limit = 50,
    cursor: Cursor = None,
    status: OutboxStatus | None = None,
    reward_id: uuid.UUID | None = None,
) -> PageOut[EmailOut]:
    with read_only(db) as session:
        page = service.list_emails(
            session, actor, limit=limit, cursor=cursor, status=status, reward_id=reward_id
        )
        return PageOut[EmailOut](
            data=[EmailOut.of(row) for row in page.items],
            next_cursor=str(page.next_cursor) if page.next_cursor else None,
        )


@router.get(
    "/emails/{email_id}",
    response_model=EmailOut,
    responses=errors(401, 403, 404),
    summary="One email of the outbox",
)
def get_email(email_id: uuid.UUID, actor: Reader, db: DatabaseDep) -> EmailOut:
    with read_only(db) as session:
        return EmailOut.of(service.get_email(session, actor, email_id))


@router.post(
    "/emails/{email_id}/resend",
    response_model=EmailOut,
    responses=errors(401, 403, 404, 409),
    summary="Queue a failed or skipped email again",
)
def resend_email(email_id: uuid.UUID, actor: Admin, db: DatabaseDep) -> EmailOut:
    with unit_of_work(db) as session:
        return EmailOut.of(service.resend(session, actor, email_id))
