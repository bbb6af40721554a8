"""Catalog sync from providers: idempotent, withdraws what a provider dropped, keeps an admin's
edit until the provider changes the item, and survives a provider that cannot answer."""

from __future__ import annotations

from dataclasses import dataclass, field, replace

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select

from laurel.audit.models import AuditEntry
from laurel.db import Database
from laurel.delivery.providers import CatalogOffer, Issued, IssueOrder, ProviderRegistry
from laurel.delivery.providers.sandbox import SANDBOX_CATALOG
from laurel.worker import default_providers
from tests.cli.test_commands import laurel
from tests.conftest import Tenant, make_tenant
from tests.factories import table_counts


@dataclass
class Shop:
    """A provider whose catalog the test rewrites between syncs."""

    name: str = "giftshop"
    offers: list[CatalogOffer] = field(default_factory=list)
    down: bool = False

    def issue(self, order: IssueOrder) -> Issued:
        return Issued(reference=f"shop-{order.idempotency_key}")

    def lookup(self, idempotency_key: str) -> Issued | None:
        return None

    def catalog(self) -> list[CatalogOffer]:
        if self.down:
            raise TimeoutError("catalog endpoint timed out")
        return list(self.offers)


def offer(sku: str, **changes: object) -> CatalogOffer:
    base = CatalogOffer(
        provider="giftshop",
        sku=sku,
        brand=f"Brand {sku}",
        kind="gift_card",
        currency="USD",
        countries=("US", "CA"),
        min_minor=500,
        max_minor=20000,
    )
    return replace(base, **changes)  # type: ignore[arg-type]


@pytest.fixture
def shop() -> Shop:
    return Shop(offers=[offer("A"), offer("B"), offer("C")])


@pytest.fixture
def providers(database: Database, shop: Shop) -> ProviderRegistry:
    registry = default_providers(database)
    registry.add(shop)
    return registry


def _sync(client: TestClient, tenant: Tenant) -> dict[str, dict[str, object]]:
    response = client.post("/api/v1/catalog/sync", headers=tenant.headers)
    assert response.status_code == 200, response.text
    return {p["provider"]: p for p in response.json()["providers"]}


def _items(client: TestClient, tenant: Tenant, provider: str) -> dict[str, dict[str, object]]:
    response = client.get(f"/api/v1/catalog/items?provider={provider}", headers=tenant.headers)
    assert response.status_code == 200
    return {i["sku"]: i for i in response.json()}


def _audit_count(database: Database) -> int:
    with database.session() as session:
        return session.scalar(select(func.count()).select_from(AuditEntry)) or 0


def test_sync_is_idempotent_and_withdraws_dropped_items(
    client: TestClient, tenant: Tenant, database: Database, shop: Shop
) -> None:
    first = _sync(client, tenant)
    assert first["giftshop"] | {"created": 3, "updated": 0, "withdrawn": 0} == first["giftshop"]
    assert first["sandbox"]["created"] == len(SANDBOX_CATALOG)
    assert "link" not in first  # the link channel sells nothing
    before, audited = table_counts(database), _audit_count(database)
    items_before = _items(client, tenant, "giftshop")

    again = _sync(client, tenant)
    assert again["giftshop"]["unchanged"] == 3
    assert again["sandbox"]["unchanged"] == len(SANDBOX_CATALOG)
    assert table_counts(database) == before
    assert _audit_count(database) == audited
    assert _items(client, tenant, "giftshop") == items_before  # not even synced_at moved

    shop.offers = [offer("A"), offer("B", brand="Brand B v2", max_minor=30000)]
    changed = _sync(client, tenant)["giftshop"]
    assert (changed["updated"], changed["withdrawn"], changed["unchanged"]) == (1, 1, 1)
    items = _items(client, tenant, "giftshop")
    assert items["B"]["brand"] == "Brand B v2"
    assert items["B"]["max_value"] == {"amount": "300.00", "currency": "USD"}
    assert items["C"]["available"] is False
    assert items["C"]["active"] is True  # the admin's flag is the admin's
    offered = client.get("/api/v1/catalog/items?offered=true", headers=tenant.headers).json()
    assert "C" not in {i["sku"] for i in offered if i["provider"] == "giftshop"}

    shop.offers.append(offer("C"))
    relisted = _sync(client, tenant)["giftshop"]
    assert relisted["updated"] == 1
    assert _items(client, tenant, "giftshop")["C"]["available"] is True


def test_an_admins_edit_stands_until_the_provider_changes_the_item(
    client: TestClient, tenant: Tenant, shop: Shop
) -> None:
    _sync(client, tenant)
    item = _items(client, tenant, "giftshop")["A"]
    edited = client.patch(
        f"/api/v1/catalog/items/{item['id']}",
        json={"brand": "Our favourite shop", "countries": ["US"]},
        headers=tenant.headers,
    )
    assert edited.status_code == 200, edited.text
    _sync(client, tenant)
    assert _items(client, tenant, "giftshop")["A"]["brand"] == "Our favourite shop"
    shop.offers[0] = offer("A", brand="Brand A relaunched")
    _sync(client, tenant)
    after = _items(client, tenant, "giftshop")["A"]
    assert after["brand"] == "Brand A relaunched"
    assert after["countries"] == ["CA", "US"]


def test_a_provider_that_cannot_answer_keeps_its_items(
    client: TestClient, tenant: Tenant, shop: Shop
) -> None:
    _sync(client, tenant)
    shop.down = True
    result = _sync(client, tenant)["giftshop"]
    assert result["error"] == "TimeoutError: catalog endpoint timed out"
    assert all(i["available"] for i in _items(client, tenant, "giftshop").values())


def test_bad_offers_are_skipped_with_the_reason(
    client: TestClient, tenant: Tenant, shop: Shop
) -> None:
    shop.offers = [
        offer("OK"),
        offer("BADKIND", kind="points"),
        offer("BADCUR", currency="XYZ"),
        offer("BOTH", fixed_values_minor=(1000,)),
        offer("UPSIDE", min_minor=5000, max_minor=100),
    ]
    result = _sync(client, tenant)["giftshop"]
    assert result["created"] == 1
    assert result["skipped"] == [
        "BADKIND: unknown kind 'points'",
        "BADCUR: unknown currency 'XYZ'",
        "BOTH: needs either fixed values or a min and max",
        "UPSIDE: min must be positive and not above max",
    ]


def test_cli_syncs_one_organization_or_all(database: Database, tenant: Tenant) -> None:
    other = make_tenant(database, "globex")
    done = laurel("catalog", "sync", "--org", tenant.slug, url=database.url)
    assert done.returncode == 0, done.stderr
    assert f"acme sandbox: {len(SANDBOX_CATALOG)} created" in done.stdout
    assert "globex" not in done.stdout
    everyone = laurel("catalog", "sync", url=database.url)
    assert everyone.returncode == 0, everyone.stderr
    assert f"acme sandbox: 0 created, 0 updated, 0 withdrawn, {len(SANDBOX_CATALOG)} unchanged" in (
        everyone.stdout
    )
    assert f"{other.slug} sandbox: {len(SANDBOX_CATALOG)} created" in everyone.stdout
    unknown = laurel("catalog", "sync", "--org", "nobody", url=database.url)
    assert unknown.returncode == 2
    assert "nobody" in unknown.stderr
