"""The sandbox provider: issues unique fake gift codes from its own ledger, fully offline.

It behaves like a careful real provider: the idempotency key is unique in its ledger, so a
repeated order returns the first code; codes are unique, so no code is handed out twice. Its
ledger lives in the same database but is written in its own transaction, exactly as an outside
system would: it knows nothing of Laurel's transaction that asked.
"""

from __future__ import annotations

import secrets

from sqlalchemy import select

from laurel.db import Database
from laurel.delivery.models import SandboxIssuance
from laurel.delivery.providers import Issued, IssueOrder
from laurel.kit.clock import utcnow
from laurel.kit.ids import uuid7
from laurel.kit.sql import insert_ignore

_ALPHABET = "ABCDEFGHJKLMNPQRSTUVWXYZ23456789"  # no 0/O or 1/I: codes are typed by people


def new_code() -> str:
    raw = "".join(secrets.choice(_ALPHABET) for _ in range(16))
    return "SBX-" + "-".join(raw[i : i + 4] for i in range(0, 16, 4))


class SandboxProvider:
    name = "sandbox"

    def __init__(self, database: Database) -> None:
        self.database = database

    def issue(self, order: IssueOrder) -> Issued:
        with self.database.session() as session:
            insert_ignore(
                session,
                SandboxIssuance.__table__,  # type: ignore[arg-type]
                {
                    "id": uuid7(),
                    "organization_id": order.organization_id,
                    "idempotency_key": order.idempotency_key,
                    "code": new_code(),
                    "amount_minor": order.amount.minor,
                    "currency": order.amount.currency,
                    "created_at": utcnow(),
                },
                ["idempotency_key"],
            )
            row = session.scalars(
                select(SandboxIssuance).where(
                    SandboxIssuance.idempotency_key == order.idempotency_key
                )
            ).one()
            return _issued(row)

    def lookup(self, idempotency_key: str) -> Issued | None:
        with self.database.session() as session:
            row = session.scalar(
                select(SandboxIssuance).where(SandboxIssuance.idempotency_key == idempotency_key)
            )
            return _issued(row) if row is not None else None


def _issued(row: SandboxIssuance) -> Issued:
    return Issued(
        reference=f"sbx_{row.id.hex}",
        details={
            "code": row.code,
            "amount_minor": row.amount_minor,
            "currency": row.currency,
            "sandbox": True,
        },
    )
