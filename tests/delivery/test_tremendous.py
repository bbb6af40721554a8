"""The Tremendous provider against a local Tremendous v2 server (tests/delivery/fakes.py)."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from dataclasses import replace
from decimal import Decimal

import pytest
from fastapi.testclient import TestClient

from laurel.config import Settings
from laurel.db import Database
from laurel.delivery.providers import (
    IssueOrder,
    PermanentProviderError,
    ProviderRegistry,
    TransientProviderError,
)
from laurel.delivery.providers.tremendous import TremendousProvider
from laurel.kit.money import Money
from laurel.worker import Worker, default_providers
from tests.conftest import Tenant, completion
from tests.delivery.fakes import FakeTremendous, Fault
from tests.delivery.support import settle, trail
from tests.factories import fixed_program

TIMEOUT = 0.5


@pytest.fixture
def tremendous_api() -> Iterator[FakeTremendous]:
    api = FakeTremendous(stall_seconds=TIMEOUT * 3).start()
    yield api
    api.stop()


def make_tremendous(api: FakeTremendous, *, key: str | None = None) -> TremendousProvider:
    return TremendousProvider(
        f"{api.url}/api/v2",
        key or api.api_key,
        "balance",
        {"gift_card": "OKMHM2X2OHYV", "prepaid_card": "Q24BD9EZ332JT"},
        timeout=TIMEOUT,
    )


@pytest.fixture
def tremendous(tremendous_api: FakeTremendous) -> Iterator[TremendousProvider]:
    provider = make_tremendous(tremendous_api)
    yield provider
    provider.close()


def order(key: str | None = None, amount: str = "25.00", kind: str = "gift_card") -> IssueOrder:
    return IssueOrder(
        idempotency_key=key or str(uuid.uuid4()),
        organization_id=uuid.uuid4(),
        amount=Money.parse(amount, "USD"),
        reward_kind=kind,
        livemode=True,
        recipient_email="ana@example.com",
        recipient_name="Ana Díaz",
        locale="pt-BR",
    )


def test_order_shape_and_a_same_payload_replay_answers_201_with_the_first_order(
    tremendous: TremendousProvider, tremendous_api: FakeTremendous
) -> None:
    key = str(uuid.uuid4())
    first = tremendous.issue(order(key, "25.50"))
    again = tremendous.issue(order(key, "25.50"))

    posted = [r for r in tremendous_api.requests if r.method == "POST"]
    assert posted[0].headers["authorization"] == f"Bearer {tremendous_api.api_key}"
    assert posted[0].body == {
        "external_id": uuid.UUID(key).hex,
        "payment": {"funding_source_id": "balance"},
        "reward": {
            "value": {"denomination": Decimal("25.50"), "currency_code": "USD"},
            "delivery": {"method": "LINK"},
            "products": ["OKMHM2X2OHYV"],
            "recipient": {"name": "Ana Díaz", "email": "ana@example.com"},
            "language": "pt",
        },
    }
    assert len(tremendous_api.orders) == 1
    (placed,) = tremendous_api.orders.values()
    assert first == again
    assert first.reference == placed["id"]
    assert first.details["url"] == placed["rewards"][0]["delivery"]["link"]
    assert tremendous.lookup(key) == first  # the list leaves the link out; the reward has it
    assert tremendous.lookup(str(uuid.uuid4())) is None
    assert tremendous_api.available_cents == 500_000 - 2550


def test_a_different_payload_gets_409_which_is_settled_by_lookup(
    tremendous: TremendousProvider, tremendous_api: FakeTremendous
) -> None:
    key = str(uuid.uuid4())
    first = tremendous.issue(order(key))
    moved = replace(order(key), recipient_email="ana.new@example.com")  # same reward, new address

    assert tremendous.issue(moved) == first

    with pytest.raises(PermanentProviderError, match=r"value 25.0 USD instead of 30.00 USD"):
        tremendous.issue(order(key, "30.00"))
    assert len(tremendous_api.orders) == 1
    statuses = [r.method for r in tremendous_api.requests]
    assert statuses.count("POST") == 3


def test_errors_map_to_transient_or_permanent(
    tremendous: TremendousProvider, tremendous_api: FakeTremendous
) -> None:
    tremendous_api.script = [
        Fault(status=500),
        Fault(status=429, headers={"Retry-After": "3"}),
        Fault(status=429),
    ]
    with pytest.raises(TransientProviderError, match="Tremendous HTTP 500"):
        tremendous.issue(order())
    with pytest.raises(TransientProviderError) as limited:
        tremendous.issue(order())
    assert limited.value.retry_after == 3.0
    with pytest.raises(TransientProviderError, match="Too many requests") as bare:
        tremendous.issue(order())
    assert bare.value.retry_after == 1.0
    with pytest.raises(PermanentProviderError, match=r"HTTP 400\): Invalid parameters"):
        tremendous.issue(replace(order(), sku="NOPE"))
    wrong = make_tremendous(tremendous_api, key="wrong")
    with pytest.raises(PermanentProviderError, match=r"HTTP 401\): Invalid API key"):
        wrong.issue(order())
    wrong.close()
    tremendous_api.available_cents = 100
    with pytest.raises(TransientProviderError, match="insufficient funds") as funds:
        tremendous.issue(order())
    assert funds.value.retry_after == 300.0
    assert tremendous_api.orders == {}


def test_timeouts_and_a_lost_answer_never_order_twice(
    tremendous: TremendousProvider, tremendous_api: FakeTremendous
) -> None:
    key = str(uuid.uuid4())
    tremendous_api.script = [Fault(stall=True), Fault(lost=True)]
    with pytest.raises(TransientProviderError, match="did not answer in time"):
        tremendous.issue(order(key))
    assert tremendous_api.orders == {}
    with pytest.raises(TransientProviderError, match="did not answer in time"):
        tremendous.issue(order(key))
    (placed,) = tremendous_api.orders.values()
    found = tremendous.lookup(key)
    assert found is not None
    assert found.reference == placed["id"]
    assert tremendous.issue(order(key)) == found  # the replay answers 201, the same order
    assert len(tremendous_api.orders) == 1


def test_catalog_and_balance(tremendous: TremendousProvider) -> None:
    offers = {o.sku: o for o in tremendous.catalog()}
    assert set(offers) == {"OKMHM2X2OHYV", "Q24BD9EZ332JT"}  # PayPal is cash, not offered
    amazon, visa = offers["OKMHM2X2OHYV"], offers["Q24BD9EZ332JT"]
    assert (amazon.kind, amazon.min_minor, amazon.max_minor) == ("gift_card", 500, 200000)
    assert (visa.kind, visa.fixed_values_minor) == ("prepaid_card", (2500, 5000))
    assert amazon.countries == ("CA", "US")
    assert amazon.image_url == "https://img/OKMHM2X2OHYV.png"
    (balance,) = tremendous.balance()
    assert (balance.account, balance.available) == ("BALANCE01", Money(500000, "USD"))


@pytest.fixture
def providers(database: Database, tremendous_api: FakeTremendous) -> Iterator[ProviderRegistry]:
    registry = default_providers(database)
    provider = make_tremendous(tremendous_api)
    registry.add(provider)
    yield registry
    provider.close()


def test_worker_delivers_through_tremendous_after_a_lost_answer_and_a_5xx(
    database: Database,
    client: TestClient,
    tenant: Tenant,
    settings: Settings,
    providers: ProviderRegistry,
    tremendous_api: FakeTremendous,
) -> None:
    fixed_program(client, tenant, amount="25.00", provider="tremendous")
    response = client.post("/api/v1/completions", json=completion(), headers=tenant.headers)
    reward_id = uuid.UUID(response.json()["rewards"][0]["id"])
    tremendous_api.script = [Fault(status=503), Fault(lost=True)]

    reward = settle(database, reward_id, Worker(database, settings, providers))

    assert reward.state == "delivered"
    assert reward.provider == "tremendous"
    (placed,) = tremendous_api.orders.values()
    assert reward.provider_reference == placed["id"]
    assert tremendous_api.orders_posted() == 3
    body = client.get(f"/api/v1/rewards/{reward_id}", headers=tenant.headers).json()
    assert body["delivery"]["details"]["url"] == placed["rewards"][0]["delivery"]["link"]
    errors = [d["error"] for _, d in trail(database, reward_id) if "retry_in_seconds" in d]
    assert errors[0].startswith("tremendous: Tremendous HTTP 503")
    assert errors[1].startswith("tremendous: Tremendous did not answer in time")


def test_a_201_replay_for_something_else_is_refused(
    tremendous: TremendousProvider, tremendous_api: FakeTremendous
) -> None:
    tremendous_api.conflicts = False  # the API page: every replay answers 201, the original
    key = str(uuid.uuid4())
    tremendous.issue(order(key))
    with pytest.raises(PermanentProviderError, match=r"value 25.0 USD instead of 40.00 USD"):
        tremendous.issue(order(key, "40.00"))
    assert len(tremendous_api.orders) == 1
