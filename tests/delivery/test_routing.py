"""Provider routing per program with failover, against two loopback vendor servers: a first
provider that is unreachable or failing moves the reward to the second; one that issued but
whose answer was lost is found first, and the learner is never paid twice."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

from laurel.audit.models import AuditEntry
from laurel.config import Settings
from laurel.db import Database
from laurel.delivery.models import ProviderAttempt
from laurel.delivery.providers import ProviderRegistry
from laurel.delivery.providers.tango import TangoProvider
from laurel.delivery.providers.tremendous import TremendousProvider
from laurel.worker import Worker, default_providers
from tests.conftest import Tenant, completion
from tests.delivery.fakes import FakeTango, FakeTremendous, Fault
from tests.delivery.support import settle
from tests.factories import fixed_program

TIMEOUT = 0.5
ROUTE = {"gift_card": ["tango", "tremendous"]}


@pytest.fixture
def tango_api() -> Iterator[FakeTango]:
    api = FakeTango(stall_seconds=TIMEOUT * 3).start()
    yield api
    api.stop()


@pytest.fixture
def tremendous_api() -> Iterator[FakeTremendous]:
    api = FakeTremendous(stall_seconds=TIMEOUT * 3).start()
    yield api
    api.stop()


@pytest.fixture
def providers(
    database: Database, tango_api: FakeTango, tremendous_api: FakeTremendous
) -> Iterator[ProviderRegistry]:
    registry = default_providers(database)
    tango = TangoProvider(
        f"{tango_api.url}/raas/v2",
        tango_api.platform,
        tango_api.key,
        tango_api.customer,
        tango_api.account,
        {"gift_card": "U561593"},
        timeout=TIMEOUT,
    )
    tremendous = TremendousProvider(
        f"{tremendous_api.url}/api/v2",
        tremendous_api.api_key,
        products={"gift_card": "OKMHM2X2OHYV"},
        timeout=TIMEOUT,
    )
    registry.add(tango)
    registry.add(tremendous)
    yield registry
    tango.close()
    tremendous.close()


def _routed(client: TestClient, tenant: Tenant) -> uuid.UUID:
    program = fixed_program(client, tenant, amount="25.00", provider="tango")
    response = client.put(
        f"/api/v1/programs/{program['id']}/provider-routes",
        json={"routes": ROUTE},
        headers=tenant.headers,
    )
    assert response.status_code == 200, response.text
    sent = client.post("/api/v1/completions", json=completion(), headers=tenant.headers)
    return uuid.UUID(sent.json()["rewards"][0]["id"])


def _attempts(database: Database, reward_id: uuid.UUID) -> list[str]:
    with database.session() as session:
        return list(
            session.scalars(
                select(ProviderAttempt.provider)
                .where(ProviderAttempt.reward_id == reward_id)
                .order_by(ProviderAttempt.created_at)
            )
        )


def _details(client: TestClient, tenant: Tenant, reward_id: uuid.UUID) -> dict[str, Any]:
    body = client.get(f"/api/v1/rewards/{reward_id}", headers=tenant.headers).json()
    details: dict[str, Any] = body["delivery"]["details"]
    return details


def test_routes_are_validated_replaced_and_audited(
    client: TestClient, tenant: Tenant, database: Database
) -> None:
    program = fixed_program(client, tenant, amount="25.00")
    url = f"/api/v1/programs/{program['id']}/provider-routes"
    bad = client.put(
        url,
        json={
            "routes": {
                "gift_card": ["tango", "nope"],
                "prepaid_card": [],
                "charity": ["inventory", "inventory"],
                "bitcoin": ["tango"],
                "points": ["sandbox"],
            }
        },
        headers=tenant.headers,
    )
    assert bad.status_code == 422
    fields = {p["field"]: p["message"] for p in bad.json()["detail"]}
    assert set(fields) == {
        "routes.gift_card.1",
        "routes.prepaid_card",
        "routes.charity",
        "routes.bitcoin",
        "routes.points.0",
    }
    assert fields["routes.gift_card.1"].startswith("no provider 'nope' is configured")
    assert fields["routes.charity"] == "a provider is named twice"
    assert fields["routes.points.0"] == "the sandbox is for test mode only"

    ok = client.put(url, json={"routes": ROUTE}, headers=tenant.headers)
    assert ok.json() == {"program_id": program["id"], "routes": ROUTE}
    client.put(url, json={"routes": {"prepaid_card": ["tremendous"]}}, headers=tenant.headers)
    assert client.get(url, headers=tenant.headers).json()["routes"] == {
        "prepaid_card": ["tremendous"]
    }
    test_mode = client.put(url, json={"routes": ROUTE}, headers=tenant.test_headers)
    assert test_mode.status_code == 403
    missing = client.get(f"/api/v1/programs/{uuid.uuid4()}/provider-routes", headers=tenant.headers)
    assert missing.status_code == 404
    with database.session() as session:
        actions = session.scalars(
            select(AuditEntry.action).where(AuditEntry.action == "delivery:routes:update")
        ).all()
    assert len(actions) == 2


def test_an_unreachable_first_provider_fails_over_at_once(
    database: Database,
    client: TestClient,
    tenant: Tenant,
    settings: Settings,
    providers: ProviderRegistry,
    tango_api: FakeTango,
    tremendous_api: FakeTremendous,
) -> None:
    reward_id = _routed(client, tenant)
    tango_api.stop()  # nothing listens on its port any more: connections are refused

    reward = settle(database, reward_id, Worker(database, settings, providers))

    assert reward.state == "delivered"
    assert reward.provider == "tremendous"
    assert reward.attempts == 1
    (placed,) = tremendous_api.orders.values()
    assert reward.provider_reference == placed["id"]
    assert _details(client, tenant, reward_id)["url"] == placed["rewards"][0]["delivery"]["link"]
    assert _attempts(database, reward_id) == ["tremendous"]  # tango never got the request


def test_a_failing_first_provider_is_asked_before_failing_over(
    database: Database,
    client: TestClient,
    tenant: Tenant,
    settings: Settings,
    providers: ProviderRegistry,
    tango_api: FakeTango,
    tremendous_api: FakeTremendous,
) -> None:
    reward_id = _routed(client, tenant)
    tango_api.script = [Fault(status=503)]

    reward = settle(database, reward_id, Worker(database, settings, providers))

    assert reward.state == "delivered"
    assert reward.provider == "tremendous"
    assert tango_api.orders == {}
    lookups = [r for r in tango_api.requests if r.method == "GET"]
    assert [r.query["externalRefID"] for r in lookups] == [[reward_id.hex]]
    assert len(tremendous_api.orders) == 1
    assert _attempts(database, reward_id) == ["tango", "tremendous"]


def test_a_first_provider_that_issued_but_lost_its_answer_is_never_paid_twice(
    database: Database,
    client: TestClient,
    tenant: Tenant,
    settings: Settings,
    providers: ProviderRegistry,
    tango_api: FakeTango,
    tremendous_api: FakeTremendous,
) -> None:
    reward_id = _routed(client, tenant)
    tango_api.script = [Fault(lost=True)]

    reward = settle(database, reward_id, Worker(database, settings, providers))

    assert reward.state == "delivered"
    assert reward.provider == "tango"
    (placed,) = tango_api.orders.values()
    assert reward.provider_reference == placed["referenceOrderID"]
    assert (
        _details(client, tenant, reward_id)["code"]
        == (placed["reward"]["credentialList"][0]["value"])
    )
    assert tremendous_api.requests == []  # the second provider was never asked to pay
    assert _attempts(database, reward_id) == ["tango"]


def test_out_of_stock_inventory_fails_over_to_a_vendor(
    database: Database,
    client: TestClient,
    tenant: Tenant,
    settings: Settings,
    providers: ProviderRegistry,
    tango_api: FakeTango,
) -> None:
    program = fixed_program(client, tenant, amount="25.00", provider="inventory")
    client.put(
        f"/api/v1/programs/{program['id']}/provider-routes",
        json={"routes": {"gift_card": ["inventory", "tango"]}},
        headers=tenant.headers,
    ).raise_for_status()
    sent = client.post("/api/v1/completions", json=completion(), headers=tenant.headers)
    reward_id = uuid.UUID(sent.json()["rewards"][0]["id"])
    assert client.get(f"/api/v1/rewards/{reward_id}", headers=tenant.headers).json()["state"] == (
        "ready"  # inventory is not the only provider: the gate lets the route decide
    )

    reward = settle(database, reward_id, Worker(database, settings, providers))

    assert reward.state == "delivered"
    assert reward.provider == "tango"
    assert len(tango_api.orders) == 1


def test_reconciliation_after_a_crash_asks_every_provider_that_may_have_the_order(
    database: Database,
    client: TestClient,
    tenant: Tenant,
    settings: Settings,
    providers: ProviderRegistry,
    tango_api: FakeTango,
    tremendous_api: FakeTremendous,
) -> None:
    import time

    from laurel.delivery import routing
    from laurel.delivery import service as delivery
    from laurel.rewards import service as rewards

    reward_id = _routed(client, tenant)
    # A worker claims the reward, fails over past tango (503, no order), sends the order to
    # tremendous, and dies before recording the answer.
    with database.session() as session:
        (claim,) = delivery.claim(session, limit=10, lease_seconds=0.2)
    assert claim.route == ("tango", "tremendous")
    with database.session() as session:
        routing.note_attempt(session, tenant.id, reward_id, "tango")
        routing.note_attempt(session, tenant.id, reward_id, "tremendous")
    providers.get("tremendous").issue(claim.order)
    time.sleep(0.3)  # the lease runs out

    worker = Worker(database, settings, providers)
    assert worker.reconcile() == 1

    with database.session() as session:
        reward = rewards.by_id(session, reward_id)
        assert reward is not None
        assert (reward.state, reward.provider) == ("delivered", "tremendous")
    assert tango_api.orders == {}
    assert len(tremendous_api.orders) == 1
    asked = [r.method for r in tango_api.requests]
    assert asked == ["GET"]  # tango was asked first, and said it has no order
