"""What a completion would earn, worked out with the rules engine and nothing written.

"This learner finishing this course would get $X through Y, held for Z": the same decision as
``rewards.service.plan`` (eligibility, the first matching rule in priority order, the rule's
value) for a passed completion now, plus the holds that depend only on the program (approval
threshold) and the budget's current window. Gates that look at other data (screening, roster,
FCPA) are named as checked at intake, not guessed.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field

from sqlalchemy import select
from sqlalchemy.orm import Session

from laurel.budgets import service as budgets
from laurel.courses.models import Course
from laurel.kit.actor import Actor
from laurel.kit.clock import utcnow
from laurel.kit.money import Money
from laurel.learners import service as learners
from laurel.learners.models import Learner
from laurel.programs import rules as rules_engine
from laurel.programs import service as programs


@dataclass(frozen=True, slots=True)
class Preview:
    program: str
    outcome: str
    """``rewarded``, ``not_eligible``, ``no_matching_rule``, ``not_in_force``."""
    why: str | None = None
    amount: Money | None = None
    provider: str | None = None
    rule: str | None = None
    holds: list[str] = field(default_factory=list)
    calculation: dict[str, object] = field(default_factory=dict)


def _learner(session: Session, actor: Actor, external_id: str) -> Learner | None:
    return session.scalar(
        select(Learner).where(
            Learner.organization_id == actor.organization_id,
            Learner.livemode == actor.livemode,
            Learner.external_id == external_id,
            *learners.in_scope(actor),
        )
    )


def _course(session: Session, actor: Actor, external_id: str) -> Course | None:
    return session.scalar(
        select(Course).where(
            Course.organization_id == actor.organization_id,
            Course.livemode == actor.livemode,
            Course.external_id == external_id,
        )
    )


def preview(
    session: Session, actor: Actor, program_id: uuid.UUID, learner: str, course: str
) -> Preview | str:
    """The preview, or a message naming what was not found."""
    person = _learner(session, actor, learner)
    if person is None:
        return f"learner: no learner with external id {learner!r}"
    taken = _course(session, actor, course)
    if taken is None:
        return f"course: no course with external id {course!r}"
    now = utcnow()
    subject = rules_engine.Subject(
        classification=person.classification,
        department=person.department,
        country=person.country,
        course_external_id=taken.external_id,
        course_type=taken.type,
        course_tags=tuple(taken.tags or ()),
        course_importance=taken.importance,
        course_duration_minutes=taken.duration_minutes,
        outcome="passed",
        score=1.0,
        occurred_at=now,
    )
    snapshot = programs.snapshot(session, actor.organization_id)
    for version, rules in snapshot.at(now):
        if version.program_id != program_id:
            continue
        why_not = rules_engine.eligibility_failure(version.eligibility, subject)
        if why_not is not None:
            return Preview(version.name, "not_eligible", why_not)
        rule = next((r for r in rules if rules_engine.matches(r.conditions, subject)), None)
        if rule is None:
            return Preview(version.name, "no_matching_rule", "no rule matches this course")
        valuation = snapshot.value(version, rule, subject)
        holds = []
        limit = version.approval_threshold_minor
        if limit is not None and valuation.amount.minor > limit:
            holds.append(
                f"approval: above the approval threshold of "
                f"{Money(limit, valuation.amount.currency).format_amount()} "
                f"{valuation.amount.currency}"
            )
        for budget in budgets.list_budgets(session, actor.organization_id, program_id=program_id):
            if budget.department not in (None, person.department):
                continue
            if budget.available.minor < valuation.amount.minor:
                holds.append(
                    f"budget: {budget.name or 'the budget'} has "
                    f"{budget.available.format_amount()} {budget.available.currency} left"
                )
        if version.holdout_bps:
            holds.append(
                f"control group: {version.holdout_bps / 100:g}% of eligible learners are held "
                "out and never paid"
            )
        return Preview(
            version.name,
            "rewarded",
            amount=valuation.amount,
            provider=version.provider,
            rule=rule.name,
            holds=holds,
            calculation=valuation.calculation,
        )
    return Preview(str(program_id), "not_in_force", "the program is not active now")
