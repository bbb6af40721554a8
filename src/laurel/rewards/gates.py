"""The gate pipeline between ``pending`` and ``ready``.

A gate looks at one reward and answers pass, hold (with a reason a person resolves) or reject.
Gates run in ``order``; a gate marked ``commits_money`` (the budget reservation) runs only when
every gate before it passed, so money is never reserved for a reward that is held anyway.
Gates must be idempotent: a held reward runs the whole pipeline again when a hold is resolved,
and a gate that passed before must pass again without side effects twice.

Later domains add their gates (sanctions 100, tax 200, FCPA 300) with :func:`register`;
the core never changes for them.
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass
from enum import StrEnum
from typing import Protocol

from sqlalchemy.orm import Session

from laurel.rewards.models import Reward


class Verdict(StrEnum):
    passed = "pass"
    hold = "hold"
    reject = "reject"


@dataclass(frozen=True, slots=True)
class GateResult:
    verdict: Verdict
    reason: str | None = None
    """Stable code such as ``approval_required``; shown to people and filterable."""
    message: str | None = None

    @classmethod
    def ok(cls) -> GateResult:
        return cls(Verdict.passed)


class Gate(Protocol):
    name: str
    order: int
    commits_money: bool

    def check(self, session: Session, reward: Reward) -> GateResult: ...


_GATES: dict[str, Gate] = {}
_loaded: list[bool] = []


def register(gate: Gate) -> None:
    _GATES[gate.name] = gate


_DEFAULT_GATES = ("laurel.approvals.gate", "laurel.budgets.gate", "laurel.roster.gate")


def pipeline() -> list[Gate]:
    """The gates in order. The built-in ones register on first use, whatever the entry point."""
    if not _loaded:
        for module in _DEFAULT_GATES:
            importlib.import_module(module)
        _loaded.append(True)
    return sorted(_GATES.values(), key=lambda g: g.order)
