"""Tax records: one per payment, written by the gate and fixed at delivery.

Decision (documented in docs/tax.md): the gate writes the record when it passes a reward, so
the treatment is on the reward before it is paid and a batch cannot slip past a threshold;
the USD amount is then an estimate at the rate of the gate's day. Delivery fixes the payment
date (the delivery instant in the payer's zone), the tax year and the USD amount at the rate of
that date. Points count when redeemed: the points domain calls
:func:`record_points_redemption` in the unit of work of the redemption.
"""

from __future__ import annotations

import logging
import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import delete, select, update
from sqlalchemy.orm import Session

from laurel.kit import currency
from laurel.kit.clock import utcnow
from laurel.kit.errors import NotFound
from laurel.kit.ids import uuid7
from laurel.kit.money import Money
from laurel.kit.observe import chunks
from laurel.kit.sql import insert_ignore, insert_rows
from laurel.learners import service as learners
from laurel.rewards.models import Reward
from laurel.tax import forms, payer, rates, treatment
from laurel.tax.aggregation import payment_date
from laurel.tax.models import RecordStatus, TaxRecord

log = logging.getLogger("laurel.tax")


class RecordNotFound(NotFound):
    code = "tax_record_not_found"


REWARD = "reward"
POINTS = "points"
BACKUP_WITHHOLDING_PERCENT = 24
"""IRC §3406(a)(1): the fourth-lowest bracket rate, 24 % under the current schedule."""


def withholding(usd_minor: int) -> int:
    """24 % of the gross payment in cents, rounded half up."""
    return (usd_minor * BACKUP_WITHHOLDING_PERCENT + 50) // 100


def learners_of(
    session: Session, organization_id: uuid.UUID, ids: set[uuid.UUID]
) -> dict[uuid.UUID, learners.Facts]:
    return learners.facts(session, organization_id, ids)


def existing(
    session: Session, organization_id: uuid.UUID, reward_ids: list[uuid.UUID]
) -> dict[uuid.UUID, TaxRecord]:
    found: dict[uuid.UUID, TaxRecord] = {}
    for part in chunks(reward_ids):
        for row in session.scalars(
            select(TaxRecord).where(
                TaxRecord.organization_id == organization_id,
                TaxRecord.source == REWARD,
                TaxRecord.source_id.in_([str(r) for r in part]),
            )
        ):
            assert row.reward_id is not None
            found[row.reward_id] = row
    return found


def row_for(
    *,
    organization_id: uuid.UUID,
    livemode: bool,
    source: str,
    source_id: str,
    reward_id: uuid.UUID | None,
    learner_id: uuid.UUID,
    program_id: uuid.UUID | None,
    classification: str,
    decision: treatment.Decision,
    amount: Money,
    usd: rates.Usd,
    paid_on: Any,
    status: RecordStatus,
    backup: bool,
) -> dict[str, Any]:
    now = utcnow()
    return {
        "id": uuid7(),
        "organization_id": organization_id,
        "livemode": livemode,
        "source": source,
        "source_id": source_id,
        "reward_id": reward_id,
        "learner_id": learner_id,
        "program_id": program_id,
        "classification": classification,
        "treatment": decision.treatment.value,
        "form_type": decision.form_type.value,
        "box": decision.box,
        "amount_minor": amount.minor,
        "currency": amount.currency,
        "usd_minor": usd.minor,
        "rate": usd.rate,
        "rate_date": usd.rate_date,
        "paid_on": paid_on,
        "tax_year": paid_on.year,
        "status": status.value,
        "backup_withholding": backup,
        "withholding_minor": withholding(usd.minor) if backup else 0,
        "reports_1042s": decision.form_type.value == "1042-S",
        "created_at": now,
        "updated_at": now,
    }


def write(session: Session, rows: list[dict[str, Any]], known: dict[uuid.UUID, TaxRecord]) -> None:
    """Store the gate's records in a few statements: the reward's earlier gated record (a
    re-run) is replaced; a delivered one is never touched (the insert skips it)."""
    stale = [r.id for r in known.values() if r.status == RecordStatus.gated]
    for part in chunks(stale):
        session.execute(
            delete(TaxRecord)
            .where(TaxRecord.id.in_(part), TaxRecord.status == RecordStatus.gated)
            .execution_options(synchronize_session=False)
        )
    insert_rows(
        session,
        TaxRecord.__table__,  # type: ignore[arg-type]
        rows,
        ["organization_id", "source", "source_id"],
    )


def decide_one(
    session: Session,
    organization_id: uuid.UUID,
    livemode: bool,
    learner_id: uuid.UUID,
    program_id: uuid.UUID | None,
    policy: payer.Policy,
) -> tuple[str, treatment.Decision]:
    person = learners_of(session, organization_id, {learner_id}).get(learner_id)
    on_file = forms.facts_for(session, organization_id, livemode, [learner_id]).get(learner_id)
    classification = person.classification if person else "employee"
    return classification, treatment.decide(
        classification=classification,
        country=person.country if person else None,
        form_on_file=on_file.form if on_file else None,
        employee_treatment=policy.employee_treatment,
        program_income=policy.program_income.get(str(program_id)) if program_id else None,
    )


def record_delivered(session: Session, reward: Reward, delivered_at: datetime) -> None:
    """Fix the reward's record at delivery: payment date in the payer's zone, tax year, USD at
    that date's rate. Called by delivery in the unit of work that marks the reward delivered;
    idempotent (a delivered record is left alone)."""
    if reward.currency == currency.POINTS:
        return  # points count when redeemed, not when credited
    policy = payer.policy(session, reward.organization_id)
    paid_on = payment_date(delivered_at, policy.timezone)
    amount = Money(reward.amount_minor, reward.currency)
    record = existing(session, reward.organization_id, [reward.id]).get(reward.id)
    if record is not None and record.status == RecordStatus.delivered:
        return
    try:
        usd = rates.to_usd(session, reward.organization_id, amount, paid_on)
    except rates.RateUnavailable as exc:
        if record is None:
            log.warning("reward %s delivered without a USD rate: %s", reward.id, exc)
            usd = rates.Usd(0, "", None)
        else:
            # Keep the gate's estimate rather than lose the payment from the totals.
            log.warning("reward %s: gate-time USD kept (%s)", reward.id, exc)
            usd = rates.Usd(record.usd_minor, record.rate, record.rate_date)
    if record is None:
        classification, decision = decide_one(
            session,
            reward.organization_id,
            reward.livemode,
            reward.learner_id,
            reward.program_id,
            policy,
        )
        row = row_for(
            organization_id=reward.organization_id,
            livemode=reward.livemode,
            source=REWARD,
            source_id=str(reward.id),
            reward_id=reward.id,
            learner_id=reward.learner_id,
            program_id=reward.program_id,
            classification=classification,
            decision=decision,
            amount=amount,
            usd=usd,
            paid_on=paid_on,
            status=RecordStatus.delivered,
            backup=False,
        )
        insert_ignore(
            session,
            TaxRecord.__table__,  # type: ignore[arg-type]
            row,
            ["organization_id", "source", "source_id"],
        )
        return
    session.execute(
        update(TaxRecord)
        .where(TaxRecord.id == record.id, TaxRecord.status == RecordStatus.gated)
        .values(
            status=RecordStatus.delivered,
            paid_on=paid_on,
            tax_year=paid_on.year,
            usd_minor=usd.minor,
            rate=usd.rate,
            rate_date=usd.rate_date,
            withholding_minor=withholding(usd.minor) if record.backup_withholding else 0,
            updated_at=utcnow(),
        )
        .execution_options(synchronize_session=False)
    )


def record_points_redemption(
    session: Session,
    *,
    organization_id: uuid.UUID,
    livemode: bool,
    learner_id: uuid.UUID,
    redemption_id: str,
    value: Money,
    redeemed_at: datetime,
    program_id: uuid.UUID | None = None,
) -> bool:
    """The hook for the points domain: points are income when redeemed, at the value of the
    redemption, in the tax year of the redemption date. Idempotent per ``redemption_id``;
    True when this call recorded it."""
    policy = payer.policy(session, organization_id)
    paid_on = payment_date(redeemed_at, policy.timezone)
    usd = rates.to_usd(session, organization_id, value, paid_on)
    classification, decision = decide_one(
        session, organization_id, livemode, learner_id, program_id, policy
    )
    row = row_for(
        organization_id=organization_id,
        livemode=livemode,
        source=POINTS,
        source_id=redemption_id,
        reward_id=None,
        learner_id=learner_id,
        program_id=program_id,
        classification=classification,
        decision=decision,
        amount=value,
        usd=usd,
        paid_on=paid_on,
        status=RecordStatus.delivered,
        backup=False,
    )
    return insert_ignore(
        session,
        TaxRecord.__table__,  # type: ignore[arg-type]
        row,
        ["organization_id", "source", "source_id"],
    )


def for_reward(
    session: Session, organization_id: uuid.UUID, reward_id: uuid.UUID
) -> TaxRecord | None:
    return existing(session, organization_id, [reward_id]).get(reward_id)
