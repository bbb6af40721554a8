"""The sanctions gate (order 100): screens the learner of every reward before it can be issued.

Idempotent: a reward is screened once per list version (a unique key on the stored result),
and its review case is one row per reward. Re-running the pipeline reads them back:

- this reward's case confirmed → reject (the reward is cancelled);
- learner blocked by a confirmed match → hold ``screening_blocked``;
- case cleared → pass;
- a possible match a reviewer already cleared for this learner (same name and country, no new
  matched entry) → pass, recorded as a case cleared by ``gate:screening`` citing the earlier one;
- case open and screened against the newest list → hold ``screening_review`` again;
- otherwise screen against the newest list: a possible match (name or country) opens or
  refreshes the case and holds; nothing found passes (and closes an open case as superseded);
- no list imported yet: pass with a warning, or hold ``screening_unavailable``, as configured.

Test-mode rewards are screened exactly like live ones, so an integration can rehearse a hold.
"""

from __future__ import annotations

import logging
import threading
import uuid
from collections import OrderedDict
from collections.abc import Sequence
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from laurel.audit import service as audit
from laurel.kit.clock import utcnow
from laurel.kit.ids import uuid7
from laurel.kit.observe import chunks
from laurel.kit.sql import insert_ignore
from laurel.learners import service as learners
from laurel.rewards import gates
from laurel.rewards.gates import GateResult, Verdict, register
from laurel.rewards.models import Reward
from laurel.screening import service
from laurel.screening.models import CaseStatus, ReviewCase, ScreeningDecision, ScreeningResult

log = logging.getLogger("laurel.screening")

SCREENING_REVIEW = "screening_review"
SCREENING_BLOCKED = "screening_blocked"
SCREENING_UNAVAILABLE = "screening_unavailable"
UNAVAILABLE = "unavailable"
"""Result decision when no list exists and the policy holds."""
GATE_ACTOR = "gate:screening"


def _describe(result: ScreeningResult) -> str:
    parts = []
    if result.country_hit:
        parts.append(f"country {result.country_hit} is comprehensively sanctioned")
    if result.matches:
        best = result.matches[0]
        more = f" and {len(result.matches) - 1} more" if len(result.matches) > 1 else ""
        parts.append(
            f"possible match {best['name']!r} ({best['list']} {best['entry_id']}, "
            f"score {best['score']:.2f}){more}"
        )
    return "; ".join(parts) + ": a compliance reviewer must clear or confirm the case"


class ScreeningGate:
    name = "screening"
    order = 100
    commits_money = False

    def check(self, session: Session, reward: Reward) -> GateResult:
        return self.check_many(session, [reward])[0]

    def check_many(self, session: Session, rewards: Sequence[Reward]) -> list[GateResult]:
        """Every reward judged as ``check`` would, with a few statements for the whole batch:
        the learners, cases and stored results in one read each (none for rewards made in
        this unit of work), each distinct name screened once, the new results in one INSERT."""
        if not rewards:
            return []
        policy = service.Policy.from_settings()
        # Lists are shared by all organizations; any one's revision says whether they changed.
        version_id = service.pick_version(session, policy, rewards[0].organization_id)
        key = str(version_id or "none")
        fresh = gates.new_rewards(session)
        known = [r.id for r in rewards if r.id not in fresh]
        people = _people(session, rewards)
        cases = _cases(session, known)
        stored = _stored(session, known, key)
        pending: list[tuple[Reward, service.Screening, str]] = []
        for reward in rewards:
            person = people.get(reward.learner_id, learners.UNKNOWN)
            case = cases.get(reward.id)
            if reward.id in stored or _settled(case, person):
                continue
            screening = _screen(session, person, policy, version_id)
            decision: str = screening.decision
            if decision == ScreeningDecision.unscreened and policy.without_list == "hold":
                decision = UNAVAILABLE
            pending.append((reward, screening, decision))
        stored.update(service.record_many(session, pending, actor=GATE_ACTOR))
        return [
            _judge(
                session,
                reward,
                people.get(reward.learner_id, learners.UNKNOWN),
                cases.get(reward.id),
                stored.get(reward.id),
            )
            for reward in rewards
        ]


_warned: list[bool] = []


def _warn_unscreened() -> None:
    # Once per process, not per reward: the stored result records every unscreened reward.
    if not _warned:
        _warned.append(True)
        log.warning("rewards pass unscreened: no sanctions list imported (laurel sdn import)")


def _settled(case: ReviewCase | None, person: learners.Identity) -> bool:
    """Decided without screening again: a confirmed or cleared case, or a blocked learner."""
    if case is not None and case.status in (CaseStatus.confirmed, CaseStatus.cleared):
        return True
    return person.blocked


def _judge(
    session: Session,
    reward: Reward,
    person: learners.Identity,
    case: ReviewCase | None,
    result: ScreeningResult | None,
) -> GateResult:
    if case is not None and case.status == CaseStatus.confirmed:
        return GateResult(
            Verdict.reject, "screening_confirmed", "sanctions match confirmed by a reviewer"
        )
    # A block outranks this reward's own clearance: it came from a confirmed match.
    if person.blocked:
        return GateResult(
            Verdict.hold,
            SCREENING_BLOCKED,
            "the learner is blocked after a confirmed sanctions match",
        )
    if case is not None and case.status == CaseStatus.cleared:
        return GateResult.ok()
    assert result is not None, "every unsettled reward was screened"
    if result.decision == UNAVAILABLE:
        return GateResult(
            Verdict.hold,
            SCREENING_UNAVAILABLE,
            "no sanctions list has been imported yet (laurel sdn import)",
        )
    if result.decision == ScreeningDecision.unscreened:
        _warn_unscreened()
        return GateResult.ok()
    if result.decision == ScreeningDecision.clear:
        if case is not None and case.status == CaseStatus.open:
            _supersede(session, case, result)
        return GateResult.ok()
    prior = _earlier_clearance(session, reward, result)
    if prior is not None:
        _clear_as_before(session, reward, case, result, prior)
        return GateResult.ok()
    _open_case(session, reward, case, result)
    return GateResult(Verdict.hold, SCREENING_REVIEW, _describe(result))


def _people(session: Session, rewards: Sequence[Reward]) -> dict[uuid.UUID, learners.Identity]:
    found: dict[uuid.UUID, learners.Identity] = {}
    by_org: dict[uuid.UUID, set[uuid.UUID]] = {}
    for reward in rewards:
        by_org.setdefault(reward.organization_id, set()).add(reward.learner_id)
    for organization_id, ids in by_org.items():
        found.update(learners.identities(session, organization_id, ids))
    return found


def _cases(session: Session, reward_ids: list[uuid.UUID]) -> dict[uuid.UUID, ReviewCase]:
    found: dict[uuid.UUID, ReviewCase] = {}
    for part in chunks(reward_ids):
        for case in session.scalars(select(ReviewCase).where(ReviewCase.reward_id.in_(part))):
            found[case.reward_id] = case
    return found


def _stored(
    session: Session, reward_ids: list[uuid.UUID], key: str
) -> dict[uuid.UUID, ScreeningResult]:
    found: dict[uuid.UUID, ScreeningResult] = {}
    for part in chunks(reward_ids):
        for result in session.scalars(
            select(ScreeningResult).where(
                ScreeningResult.reward_id.in_(part), ScreeningResult.screen_key == key
            )
        ):
            assert result.reward_id is not None
            found[result.reward_id] = result
    return found


# The same learner earns many rewards: a name and country screened against one list version
# with one policy always give the same answer, so the answer is kept (for a bounded number of
# names) instead of searching the index again for every reward.
_SCREENED: OrderedDict[tuple[Any, ...], service.Screening] = OrderedDict()
_SCREENED_MAX = 20_000
_screened_lock = threading.Lock()


def _screen(
    session: Session,
    person: learners.Identity,
    policy: service.Policy,
    version_id: uuid.UUID | None,
) -> service.Screening:
    key = (version_id, policy, person.name, person.country)
    with _screened_lock:
        found = _SCREENED.get(key)
    if found is not None:
        return found
    screening = service.screen(session, person.name, person.country, policy, version_id)
    with _screened_lock:
        _SCREENED[key] = screening
        while len(_SCREENED) > _SCREENED_MAX:
            _SCREENED.popitem(last=False)
    return screening


def _earlier_clearance(
    session: Session, reward: Reward, result: ScreeningResult
) -> ReviewCase | None:
    """A reviewer's earlier clearance that covers this finding: the same learner, name and
    country, and no matched entry the reviewer has not seen. Without it a learner who shares a
    listed person's name would need a review for every reward."""
    entries = {(m["list"], m["entry_id"]) for m in result.matches}
    earlier = session.execute(
        select(ReviewCase, ScreeningResult)
        .join(ScreeningResult, ScreeningResult.id == ReviewCase.result_id)
        .where(
            ReviewCase.organization_id == reward.organization_id,
            ReviewCase.livemode == reward.livemode,
            ReviewCase.learner_id == reward.learner_id,
            ReviewCase.status == CaseStatus.cleared,
            ReviewCase.reviewer != GATE_ACTOR,
            ReviewCase.reward_id != reward.id,
        )
        .order_by(ReviewCase.decided_at.desc())
    ).all()
    for prior, seen in earlier:
        covered = {(m["list"], m["entry_id"]) for m in seen.matches}
        if (
            seen.query_name == result.query_name
            and seen.query_country == result.query_country
            and seen.country_hit == result.country_hit
            and entries <= covered
        ):
            return prior
    return None


def _clear_as_before(
    session: Session,
    reward: Reward,
    case: ReviewCase | None,
    result: ScreeningResult,
    prior: ReviewCase,
) -> None:
    """Record this reward's case as cleared on the strength of ``prior`` (audited)."""
    now = utcnow()
    reason = f"cleared as in case {prior.id} by {prior.reviewer}: {prior.reason}"[:2000]
    values = {
        "status": CaseStatus.cleared,
        "result_id": result.id,
        "reviewer": GATE_ACTOR,
        "reason": reason,
        "decided_at": now,
        "updated_at": now,
    }
    if case is None:
        case_id = uuid7()
        inserted = insert_ignore(
            session,
            ReviewCase.__table__,  # type: ignore[arg-type]
            {
                "id": case_id,
                "organization_id": reward.organization_id,
                "livemode": reward.livemode,
                "reward_id": reward.id,
                "learner_id": reward.learner_id,
                "created_at": now,
                **values,
            },
            ["reward_id"],
        )
        if not inserted:
            return
    else:
        case_id = case.id
        session.execute(
            update(ReviewCase)
            .where(ReviewCase.id == case.id, ReviewCase.status == CaseStatus.open)
            .values(**values)
            .execution_options(synchronize_session=False)
        )
    audit.record(
        session,
        organization_id=reward.organization_id,
        actor=GATE_ACTOR,
        action="screening:case:cleared",
        target_type="screening_case",
        target_id=case_id,
        details={"reward_id": str(reward.id), "as_in_case": str(prior.id)},
    )


def _open_case(
    session: Session, reward: Reward, case: ReviewCase | None, result: ScreeningResult
) -> None:
    now = utcnow()
    if case is None:
        case_id = uuid7()
        inserted = insert_ignore(
            session,
            ReviewCase.__table__,  # type: ignore[arg-type]
            {
                "id": case_id,
                "organization_id": reward.organization_id,
                "livemode": reward.livemode,
                "reward_id": reward.id,
                "learner_id": reward.learner_id,
                "result_id": result.id,
                "status": CaseStatus.open,
                "created_at": now,
                "updated_at": now,
            },
            ["reward_id"],
        )
        if inserted:
            audit.record(
                session,
                organization_id=reward.organization_id,
                actor=GATE_ACTOR,
                action="screening:case:open",
                target_type="screening_case",
                target_id=case_id,
                details={"reward_id": str(reward.id), "result_id": str(result.id)},
            )
        return
    if case.result_id != result.id:
        # Re-screened against a newer list and still a possible match: the case shows the
        # newest finding; it stays open for the reviewer.
        session.execute(
            update(ReviewCase)
            .where(ReviewCase.id == case.id, ReviewCase.status == CaseStatus.open)
            .values(result_id=result.id, updated_at=now)
        )


def _supersede(session: Session, case: ReviewCase, result: ScreeningResult) -> None:
    moved = session.execute(
        update(ReviewCase)
        .where(ReviewCase.id == case.id, ReviewCase.status == CaseStatus.open)
        .values(
            status=CaseStatus.superseded,
            result_id=result.id,
            reason="a newer list no longer matches",
            decided_at=utcnow(),
            updated_at=utcnow(),
        )
        .returning(ReviewCase.id)
    ).first()
    if moved is not None:
        audit.record(
            session,
            organization_id=case.organization_id,
            actor=GATE_ACTOR,
            action="screening:case:superseded",
            target_type="screening_case",
            target_id=case.id,
            details={"result_id": str(result.id)},
        )


register(ScreeningGate())
