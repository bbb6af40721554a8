"""Points expire per lot (first in, first out) after their program's expiry period.

``expire_due`` books one ``expire`` transaction per lot that reached its end with points left
(key ``expire:<lot>``, so a second run, or two workers at once, expire each lot once).
``record_notices`` writes one notice per learner and expiry day, ``notice_days`` ahead (the
program's policy; 30 without one). Notices are the email outbox's source: a notice with no
``sent_at`` is waiting to be sent.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import date, datetime, timedelta

from sqlalchemy import Table, func, select, update
from sqlalchemy.orm import Session

from laurel.kit.clock import utcnow
from laurel.kit.ids import uuid7
from laurel.kit.sql import insert_rows
from laurel.points import ledger
from laurel.points.models import ExpiryNotice, PointsLot, PointsPolicy, TransactionKind

DEFAULT_NOTICE_DAYS = 30
_NOTICES: Table = ExpiryNotice.__table__  # type: ignore[assignment]


def add_months(when: datetime, months: int) -> datetime:
    """The same day ``months`` later (the month's last day when it is shorter)."""
    month_index = when.month - 1 + months
    year, month = when.year + month_index // 12, month_index % 12 + 1
    for day in (when.day, 30, 29, 28):
        try:
            return when.replace(year=year, month=month, day=day)
        except ValueError:
            continue
    raise ValueError(f"cannot add {months} months to {when}")  # pragma: no cover - unreachable


def expire_due(
    session: Session,
    *,
    now: datetime | None = None,
    organization_id: uuid.UUID | None = None,
    limit: int = 1000,
    actor: str = "worker",
) -> int:
    """Expire up to ``limit`` lots whose time has come; answers the lots expired."""
    moment = now or utcnow()
    query = (
        select(PointsLot)
        .where(
            PointsLot.expires_at.is_not(None),
            PointsLot.expires_at <= moment,
            PointsLot.remaining > 0,
        )
        .order_by(PointsLot.expires_at, PointsLot.id)
        .limit(limit)
    )
    if organization_id is not None:
        query = query.where(PointsLot.organization_id == organization_id)
    expired = 0
    for lot_id, org, live, learner_id in session.execute(
        query.with_only_columns(
            PointsLot.id, PointsLot.organization_id, PointsLot.livemode, PointsLot.learner_id
        )
    ):
        scope = ledger.Scope(org, live)
        # Wallet first, then the lot (the order every posting takes them in): a redemption
        # running now either finished with this lot or waits for this expiry.
        ledger.lock_wallet(session, scope, learner_id)
        lot = session.get(PointsLot, lot_id, populate_existing=True)
        if lot is None or lot.remaining <= 0:
            continue
        posting = ledger.post(
            session,
            scope,
            key=f"expire:{lot.id}",
            kind=TransactionKind.expire,
            legs=[(ledger.wallet(lot.learner_id), -lot.remaining), (ledger.EXPIRY, lot.remaining)],
            actor=actor,
            program_id=lot.program_id,
            memo="points expired",
            details={"lot": str(lot.id), "expires_at": str(lot.expires_at)},
            occurred_at=moment,
            take_first=[lot.id],
        )
        if not posting.replayed:
            expired += 1
    return expired


@dataclass(frozen=True, slots=True)
class Notice:
    learner_id: uuid.UUID
    expires_on: date
    points: int


def record_notices(
    session: Session, *, now: datetime | None = None, organization_id: uuid.UUID | None = None
) -> list[ExpiryNotice]:
    """Record a notice for every learner with points expiring within their notice period.

    Set-based: one read of the lots due soon (with their programs' notice periods), one insert
    that skips notices already recorded.
    """
    moment = now or utcnow()
    horizon = moment + timedelta(days=366)
    notice_days = func.coalesce(PointsPolicy.notice_days, DEFAULT_NOTICE_DAYS)
    query = (
        select(
            PointsLot.organization_id,
            PointsLot.livemode,
            PointsLot.learner_id,
            PointsLot.expires_at,
            PointsLot.remaining,
            notice_days,
        )
        .outerjoin(
            PointsPolicy,
            (PointsPolicy.program_id == PointsLot.program_id)
            & (PointsPolicy.organization_id == PointsLot.organization_id),
        )
        .where(
            PointsLot.expires_at.is_not(None),
            PointsLot.expires_at > moment,
            PointsLot.expires_at <= horizon,
            PointsLot.remaining > 0,
        )
    )
    if organization_id is not None:
        query = query.where(PointsLot.organization_id == organization_id)
    due: dict[tuple[uuid.UUID, bool, uuid.UUID, date], int] = {}
    for org, live, learner, expires_at, remaining, days in session.execute(query):
        if expires_at is None or expires_at - timedelta(days=int(days)) > moment:
            continue
        slot = (org, live, learner, expires_at.date())
        due[slot] = due.get(slot, 0) + int(remaining)
    rows = [
        {
            "id": uuid7(),
            "organization_id": org,
            "livemode": live,
            "learner_id": learner,
            "expires_on": day,
            "points": points,
            "created_at": moment,
        }
        for (org, live, learner, day), points in due.items()
    ]
    inserted = insert_rows(
        session, _NOTICES, rows, ["organization_id", "livemode", "learner_id", "expires_on"]
    )
    if not inserted:
        return []
    return list(session.scalars(select(ExpiryNotice).where(ExpiryNotice.id.in_(sorted(inserted)))))


NOTICE_TEMPLATE = "points_expiring"


def queue_notices(
    session: Session, *, public_url: str, now: datetime | None = None, limit: int = 500
) -> int:
    """Turn recorded notices into emails in the outbox; answers the emails queued.

    Each notice is queued once: its email carries ``points_expiry:<notice id>`` as the
    outbox's dedupe key (two workers at once write one row), and the notice's ``sent_at`` is
    set in the same transaction. The email goes to the learner's address in their language,
    read when it is sent. Organizations that do not send learners email (email off, learner
    emails off, or a test-mode notice without test mode) get no email; a notice whose day has
    passed (the worker was down) is closed without one: it would announce the past.
    """
    from laurel.notifications import service as notifications  # noqa: PLC0415 - import cycle

    moment = now or utcnow()
    due = list(
        session.scalars(
            select(ExpiryNotice)
            .where(ExpiryNotice.sent_at.is_(None))
            .order_by(ExpiryNotice.id)
            .limit(limit)
        )
    )
    wallet = f"{public_url.rstrip('/')}/points/wallet"
    queued = 0
    for notice in due:
        if notice.expires_on >= moment.date() and notifications.learner_emails_wanted(
            session, notice.organization_id, notice.livemode
        ):
            written = notifications.enqueue_learner_email(
                session,
                notice.organization_id,
                notice.learner_id,
                NOTICE_TEMPLATE,
                {
                    "points": notice.points,
                    "expires_on": notice.expires_on.isoformat(),
                    "url": wallet,
                },
                livemode=notice.livemode,
                dedupe_key=f"points_expiry:{notice.id}",
            )
            queued += written is not None
    mark_sent(session, [n.id for n in due])
    return queued


def pending_notices(
    session: Session, organization_id: uuid.UUID, limit: int = 500
) -> list[ExpiryNotice]:
    """Notices not yet queued as emails (see :func:`queue_notices`)."""
    return list(
        session.scalars(
            select(ExpiryNotice)
            .where(ExpiryNotice.organization_id == organization_id, ExpiryNotice.sent_at.is_(None))
            .order_by(ExpiryNotice.id)
            .limit(limit)
        )
    )


def mark_sent(session: Session, notice_ids: list[uuid.UUID]) -> None:
    if notice_ids:
        session.execute(
            update(ExpiryNotice)
            .where(ExpiryNotice.id.in_(notice_ids), ExpiryNotice.sent_at.is_(None))
            .values(sent_at=utcnow())
        )
