"""The ``points`` provider: the worker delivers a points program's reward into the ledger.

Like every provider it is called with the reward id as the idempotency key and writes in its
own transaction (as an outside system would); crediting is keyed by the reward, so a retry or a
crash recovery finds the first credit instead of paying twice.
"""

from __future__ import annotations

import uuid

from sqlalchemy import select

from laurel.db import Database
from laurel.delivery.providers import Issued, IssueOrder, PermanentProviderError
from laurel.kit.errors import NotFound
from laurel.points import earning, ledger
from laurel.points.models import PointsTransaction

NAME = "points"


class PointsProvider:
    name = NAME

    def __init__(self, database: Database) -> None:
        self.database = database

    def issue(self, order: IssueOrder) -> Issued:
        if order.amount.currency != "PTS":
            raise PermanentProviderError(f"the points provider credits PTS, not {order.amount}")
        with self.database.session() as session:
            try:
                credited = earning.credit_reward(session, uuid.UUID(order.idempotency_key))
            except NotFound as exc:
                raise PermanentProviderError(str(exc)) from exc
            transaction = credited.posting.transaction
            balance = ledger.balance(
                session,
                ledger.Scope(transaction.organization_id, transaction.livemode),
                transaction.learner_id or uuid.UUID(int=0),
            )
            return _issued(transaction, balance)

    def lookup(self, idempotency_key: str) -> Issued | None:
        with self.database.read_session() as session:
            found = session.scalar(
                select(PointsTransaction).where(
                    PointsTransaction.key == f"reward:{idempotency_key}"
                )
            )
            return None if found is None else _issued(found, None)


def _issued(transaction: PointsTransaction, balance: int | None) -> Issued:
    details: dict[str, object] = {
        "points": transaction.points,
        "transaction_id": str(transaction.id),
    }
    if balance is not None:
        details["balance"] = balance
    return Issued(reference=f"pts_{transaction.id}", details=details)
