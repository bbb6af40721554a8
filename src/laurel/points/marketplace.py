"""The marketplace: learners spend points on catalog items; a redemption becomes a reward.

An offer names a catalog item (``laurel.catalog``'s id, plus the provider's ``sku``) and the face
value it is issued at; its price in points is the value at the organization's rate, fixed when
the offer is made. Redeeming takes the points (one ``redeem`` transaction, idempotent by the
caller's request key), records the redemption and creates a reward in the organization's
redemption program. That reward runs through the same gates (screening, tax, approvals,
budget) and the same worker and provider as any other.

Points come back (one ``refund`` transaction) when the reward does not go through: it is
cancelled or rejected by a gate, it fails at the provider, or a gate holds it. A held
redemption is cancelled at once rather than left waiting with the learner's points: the
learner sees the points back and may try again. ``on_rewards_moved`` is the listener
``laurel.rewards.service`` calls for every state change.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from laurel.audit import service as audit
from laurel.budgets import service as budgets
from laurel.kit import currency
from laurel.kit.actor import Actor
from laurel.kit.clock import utcnow
from laurel.kit.errors import Conflict, NotFound, field_error
from laurel.kit.ids import uuid7
from laurel.kit.money import Money
from laurel.kit.pagination import Page, paginate
from laurel.learners import service as learners
from laurel.points import ledger, setup
from laurel.points.models import (
    PointsOffer,
    PointsTransaction,
    Redemption,
    RedemptionState,
    TransactionKind,
)
from laurel.programs import service as programs
from laurel.rewards import service as rewards
from laurel.rewards.models import Reward, RewardState

MARKER = "points_redemption"
"""Key in a reward's ``calculation`` that marks it as a points redemption."""


class OfferNotFound(NotFound):
    code = "points_offer_not_found"


class MarketplaceClosed(Conflict):
    code = "marketplace_not_configured"


def price(value: Money, points_per_unit: int) -> int:
    """Points for ``value`` at ``points_per_unit`` points per major unit, rounded up (a learner
    never gets more value than the points paid for)."""
    scale: int = 10 ** currency.exponent(value.currency)
    return -(-value.minor * points_per_unit // scale)


def create_offer(
    session: Session,
    actor: Actor,
    *,
    catalog_item_id: uuid.UUID,
    name: str,
    value: Money,
    sku: str | None = None,
) -> PointsOffer:
    if value.currency == currency.POINTS or value.minor <= 0:
        raise field_error("value", "must be a positive amount of money")
    rate = setup.get(session, actor.organization_id).points_per_unit
    offer = PointsOffer(
        organization_id=actor.organization_id,
        catalog_item_id=catalog_item_id,
        name=name,
        value_minor=value.minor,
        currency=value.currency,
        sku=sku,
        points=price(value, rate),
        active=True,
    )
    exists = session.scalar(
        select(PointsOffer.id).where(
            PointsOffer.organization_id == actor.organization_id,
            PointsOffer.catalog_item_id == catalog_item_id,
            PointsOffer.value_minor == value.minor,
        )
    )
    if exists is not None:
        raise Conflict(f"an offer for this item at this value exists ({exists})")
    session.add(offer)
    session.flush()
    audit.record(
        session,
        organization_id=actor.organization_id,
        actor=actor.name,
        action="points:offer:create",
        target_type="points_offer",
        target_id=offer.id,
        details={
            "catalog_item_id": str(catalog_item_id),
            "value": str(value),
            "points": offer.points,
        },
    )
    return offer


def list_offers(session: Session, organization_id: uuid.UUID) -> list[PointsOffer]:
    return list(
        session.scalars(
            select(PointsOffer)
            .where(PointsOffer.organization_id == organization_id, PointsOffer.active.is_(True))
            .order_by(PointsOffer.points, PointsOffer.id)
        )
    )


def get_offer(
    session: Session, organization_id: uuid.UUID, offer_id: uuid.UUID
) -> PointsOffer | None:
    return session.scalar(
        select(PointsOffer).where(
            PointsOffer.organization_id == organization_id, PointsOffer.id == offer_id
        )
    )


def redeem(
    session: Session,
    actor: Actor,
    *,
    learner_id: uuid.UUID,
    offer_id: uuid.UUID,
    request_key: str,
) -> Redemption:
    """Spend the learner's points on an offer; answers the redemption (a repeat of
    ``request_key`` answers the first one). Raises InsufficientPoints when the wallet is short.
    """
    scope = ledger.Scope(actor.organization_id, actor.livemode)
    known = _by_request(session, scope, request_key)
    if known is not None:
        if known.learner_id != learner_id or known.offer_id != offer_id:
            raise Conflict(f"request key {request_key!r} was used for another redemption")
        return known
    learners.get(session, actor, learner_id)
    offer = session.scalar(
        select(PointsOffer).where(
            PointsOffer.organization_id == actor.organization_id,
            PointsOffer.id == offer_id,
            PointsOffer.active.is_(True),
        )
    )
    if offer is None:
        raise OfferNotFound(f"no active offer {offer_id}")
    program_id = setup.get(session, actor.organization_id).redemption_program_id
    if program_id is None:
        raise MarketplaceClosed("set a redemption program in the points settings first")
    now = utcnow()
    in_force = [
        (version, rules_)
        for version, rules_ in programs.snapshot(session, actor.organization_id).at(now)
        if version.program_id == program_id
    ]
    if not in_force or not in_force[0][1]:
        raise MarketplaceClosed("the redemption program is not in force or has no rule")
    version, rules_ = in_force[0]
    if version.currency != offer.currency:
        raise field_error(
            "offer_id",
            f"the offer is in {offer.currency}; the redemption program pays {version.currency}",
        )
    redemption_id = uuid7()
    reward_id = uuid7()
    debit = ledger.post(
        session,
        scope,
        key=f"redeem:{request_key}",
        kind=TransactionKind.redeem,
        legs=[(ledger.wallet(learner_id), -offer.points), (ledger.REDEMPTION, offer.points)],
        actor=actor.name,
        reward_id=reward_id,
        memo=offer.name,
        details={"offer": str(offer.id), "redemption": str(redemption_id)},
    )
    redemption = Redemption(
        id=redemption_id,
        organization_id=actor.organization_id,
        livemode=actor.livemode,
        request_key=request_key,
        learner_id=learner_id,
        offer_id=offer.id,
        points=offer.points,
        value_minor=offer.value_minor,
        currency=offer.currency,
        state=RedemptionState.pending,
        reward_id=reward_id,
        debit_id=debit.transaction.id,
        created_at=now,
        updated_at=now,
    )
    session.add(redemption)
    session.flush()
    rule = rules_[0]
    row: dict[str, Any] = {
        "id": reward_id,
        "organization_id": actor.organization_id,
        "livemode": actor.livemode,
        "program_id": program_id,
        "program_version_id": version.id,
        "rule_id": rule.rule_id,
        "rule_version_id": rule.id,
        "learner_id": learner_id,
        "course_id": None,
        "event_id": None,
        "dedupe_key": "redemption",
        "amount_minor": offer.value_minor,
        "currency": offer.currency,
        "reward_kind": version.reward_kind,
        "provider": version.provider if actor.livemode else "sandbox",
        "state": RewardState.pending,
        "hold_reasons": [],
        "calculation": {
            MARKER: {
                "redemption_id": str(redemption_id),
                "offer_id": str(offer.id),
                "catalog_item_id": str(offer.catalog_item_id),
                "sku": offer.sku,
                "points": offer.points,
            }
        },
        "attempts": 0,
        "event_received_at": now,
        "created_at": now,
        "updated_at": now,
    }
    rewards.create_unearned(
        session,
        actor,
        row,
        {"points_redemption": str(redemption_id), "points": offer.points, "offer": offer.name},
    )
    audit.record(
        session,
        organization_id=actor.organization_id,
        actor=actor.name,
        action="points:redemption:create",
        target_type="points_redemption",
        target_id=redemption_id,
        details={"offer": str(offer.id), "points": offer.points, "reward_id": str(reward_id)},
    )
    session.refresh(redemption)
    return redemption


def _by_request(session: Session, scope: ledger.Scope, request_key: str) -> Redemption | None:
    return session.scalar(
        select(Redemption).where(
            Redemption.organization_id == scope.organization_id,
            Redemption.livemode == scope.livemode,
            Redemption.request_key == request_key,
        )
    )


def get_redemption(session: Session, actor: Actor, redemption_id: uuid.UUID) -> Redemption:
    found = session.scalar(
        select(Redemption).where(
            Redemption.organization_id == actor.organization_id,
            Redemption.livemode == actor.livemode,
            Redemption.id == redemption_id,
        )
    )
    if found is None:
        raise NotFound(f"no redemption {redemption_id}")
    return found


def list_redemptions(
    session: Session, actor: Actor, learner_id: uuid.UUID, *, limit: int, cursor: uuid.UUID | None
) -> Page[Redemption]:
    query = select(Redemption).where(
        Redemption.organization_id == actor.organization_id,
        Redemption.livemode == actor.livemode,
        Redemption.learner_id == learner_id,
    )
    return paginate(session, query, Redemption.id, limit=limit, cursor=cursor)


# ---------------------------------------------------------------- following the reward

_RETURNS = {RewardState.cancelled, RewardState.failed}


def _on_rewards_moved(
    session: Session, moved: Sequence[Reward], new: RewardState, actor: str
) -> None:
    """Listener for every reward state change: settle the redemptions among ``moved``.

    Costs nothing for rewards that are not redemptions (a dictionary lookup each).
    """
    if new not in {RewardState.held, RewardState.delivered, *_RETURNS}:
        return
    mine = [r for r in moved if MARKER in (r.calculation or {})]
    if not mine:
        return
    if new is RewardState.held:
        for reward in mine:
            reasons = [h.get("reason") for h in reward.hold_reasons or []]
            budgets.release(session, reward.id)
            # The nested transition calls this listener again, with ``cancelled``.
            rewards.transition(
                session,
                reward,
                RewardState.held,
                RewardState.cancelled,
                actor=actor,
                details={"reason": "points_redemption_held", "holds": reasons},
                last_error="a points redemption is not left on hold; the points were returned",
            )
        return
    ids = [r.id for r in mine]
    found = list(
        session.scalars(
            select(Redemption)
            .where(Redemption.reward_id.in_(ids), Redemption.state == RedemptionState.pending)
            .with_for_update()
        )
    )
    now = utcnow()
    for redemption in found:
        if new is RewardState.delivered:
            session.execute(
                update(Redemption)
                .where(Redemption.id == redemption.id)
                .values(state=RedemptionState.delivered, updated_at=now)
            )
            continue
        _refund(session, redemption, actor, f"reward {new}")


def _refund(session: Session, redemption: Redemption, actor: str, why: str) -> None:
    scope = ledger.Scope(redemption.organization_id, redemption.livemode)
    debit = session.get(PointsTransaction, redemption.debit_id)
    assert debit is not None  # a redemption always has its debit
    posting = ledger.post(
        session,
        scope,
        key=f"refund:{redemption.id}",
        kind=TransactionKind.refund,
        legs=[
            (ledger.REDEMPTION, -redemption.points),
            (ledger.wallet(redemption.learner_id), redemption.points),
        ],
        actor=actor,
        reward_id=redemption.reward_id,
        reverses_id=debit.id,
        memo=f"points returned: {why}",
        details={"redemption": str(redemption.id)},
        expires_at=ledger.lots_expiry(session, debit),
    )
    session.execute(
        update(Redemption)
        .where(Redemption.id == redemption.id)
        .values(
            state=RedemptionState.returned, refund_id=posting.transaction.id, updated_at=utcnow()
        )
    )
    audit.record(
        session,
        organization_id=redemption.organization_id,
        actor=actor,
        action="points:redemption:return",
        target_type="points_redemption",
        target_id=redemption.id,
        details={"points": redemption.points, "why": why},
    )


rewards.listen(_on_rewards_moved)
