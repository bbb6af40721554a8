"""Reward lifecycle. Every state change is one UPDATE guarded by the expected current state.

``transition`` is the only way a reward's state moves: two workers or two reviewers racing on the
same reward cannot both move it, because the second UPDATE matches no row.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Select, func, or_, select, text, update
from sqlalchemy.orm import Session
from sqlalchemy.orm.attributes import set_committed_value

from laurel.audit import service as audit
from laurel.budgets import service as budgets
from laurel.kit.actor import Actor
from laurel.kit.clock import utcnow
from laurel.kit.errors import Conflict, NotFound
from laurel.kit.ids import uuid7
from laurel.kit.pagination import Page, paginate
from laurel.kit.sql import insert_ignore_returning
from laurel.programs import rules as rules_engine
from laurel.programs import service as programs
from laurel.programs.models import ProgramVersion, RewardRuleVersion
from laurel.rewards import gates
from laurel.rewards.models import Reward, RewardState

READY_SIGNAL = "laurel.rewards.ready"
NOTIFY_CHANNEL = "laurel_rewards_ready"

_STAMP = {
    RewardState.ready: "ready_at",
    RewardState.issuing: "issuing_at",
    RewardState.delivered: "delivered_at",
    RewardState.failed: "failed_at",
    RewardState.cancelled: "cancelled_at",
}


class RewardNotFound(NotFound):
    code = "reward_not_found"


class InvalidTransition(Conflict):
    code = "invalid_transition"


def transition(
    session: Session,
    reward: Reward,
    expected: RewardState | Iterable[RewardState],
    new: RewardState,
    *,
    actor: str,
    details: dict[str, Any] | None = None,
    **values: Any,
) -> bool:
    """Move ``reward`` to ``new`` if still in ``expected``; False when someone else moved it."""
    allowed = [expected] if isinstance(expected, RewardState) else list(expected)
    now = utcnow()
    stamp = _STAMP.get(new)
    if stamp:
        values.setdefault(stamp, now)
    previous = reward.state
    result = session.execute(
        update(Reward)
        .where(Reward.id == reward.id, Reward.state.in_(allowed))
        .values(state=new, updated_at=now, **values)
        .returning(Reward.state)
        .execution_options(synchronize_session=False)
    )
    if result.one_or_none() is None:
        return False
    # Keep the loaded object in step with the row without another SELECT.
    for key, value in {"state": new, "updated_at": now, **values}.items():
        set_committed_value(reward, key, value)
    audit.record(
        session,
        organization_id=reward.organization_id,
        actor=actor,
        action=f"rewards:reward:{new}",
        target_type="reward",
        target_id=reward.id,
        details={"from": previous, **(details or {})},
    )
    if new is RewardState.ready:
        signal_ready(session)
    return True


def signal_ready(session: Session) -> None:
    """Wake workers after commit: in this process directly, in others through NOTIFY."""
    if not session.info.get(READY_SIGNAL):
        session.info[READY_SIGNAL] = True
        if session.get_bind().dialect.name == "postgresql":
            session.execute(text(f"NOTIFY {NOTIFY_CHANNEL}"))


# ---------------------------------------------------------------- deciding


@dataclass(frozen=True, slots=True)
class Decision:
    program_id: uuid.UUID
    program_key: str
    result: str
    """rewarded | duplicate | not_eligible | no_matching_rule"""
    reason: str | None = None
    reward_id: uuid.UUID | None = None

    def to_json(self) -> dict[str, Any]:
        return {
            "program_id": str(self.program_id),
            "program_key": self.program_key,
            "result": self.result,
            "reason": self.reason,
            "reward_id": str(self.reward_id) if self.reward_id else None,
        }


@dataclass(frozen=True, slots=True)
class EventFacts:
    event_id: uuid.UUID
    organization_id: uuid.UUID
    livemode: bool
    learner_id: uuid.UUID
    course_id: uuid.UUID
    received_at: datetime
    subject: rules_engine.Subject


def decide(
    session: Session, actor: Actor, facts: EventFacts
) -> tuple[list[Decision], list[Reward]]:
    """Create at most one pending reward per program in force, then run each through the gates.

    Returns the decisions and the rewards made, in hand: the session holds them only weakly,
    so reading them back by id would cost a query each.
    """
    programs_set = programs.snapshot(session, facts.organization_id)
    keys = {p.id: p.key for p in programs_set.programs}
    decisions: list[Decision] = []
    made: list[Reward] = []
    for version, rules in programs_set.at(facts.subject.occurred_at):
        key = keys[version.program_id]
        why_not = rules_engine.eligibility_failure(version.eligibility, facts.subject)
        if why_not is not None:
            decisions.append(Decision(version.program_id, key, "not_eligible", why_not))
            continue
        rule = next((r for r in rules if rules_engine.matches(r.conditions, facts.subject)), None)
        if rule is None:
            decisions.append(Decision(version.program_id, key, "no_matching_rule"))
            continue
        reward = _create(session, actor, facts, version, rule)
        if reward is None:
            decisions.append(
                Decision(
                    version.program_id,
                    key,
                    "duplicate",
                    "already rewarded for this course in this period",
                )
            )
            continue
        decisions.append(Decision(version.program_id, key, "rewarded", None, reward.id))
        run_gates(session, reward, actor=actor.name)
        made.append(reward)
    return decisions, made


def _create(
    session: Session,
    actor: Actor,
    facts: EventFacts,
    version: ProgramVersion,
    rule: RewardRuleVersion,
) -> Reward | None:
    valuation = rules_engine.value_of(rule.value, facts.subject, version.segment_factors)
    new_id = uuid7()
    now = utcnow()
    values = {
        "id": new_id,
        "organization_id": facts.organization_id,
        "livemode": facts.livemode,
        "program_id": version.program_id,
        "program_version_id": version.id,
        "rule_id": rule.rule_id,
        "rule_version_id": rule.id,
        "learner_id": facts.learner_id,
        "course_id": facts.course_id,
        "event_id": facts.event_id,
        "dedupe_key": rules_engine.dedupe_key(version.dedupe_period, facts.subject.occurred_at),
        "amount_minor": valuation.amount.minor,
        "currency": valuation.amount.currency,
        "reward_kind": version.reward_kind,
        # Test mode never reaches a real provider.
        "provider": version.provider if facts.livemode else "sandbox",
        "state": RewardState.pending,
        "hold_reasons": [],
        "calculation": valuation.calculation,
        "attempts": 0,
        "created_at": now,
        "updated_at": now,
        "event_received_at": facts.received_at,
    }
    reward = insert_ignore_returning(
        session,
        Reward,
        values,
        ["organization_id", "livemode", "program_id", "learner_id", "course_id", "dedupe_key"],
    )
    if reward is None:
        return None
    audit.record(
        session,
        organization_id=facts.organization_id,
        actor=actor.name,
        action="rewards:reward:create",
        target_type="reward",
        target_id=new_id,
        details={
            "event_id": str(facts.event_id),
            "program_version_id": str(version.id),
            "rule_version_id": str(rule.id),
            "amount": valuation.amount.format_amount(),
            "currency": valuation.amount.currency,
            "calculation": valuation.calculation,
        },
    )
    return reward


def run_gates(session: Session, reward: Reward, *, actor: str) -> RewardState:
    """Run the pipeline on a pending or held reward; it ends ready, held or cancelled."""
    holds: list[dict[str, str | None]] = []
    for gate in gates.pipeline():
        if gate.commits_money and holds:
            break
        result = gate.check(session, reward)
        if result.verdict is gates.Verdict.reject:
            budgets.release(session, reward.id)
            transition(
                session,
                reward,
                [RewardState.pending, RewardState.held],
                RewardState.cancelled,
                actor=actor,
                details={"gate": gate.name, "reason": result.reason},
                last_error=result.message,
                hold_reasons=[],
            )
            return RewardState.cancelled
        if result.verdict is gates.Verdict.hold:
            holds.append({"gate": gate.name, "reason": result.reason, "message": result.message})
    if holds:
        if reward.state == RewardState.held and reward.hold_reasons == holds:
            return RewardState.held
        transition(
            session,
            reward,
            [RewardState.pending, RewardState.held],
            RewardState.held,
            actor=actor,
            details={"reasons": [h["reason"] for h in holds]},
            hold_reasons=holds,
        )
        return RewardState.held
    transition(
        session,
        reward,
        [RewardState.pending, RewardState.held],
        RewardState.ready,
        actor=actor,
        hold_reasons=[],
        next_attempt_at=None,
    )
    return RewardState.ready


def cancel(session: Session, actor: Actor, reward_id: uuid.UUID, reason: str) -> Reward:
    reward = get(session, actor, reward_id)
    moved = transition(
        session,
        reward,
        [RewardState.pending, RewardState.held, RewardState.ready],
        RewardState.cancelled,
        actor=actor.name,
        details={"reason": reason},
        last_error=reason,
    )
    if not moved:
        raise InvalidTransition(f"a {reward.state} reward cannot be cancelled")
    budgets.release(session, reward.id)
    return reward


def retry_failed(session: Session, actor: Actor, reward_id: uuid.UUID) -> Reward:
    """Give a failed reward another go: back through the gates (its budget was released)."""
    reward = get(session, actor, reward_id, lock=True)
    moved = transition(
        session,
        reward,
        RewardState.failed,
        RewardState.pending,
        actor=actor.name,
        details={"retry_of": reward.last_error},
        attempts=0,
        next_attempt_at=None,
        lease_expires_at=None,
    )
    if not moved:
        raise InvalidTransition(f"only failed rewards are retried; this one is {reward.state}")
    run_gates(session, reward, actor=actor.name)
    return reward


def retry_gates(session: Session, actor: Actor, reward_id: uuid.UUID) -> Reward:
    """Run a held reward's gates again (after a budget top-up, say)."""
    reward = get(session, actor, reward_id, lock=True)
    if reward.state != RewardState.held:
        raise InvalidTransition(f"only held rewards are re-checked; this one is {reward.state}")
    run_gates(session, reward, actor=actor.name)
    return reward


def release_held(
    session: Session, organization_id: uuid.UUID, program_id: uuid.UUID, reason: str, actor: str
) -> int:
    """Re-run the gates of rewards held for ``reason`` in a program, oldest first."""
    held = session.scalars(
        select(Reward)
        .where(
            Reward.organization_id == organization_id,
            Reward.program_id == program_id,
            Reward.state == RewardState.held,
        )
        .order_by(Reward.id)
        .with_for_update()
    )
    moved = 0
    for reward in held:
        if (
            any(h.get("reason") == reason for h in reward.hold_reasons)
            and run_gates(session, reward, actor=actor) is RewardState.ready
        ):
            moved += 1
    return moved


# ---------------------------------------------------------------- reading


def get(session: Session, actor: Actor, reward_id: uuid.UUID, *, lock: bool = False) -> Reward:
    query = select(Reward).where(
        Reward.organization_id == actor.organization_id,
        Reward.livemode == actor.livemode,
        Reward.id == reward_id,
    )
    reward = session.scalar(query.with_for_update() if lock else query)
    if reward is None:
        raise RewardNotFound(f"no reward {reward_id}")
    return reward


def for_events(
    session: Session, organization_id: uuid.UUID, event_ids: list[uuid.UUID]
) -> dict[uuid.UUID, list[Reward]]:
    found: dict[uuid.UUID, list[Reward]] = {e: [] for e in event_ids}
    if not event_ids:
        return found
    for reward in session.scalars(
        select(Reward)
        .where(Reward.organization_id == organization_id, Reward.event_id.in_(event_ids))
        .order_by(Reward.id)
    ):
        found[reward.event_id].append(reward)
    return found


def list_rewards(
    session: Session,
    actor: Actor,
    *,
    limit: int,
    cursor: uuid.UUID | None,
    learner_id: uuid.UUID | None = None,
    program_id: uuid.UUID | None = None,
    state: RewardState | None = None,
    created_from: datetime | None = None,
    created_to: datetime | None = None,
) -> Page[Reward]:
    query = select(Reward).where(
        Reward.organization_id == actor.organization_id, Reward.livemode == actor.livemode
    )
    if learner_id is not None:
        query = query.where(Reward.learner_id == learner_id)
    if program_id is not None:
        query = query.where(Reward.program_id == program_id)
    if state is not None:
        query = query.where(Reward.state == state)
    if created_from is not None:
        query = query.where(Reward.created_at >= created_from)
    if created_to is not None:
        query = query.where(Reward.created_at < created_to)
    return paginate(session, query, Reward.id, limit=limit, cursor=cursor)


# ---------------------------------------------------------------- issuance (the worker's side)


def by_id(session: Session, reward_id: uuid.UUID) -> Reward | None:
    """For the worker, which acts for every organization; API callers use ``get``."""
    return session.get(Reward, reward_id)


def _skip_locked(session: Session, query: Select[Reward]) -> Select[Reward]:
    # PostgreSQL workers pass over rows another worker holds instead of waiting for them;
    # SQLite has one writer at a time anyway.
    if session.get_bind().dialect.name == "postgresql":
        return query.with_for_update(skip_locked=True)
    return query


def claim_ready(session: Session, *, limit: int, lease_seconds: float, actor: str) -> list[Reward]:
    """Move up to ``limit`` due ready rewards to ``issuing``, leased to the caller."""
    now = utcnow()
    query = (
        select(Reward)
        .where(Reward.state == RewardState.ready)
        .where(or_(Reward.next_attempt_at.is_(None), Reward.next_attempt_at <= now))
        .order_by(Reward.id)
        .limit(limit)
    )
    lease = now + timedelta(seconds=lease_seconds)
    return [
        r
        for r in session.scalars(_skip_locked(session, query)).all()
        if transition(
            session,
            r,
            RewardState.ready,
            RewardState.issuing,
            actor=actor,
            details={"attempt": r.attempts + 1},
            lease_expires_at=lease,
            attempts=r.attempts + 1,
        )
    ]


def take_abandoned(session: Session, *, limit: int, lease_seconds: float) -> list[Reward]:
    """Issuing rewards whose lease ran out; taking one renews its lease for the caller only."""
    now = utcnow()
    query = (
        select(Reward)
        .where(Reward.state == RewardState.issuing, Reward.lease_expires_at < now)
        .order_by(Reward.id)
        .limit(limit)
    )
    lease = now + timedelta(seconds=lease_seconds)
    taken = []
    for reward in session.scalars(_skip_locked(session, query)).all():
        renewed = session.execute(
            update(Reward)
            .where(
                Reward.id == reward.id,
                Reward.state == RewardState.issuing,
                Reward.lease_expires_at < now,
            )
            .values(lease_expires_at=lease)
            .returning(Reward.id)
            .execution_options(synchronize_session=False)
        )
        if renewed.first() is not None:
            taken.append(reward)
    return taken


def next_retry_at(session: Session) -> datetime | None:
    return session.scalar(
        select(Reward.next_attempt_at)
        .where(Reward.state == RewardState.ready, Reward.next_attempt_at.is_not(None))
        .order_by(Reward.next_attempt_at)
        .limit(1)
    )


def count_by_state(session: Session) -> list[tuple[str, bool, int]]:
    """(state, livemode, count) across the deployment, for metrics."""
    rows = session.execute(
        select(Reward.state, Reward.livemode, func.count()).group_by(Reward.state, Reward.livemode)
    )
    return [(state, live, count) for state, live, count in rows]
