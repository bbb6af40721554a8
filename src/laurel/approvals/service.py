"""Approval requests and decisions: who may decide, four eyes, expiry, batches.

A gate that wants a person's decision (approval threshold 400, FCPA 300) calls
:func:`judge_many`: it raises a request (one row per reward, kind and round) and holds the
reward until the request is decided. The rules live here, not in the HTTP layer:

- the decider must hold a role allowed for the kind (``finance`` or ``org_admin`` for
  thresholds, ``compliance`` for FCPA);
- the decider must not be the requester (four eyes). Rewards are raised automatically by
  completions, so the requester is the owner of the program version that decided the reward
  (whoever configured the money); the decider is compared by every identity they have
  (``Actor.identities``);
- an approval is good for ``approval_valid_hours``: when it lapses before the reward starts
  issuing, the round is marked expired and the reward waits for a new decision (next round);
- a request nobody decides within the program's ``approval_expiry_days`` (default 14) expires:
  the reward is cancelled (``approval_expired``) and its budget released (:func:`expire_pending`);
- a decision is one guarded UPDATE of a pending row, so two approvers racing on the same
  reward cannot both decide it.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from laurel.approvals.models import Approval, Decision, Kind, Status
from laurel.audit import service as audit
from laurel.budgets import service as budgets
from laurel.config import get_settings
from laurel.kit.actor import Actor
from laurel.kit.clock import utcnow
from laurel.kit.errors import AppError, Conflict, Forbidden
from laurel.kit.ids import uuid7
from laurel.kit.observe import chunks
from laurel.kit.pagination import Page, paginate
from laurel.kit.sql import insert_rows
from laurel.programs import service as programs
from laurel.rewards import gates
from laurel.rewards import service as rewards
from laurel.rewards.gates import GateResult, Verdict
from laurel.rewards.models import Reward, RewardState

FINANCE = "finance"
COMPLIANCE = "compliance"
ORG_ADMIN = "org_admin"
ROLES = (FINANCE, COMPLIANCE, ORG_ADMIN)

DECIDERS: dict[str, frozenset[str]] = {
    Kind.approval: frozenset({FINANCE, ORG_ADMIN}),
    Kind.fcpa: frozenset({COMPLIANCE}),
}
"""The roles that may decide each kind of request."""

HOLD_REASONS = {Kind.approval: "approval_required", Kind.fcpa: "fcpa_review"}
REJECT_REASONS = {Kind.approval: "approval_rejected", Kind.fcpa: "fcpa_rejected"}
GATE_ACTOR = "gate:approvals"
SWEEP_BATCH = 500


class NotAwaitingApproval(Conflict):
    code = "not_awaiting_approval"


class ApproverRoleRequired(Forbidden):
    code = "approver_role_required"


class SelfApproval(Forbidden):
    """Four eyes: the person who asked for the money cannot approve it."""

    code = "self_approval"


def valid_for() -> timedelta:
    return timedelta(hours=get_settings().approval_valid_hours)


# ---------------------------------------------------------------- gates


def _latest(session: Session, reward_ids: list[uuid.UUID], kind: Kind) -> dict[uuid.UUID, Approval]:
    """The newest round of ``kind`` for each reward."""
    found: dict[uuid.UUID, Approval] = {}
    for part in chunks(reward_ids):
        # Decisions are guarded UPDATEs: read the rows as they are now, not as loaded before.
        rows = session.scalars(
            select(Approval)
            .where(Approval.reward_id.in_(part), Approval.kind == kind)
            .execution_options(populate_existing=True)
        )
        for row in rows:
            if row.reward_id not in found or row.round > found[row.reward_id].round:
                found[row.reward_id] = row
    return found


def judge_many(
    session: Session, items: Sequence[tuple[Reward, str]], kind: Kind
) -> list[GateResult]:
    """For rewards that need a decision of ``kind`` (with the hold message for each): pass the
    approved ones, reject the rejected, and hold the rest with a pending request, raising it
    (or the next round after an expired approval) where none is pending. Set-based: one read
    of the requests (none for rewards made in this unit of work), one INSERT of new ones."""
    if not items:
        return []
    now = utcnow()
    fresh = gates.new_rewards(session)
    latest = _latest(session, [r.id for r, _ in items if r.id not in fresh], kind)
    results: list[GateResult] = []
    raise_round: list[tuple[Reward, int]] = []
    for reward, message in items:
        row = latest.get(reward.id)
        status = row.status if row is not None else None
        if status == Status.approved and row is not None and _lapsed(row, now):
            _expire(session, row, now)
            status = Status.expired
        if status == Status.approved:
            results.append(GateResult.ok())
        elif status == Status.rejected and row is not None:
            why = "rejected by an approver" if kind is Kind.approval else "rejected by compliance"
            results.append(
                GateResult(
                    Verdict.reject,
                    REJECT_REASONS[kind],
                    f"{why}: {row.reason}" if row.reason else why,
                )
            )
        else:
            if status != Status.pending:
                raise_round.append((reward, row.round + 1 if row is not None else 1))
            results.append(GateResult(Verdict.hold, HOLD_REASONS[kind], message))
    _raise(session, raise_round, kind, now)
    return results


def _lapsed(row: Approval, now: datetime) -> bool:
    return row.expires_at is not None and row.expires_at <= now


def _raise(session: Session, wanted: list[tuple[Reward, int]], kind: Kind, now: datetime) -> None:
    if not wanted:
        return
    owners: dict[uuid.UUID, str] = {}
    days: dict[uuid.UUID, int] = {}
    by_org: dict[uuid.UUID, set[uuid.UUID]] = {}
    for reward, _ in wanted:
        by_org.setdefault(reward.organization_id, set()).add(reward.program_version_id)
    for organization_id, versions in by_org.items():
        owners.update(programs.owners(session, organization_id, versions))
        days.update(programs.approval_expiry_days(session, organization_id, versions))
    # Idempotent under concurrent gate runs: the unique (reward, kind, round) keeps one.
    insert_rows(
        session,
        Approval.__table__,  # type: ignore[arg-type]
        [
            {
                "id": uuid7(),
                "organization_id": reward.organization_id,
                "created_at": now,
                "reward_id": reward.id,
                "kind": kind,
                "round": round_,
                "status": Status.pending,
                "requester": owners.get(reward.program_version_id) or None,
                "requested_at": now,
                # Undecided by then, the request expires and the reward is cancelled.
                "expires_at": now
                + timedelta(
                    days=days.get(reward.program_version_id)
                    or programs.DEFAULT_APPROVAL_EXPIRY_DAYS
                ),
                "actor": None,
                "reason": "",
                "decided_at": None,
            }
            for reward, round_ in wanted
        ],
        ("reward_id", "kind", "round"),
    )


def _expire(session: Session, row: Approval, now: datetime) -> bool:
    moved = session.execute(
        update(Approval)
        .where(Approval.id == row.id, Approval.status == Status.approved)
        .values(status=Status.expired)
        .returning(Approval.id)
        .execution_options(synchronize_session=False)
    ).first()
    if moved is None:
        return False
    audit.record(
        session,
        organization_id=row.organization_id,
        actor=GATE_ACTOR,
        action=f"approvals:{row.kind}:expired",
        target_type="reward",
        target_id=row.reward_id,
        details={
            "round": row.round,
            "approved_by": row.actor,
            "expired_at": (row.expires_at or now).isoformat(),
        },
    )
    return True


# ---------------------------------------------------------------- deciding


def _pending(session: Session, reward: Reward) -> list[Approval]:
    return list(
        session.scalars(
            select(Approval)
            .where(Approval.reward_id == reward.id, Approval.status == Status.pending)
            .order_by(Approval.kind)
        )
    )


def check_four_eyes(actor: Actor, requests: Sequence[Approval]) -> None:
    """Refuse (403 ``self_approval``) when the actor, by any identity, asked for the money."""
    for request in requests:
        if request.requester and request.requester in actor.identities:
            raise SelfApproval(
                {
                    "message": "four eyes: the requester of a reward cannot decide it; "
                    "another approver must",
                    "requester": request.requester,
                }
            )


def decide(
    session: Session,
    actor: Actor,
    reward_id: uuid.UUID,
    decision: Decision,
    reason: str,
    kind: Kind | None = None,
) -> Reward:
    """Decide every pending request on the reward that the actor's roles allow (or only
    ``kind``), then run the reward's gates again. Raises 409 when nothing is pending, 403 when
    the actor lacks the role or asked for the money."""
    reward = rewards.get(session, actor, reward_id, lock=True)
    pending = [p for p in _pending(session, reward) if kind is None or p.kind == kind]
    if reward.state != RewardState.held or not pending:
        raise NotAwaitingApproval(
            f"reward {reward_id} is {reward.state} and not awaiting "
            f"{'an approval' if kind is None else f'a {kind} decision'}"
        )
    allowed = [p for p in pending if actor.roles & DECIDERS[p.kind]]
    if not allowed:
        needed = sorted(set().union(*(DECIDERS[p.kind] for p in pending)))
        raise ApproverRoleRequired(
            {
                "message": f"deciding this reward needs the role {' or '.join(needed)}",
                "roles_needed": needed,
                "roles_held": sorted(actor.roles),
            }
        )
    check_four_eyes(actor, allowed)
    now = utcnow()
    for request in allowed:
        moved = session.execute(
            update(Approval)
            .where(Approval.id == request.id, Approval.status == Status.pending)
            .values(
                status=decision,
                actor=actor.name,
                reason=reason,
                decided_at=now,
                expires_at=now + valid_for() if decision is Decision.approved else None,
            )
            .returning(Approval.id)
            .execution_options(synchronize_session=False)
        ).first()
        if moved is None:
            raise NotAwaitingApproval(f"reward {reward_id} was decided by someone else first")
        audit.record(
            session,
            organization_id=actor.organization_id,
            actor=actor.name,
            action=f"approvals:{request.kind}:{decision}",
            target_type="reward",
            target_id=reward.id,
            details={"reason": reason, "round": request.round, "requester": request.requester},
        )
    rewards.run_gates(session, reward, actor=actor.name)
    return reward


@dataclass(frozen=True, slots=True)
class ItemResult:
    reward_id: uuid.UUID
    ok: bool
    state: str | None = None
    error: str | None = None
    detail: Any = None


def decide_many(
    session: Session,
    actor: Actor,
    reward_ids: Sequence[uuid.UUID],
    decision: Decision,
    reason: str,
) -> list[ItemResult]:
    """Decide many rewards, each on its own (a savepoint each): one failing leaves the others
    decided, and the answer says which failed and why. One audit entry per decision."""
    results: list[ItemResult] = []
    seen: set[uuid.UUID] = set()
    for reward_id in reward_ids:
        if reward_id in seen:
            results.append(
                ItemResult(reward_id, False, error="duplicate", detail="listed more than once")
            )
            continue
        seen.add(reward_id)
        savepoint = session.begin_nested()
        queued = audit.mark(session)
        try:
            reward = decide(session, actor, reward_id, decision, reason)
        except AppError as exc:
            savepoint.rollback()
            audit.rollback_to(session, queued)
            results.append(ItemResult(reward_id, False, error=exc.code, detail=exc.detail))
            continue
        savepoint.commit()
        results.append(ItemResult(reward_id, True, state=reward.state))
    return results


# ---------------------------------------------------------------- reading


@dataclass(frozen=True, slots=True)
class PendingItem:
    request: Approval
    reward: Reward

    @property
    def roles(self) -> list[str]:
        return sorted(DECIDERS[self.request.kind])


def list_pending(
    session: Session,
    actor: Actor,
    *,
    limit: int,
    cursor: uuid.UUID | None,
    kind: Kind | None = None,
) -> Page[PendingItem]:
    """Requests waiting for a decision, newest first, with their rewards (test-mode callers
    see test-mode rewards)."""
    query = select(Approval).where(
        Approval.organization_id == actor.organization_id, Approval.status == Status.pending
    )
    if kind is not None:
        query = query.where(Approval.kind == kind)
    query = query.where(
        Approval.reward_id.in_(
            select(Reward.id).where(
                Reward.organization_id == actor.organization_id,
                Reward.livemode == actor.livemode,
            )
        )
    )
    page = paginate(session, query, Approval.id, limit=limit, cursor=cursor)
    ids = [r.reward_id for r in page.items]
    found = {r.id: r for r in session.scalars(select(Reward).where(Reward.id.in_(ids)))}
    return Page(
        items=[PendingItem(r, found[r.reward_id]) for r in page.items],
        next_cursor=page.next_cursor,
    )


def history(session: Session, actor: Actor, reward_id: uuid.UUID) -> list[Approval]:
    """Every request and decision on a reward, oldest first."""
    rewards.get(session, actor, reward_id)
    return list(
        session.scalars(
            select(Approval)
            .where(
                Approval.organization_id == actor.organization_id,
                Approval.reward_id == reward_id,
            )
            .order_by(Approval.kind, Approval.round)
        )
    )


# ---------------------------------------------------------------- expiry


def expire_due(session: Session, *, actor: str = "worker", limit: int = SWEEP_BATCH) -> int:
    """Expire approvals that lapsed before their reward started issuing (every organization):
    the round is marked expired, a ready reward goes back to pending with its budget released,
    and the gates run again, which raises the next round and holds the reward. Answers how
    many approvals expired."""
    now = utcnow()
    waiting = (RewardState.held, RewardState.ready, RewardState.pending)
    due = list(
        session.execute(
            select(Approval, Reward)
            .join(Reward, Reward.id == Approval.reward_id)
            .where(
                Approval.status == Status.approved,
                Approval.expires_at <= now,
                Reward.state.in_(waiting),
            )
            .order_by(Approval.id)
            .limit(limit)
            .with_for_update(of=Reward)
        )
    )
    expired = 0
    recheck: dict[uuid.UUID, Reward] = {}
    for row, reward in due:
        if not _expire(session, row, now):
            continue
        expired += 1
        if reward.state == RewardState.ready and rewards.transition(
            session,
            reward,
            RewardState.ready,
            RewardState.pending,
            actor=actor,
            details={"reason": f"{row.kind} approval expired"},
        ):
            budgets.release(session, reward.id)
        if reward.state in (RewardState.pending, RewardState.held):
            recheck[reward.id] = reward
    if recheck:
        rewards.run_gates_many(session, list(recheck.values()), actor=actor)
    return expired


EXPIRED_REASON = "approval_expired"
"""The reward's cancellation reason when its request for a decision expired undecided."""


def expire_pending(session: Session, *, actor: str = "worker", limit: int = SWEEP_BATCH) -> int:
    """Expire requests nobody decided before their deadline (every organization): each is
    marked ``expired`` by a guarded UPDATE (``status = 'pending'``, so a decision that won the
    race stays decided and a decided request is never touched), audited once, and its reward
    leaves the hold cancelled with reason ``approval_expired`` and its budget released; the
    reward's other pending requests close with it. Answers how many requests expired.

    Rewards are locked first (``FOR UPDATE`` on PostgreSQL, in id order), the same lock
    :func:`decide` takes, so an approval and the sweep on one reward run one after the other.
    """
    now = utcnow()
    due = list(
        session.execute(
            select(Approval.id, Approval.reward_id)
            .where(Approval.status == Status.pending, Approval.expires_at <= now)
            .order_by(Approval.expires_at, Approval.id)
            .limit(limit)
        )
    )
    if not due:
        return 0
    reward_ids = sorted({reward_id for _, reward_id in due})
    locked: dict[uuid.UUID, Reward] = {}
    for part in chunks(reward_ids):
        for reward in session.scalars(
            select(Reward)
            .where(Reward.id.in_(part))
            .order_by(Reward.id)
            .with_for_update()
            .execution_options(populate_existing=True)
        ):
            locked[reward.id] = reward
    expired_rows: list[Approval] = []
    for part in chunks(sorted(request_id for request_id, _ in due)):
        expired_rows.extend(
            session.scalars(
                update(Approval)
                .where(
                    Approval.id.in_(part),
                    Approval.status == Status.pending,
                    Approval.expires_at <= now,
                )
                .values(
                    status=Status.expired,
                    actor=actor,
                    reason="no decision before the request expired",
                    decided_at=now,
                )
                .returning(Approval)
                .execution_options(synchronize_session=False, populate_existing=True)
            )
        )
    if not expired_rows:
        return 0
    cancelled_for = {row.reward_id for row in expired_rows}
    # The reward is gone: its other pending requests (the other kind) cannot be decided.
    for part in chunks(sorted(cancelled_for)):
        expired_rows.extend(
            session.scalars(
                update(Approval)
                .where(Approval.reward_id.in_(part), Approval.status == Status.pending)
                .values(
                    status=Status.expired,
                    actor=actor,
                    reason="the reward was cancelled when another request expired",
                    decided_at=now,
                )
                .returning(Approval)
                .execution_options(synchronize_session=False, populate_existing=True)
            )
        )
    for row in expired_rows:
        audit.record(
            session,
            organization_id=row.organization_id,
            actor=actor,
            action=f"approvals:{row.kind}:request_expired",
            target_type="reward",
            target_id=row.reward_id,
            details={
                "round": row.round,
                "requester": row.requester,
                "requested_at": row.requested_at.isoformat(),
                "expired_at": (row.expires_at or now).isoformat(),
            },
        )
    waiting = [locked[r] for r in sorted(cancelled_for) if r in locked]
    kinds: dict[uuid.UUID, set[str]] = {}
    for row in expired_rows:
        kinds.setdefault(row.reward_id, set()).add(row.kind)
    for kind_set in sorted({tuple(sorted(k)) for k in kinds.values()}):
        group = [r for r in waiting if tuple(sorted(kinds[r.id])) == kind_set]
        moved = rewards.transition_many(
            session,
            group,
            [RewardState.held, RewardState.pending],
            RewardState.cancelled,
            actor=actor,
            details={"reason": EXPIRED_REASON, "kinds": list(kind_set)},
            last_error=f"no decision before the approval request expired ({', '.join(kind_set)})",
            hold_reasons=[],
        )
        for reward in moved:
            budgets.release(session, reward.id)
    return len(expired_rows)


def sweep(session: Session, *, actor: str = "worker", limit: int = SWEEP_BATCH) -> int:
    """One pass of both expiries: lapsed approvals (a new round) and undecided requests
    (the reward is cancelled). Answers how many rows expired."""
    return expire_due(session, actor=actor, limit=limit) + expire_pending(
        session, actor=actor, limit=limit
    )
