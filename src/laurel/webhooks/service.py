"""Outgoing webhooks: subscriptions, the message outbox, attempts and redelivery.

``reward_changed`` is called by ``rewards.transition_many`` in the transaction that moves the
rewards: one read of the organizations' subscriptions per unit of work and one INSERT of
messages, so an event batch that holds a thousand rewards costs two statements here. The
worker sends messages after commit (``webhooks.sender``): one at a time per message, claimed
with a lease, retried on the configured schedule, every attempt logged.

Retry rules follow the Standard Webhooks recommendations: 2xx is success; anything else
(3xx included: redirects are not followed) is a failure retried later; ``410 Gone`` disables
the subscription; ``Retry-After`` (429, 502, 503, 504) is honoured when longer than the
schedule's delay.
"""

from __future__ import annotations

import json
import random
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any
from urllib.parse import urlsplit

from sqlalchemy import Table, delete, select, update
from sqlalchemy.orm import Session

from laurel.audit import service as audit
from laurel.courses import service as courses
from laurel.events.connectors.secretbox import SecretBox
from laurel.kit.actor import Actor
from laurel.kit.clock import utcnow
from laurel.kit.errors import Conflict, Invalid, NotFound, field_error
from laurel.kit.ids import uuid7
from laurel.kit.money import Money
from laurel.kit.observe import chunks
from laurel.kit.outbox import Outbox
from laurel.kit.pagination import Page, paginate
from laurel.kit.sql import insert_rows
from laurel.learners import service as learners
from laurel.rewards.models import Reward, RewardState
from laurel.webhooks import signing
from laurel.webhooks.models import Attempt, EventType, Message, MessageStatus, Subscription

OUTBOX_SIGNAL = "laurel.webhooks.outbox"
_SUBSCRIBERS_CACHE = "laurel.webhooks.subscribers"
_MESSAGES: Table = Message.__table__  # type: ignore[assignment]
_BOX = Outbox(Message)
EXCERPT_CHARS = 500
MAX_SUBSCRIPTIONS = 50

_EVENT_FOR_STATE = {
    RewardState.delivered: EventType.reward_delivered,
    RewardState.held: EventType.reward_held,
    RewardState.redeemed: EventType.reward_redeemed,
    RewardState.failed: EventType.reward_failed,
    RewardState.cancelled: EventType.reward_cancelled,
}


class SubscriptionNotFound(NotFound):
    code = "webhook_subscription_not_found"


class MessageNotFound(NotFound):
    code = "webhook_message_not_found"


class SubscriptionDisabled(Conflict):
    code = "webhook_subscription_disabled"


def secret_box(secret_key: str) -> SecretBox:
    # A key of its own, derived from LAUREL_SECRET_KEY, apart from the connectors' secrets.
    return SecretBox(secret_key + "\x00outgoing-webhooks")


# ---------------------------------------------------------------- subscriptions


def _check_url(url: str, *, allow_http: bool) -> str:
    parts = urlsplit(url.strip())
    if parts.scheme not in {"https", "http"} or not parts.hostname:
        raise field_error("url", "use an absolute https:// URL")
    if parts.scheme == "http" and not allow_http:
        raise field_error("url", "use https:// (http is accepted outside production only)")
    if parts.username or parts.password:
        raise field_error(
            "url", "credentials in the URL are not allowed; the signature is the auth"
        )
    return url.strip()


def _check_types(event_types: Sequence[str]) -> list[str]:
    known = {t.value for t in EventType}
    if not event_types:
        raise field_error("event_types", f"name at least one of {sorted(known)}")
    unknown = [t for t in event_types if t not in known]
    if unknown:
        raise Invalid(
            [
                {
                    "field": f"event_types.{list(event_types).index(t)}",
                    "message": f"{t!r} is not one of {sorted(known)}",
                    "type": "value_error",
                }
                for t in unknown
            ]
        )
    return sorted(set(event_types))


def create_subscription(
    session: Session,
    actor: Actor,
    *,
    url: str,
    event_types: Sequence[str],
    description: str | None,
    box: SecretBox,
    allow_http: bool,
) -> tuple[Subscription, str]:
    """A new subscription and its secret; the secret is shown to the caller this once."""
    checked_url = _check_url(url, allow_http=allow_http)
    types = _check_types(event_types)
    count = len(_active(session, actor))
    if count >= MAX_SUBSCRIPTIONS:
        raise Conflict(f"an organization has at most {MAX_SUBSCRIPTIONS} subscriptions per mode")
    secret = signing.new_secret()
    row = Subscription(
        organization_id=actor.organization_id,
        livemode=actor.livemode,
        url=checked_url,
        event_types=types,
        description=description,
        secret_sealed=box.seal(secret),
        secret_hint=secret[-4:],
        enabled=True,
    )
    session.add(row)
    session.flush()
    session.info.pop(_SUBSCRIBERS_CACHE, None)
    audit.record(
        session,
        organization_id=actor.organization_id,
        actor=actor.name,
        action="webhooks:subscription:create",
        target_type="webhook_subscription",
        target_id=row.id,
        details={"url": checked_url, "event_types": types, "livemode": actor.livemode},
    )
    return row, secret


def _active(session: Session, actor: Actor) -> list[Subscription]:
    return list(
        session.scalars(
            select(Subscription)
            .where(
                Subscription.organization_id == actor.organization_id,
                Subscription.livemode == actor.livemode,
                Subscription.deleted_at.is_(None),
            )
            .order_by(Subscription.id)
        )
    )


def list_subscriptions(session: Session, actor: Actor) -> list[Subscription]:
    return _active(session, actor)


def get_subscription(session: Session, actor: Actor, subscription_id: uuid.UUID) -> Subscription:
    row = session.scalar(
        select(Subscription).where(
            Subscription.organization_id == actor.organization_id,
            Subscription.livemode == actor.livemode,
            Subscription.id == subscription_id,
            Subscription.deleted_at.is_(None),
        )
    )
    if row is None:
        raise SubscriptionNotFound(f"no webhook subscription {subscription_id}")
    return row


def _abandon_pending(session: Session, subscription_id: uuid.UUID, why: str) -> None:
    session.execute(
        update(Message)
        .where(
            Message.subscription_id == subscription_id,
            Message.status.in_([MessageStatus.pending, MessageStatus.sending]),
        )
        .values(status=MessageStatus.failed, last_error=why, updated_at=utcnow())
        .execution_options(synchronize_session=False)
    )


def delete_subscription(session: Session, actor: Actor, subscription_id: uuid.UUID) -> None:
    """Stop sending to it; its messages and attempts stay readable for the record."""
    row = get_subscription(session, actor, subscription_id)
    row.deleted_at = utcnow()
    row.enabled = False
    row.updated_at = row.deleted_at
    _abandon_pending(session, row.id, "the subscription was deleted")
    session.flush()
    session.info.pop(_SUBSCRIBERS_CACHE, None)
    audit.record(
        session,
        organization_id=actor.organization_id,
        actor=actor.name,
        action="webhooks:subscription:delete",
        target_type="webhook_subscription",
        target_id=row.id,
        details={"url": row.url},
    )


def update_subscription(
    session: Session,
    actor: Actor,
    subscription_id: uuid.UUID,
    *,
    changes: dict[str, Any],
    allow_http: bool,
) -> Subscription:
    """Change url, event types, description, or enable / disable. Enabling clears the reason
    a receiver's ``410 Gone`` left."""
    row = get_subscription(session, actor, subscription_id)
    done: dict[str, Any] = {}
    if "url" in changes:
        row.url = done["url"] = _check_url(str(changes["url"]), allow_http=allow_http)
    if "event_types" in changes:
        row.event_types = done["event_types"] = _check_types(changes["event_types"] or [])
    if "description" in changes:
        row.description = done["description"] = changes["description"]
    if "enabled" in changes and changes["enabled"] is not None:
        enabled = bool(changes["enabled"])
        if enabled != row.enabled:
            row.enabled = done["enabled"] = enabled
            row.disabled_at = None if enabled else utcnow()
            row.disabled_reason = None if enabled else "disabled by an admin"
            if not enabled:
                _abandon_pending(session, row.id, "the subscription was disabled")
    row.updated_at = utcnow()
    session.flush()
    session.info.pop(_SUBSCRIBERS_CACHE, None)
    audit.record(
        session,
        organization_id=actor.organization_id,
        actor=actor.name,
        action="webhooks:subscription:update",
        target_type="webhook_subscription",
        target_id=row.id,
        details=done,
    )
    return row


# ---------------------------------------------------------------- writing the outbox


@dataclass(frozen=True, slots=True)
class _Subscriber:
    id: uuid.UUID
    organization_id: uuid.UUID
    livemode: bool
    event_types: frozenset[str]


def _subscribers(session: Session, organization_ids: set[uuid.UUID]) -> list[_Subscriber]:
    """Enabled subscriptions of these organizations, read once per unit of work."""
    cache: dict[uuid.UUID, list[_Subscriber]] = session.info.setdefault(_SUBSCRIBERS_CACHE, {})
    missing = organization_ids - cache.keys()
    if missing:
        for org in missing:
            cache[org] = []
        rows = session.execute(
            select(
                Subscription.id,
                Subscription.organization_id,
                Subscription.livemode,
                Subscription.event_types,
            ).where(
                Subscription.organization_id.in_(missing),
                Subscription.enabled.is_(True),
                Subscription.deleted_at.is_(None),
            )
        )
        for sub_id, org, livemode, types in rows:
            cache[org].append(_Subscriber(sub_id, org, livemode, frozenset(types or ())))
    return [s for org in organization_ids for s in cache[org]]


def _iso(value: datetime | None) -> str | None:
    return value.isoformat().replace("+00:00", "Z") if value is not None else None


def payload(
    event_type: str,
    reward: Reward,
    at: datetime,
    learner_external_id: str | None = None,
    course_external_id: str | None = None,
) -> dict[str, Any]:
    """The event as receivers get it: Standard Webhooks' ``type``, ``timestamp``, ``data``.

    The learner and course are also named by the LMS's / HR system's own ids, which is how
    receivers know them; no personal data beyond that id is sent.
    """
    return {
        "type": event_type,
        "timestamp": _iso(at),
        "data": {
            "object": "reward",
            "id": str(reward.id),
            "livemode": reward.livemode,
            "state": str(reward.state),
            "program_id": str(reward.program_id),
            "learner_id": str(reward.learner_id),
            "learner_external_id": learner_external_id,
            "course_id": str(reward.course_id),
            "course_external_id": course_external_id,
            "completion_event_id": str(reward.event_id),
            "amount": Money(reward.amount_minor, reward.currency).to_json(),
            "reward_kind": reward.reward_kind,
            "provider": reward.provider,
            "provider_reference": reward.provider_reference,
            "hold_reasons": [
                {"gate": h.get("gate"), "reason": h.get("reason")}
                for h in (reward.hold_reasons or [])
            ],
            "error": reward.last_error,
            "created_at": _iso(reward.created_at),
            "delivered_at": _iso(reward.delivered_at),
        },
    }


def _external_ids(
    session: Session, rewards: Sequence[Reward], wanted: Sequence[_Subscriber]
) -> tuple[dict[uuid.UUID, str], dict[uuid.UUID, str]]:
    """External ids of the learners and courses of the rewards someone subscribed to: one
    read of each per organization, only when there is a subscriber."""
    orgs = {s.organization_id for s in wanted}
    learner_ids: dict[uuid.UUID, str] = {}
    course_ids: dict[uuid.UUID, str] = {}
    for org in orgs:
        mine = [r for r in rewards if r.organization_id == org]
        people = learners.get_many(session, org, {r.learner_id for r in mine})
        learner_ids.update((k, v.external_id) for k, v in people.items())
        # A points redemption has no course.
        found = courses.get_many(session, org, {r.course_id for r in mine if r.course_id})
        course_ids.update((k, v.external_id) for k, v in found.items())
    return learner_ids, course_ids


def encode(body: dict[str, Any]) -> str:
    """Compact JSON: the exact text stored, signed and sent."""
    return json.dumps(body, separators=(",", ":"), ensure_ascii=False)


def new_event_id() -> str:
    return f"msg_{uuid7().hex}"


def reward_changed(session: Session, rewards: Sequence[Reward], new: RewardState) -> int:
    """Queue a message per subscription that wants this change, for every reward that moved."""
    event_type = _EVENT_FOR_STATE.get(new)
    if event_type is None or not rewards:
        return 0
    wanted = [
        s
        for s in _subscribers(session, {r.organization_id for r in rewards})
        if event_type.value in s.event_types
    ]
    if not wanted:
        return 0
    now = utcnow()
    rows: list[dict[str, Any]] = []
    learner_ids, course_ids = _external_ids(session, rewards, wanted)
    for reward in rewards:
        targets = [
            s
            for s in wanted
            if s.organization_id == reward.organization_id and s.livemode == reward.livemode
        ]
        if not targets:
            continue
        event_id = new_event_id()
        body = encode(
            payload(
                event_type.value,
                reward,
                now,
                learner_ids.get(reward.learner_id),
                course_ids.get(reward.course_id) if reward.course_id else None,
            )
        )
        rows.extend(
            {
                "id": uuid7(),
                "organization_id": reward.organization_id,
                "livemode": reward.livemode,
                "subscription_id": target.id,
                "event_id": event_id,
                "event_type": event_type.value,
                "reward_id": reward.id,
                "body": body,
                "status": MessageStatus.pending,
                "attempts": 0,
                "manual": False,
                "created_at": now,
                "updated_at": now,
            }
            for target in targets
        )
    written = insert_rows(session, _MESSAGES, rows, ("subscription_id", "event_id"))
    if written:
        session.info[OUTBOX_SIGNAL] = True
    return len(written)


# ---------------------------------------------------------------- the worker's side


@dataclass(frozen=True, slots=True)
class Claimed:
    id: uuid.UUID
    organization_id: uuid.UUID
    subscription_id: uuid.UUID
    url: str
    secret_sealed: str
    event_id: str
    body: str
    attempts: int
    """Including the one being made now."""
    manual: bool


def claim(session: Session, *, limit: int, lease_seconds: float) -> list[Claimed]:
    """Lease up to ``limit`` due messages of enabled subscriptions to the caller."""
    now = utcnow()
    query = (
        select(Message, Subscription.url, Subscription.secret_sealed)
        .join(Subscription, Subscription.id == Message.subscription_id)
        .where(_BOX.due(now), Subscription.enabled.is_(True), Subscription.deleted_at.is_(None))
    )
    candidates = [
        (row[0], row[1], row[2])
        for row in _BOX.candidates(session, query, limit=limit, lock_of=Message)
    ]
    taken = _BOX.take(
        session, [m.id for m, _, _ in candidates], now=now, lease_seconds=lease_seconds
    )
    return [
        Claimed(
            id=m.id,
            organization_id=m.organization_id,
            subscription_id=m.subscription_id,
            url=url,
            secret_sealed=sealed,
            event_id=m.event_id,
            body=m.body,
            attempts=m.attempts + 1,
            manual=m.manual,
        )
        for m, url, sealed in candidates
        if m.id in taken
    ]


@dataclass(frozen=True, slots=True)
class Outcome:
    status_code: int | None
    latency_ms: int
    response_excerpt: str | None = None
    error: str | None = None
    retry_after: float | None = None

    @property
    def succeeded(self) -> bool:
        return self.status_code is not None and 200 <= self.status_code < 300


def next_delay(attempts: int, schedule: Sequence[float], retry_after: float | None) -> float | None:
    """Seconds until the next try after ``attempts`` failed ones; None when out of tries."""
    if attempts > len(schedule):
        return None
    base = schedule[attempts - 1]
    # Jitter (±20 %) keeps receivers that failed together from being retried together.
    delay = base * (0.8 + 0.4 * random.random())  # noqa: S311 - not security
    return max(delay, retry_after or 0.0)


def record_attempt(
    session: Session, claimed: Claimed, outcome: Outcome, schedule: Sequence[float]
) -> str:
    """Log the attempt and settle the message; answers what happened (succeeded, retry,
    failed, disabled, or stale when another worker settled it first)."""
    now = utcnow()
    values: dict[str, Any] = {
        "lease_expires_at": None,
        "last_attempt_at": now,
        "last_status_code": outcome.status_code,
        "last_error": (outcome.error or None) and outcome.error[:1000],
        "manual": False,
        "updated_at": now,
    }
    result: str
    if outcome.succeeded:
        values |= {"status": MessageStatus.succeeded, "succeeded_at": now, "last_error": None}
        result = "succeeded"
    elif outcome.status_code == 410:
        values |= {"status": MessageStatus.failed, "last_error": "410 Gone: subscription disabled"}
        result = "disabled"
    else:
        delay = (
            None if claimed.manual else next_delay(claimed.attempts, schedule, outcome.retry_after)
        )
        if delay is None:
            values |= {"status": MessageStatus.failed}
            result = "failed"
        else:
            values |= {
                "status": MessageStatus.pending,
                "next_attempt_at": now + timedelta(seconds=delay),
            }
            result = "retry"
    moved = _BOX.settle(session, claimed.id, **values)
    session.add(
        Attempt(
            organization_id=claimed.organization_id,
            message_id=claimed.id,
            number=claimed.attempts,
            trigger="manual" if claimed.manual else "scheduled",
            status_code=outcome.status_code,
            latency_ms=outcome.latency_ms,
            response_excerpt=outcome.response_excerpt,
            error=outcome.error[:1000] if outcome.error else None,
            succeeded=outcome.succeeded,
            created_at=now,
        )
    )
    if not moved:
        return "stale"
    if result == "disabled":
        _disable_gone(session, claimed)
    return result


def _disable_gone(session: Session, claimed: Claimed) -> None:
    sub = session.get(Subscription, claimed.subscription_id)
    if sub is None or not sub.enabled:
        return
    sub.enabled = False
    sub.disabled_at = utcnow()
    sub.disabled_reason = "the receiver answered 410 Gone"
    sub.updated_at = sub.disabled_at
    _abandon_pending(session, sub.id, "the receiver answered 410 Gone")
    audit.record(
        session,
        organization_id=sub.organization_id,
        actor="worker",
        action="webhooks:subscription:disable",
        target_type="webhook_subscription",
        target_id=sub.id,
        details={"reason": "410 Gone", "message": claimed.event_id},
    )


def due_at(session: Session) -> datetime | None:
    return _BOX.next_due(session)


# ---------------------------------------------------------------- retention

SETTLED = (MessageStatus.succeeded, MessageStatus.failed)


def purge(
    session: Session, *, body_before: datetime, log_before: datetime, now: datetime, limit: int
) -> tuple[int, int]:
    """One batch of retention: settled messages last changed before ``body_before`` lose their
    body (it names learners and courses); those before ``log_before`` are deleted with their
    attempt log. Answers (emptied, deleted)."""
    old = _BOX.expired(session, settled=SETTLED, before=log_before, limit=limit)
    for part in chunks(old):
        session.execute(
            delete(Attempt)
            .where(Attempt.message_id.in_(part))
            .execution_options(synchronize_session=False)
        )
    deleted = _BOX.delete(session, old, settled=SETTLED)
    emptied = _BOX.purge_bodies(
        session, settled=SETTLED, before=body_before, blank={"body": ""}, now=now, limit=limit
    )
    return emptied, deleted


# ---------------------------------------------------------------- reading and redelivery


def list_messages(
    session: Session,
    actor: Actor,
    subscription_id: uuid.UUID,
    *,
    limit: int,
    cursor: uuid.UUID | None,
    status: MessageStatus | None = None,
) -> Page[Message]:
    get_subscription(session, actor, subscription_id)
    query = select(Message).where(
        Message.organization_id == actor.organization_id,
        Message.subscription_id == subscription_id,
    )
    if status is not None:
        query = query.where(Message.status == status)
    return paginate(session, query, Message.id, limit=limit, cursor=cursor)


def get_message(session: Session, actor: Actor, message_id: uuid.UUID) -> Message:
    row = session.scalar(
        select(Message).where(
            Message.organization_id == actor.organization_id,
            Message.livemode == actor.livemode,
            Message.id == message_id,
        )
    )
    if row is None:
        raise MessageNotFound(f"no webhook message {message_id}")
    return row


def attempts_of(session: Session, actor: Actor, message_id: uuid.UUID) -> list[Attempt]:
    return list(
        session.scalars(
            select(Attempt)
            .where(
                Attempt.organization_id == actor.organization_id, Attempt.message_id == message_id
            )
            .order_by(Attempt.created_at, Attempt.number)
        )
    )


def redeliver(session: Session, actor: Actor, message_id: uuid.UUID) -> Message:
    """Send a message again now, once, with its original ``webhook-id`` and body."""
    row = get_message(session, actor, message_id)
    sub = session.get(Subscription, row.subscription_id)
    if sub is None or sub.deleted_at is not None:
        raise SubscriptionNotFound("the message's subscription was deleted")
    if not sub.enabled:
        raise SubscriptionDisabled(
            f"the subscription is disabled ({sub.disabled_reason}); enable it first"
        )
    if row.status in {MessageStatus.pending, MessageStatus.sending}:
        raise Conflict(f"the message is {row.status}: it is being delivered already")
    if row.purged_at is not None:
        raise Conflict("the message's body was purged under the retention policy")
    row.status = MessageStatus.pending
    row.manual = True
    row.next_attempt_at = None
    row.updated_at = utcnow()
    session.flush()
    session.info[OUTBOX_SIGNAL] = True
    audit.record(
        session,
        organization_id=actor.organization_id,
        actor=actor.name,
        action="webhooks:message:redeliver",
        target_type="webhook_message",
        target_id=row.id,
        details={"event_id": row.event_id, "subscription_id": str(row.subscription_id)},
    )
    return row
