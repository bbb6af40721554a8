"""Approval gate: rewards above the program's threshold wait for a person's decision."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from functools import cache
from typing import Any

from sqlalchemy import Table, bindparam, select
from sqlalchemy.orm import Session

from laurel.approvals.models import Approval, Decision
from laurel.kit.money import Money
from laurel.kit.observe import chunks
from laurel.programs import service as programs
from laurel.rewards.gates import GateResult, Verdict, register
from laurel.rewards.models import Reward

APPROVAL_REQUIRED = "approval_required"


_APPROVALS: Table = Approval.__table__  # type: ignore[assignment]


@cache
def _decided() -> Any:
    # Built on first use, once every table's column types are resolved.
    return select(_APPROVALS.c.reward_id, _APPROVALS.c.decision, _APPROVALS.c.reason).where(
        _APPROVALS.c.reward_id.in_(bindparam("_ids", expanding=True))
    )


class ApprovalGate:
    name = "approval"
    order = 400
    commits_money = False

    def check(self, session: Session, reward: Reward) -> GateResult:
        return self.check_many(session, [reward])[0]

    def check_many(self, session: Session, rewards: Sequence[Reward]) -> list[GateResult]:
        thresholds = [
            programs.approval_threshold(session, r.organization_id, r.program_version_id)
            for r in rewards
        ]
        above = [
            r.id
            for r, limit in zip(rewards, thresholds, strict=True)
            if limit is not None and r.amount_minor > limit
        ]
        decided: dict[uuid.UUID, tuple[str, str | None]] = {}
        for part in chunks(above):
            for row in session.execute(_decided(), {"_ids": part}):
                decided[row[0]] = (row[1], row[2])
        return [
            _verdict(r, limit, decided.get(r.id))
            for r, limit in zip(rewards, thresholds, strict=True)
        ]


def _verdict(
    reward: Reward, threshold: int | None, approval: tuple[str, str | None] | None
) -> GateResult:
    if threshold is None or reward.amount_minor <= threshold:
        return GateResult.ok()
    if approval is not None and approval[0] == Decision.approved:
        return GateResult.ok()
    if approval is not None and approval[0] == Decision.rejected:
        why = "rejected by an approver"
        if approval[1]:
            why = f"{why}: {approval[1]}"
        return GateResult(Verdict.reject, "approval_rejected", why)
    limit = Money(threshold, reward.currency)
    return GateResult(
        Verdict.hold,
        APPROVAL_REQUIRED,
        f"amount is above the program's approval threshold of {limit}",
    )


register(ApprovalGate())
