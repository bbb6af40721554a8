"""The review workflow: a compliance reviewer clears or confirms each possible match.

Clearing lets the reward continue through the rest of the pipeline; confirming cancels it,
blocks the learner (their later rewards are held) and keeps a report record. Each decision is
one guarded UPDATE on the case (``WHERE status = 'open'``), so two reviewers can never both
decide one case.
"""

from __future__ import annotations

import contextlib
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from laurel.audit import service as audit
from laurel.kit.actor import Actor
from laurel.kit.clock import utcnow
from laurel.kit.errors import Conflict, NotFound, field_error
from laurel.kit.ids import uuid7
from laurel.kit.pagination import Page, paginate
from laurel.learners import service as learners
from laurel.rewards import service as rewards
from laurel.rewards.models import RewardState
from laurel.rewards.service import InvalidTransition
from laurel.screening import service
from laurel.screening.gate import SCREENING_BLOCKED, UNAVAILABLE
from laurel.screening.models import (
    CaseStatus,
    ReviewCase,
    SanctionsReport,
    ScreeningResult,
)

REPORT_BUSINESS_DAYS = 10


class CaseNotFound(NotFound):
    code = "screening_case_not_found"


class CaseDecided(Conflict):
    code = "screening_case_decided"


@dataclass(frozen=True, slots=True)
class CaseView:
    case: ReviewCase
    result: ScreeningResult
    report: SanctionsReport | None


def _view(session: Session, case: ReviewCase) -> CaseView:
    result = session.get(ScreeningResult, case.result_id)
    assert result is not None
    report = session.scalar(select(SanctionsReport).where(SanctionsReport.case_id == case.id))
    return CaseView(case, result, report)


def _case(session: Session, actor: Actor, case_id: uuid.UUID) -> ReviewCase:
    case = session.scalar(
        select(ReviewCase).where(
            ReviewCase.organization_id == actor.organization_id,
            ReviewCase.livemode == actor.livemode,
            ReviewCase.id == case_id,
        )
    )
    if case is None:
        raise CaseNotFound(f"no screening case {case_id}")
    return case


def get(session: Session, actor: Actor, case_id: uuid.UUID) -> CaseView:
    return _view(session, _case(session, actor, case_id))


def list_cases(
    session: Session,
    actor: Actor,
    *,
    limit: int,
    cursor: uuid.UUID | None,
    status: CaseStatus | None = None,
) -> tuple[Page[ReviewCase], list[CaseView]]:
    query = select(ReviewCase).where(
        ReviewCase.organization_id == actor.organization_id, ReviewCase.livemode == actor.livemode
    )
    if status is not None:
        query = query.where(ReviewCase.status == status)
    page = paginate(session, query, ReviewCase.id, limit=limit, cursor=cursor)
    return page, [_view(session, c) for c in page.items]


def _decide(
    session: Session, actor: Actor, case_id: uuid.UUID, status: CaseStatus, reason: str
) -> ReviewCase:
    if not reason.strip():
        raise field_error("reason", "a reviewer's decision needs a reason")
    case = _case(session, actor, case_id)
    now = utcnow()
    moved = session.execute(
        update(ReviewCase)
        .where(ReviewCase.id == case.id, ReviewCase.status == CaseStatus.open)
        .values(status=status, reviewer=actor.name, reason=reason, decided_at=now, updated_at=now)
        .returning(ReviewCase.id)
        .execution_options(synchronize_session=False)
    ).first()
    if moved is None:
        session.refresh(case)
        raise CaseDecided(f"screening case {case_id} is already {case.status}")
    session.refresh(case)
    audit.record(
        session,
        organization_id=actor.organization_id,
        actor=actor.name,
        action=f"screening:case:{status}",
        target_type="screening_case",
        target_id=case.id,
        details={"reward_id": str(case.reward_id), "reason": reason},
    )
    return case


def _continue(session: Session, actor: Actor, reward_id: uuid.UUID) -> None:
    """Run the reward's pipeline again; a reward no longer held (cancelled by hand) stays."""
    with contextlib.suppress(InvalidTransition):
        rewards.retry_gates(session, actor, reward_id)


def clear(session: Session, actor: Actor, case_id: uuid.UUID, reason: str) -> CaseView:
    """Not the listed person: the reward continues through the remaining gates."""
    case = _decide(session, actor, case_id, CaseStatus.cleared, reason)
    _continue(session, actor, case.reward_id)
    return _view(session, case)


def _business_days_after(start: datetime, days: int) -> datetime:
    when = start
    while days:
        when += timedelta(days=1)
        if when.weekday() < 5:
            days -= 1
    return when


def confirm(session: Session, actor: Actor, case_id: uuid.UUID, reason: str) -> CaseView:
    """The listed person: reward cancelled, learner blocked, report record kept."""
    case = _decide(session, actor, case_id, CaseStatus.confirmed, reason)
    learners.block_for_sanctions(session, case.organization_id, case.learner_id)
    result = session.get(ScreeningResult, case.result_id)
    assert result is not None
    reward = rewards.get(session, actor, case.reward_id)
    now = utcnow()
    report_id = uuid7()
    session.add(
        SanctionsReport(
            id=report_id,
            organization_id=case.organization_id,
            case_id=case.id,
            reward_id=case.reward_id,
            learner_id=case.learner_id,
            reviewer=actor.name,
            details={
                "query": {"name": result.query_name, "country": result.query_country},
                "list_version_id": str(result.list_version_id) if result.list_version_id else None,
                "country_hit": result.country_hit,
                "matches": result.matches,
                "reason": reason,
                "reward": {
                    "id": str(reward.id),
                    "amount_minor": reward.amount_minor,
                    "currency": reward.currency,
                    "state_before": reward.state,
                },
            },
            due_at=_business_days_after(now, REPORT_BUSINESS_DAYS),
            created_at=now,
        )
    )
    audit.record(
        session,
        organization_id=case.organization_id,
        actor=actor.name,
        action="screening:report:create",
        target_type="sanctions_report",
        target_id=report_id,
        details={"case_id": str(case.id), "learner_id": str(case.learner_id)},
    )
    _continue(session, actor, case.reward_id)
    _hold_learner_rewards(session, actor, case)
    return _view(session, case)


def _hold_learner_rewards(session: Session, actor: Actor, confirmed: ReviewCase) -> None:
    """The learner's other rewards waiting on screening now wait on the block instead."""
    others = session.scalars(
        select(ReviewCase.reward_id).where(
            ReviewCase.organization_id == confirmed.organization_id,
            ReviewCase.learner_id == confirmed.learner_id,
            ReviewCase.status == CaseStatus.open,
            ReviewCase.id != confirmed.id,
        )
    ).all()
    for reward_id in others:
        _continue(session, actor, reward_id)


def rescreen_held(session: Session, actor_name: str) -> int:
    """After a new list: re-run the pipeline of every reward still waiting on screening.

    Those are the rewards of open cases and the ones held because no list existed. Returns how
    many were re-run; each reward is screened against the new version by the gate itself.
    """
    # The new version's index first: the gate then screens against it, not an older one.
    policy = service.Policy.from_settings()
    newest = service.current_version(session)
    if newest is not None:
        service.index_for(session, newest.id, policy.entry_types)
    waiting: list[tuple[uuid.UUID, bool, uuid.UUID | None]] = [
        (r[0], r[1], r[2])
        for r in session.execute(
            select(ReviewCase.organization_id, ReviewCase.livemode, ReviewCase.reward_id).where(
                ReviewCase.status == CaseStatus.open
            )
        )
    ]
    waiting += [
        (r[0], r[1], r[2])
        for r in session.execute(
            select(
                ScreeningResult.organization_id,
                ScreeningResult.livemode,
                ScreeningResult.reward_id,
            )
            .where(ScreeningResult.decision == UNAVAILABLE, ScreeningResult.reward_id.is_not(None))
            .distinct()
        )
    ]
    seen: set[uuid.UUID] = set()
    for organization_id, livemode, reward_id in waiting:
        if reward_id is None or reward_id in seen:
            continue
        seen.add(reward_id)
        actor = Actor(name=actor_name, organization_id=organization_id, livemode=livemode)
        _continue(session, actor, reward_id)
    return len(seen)


class LearnerNotBlocked(Conflict):
    code = "learner_not_blocked"


def unblock(session: Session, actor: Actor, learner_id: uuid.UUID, reason: str) -> int:
    """Lift a learner's sanctions block; their rewards held for it run the pipeline again
    (and are screened like any other). Returns how many were re-run."""
    if not reason.strip():
        raise field_error("reason", "lifting a sanctions block needs a reason")
    learner = learners.get(session, actor, learner_id)
    if not learners.unblock_for_sanctions(session, actor.organization_id, learner.id):
        raise LearnerNotBlocked(f"learner {learner_id} is not blocked")
    audit.record(
        session,
        organization_id=actor.organization_id,
        actor=actor.name,
        action="screening:learner:unblock",
        target_type="learner",
        target_id=learner.id,
        details={"reason": reason},
    )
    rerun = 0
    cursor: uuid.UUID | None = None
    while True:
        page = rewards.list_rewards(
            session,
            actor,
            limit=500,
            cursor=cursor,
            learner_id=learner.id,
            state=RewardState.held,
        )
        for reward in page.items:
            if any(h.get("reason") == SCREENING_BLOCKED for h in reward.hold_reasons):
                _continue(session, actor, reward.id)
                rerun += 1
        if page.next_cursor is None:
            return rerun
        cursor = page.next_cursor
