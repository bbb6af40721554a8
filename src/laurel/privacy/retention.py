"""Retention periods per jurisdiction and kind of data, and the sweep that applies them.

Personal data is kept for ``personal`` days after a learner's last activity (their last
event, reward change or profile change), then pseudonymised (:mod:`laurel.privacy.erasure`).
Financial and tax records are kept until the end of the ``financial`` period counted from the
end of the tax year of the learner's latest reward (default 7 years), then deleted.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta

from sqlalchemy import ColumnElement, and_, exists, func, select
from sqlalchemy.orm import Session

from laurel.audit import service as audit
from laurel.events.models import CompletionEvent
from laurel.kit.errors import field_error
from laurel.learners.models import Learner
from laurel.organizations.models import Organization
from laurel.privacy import erasure
from laurel.privacy.jurisdiction import jurisdiction
from laurel.privacy.models import DataKind, Jurisdiction, RetentionPolicy
from laurel.rewards.models import Reward

ANY = "any"
DEFAULT_DAYS = {
    DataKind.personal: 3 * 365,
    DataKind.financial: 7 * 365,
}
"""Used when an organization set no policy: three years after the last activity for personal
data; seven years after the tax year for financial records (IRS and most EU tax codes ask for
six to ten; set the policy to what your auditors require)."""


def policies(session: Session, organization_id: uuid.UUID) -> dict[tuple[str, str], int]:
    rows = session.scalars(
        select(RetentionPolicy).where(RetentionPolicy.organization_id == organization_id)
    )
    return {(r.jurisdiction, r.data_kind): r.days for r in rows}


def period(table: dict[tuple[str, str], int], where: str, kind: DataKind) -> int:
    """Days kept: the jurisdiction's policy, else the organization's ``any``, else the default."""
    return table.get((where, kind), table.get((ANY, kind), DEFAULT_DAYS[kind]))


def set_policy(
    session: Session,
    organization_id: uuid.UUID,
    *,
    where: str,
    kind: str,
    days: int,
    actor: str,
) -> RetentionPolicy:
    if where != ANY and where not in Jurisdiction.__members__:
        raise field_error("jurisdiction", f"use any, {', '.join(Jurisdiction)}")
    if kind not in DataKind.__members__:
        raise field_error("data_kind", f"use {', '.join(DataKind)}")
    if not 1 <= days <= 36500:
        raise field_error("days", "between 1 and 36500")
    policy = session.scalar(
        select(RetentionPolicy).where(
            RetentionPolicy.organization_id == organization_id,
            RetentionPolicy.jurisdiction == where,
            RetentionPolicy.data_kind == kind,
        )
    )
    if policy is None:
        policy = RetentionPolicy(
            organization_id=organization_id, jurisdiction=where, data_kind=kind, days=days
        )
        session.add(policy)
    else:
        policy.days = days
    session.flush()
    audit.record(
        session,
        organization_id=organization_id,
        actor=actor,
        action="privacy:retention_policy:set",
        target_type="retention_policy",
        target_id=policy.id,
        details={"jurisdiction": where, "data_kind": kind, "days": days},
    )
    return policy


def financial_until(tax_year: int, days: int) -> date:
    """The last day financial records of ``tax_year`` are kept."""
    end_of_year = date(tax_year, 12, 31)
    return end_of_year + timedelta(days=days)


@dataclass
class RetentionReport:
    pseudonymised: list[uuid.UUID] = field(default_factory=list)
    financial_deleted: list[uuid.UUID] = field(default_factory=list)


def _last_activity_before(organization_id: uuid.UUID, cut: datetime) -> list[ColumnElement[bool]]:
    """Learners not yet pseudonymised with no activity since ``cut``."""
    recent_event = exists().where(
        CompletionEvent.organization_id == organization_id,
        CompletionEvent.learner_id == Learner.id,
        CompletionEvent.received_at >= cut,
    )
    recent_reward = exists().where(
        Reward.organization_id == organization_id,
        Reward.learner_id == Learner.id,
        Reward.updated_at >= cut,
    )
    return [
        Learner.organization_id == organization_id,
        Learner.pseudonymised_at.is_(None),
        Learner.updated_at < cut,
        ~recent_event,
        ~recent_reward,
    ]


def run(
    session: Session, organization_id: uuid.UUID, *, now: datetime, actor: str, limit: int = 500
) -> RetentionReport:
    """One pass for one organization: pseudonymise expired personal data, then delete
    financial records whose period ended. At most ``limit`` learners each; run again for more
    (the sweep does, one transaction per batch)."""
    report = RetentionReport()
    table = policies(session, organization_id)
    shortest = min(period(table, j, DataKind.personal) for j in (*Jurisdiction, ANY))
    candidates = session.execute(
        select(Learner.id, Learner.country, Learner.region, Learner.updated_at)
        .where(*_last_activity_before(organization_id, now - timedelta(days=shortest)))
        .order_by(Learner.id)
        .limit(limit * 4)
    ).all()
    for learner_id, country, region, _updated in candidates:
        days = period(table, jurisdiction(country, region), DataKind.personal)
        cut = now - timedelta(days=days)
        # The row lock makes concurrent sweeps take turns; one that finds the learner already
        # pseudonymised (or locked by another sweep) moves on.
        still = session.scalar(
            select(Learner.id)
            .where(Learner.id == learner_id, *_last_activity_before(organization_id, cut))
            .with_for_update(skip_locked=True)
        )
        if still is None:
            continue
        erasure.erase(
            session, organization_id, learner_id, actor=actor, now=now, reason="retention"
        )
        report.pseudonymised.append(learner_id)
        if len(report.pseudonymised) >= limit:
            break
    report.financial_deleted = _expire_financial(session, organization_id, table, now, actor, limit)
    return report


def _expire_financial(
    session: Session,
    organization_id: uuid.UUID,
    table: dict[tuple[str, str], int],
    now: datetime,
    actor: str,
    limit: int,
) -> list[uuid.UUID]:
    tax_year = func.max(func.coalesce(Reward.delivered_at, Reward.created_at))
    rows = session.execute(
        select(Learner.id, Learner.country, Learner.region, tax_year)
        .join(
            Reward, and_(Reward.learner_id == Learner.id, Reward.organization_id == organization_id)
        )
        .where(Learner.organization_id == organization_id, Learner.pseudonymised_at.is_not(None))
        .group_by(Learner.id, Learner.country, Learner.region)
        .order_by(Learner.id)
    ).all()
    deleted = []
    for learner_id, country, region, latest in rows:
        latest_at = latest if isinstance(latest, datetime) else datetime.fromisoformat(str(latest))
        days = period(table, jurisdiction(country, region), DataKind.financial)
        if now.date() <= financial_until(latest_at.astimezone(UTC).year, days):
            continue
        erasure.delete_financial(session, organization_id, learner_id, actor=actor)
        deleted.append(learner_id)
        if len(deleted) >= limit:
            break
    return deleted


def organizations(session: Session) -> list[uuid.UUID]:
    return list(session.scalars(select(Organization.id).order_by(Organization.id)))
