"""The gate pipeline between ``pending`` and ``ready``.

A gate looks at one reward and answers pass, hold (with a reason a person resolves) or reject.
The reward may be a fresh object that the session does not hold: read its attributes, never
lazy-load through it.
Gates run in ``order``; a gate marked ``commits_money`` (the budget reservation) runs only when
every gate before it passed, so money is never reserved for a reward that is held anyway.
Gates must be idempotent: a held reward runs the whole pipeline again when a hold is resolved,
and a gate that passed before must pass again without side effects twice.

Later domains add their gates (sanctions 100, tax 200, FCPA 300) with :func:`register`;
the core never changes for them.
"""

from __future__ import annotations

import importlib
import uuid
from collections.abc import Iterable, Sequence
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


class BatchGate(Gate, Protocol):
    """A gate that can also judge many rewards in a few statements (intake of a batch).

    ``check_many`` must answer exactly what ``check`` would for each reward, in order, as if
    they were checked one after the other.
    """

    def check_many(self, session: Session, rewards: Sequence[Reward]) -> list[GateResult]: ...


_NEW = "laurel.rewards.new"


def note_new(session: Session, reward_ids: Iterable[uuid.UUID]) -> None:
    """Rewards created in this unit of work: nothing can refer to them yet (no reservation,
    no approval, no screening result), so gates may skip looking."""
    session.info.setdefault(_NEW, set()).update(reward_ids)


def new_rewards(session: Session) -> set[uuid.UUID]:
    found: set[uuid.UUID] = session.info.get(_NEW, set())
    return found


def check_many(gate: Gate, session: Session, rewards: Sequence[Reward]) -> list[GateResult]:
    """Run ``gate`` on every reward, set-based when the gate knows how."""
    many = getattr(gate, "check_many", None)
    if many is not None:
        results: list[GateResult] = many(session, rewards)
        return results
    return [gate.check(session, reward) for reward in rewards]


_GATES: dict[str, Gate] = {}
_loaded: list[bool] = []


def register(gate: Gate) -> None:
    _GATES[gate.name] = gate


_DEFAULT_GATES = (
    "laurel.roster.gate",
    "laurel.screening.gate",
    "laurel.tax.gate",
    "laurel.fcpa.gate",
    "laurel.approvals.gate",
    "laurel.delivery.inventory.gate",
    "laurel.budgets.gate",
)


def pipeline() -> list[Gate]:
    """The gates in order. The built-in ones register on first use, whatever the entry point."""
    if not _loaded:
        for module in _DEFAULT_GATES:
            importlib.import_module(module)
        _loaded.append(True)
    return sorted(_GATES.values(), key=lambda g: g.order)
