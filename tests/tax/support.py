"""Helpers for tax tests: completions for a classified learner, delivery at a chosen instant,
tax settings and forms through the real API."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from fastapi.testclient import TestClient
from sqlalchemy import select

from laurel.db import Database
from laurel.rewards import service as rewards
from laurel.rewards.models import Reward, RewardState
from laurel.tax import records
from laurel.tax.models import TaxRecord
from tests.conftest import Tenant, completion

PAYER = {
    "payer_name": "Acme Learning Inc",
    "payer_tin": "12-3456780",
    "payer_address": "100 Main Street Suite 5",
    "payer_city": "Springfield",
    "payer_state": "IL",
    "payer_zip": "62701",
    "payer_phone": "217-555-0100",
    "payer_email": "finance@acme.example",
    "contact_name": "Pat Payer",
    "fire_tcc": "AB12C",
}


def earn(
    client: TestClient,
    tenant: Tenant,
    event: str,
    *,
    learner: str = "L1",
    classification: str = "customer",
    course: str | None = None,
    country: str = "US",
    name: str = "Ana Díaz",
    locale: str = "es-MX",
) -> dict[str, Any]:
    """One completion by ``learner``; answers the (single) reward it produced."""
    body = completion(event, learner=learner, course=course or f"C-{event}")
    body["learner"].update(classification=classification, country=country, name=name, locale=locale)
    response = client.post("/api/v1/completions", headers=tenant.headers, json=body)
    assert response.status_code == 202, response.text
    (reward,) = response.json()["rewards"]
    result: dict[str, Any] = reward
    return result


def reasons(reward: dict[str, Any]) -> list[str]:
    return [h["reason"] for h in reward["hold_reasons"]]


def settings(client: TestClient, tenant: Tenant, **fields: Any) -> dict[str, Any]:
    response = client.patch("/api/v1/tax/settings", json=fields, headers=tenant.headers)
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


def deliver_at(database: Database, reward_id: str | uuid.UUID, instant: datetime) -> None:
    """Deliver a ready reward as the worker does, at ``instant`` (the delivery date decides
    the tax year and the exchange rate)."""
    with database.session() as session:
        reward = session.get_one(Reward, uuid.UUID(str(reward_id)))
        assert reward.state == RewardState.ready, reward.state
        rewards.transition(session, reward, RewardState.ready, RewardState.issuing, actor="test")
        rewards.transition(
            session,
            reward,
            RewardState.issuing,
            RewardState.delivered,
            actor="test",
            delivered_at=instant,
            provider_reference="test",
        )
        records.record_delivered(session, reward, instant)


def record_of(database: Database, reward_id: str | uuid.UUID) -> TaxRecord | None:
    with database.session() as session:
        return session.scalar(select(TaxRecord).where(TaxRecord.source_id == str(reward_id)))


def reward_state(client: TestClient, tenant: Tenant, reward_id: str) -> dict[str, Any]:
    response = client.get(f"/api/v1/rewards/{reward_id}", headers=tenant.headers)
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


# ECB layout (history CSV); EUR rates against the euro, values invented around the year end and
# around "today" (the gate converts at the rate of its own day).
HISTORY = (
    "Date,USD,GBP,JPY,\n"
    "{today},1.0500,0.8400,160.00,\n"
    "{yesterday},1.0500,0.8400,160.00,\n"
    "2026-01-02,1.1000,0.8600,165.00,\n"
    "2025-12-31,1.2000,0.8800,170.00,\n"
    "2025-12-30,1.1900,0.8700,169.00,\n"
    "2025-06-02,1.1300,0.8500,162.00,\n"
)


def load_rates(database: Database) -> None:
    from datetime import timedelta

    from laurel.fx import ecb
    from laurel.fx import service as fx
    from laurel.kit.clock import utcnow

    today = utcnow().date()
    text = HISTORY.format(
        today=today.isoformat(), yesterday=(today - timedelta(days=1)).isoformat()
    )
    with database.session() as session:
        fx.store(session, ecb.parse(text.encode()), source="ecb", actor="test")


class Outbox:
    """Collects form request notices as the notifications outbox would (the link included)."""

    def __init__(self) -> None:
        self.notices: list[Any] = []

    def __call__(self, session: Any, notice: Any) -> None:
        self.notices.append(notice)

    def token(self, index: int = -1) -> str:
        link: str = self.notices[index].link
        return link.rsplit("/", 1)[-1]


W9 = {
    "name_type": "I",
    "first_name": "Ana",
    "last_name": "Díaz",
    "tin_type": "SSN",
    "tin": "123-45-6780",
    "address": "12 Elm St Apt 4",
    "city": "Austin",
    "state": "TX",
    "postal_code": "78701",
    "signed_name": "Ana Díaz",
    "certify": "on",
}
W8BEN = {
    "first_name": "Jonas",
    "last_name": "Müller",
    "country": "DE",
    "citizenship": "DE",
    "address": "Hauptstraße 5",
    "city": "Berlin",
    "postal_code": "10115",
    "birth_date": "1988-03-14",
    "foreign_tin": "12345678901",
    "signed_name": "Jonas Müller",
    "certify": "on",
}
