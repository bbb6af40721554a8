"""Points are income when redeemed, not when earned (docs/tax.md, docs/points.md).

A marketplace redemption is a reward in money: it passes the tax gate like any reward and
delivery fixes its record, so its USD value joins the learner's year total exactly once.
Points earned from completions (PTS rewards) pass the gate without a record and never count.
"""

from __future__ import annotations

import uuid

from fastapi.testclient import TestClient
from sqlalchemy import select, update

from laurel.config import Settings
from laurel.db import Database
from laurel.delivery.providers import ProviderRegistry
from laurel.kit.clock import utcnow
from laurel.learners.models import Learner
from laurel.points import ledger
from laurel.rewards.models import Reward
from laurel.tax import records
from laurel.tax.models import TaxRecord
from laurel.worker import Worker
from tests.conftest import Tenant, completion
from tests.delivery.support import ScriptedProvider, settle
from tests.factories import fixed_program
from tests.points.test_marketplace import _redeem, _store, giftco, providers  # noqa: F401


def _records(database: Database, learner_id: uuid.UUID) -> list[TaxRecord]:
    with database.sessionmaker() as session:
        return list(session.scalars(select(TaxRecord).where(TaxRecord.learner_id == learner_id)))


def _totals(client: TestClient, tenant: Tenant) -> list[dict[str, object]]:
    year = utcnow().year
    response = client.get(f"/api/v1/tax/totals?year={year}", headers=tenant.headers)
    assert response.status_code == 200, response.text
    data: list[dict[str, object]] = response.json()["data"]
    return data


def test_earning_points_never_counts_and_a_redemption_counts_once_when_delivered(
    client: TestClient,
    tenant: Tenant,
    database: Database,
    settings: Settings,
    providers: ProviderRegistry,  # noqa: F811
    giftco: ScriptedProvider,  # noqa: F811
) -> None:
    # The store pays only redemptions: it matches no course.
    ana, offer = _store(client, tenant, database, conditions={"course_ids": ["NO-COURSE"]})
    with database.session() as session:
        session.execute(update(Learner).where(Learner.id == ana).values(classification="customer"))
    fixed_program(
        client,
        tenant,
        key="learning-points",
        amount="100",
        currency="PTS",
        reward_kind="points",
        conditions={"course_ids": ["PTS-1"]},
    )
    worker = Worker(database, settings, providers)

    body = completion("p-1", learner="L0", course="PTS-1")
    body["learner"]["classification"] = "customer"
    response = client.post("/api/v1/completions", json=body, headers=tenant.headers)
    assert response.status_code == 202, response.text
    (earned,) = response.json()["rewards"]
    assert earned["amount"]["currency"] == "PTS"
    assert settle(database, uuid.UUID(earned["id"]), worker).state == "delivered"
    with database.session() as session:
        assert ledger.balance(session, ledger.Scope(tenant.id, True), ana) == 5100
    # Earned points: no tax record, nothing in the year's totals.
    assert _records(database, ana) == []
    assert _totals(client, tenant) == []

    made = _redeem(database, tenant, ana, offer, "r-1")
    assert made.reward_id is not None
    # Gated, not yet paid: the record exists but the year total counts delivered payments.
    (gated,) = _records(database, ana)
    assert (gated.status, gated.form_type, gated.box) == ("gated", "1099-MISC", "3")
    assert _totals(client, tenant) == []
    assert settle(database, made.reward_id, worker).state == "delivered"

    (paid,) = _records(database, ana)
    assert (paid.status, paid.usd_minor, paid.source) == ("delivered", 2500, "reward")
    assert paid.reward_id == made.reward_id
    (total,) = _totals(client, tenant)
    assert total["form_type"] == "1099-MISC"
    assert total["total"] == {"amount": "25.00", "currency": "USD"}
    assert total["payments"] == 1

    # Exactly once: a repeated request key, a re-run of the delivery hook and the worker
    # passing again change nothing.
    assert _redeem(database, tenant, ana, offer, "r-1").id == made.id
    with database.session() as session:
        reward = session.get_one(Reward, made.reward_id)
        records.record_delivered(session, reward, utcnow())
    worker.run_once()
    assert len(_records(database, ana)) == 1
    (again,) = _totals(client, tenant)
    assert again["total"] == {"amount": "25.00", "currency": "USD"}
