"""Roster gate: roster-verified programs pay only learners active on the latest HR roster.

It reads and never writes, so running it again (when a new roster arrives) is harmless.
"""

from __future__ import annotations

from sqlalchemy.orm import Session

from laurel.learners import service as learners
from laurel.programs import service as programs
from laurel.rewards.gates import GateResult, Verdict, register
from laurel.rewards.models import Reward
from laurel.roster import service as roster
from laurel.roster.models import WorkerStatus


class RosterGate:
    name = "roster"
    # Before sanctions (100): whether this person works here at all comes first.
    order = 50
    commits_money = False

    def check(self, session: Session, reward: Reward) -> GateResult:
        eligibility = programs.eligibility_of(
            session, reward.organization_id, reward.program_version_id
        )
        if not eligibility.get("roster_verified"):
            return GateResult.ok()
        latest = roster.latest(session, reward.organization_id)
        if latest is None:
            return _hold("the program is roster-verified and no roster has been imported yet")
        learner = learners.get_many(session, reward.organization_id, {reward.learner_id}).get(
            reward.learner_id
        )
        if learner is None:
            return _hold("the learner is unknown")
        entry = roster.find(session, latest, learner.external_id, learner.email)
        day = latest.completed_at.date().isoformat() if latest.completed_at else "?"
        if entry is None:
            return _hold(f"learner {learner.external_id} is not on the roster of {day}")
        if entry.status != WorkerStatus.active:
            return _hold(f"learner {learner.external_id} is {entry.status} on the roster of {day}")
        return GateResult.ok()


def _hold(message: str) -> GateResult:
    return GateResult(Verdict.hold, roster.NOT_ON_ROSTER, message)


register(RosterGate())
