"""Providers that play outside systems, and a way to run the real worker loop until it settles.

The providers stand in for a gift-card company, not for anything of ours: the worker, its
claims and the database are all real.
"""

from __future__ import annotations

import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from laurel.audit.models import AuditEntry
from laurel.db import Database
from laurel.delivery.providers import Issued, IssueOrder
from laurel.kit.clock import utcnow
from laurel.rewards.models import Reward
from laurel.worker import Worker, start_in_thread, stop_thread

SETTLED = frozenset({"delivered", "failed"})


@dataclass
class ScriptedProvider:
    """An idempotent provider whose successive ``issue`` calls follow a script.

    Each script entry is an exception to raise on that call, or None to issue normally; once
    the script runs out every call issues. Issuing twice for one key returns the first issuance.
    ``gate``, when set, is called at the start of every ``issue`` (to hold a call back).
    """

    name: str
    script: list[BaseException | None] = field(default_factory=list)
    gate: Callable[[IssueOrder], None] | None = None
    calls: list[tuple[str, datetime]] = field(default_factory=list)
    """(idempotency key, when) of every ``issue`` call, in order."""
    lookups: list[str] = field(default_factory=list)
    issued: dict[str, Issued] = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def issue(self, order: IssueOrder) -> Issued:
        with self._lock:
            self.calls.append((order.idempotency_key, utcnow()))
            outcome = self.script.pop(0) if self.script else None
        if self.gate is not None:
            self.gate(order)
        if outcome is not None:
            raise outcome
        return self.record(order)

    def record(self, order: IssueOrder) -> Issued:
        """Issue for ``order`` (once per key) without counting it as a worker's call."""
        with self._lock:
            return self.issued.setdefault(
                order.idempotency_key,
                Issued(
                    reference=f"{self.name}-{uuid.uuid4().hex[:12]}",
                    details={"code": f"GC-{uuid.uuid4().hex[:10].upper()}"},
                ),
            )

    def lookup(self, idempotency_key: str) -> Issued | None:
        with self._lock:
            self.lookups.append(idempotency_key)
            return self.issued.get(idempotency_key)


def load_reward(database: Database, reward_id: uuid.UUID) -> Reward:
    with database.session() as session:
        return session.get_one(Reward, reward_id)


def settle(
    database: Database, reward_id: uuid.UUID, *workers: Worker, timeout: float = 20.0
) -> Reward:
    """Run the workers' real loops in threads until the reward is delivered or failed."""
    running = [(worker, *start_in_thread(worker)) for worker in workers]
    try:
        deadline = time.monotonic() + timeout
        while True:
            reward = load_reward(database, reward_id)
            if reward.state in SETTLED:
                return reward
            if time.monotonic() > deadline:
                raise AssertionError(f"reward still {reward.state} after {timeout}s")
            time.sleep(0.02)
    finally:
        for worker, thread, stop in running:
            stop_thread(thread, stop, worker)


def trail(database: Database, reward_id: uuid.UUID) -> list[tuple[str, dict[str, Any]]]:
    """The reward's audit entries, oldest first: (action, details)."""
    from sqlalchemy import select

    with database.session() as session:
        rows = session.scalars(
            select(AuditEntry)
            .where(AuditEntry.target_type == "reward", AuditEntry.target_id == str(reward_id))
            .order_by(AuditEntry.seq)
        )
        return [(row.action, row.details) for row in rows]
