"""What a completion would earn, decided by the real pipeline and then undone: a dry run.

"This learner finishing this course would get $X through Y, held for Z". The decision is
``service.plan`` itself (programs in force, eligibility, control group, dedupe, the first
matching rule and its value), and the holds come from the real gates: the planned rewards are
written inside a SAVEPOINT, every gate judges them exactly as at intake (screening against the
newest list, tax forms and thresholds, FCPA, approval threshold, gift-code stock, the budget
reservation), and the savepoint is rolled back whatever happens. Nothing the gates wrote
(screening results, review cases, tax records, approval requests, form requests, reservations,
holdout assignments, audit entries queued in the session) survives the call.

Unlike intake, a money gate (the budget) is also asked when an earlier gate holds, so the
preview names every hold the reward would meet; such a check is marked ``after_holds``: at
intake it runs once the earlier holds are resolved.

The caller passes a writing session (``unit_of_work``): a read-only one refuses the rehearsal.
On PostgreSQL the gates' row and advisory locks are held until that transaction ends, so it
should end right after the answer is built.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import Table
from sqlalchemy.orm import Session

from laurel.audit import service as audit
from laurel.courses import service as courses
from laurel.delivery import routing
from laurel.events.models import Outcome
from laurel.kit.actor import Actor
from laurel.kit.clock import utcnow
from laurel.kit.ids import uuid7
from laurel.kit.money import Money
from laurel.kit.orm import from_row
from laurel.kit.sql import insert_rows
from laurel.learners import service as learners
from laurel.programs import rules as rules_engine
from laurel.programs import service as programs
from laurel.rewards import gates, service
from laurel.rewards.models import Reward


@dataclass(frozen=True, slots=True)
class GateCheck:
    gate: str
    verdict: str
    """``pass``, ``hold`` or ``reject`` (the reward would be cancelled)."""
    reason: str | None = None
    message: str | None = None
    after_holds: bool = False
    """A money gate asked although an earlier gate holds: at intake it runs once they clear."""


@dataclass(frozen=True, slots=True)
class ProgramOutcome:
    program_id: uuid.UUID
    program_key: str
    program_name: str
    result: str
    """``rewarded``, ``duplicate``, ``not_eligible``, ``no_matching_rule``, ``holdout``."""
    reason: str | None = None
    rule_id: uuid.UUID | None = None
    rule_name: str | None = None
    amount: Money | None = None
    calculation: dict[str, Any] = field(default_factory=dict)
    delivery: str | None = None
    """The program's delivery model: ``instant``, ``batch``, ``link`` or ``points``."""
    providers: tuple[str, ...] = ()
    """Who would issue it, first choice first (the program's provider or its route)."""
    checks: tuple[GateCheck, ...] = ()

    @property
    def holds(self) -> list[GateCheck]:
        return [c for c in self.checks if c.verdict == gates.Verdict.hold]

    @property
    def rejected(self) -> GateCheck | None:
        return next((c for c in self.checks if c.verdict == gates.Verdict.reject), None)

    @property
    def state(self) -> str | None:
        """The state the reward would reach at intake: ``ready``, ``held`` or ``cancelled``."""
        if self.result != "rewarded":
            return None
        if self.rejected is not None:
            return "cancelled"
        return "held" if any(not c.after_holds for c in self.holds) else "ready"


@dataclass(frozen=True, slots=True)
class DryRun:
    learner_id: uuid.UUID
    course_id: uuid.UUID
    at: datetime
    outcomes: list[ProgramOutcome]
    """One per program in force at ``at`` (none: no program is in force)."""

    def for_program(self, program_id: uuid.UUID) -> ProgramOutcome | None:
        return next((o for o in self.outcomes if o.program_id == program_id), None)


def dry_run(
    session: Session,
    actor: Actor,
    learner_id: uuid.UUID,
    course_id: uuid.UUID,
    *,
    outcome: Outcome = Outcome.passed,
    score: float | None = None,
    at: datetime | None = None,
) -> DryRun:
    """Decide and gate a completion of ``course_id`` by ``learner_id`` without keeping anything.

    The learner must be visible to ``actor`` (a department manager: their departments; 404
    otherwise), as for every read. ``at`` is when the completion would occur (default now).
    """
    person = learners.get(session, actor, learner_id)
    taken = courses.get(session, actor, course_id)
    now = utcnow()
    when = at or now
    fact = service.EventFacts(
        event_id=uuid7(),
        organization_id=actor.organization_id,
        livemode=actor.livemode,
        learner_id=person.id,
        course_id=taken.id,
        received_at=now,
        subject=rules_engine.Subject(
            classification=person.classification,
            department=person.department,
            country=person.country,
            course_external_id=taken.external_id,
            course_type=taken.type,
            course_tags=tuple(taken.tags or ()),
            course_importance=taken.importance,
            course_duration_minutes=taken.duration_minutes,
            outcome=outcome,
            score=score,
            occurred_at=when,
        ),
    )
    snapshot = programs.snapshot(session, actor.organization_id)
    names = {v.program_id: v.name for v, _ in snapshot.at(when)}
    rule_names = {r.id: r.name for _, rules in snapshot.at(when) for r in rules}
    queued = audit.mark(session)
    info_before = set(session.info)
    rows: dict[uuid.UUID, dict[str, Any]] = {}
    savepoint = session.begin_nested()
    try:
        planned = service.plan(session, [fact])
        rows.update((row["id"], row) for _, row in planned.rewards)
        checks = _rehearse(session, list(rows.values()))
        routes = routing.routes_for(session, actor.organization_id, names)
        outcomes = [
            _outcome(decision, names, rule_names, rows, checks, routes, actor.livemode, snapshot)
            for decision in planned.decisions[0]
        ]
    finally:
        savepoint.rollback()
        audit.rollback_to(session, queued)
        gates.new_rewards(session).difference_update(rows)
        # Signals and caches the rehearsal set (outbox wake-ups, ready signals) must not
        # outlive it: nothing was kept for them to announce.
        for key in set(session.info) - info_before:
            session.info.pop(key, None)
    return DryRun(person.id, taken.id, when, outcomes)


_REWARDS: Table = Reward.__table__  # type: ignore[assignment]


def _rehearse(session: Session, rows: list[dict[str, Any]]) -> dict[uuid.UUID, list[GateCheck]]:
    """Write the planned rewards (inside the caller's savepoint) and ask every gate."""
    checks: dict[uuid.UUID, list[GateCheck]] = {row["id"]: [] for row in rows}
    if not rows:
        return checks
    # The event is not stored: the reward refers to none, as a points redemption does.
    params = [row | {"event_id": None} for row in rows]
    insert_rows(session, _REWARDS, params, ["id"])
    made = [from_row(Reward, row) for row in params]
    gates.note_new(session, checks)
    rejected: set[uuid.UUID] = set()
    for gate in gates.pipeline():
        todo = [r for r in made if r.id not in rejected]
        if not todo:
            break
        for reward, result in zip(todo, gates.check_many(gate, session, todo), strict=True):
            held_before = any(c.verdict == gates.Verdict.hold for c in checks[reward.id])
            checks[reward.id].append(
                GateCheck(
                    gate=gate.name,
                    verdict=str(result.verdict),
                    reason=result.reason,
                    message=result.message,
                    after_holds=gate.commits_money and held_before,
                )
            )
            if result.verdict is gates.Verdict.reject:
                rejected.add(reward.id)
    return checks


def _outcome(
    decision: service.Decision,
    names: dict[uuid.UUID, str],
    rule_names: dict[uuid.UUID, str],
    rows: dict[uuid.UUID, dict[str, Any]],
    checks: dict[uuid.UUID, list[GateCheck]],
    routes: routing.Routes,
    livemode: bool,
    snapshot: programs.ProgramSet,
) -> ProgramOutcome:
    name = names.get(decision.program_id, decision.program_key)
    row = rows.get(decision.reward_id) if decision.reward_id else None
    if row is None:
        return ProgramOutcome(
            decision.program_id, decision.program_key, name, decision.result, decision.reason
        )
    version = next(
        v for vs in snapshot.versions.values() for v in vs if v.id == row["program_version_id"]
    )
    return ProgramOutcome(
        program_id=decision.program_id,
        program_key=decision.program_key,
        program_name=name,
        result=decision.result,
        rule_id=row["rule_id"],
        rule_name=rule_names.get(row["rule_version_id"]) or "",
        amount=Money(row["amount_minor"], row["currency"]),
        calculation=row["calculation"],
        delivery=version.delivery,
        providers=routing.resolve(
            routes, row["program_id"], row["reward_kind"], row["provider"], livemode=livemode
        ),
        checks=tuple(checks[row["id"]]),
    )
