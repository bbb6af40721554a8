"""Issuance bookkeeping for the worker: claim, record the outcome, reconcile abandoned claims.

Claims are short transactions: a reward moves ``ready -> issuing`` with a lease and the claim
commits before any provider is called. The outcome is recorded in a second transaction, guarded
by the ``issuing`` state, so a late or duplicate report changes nothing. A claim whose lease ran
out (the worker died) is settled by asking the provider about the reward's idempotency key.
"""

from __future__ import annotations

import random
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from laurel.audit import service as audit
from laurel.budgets import service as budgets
from laurel.catalog import conversions
from laurel.catalog.models import RewardConversion
from laurel.delivery import currency, routing, secrets
from laurel.delivery.models import Delivery
from laurel.delivery.providers import Issued, IssueOrder
from laurel.kit.actor import Actor
from laurel.kit.clock import utcnow
from laurel.kit.crypto import KeyRing
from laurel.kit.sql import insert_ignore
from laurel.learners import service as learners
from laurel.rewards import service as rewards
from laurel.rewards.models import Reward, RewardState
from laurel.tax import records as tax

WORKER = "worker"
LINK = "link"
"""The reward link channel (``laurel.links``): its delivery is the link, not the payment."""


@dataclass(frozen=True, slots=True)
class Claim:
    reward_id: uuid.UUID
    provider: str
    attempts: int
    order: IssueOrder
    route: tuple[str, ...] = ()
    """Providers to try, first choice first (the program's route for this reward's kind, or
    its provider; the sandbox in test mode)."""
    payment: currency.Payment | None = None
    """What is paid, in which currency, and why not the learner's when it is not."""


def _orders(
    session: Session,
    claimed: list[Reward],
    policy: currency.Policy | None = None,
    *,
    fresh: bool = True,
) -> list[Claim]:
    by_org: dict[uuid.UUID, set[uuid.UUID]] = {}
    for r in claimed:
        by_org.setdefault(r.organization_id, set()).add(r.learner_id)
    people = {}
    routes: routing.Routes = {}
    fixed: dict[uuid.UUID, RewardConversion] = {}
    for org, ids in by_org.items():
        people.update(learners.get_many(session, org, ids))
        programs = {r.program_id for r in claimed if r.livemode and r.organization_id == org}
        routes.update(routing.routes_for(session, org, programs))
        mine = {r.id for r in claimed if r.organization_id == org}
        fixed.update(conversions.for_rewards(session, org, mine))
    today = utcnow().date()
    claims = []
    held: list[tuple[Reward, str]] = []
    for r in claimed:
        person = people.get(r.learner_id)
        route = routing.resolve(
            routes, r.program_id, r.reward_kind, r.provider, livemode=r.livemode
        )
        payment = currency.plan(
            session,
            r,
            person,
            route,
            policy=policy,
            fixed=fixed.get(r.id),
            on=today,
            fresh=fresh,
        )
        if isinstance(payment, currency.Held):
            held.append((r, payment.message))
            continue
        claims.append(
            Claim(
                reward_id=r.id,
                provider=r.provider,
                attempts=r.attempts,
                route=route,
                order=IssueOrder(
                    idempotency_key=str(r.id),
                    organization_id=r.organization_id,
                    amount=payment.amount,
                    reward_kind=r.reward_kind,
                    livemode=r.livemode,
                    recipient_email=person.email if person else None,
                    recipient_name=person.name if person else None,
                    locale=person.locale if person else None,
                ),
                payment=payment,
            )
        )
    for reward, message in held:
        _hold_for_rate(session, reward, message)
    return claims


def _hold_for_rate(session: Session, reward: Reward, message: str) -> None:
    """No provider was called: the reward waits, its budget still reserved, for a rate."""
    rewards.transition(
        session,
        reward,
        RewardState.issuing,
        RewardState.held,
        actor=WORKER,
        details={"reasons": [currency.HOLD_REASON]},
        hold_reasons=[
            {"gate": currency.HOLD_GATE, "reason": currency.HOLD_REASON, "message": message}
        ],
        lease_expires_at=None,
        next_attempt_at=None,
        last_error=message[:1000],
    )


def claim(
    session: Session,
    *,
    limit: int,
    lease_seconds: float,
    policy: currency.Policy | None = None,
) -> list[Claim]:
    """Move up to ``limit`` due ready rewards to ``issuing`` under a lease.

    With a ``policy`` (the worker's), rewards are converted into their learner's currency
    where the route can pay it; one that needs a rate that is missing moves on to ``held``
    (``fx_rate_unavailable``) instead of being returned.
    """
    return _orders(
        session,
        rewards.claim_ready(session, limit=limit, lease_seconds=lease_seconds, actor=WORKER),
        policy,
    )


def record_delivered(
    session: Session,
    reward_id: uuid.UUID,
    provider: str,
    issued: Issued,
    payment: currency.Payment | None = None,
    *,
    ring: KeyRing,
) -> Reward | None:
    """The provider issued: store what it gave and finish the reward. None if already settled.

    ``payment`` is the claim's: what was paid, and why not in the learner's currency when so.
    """
    reward = rewards.by_id(session, reward_id)
    if reward is None or reward.state != RewardState.issuing:
        return None
    now = utcnow()
    public, sealed = secrets.seal(issued.details, ring)
    insert_ignore(
        session,
        Delivery.__table__,  # type: ignore[arg-type]
        {
            "id": uuid.uuid4(),
            "organization_id": reward.organization_id,
            "reward_id": reward_id,
            "provider": provider,
            "provider_reference": issued.reference,
            "details": public,
            "secrets_sealed": sealed,
            "delivered_at": now,
            "created_at": now,
        },
        ["reward_id"],
    )
    moved = rewards.transition(
        session,
        reward,
        RewardState.issuing,
        RewardState.delivered,
        actor=WORKER,
        details={"provider": provider, "reference": issued.reference}
        | (
            {"paid": payment.amount.to_json(), "fallback_reason": payment.fallback_reason}
            if payment is not None and payment.wanted
            else {}
        ),
        provider_reference=issued.reference,
        provider=provider,
        lease_expires_at=None,
        last_error=None,
        delivered_at=now,
    )
    if not moved:
        return None
    if reward.livemode:
        budgets.spend(session, reward_id)
    if provider != LINK:
        # A converted reward's conversion was fixed at the claim; this keeps the USD value of
        # one paid in the program's currency. A link reward is converted when redeemed.
        conversions.record_delivered(
            session,
            reward,
            now.date(),
            wanted_currency=payment.wanted if payment else None,
            fallback_reason=payment.fallback_reason if payment else None,
        )
    tax.record_delivered(session, reward, now)
    return reward


def backoff_seconds(attempts: int, base: float, cap: float, retry_after: float | None) -> float:
    """Exponential backoff with jitter; a provider's Retry-After is honoured when longer."""
    delay = min(cap, base * (2 ** max(0, attempts - 1)))
    delay = delay * (0.5 + random.random() / 2)  # noqa: S311 - jitter, not security
    return float(max(delay, retry_after or 0.0))


def record_retry(session: Session, reward_id: uuid.UUID, error: str, delay: float) -> bool:
    reward = rewards.by_id(session, reward_id)
    if reward is None:
        return False
    return rewards.transition(
        session,
        reward,
        RewardState.issuing,
        RewardState.ready,
        actor=WORKER,
        details={"error": error, "retry_in_seconds": round(delay, 3)},
        next_attempt_at=utcnow() + timedelta(seconds=delay),
        lease_expires_at=None,
        last_error=error[:1000],
    )


def record_failed(session: Session, reward_id: uuid.UUID, error: str) -> bool:
    reward = rewards.by_id(session, reward_id)
    if reward is None:
        return False
    moved = rewards.transition(
        session,
        reward,
        RewardState.issuing,
        RewardState.failed,
        actor=WORKER,
        details={"error": error},
        lease_expires_at=None,
        last_error=error[:1000],
    )
    if moved:
        budgets.release(session, reward_id)
        # A retry of a failed reward converts afresh, at its own day's rate: no provider
        # holds an order for it (the worker asked before failing it).
        conversions.discard(session, reward.organization_id, reward_id)
    return moved


def take_abandoned(session: Session, *, limit: int, lease_seconds: float) -> list[Claim]:
    """Issuing rewards whose lease ran out; taking them renews the lease for this worker only."""
    return _orders(
        session,
        rewards.take_abandoned(session, limit=limit, lease_seconds=lease_seconds),
        fresh=False,
    )


def due_at(session: Session) -> datetime | None:
    """When the next delayed retry becomes due, so the worker can sleep until then."""
    return rewards.next_retry_at(session)


def delivery_for(
    session: Session, organization_id: uuid.UUID, reward_id: uuid.UUID
) -> Delivery | None:
    return session.scalar(
        select(Delivery).where(
            Delivery.organization_id == organization_id, Delivery.reward_id == reward_id
        )
    )


def deliveries_for(
    session: Session, organization_id: uuid.UUID, reward_ids: set[uuid.UUID]
) -> dict[uuid.UUID, Delivery]:
    """What was delivered for these rewards, in one read (the email outbox composes batches)."""
    if not reward_ids:
        return {}
    rows = session.scalars(
        select(Delivery).where(
            Delivery.organization_id == organization_id, Delivery.reward_id.in_(reward_ids)
        )
    )
    return {row.reward_id: row for row in rows}


SECRET_FIELDS = secrets.FIELDS


def has_secret(details: dict[str, Any]) -> bool:
    return bool(secrets.secret_values(details))


def opened_details(found: Delivery, ring: KeyRing) -> dict[str, Any]:
    """What the learner received, codes, PINs and links decrypted: only for the paths that
    show them (and audit it, or are the learner's own)."""
    return secrets.opened(found.details, found.secrets_sealed, ring)


def record_reveal(
    session: Session, actor: Actor, reward_id: uuid.UUID, details: dict[str, Any]
) -> None:
    """Audit that ``actor`` was shown a reward's code, PIN or link (which ones, not the values)."""
    audit.sensitive_read(
        session,
        actor,
        "delivery:gift_code",
        "reward",
        reward_id,
        {"fields": list(secrets.secret_values(details))},
    )


def visible_details(details: dict[str, Any], *, reveal: bool) -> dict[str, Any]:
    """What the learner received, with codes, PINs and links masked unless ``reveal``.

    A gift code is money: read-only keys (dashboards, reports) see only its last characters.
    ``details`` are the stored ones (already masked) or :func:`opened_details`.
    """
    if reveal:
        return dict(details)
    return dict(details) | {n: secrets.mask(v) for n, v in secrets.secret_values(details).items()}


def record_redeemed(
    session: Session,
    organization_id: uuid.UUID,
    reward_id: uuid.UUID,
    provider: str,
    issued: Issued,
    extra: dict[str, Any],
    *,
    ring: KeyRing,
) -> None:
    """A link reward was redeemed: what the learner now holds replaces the link's delivery."""
    found = delivery_for(session, organization_id, reward_id)
    now = utcnow()
    if found is None:
        found = Delivery(organization_id=organization_id, reward_id=reward_id, delivered_at=now)
        session.add(found)
    found.provider = provider
    found.provider_reference = issued.reference[:200]
    public, sealed = secrets.seal(issued.details, ring)
    found.details = {**public, **extra, "redeemed_at": now.isoformat()}
    found.secrets_sealed = sealed
    session.flush()
