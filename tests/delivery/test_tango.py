"""The Tango provider against a local Tango RaaS v2 server (tests/delivery/fakes.py)."""

from __future__ import annotations

import itertools
import threading
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
from laurel.delivery.providers.tango import TangoProvider
from laurel.kit.money import Money
from laurel.worker import Worker, default_providers
from tests.conftest import Tenant, completion
from tests.delivery.fakes import FakeTango, Fault
from tests.delivery.support import settle, trail
from tests.factories import fixed_program

TIMEOUT = 0.5


@pytest.fixture
def tango_api() -> Iterator[FakeTango]:
    api = FakeTango(stall_seconds=TIMEOUT * 3).start()
    yield api
    api.stop()


def make_tango(api: FakeTango, *, key: str | None = None) -> TangoProvider:
    return TangoProvider(
        f"{api.url}/raas/v2",
        api.platform,
        key or api.key,
        api.customer,
        api.account,
        {"gift_card": "U561593", "prepaid_card": "U157189", "gift_card:EUR": "U834561"},
        timeout=TIMEOUT,
    )


@pytest.fixture
def tango(tango_api: FakeTango) -> Iterator[TangoProvider]:
    provider = make_tango(tango_api)
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
        recipient_name="Ana Díaz </script>",
        locale="es-MX",
    )


def test_order_shape_and_replay_answer_the_first_order(
    tango: TangoProvider, tango_api: FakeTango
) -> None:
    key = str(uuid.uuid4())
    first = tango.issue(order(key, "25.10"))
    again = tango.issue(order(key, "25.10"))

    (posted, replayed) = [r for r in tango_api.requests if r.method == "POST"]
    assert posted.body == {
        "externalRefID": uuid.UUID(key).hex,
        "customerIdentifier": "laurel-customer",
        "accountIdentifier": "laurel-account",
        "utid": "U561593",
        "amount": Decimal("25.10"),  # a JSON number, exactly
        "deliveryMethod": "NONE",
        "recipient": {"email": "ana@example.com", "firstName": "Ana", "lastName": "Díaz script"},
    }
    assert replayed.body == posted.body
    assert len(tango_api.orders) == 1
    (placed,) = tango_api.orders.values()
    assert first == again
    assert first.reference == placed["referenceOrderID"]
    assert first.details["code"] == placed["reward"]["credentialList"][0]["value"]
    assert first.details["pin"] == placed["reward"]["credentialList"][1]["value"]
    assert (first.details["value"], first.details["currency"]) == ("25.1", "USD")
    assert tango.lookup(key) == first
    assert tango.lookup(str(uuid.uuid4())) is None
    assert tango_api.balance == Decimal("4974.90")


def test_a_replay_for_something_else_gets_the_original_order_and_is_refused(
    tango: TangoProvider, tango_api: FakeTango
) -> None:
    key = str(uuid.uuid4())
    tango.issue(order(key, "25.00"))

    with pytest.raises(PermanentProviderError) as caught:
        tango.issue(order(key, "30.00", kind="prepaid_card"))

    assert "item U561593 instead of U157189" in str(caught.value)
    assert "value 25.0 USD instead of 30.00 USD" in str(caught.value)
    assert len(tango_api.orders) == 1


def test_errors_map_to_transient_or_permanent(tango: TangoProvider, tango_api: FakeTango) -> None:
    tango_api.script = [
        Fault(status=503),
        Fault(status=429, headers={"Retry-After": "7"}),
        Fault(status=429),
        Fault(status=402),
    ]
    with pytest.raises(TransientProviderError, match="Tango HTTP 503"):
        tango.issue(order())
    with pytest.raises(TransientProviderError) as limited:
        tango.issue(order())
    assert limited.value.retry_after == 7.0
    with pytest.raises(TransientProviderError) as undocumented:
        tango.issue(order())
    assert undocumented.value.retry_after == 1.0  # Tango: wait at least a second
    with pytest.raises(TransientProviderError, match="insufficient funds"):
        tango.issue(order())
    with pytest.raises(
        PermanentProviderError, match=r"HTTP 400\): Validation failed; utid: not in the platform"
    ):
        tango.issue(replace(order(), sku="U999"))
    wrong = make_tango(tango_api, key="not-the-key")
    with pytest.raises(PermanentProviderError, match="HTTP 401"):
        wrong.issue(order())
    wrong.close()
    assert tango_api.orders == {}


def test_timeouts_and_a_lost_answer_never_order_twice(
    tango: TangoProvider, tango_api: FakeTango
) -> None:
    key = str(uuid.uuid4())
    tango_api.script = [Fault(stall=True), Fault(lost=True)]
    with pytest.raises(TransientProviderError, match="did not answer in time"):
        tango.issue(order(key))
    assert tango_api.orders == {}  # stalled before ordering
    with pytest.raises(TransientProviderError, match="did not answer in time"):
        tango.issue(order(key))
    (placed,) = tango_api.orders.values()  # the answer was lost, the order stands
    found = tango.lookup(key)
    assert found is not None
    assert found.reference == placed["referenceOrderID"]
    assert tango.issue(order(key)) == found
    assert len(tango_api.orders) == 1


def test_catalog_and_balance(tango: TangoProvider) -> None:
    offers = {o.sku: o for o in tango.catalog()}
    assert set(offers) == {"U561593", "U157189", "U666425"}
    amazon, visa, charity = offers["U561593"], offers["U157189"], offers["U666425"]
    assert (amazon.kind, amazon.min_minor, amazon.max_minor, amazon.countries) == (
        "gift_card",
        1,
        200000,
        ("US",),
    )
    assert amazon.image_url == "https://img/U561593-300.png"
    assert (visa.kind, visa.fixed_values_minor) == ("prepaid_card", (2500,))
    assert charity.kind == "charity"
    (balance,) = tango.balance()
    assert (balance.account, balance.available) == ("laurel-account", Money(500000, "USD"))


@pytest.fixture
def providers(database: Database, tango_api: FakeTango) -> Iterator[ProviderRegistry]:
    registry = default_providers(database)
    provider = make_tango(tango_api)
    registry.add(provider)
    yield registry
    provider.close()


def test_worker_delivers_through_tango_after_a_lost_answer_and_a_rate_limit(
    database: Database,
    client: TestClient,
    tenant: Tenant,
    settings: Settings,
    providers: ProviderRegistry,
    tango_api: FakeTango,
) -> None:
    fixed_program(client, tenant, amount="25.00", provider="tango")
    response = client.post("/api/v1/completions", json=completion(), headers=tenant.headers)
    reward_id = uuid.UUID(response.json()["rewards"][0]["id"])
    tango_api.script = [Fault(lost=True), Fault(status=429, headers={"Retry-After": "1"})]

    reward = settle(database, reward_id, Worker(database, settings, providers))

    assert reward.state == "delivered"
    assert reward.provider == "tango"
    (placed,) = tango_api.orders.values()
    assert reward.provider_reference == placed["referenceOrderID"]
    assert tango_api.orders_posted() == 3
    delivery = client.get(f"/api/v1/rewards/{reward_id}", headers=tenant.headers).json()
    assert delivery["delivery"]["details"]["code"] == placed["reward"]["credentialList"][0]["value"]
    errors = [d["error"] for _, d in trail(database, reward_id) if "retry_in_seconds" in d]
    assert errors[0].startswith("tango: Tango did not answer in time")
    assert errors[1].startswith("tango: Tango rate limit (HTTP 429)")


def test_configured_vendors_are_registered_and_report_their_balance(
    database: Database, tango_api: FakeTango
) -> None:
    from tests.cli.test_commands import laurel

    assert default_providers(database, Settings(database_url=database.url)).names() == [
        "inventory",
        "points",
        "sandbox",
    ]
    env = {
        "LAUREL_TANGO_BASE_URL": f"{tango_api.url}/raas/v2",
        "LAUREL_TANGO_PLATFORM_NAME": tango_api.platform,
        "LAUREL_TANGO_API_KEY": tango_api.key,
        "LAUREL_TANGO_CUSTOMER_IDENTIFIER": tango_api.customer,
        "LAUREL_TANGO_ACCOUNT_IDENTIFIER": tango_api.account,
        "LAUREL_TANGO_UTIDS": '{"gift_card": "U561593"}',
        "LAUREL_TREMENDOUS_BASE_URL": "http://127.0.0.1:9/api/v2",  # nothing listens there
        "LAUREL_TREMENDOUS_API_KEY": "k",
    }
    listed = laurel("providers", "list", url=database.url, env=env)
    assert listed.stdout.split() == ["inventory", "points", "sandbox", "tango", "tremendous"]
    balance = laurel("providers", "balance", url=database.url, env=env)
    assert balance.stdout == "tango  laurel-account  5000.00 USD\n"
    assert balance.stderr.startswith("tremendous: Tremendous unreachable")
    assert balance.returncode == 1


def test_the_item_follows_the_reward_currency_and_a_missing_one_is_refused(
    tango: TangoProvider, tango_api: FakeTango
) -> None:
    tango_api.catalog_items["U834561"] = {
        "brand": "Amazon.de",
        "type": "gift card",
        "fixed": None,
        "currency": "EUR",
    }
    euro = replace(order(), amount=Money.parse("20.00", "EUR"))
    issued = tango.issue(euro)
    assert (issued.details["utid"], issued.details["currency"]) == ("U834561", "EUR")
    with pytest.raises(PermanentProviderError, match="no Tango item for reward kind 'charity'"):
        tango.issue(replace(order(), reward_kind="charity"))
    assert len(tango_api.orders) == 1


def test_calls_are_paced_to_the_published_rate(tango_api: FakeTango) -> None:
    paced = TangoProvider(
        f"{tango_api.url}/raas/v2",
        tango_api.platform,
        tango_api.key,
        tango_api.customer,
        tango_api.account,
        {"gift_card": "U561593"},
        timeout=TIMEOUT,
        requests_per_second=5,
    )
    threads = [threading.Thread(target=paced.issue, args=(order(),)) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(10)
    paced.close()
    arrivals = sorted(r.at for r in tango_api.requests)
    assert len(arrivals) == 4
    gaps = [b - a for a, b in itertools.pairwise(arrivals)]
    assert min(gaps) >= 0.15  # 5 a second, whatever the threads do
