"""The ``link`` delivery channel: the worker's delivery step for rewards of link programs.

It stands where a provider stands (same ``issue``/``lookup`` calls, the reward id as the
idempotency key), but issues nothing of value: it mints the reward's link in its own
transaction and answers where to find it. The learner's choice, later, is what reaches a
provider.
"""

from __future__ import annotations

import uuid

from sqlalchemy.exc import IntegrityError

from laurel.db import Database
from laurel.delivery.providers import Issued, IssueOrder
from laurel.links import service


class LinkChannel:
    name = service.CHANNEL

    def __init__(self, database: Database, *, secret: str, default_days: int) -> None:
        self.database = database
        self.secret = secret
        self.default_days = default_days

    def issue(self, order: IssueOrder) -> Issued:
        reward_id = uuid.UUID(order.idempotency_key)
        try:
            with self.database.session() as session:
                link = service.mint(
                    session,
                    reward_id,
                    secret=self.secret,
                    default_days=self.default_days,
                    actor="worker",
                )
                return service.issued_for(link)
        except IntegrityError:
            # Another worker minted it at the same moment: answer with that link.
            found = self.lookup(order.idempotency_key)
            if found is None:
                raise
            return found

    def lookup(self, idempotency_key: str) -> Issued | None:
        with self.database.session() as session:
            link = service.current(session, uuid.UUID(idempotency_key))
            return service.issued_for(link) if link is not None else None
