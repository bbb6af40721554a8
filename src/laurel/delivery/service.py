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
from laurel.delivery import routing
from laurel.delivery.models import Delivery
from laurel.delivery.providers import Issued, IssueOrder
from laurel.kit.actor import Actor
from laurel.kit.clock import utcnow
from laurel.kit.money import Money
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


def _orders(session: Session, claimed: list[Reward]) -> list[Claim]:
    by_org: dict[uuid.UUID, set[uuid.UUID]] = {}
    for r in claimed:
        by_org.setdefault(r.organization_id, set()).add(r.learner_id)
    people = {}
    routes: routing.Routes = {}
    for org, ids in by_org.items():
        people.update(learners.get_many(session, org, ids))
        programs = {r.program_id for r in claimed if r.livemode and r.organization_id == org}
        routes.update(routing.routes_for(session, org, programs))
    claims = []
    for r in claimed:
        person = people.get(r.learner_id)
        claims.append(
            Claim(
                reward_id=r.id,
                provider=r.provider,
                attempts=r.attempts,
                route=routing.resolve(
                    routes, r.program_id, r.reward_kind, r.provider, livemode=r.livemode
                ),
                order=IssueOrder(
                    idempotency_key=str(r.id),
                    organization_id=r.organization_id,
                    amount=Money(r.amount_minor, r.currency),
                    reward_kind=r.reward_kind,
                    livemode=r.livemode,
                    recipient_email=person.email if person else None,
                    recipient_name=person.name if person else None,
                    locale=person.locale if person else None,
                ),
            )
        )
    return claims


def claim(session: Session, *, limit: int, lease_seconds: float) -> list[Claim]:
    """Move up to ``limit`` due ready rewards to ``issuing`` under a lease."""
    return _orders(
        session,
        rewards.claim_ready(session, limit=limit, lease_seconds=lease_seconds, actor=WORKER),
    )


def record_delivered(
    session: Session, reward_id: uuid.UUID, provider: str, issued: Issued
) -> Reward | None:
    """The provider issued: store what it gave and finish the reward. None if already settled."""
    reward = rewards.by_id(session, reward_id)
    if reward is None or reward.state != RewardState.issuing:
        return None
    now = utcnow()
    insert_ignore(
        session,
        Delivery.__table__,  # type: ignore[arg-type]
        {
            "id": uuid.uuid4(),
            "organization_id": reward.organization_id,
            "reward_id": reward_id,
            "provider": provider,
            "provider_reference": issued.reference,
            "details": issued.details,
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
        details={"provider": provider, "reference": issued.reference},
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
        # Paid as it is, in the program's currency; a link reward is converted when redeemed.
        conversions.record_delivered(session, reward, now.date())
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
    return moved


def take_abandoned(session: Session, *, limit: int, lease_seconds: float) -> list[Claim]:
    """Issuing rewards whose lease ran out; taking them renews the lease for this worker only."""
    return _orders(
        session, rewards.take_abandoned(session, limit=limit, lease_seconds=lease_seconds)
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


SECRET_FIELDS = ("code", "pin", "url")


def has_secret(details: dict[str, Any]) -> bool:
    return any(isinstance(details.get(n), str) and details.get(n) for n in SECRET_FIELDS)


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
        {"fields": [n for n in SECRET_FIELDS if isinstance(details.get(n), str) and details[n]]},
    )


def visible_details(details: dict[str, Any], *, reveal: bool) -> dict[str, Any]:
    """What the learner received, with codes, PINs and links masked unless ``reveal``.

    A gift code is money: read-only keys (dashboards, reports) see only its last characters.
    """
    if reveal:
        return dict(details)
    masked = dict(details)
    for name in SECRET_FIELDS:
        value = masked.get(name)
        if isinstance(value, str) and value:
            masked[name] = "•" * max(0, len(value) - 4) + value[-4:]
    return masked


def record_redeemed(
    session: Session,
    organization_id: uuid.UUID,
    reward_id: uuid.UUID,
    provider: str,
    issued: Issued,
    extra: dict[str, Any],
) -> None:
    """A link reward was redeemed: what the learner now holds replaces the link's delivery."""
    found = delivery_for(session, organization_id, reward_id)
    now = utcnow()
    if found is None:
        found = Delivery(organization_id=organization_id, reward_id=reward_id, delivered_at=now)
        session.add(found)
    found.provider = provider
    found.provider_reference = issued.reference[:200]
    found.details = {**issued.details, **extra, "redeemed_at": now.isoformat()}
    session.flush()
