"""Catalog items edited through the API: precise field errors, deactivation, audit."""

from __future__ import annotations

from typing import Any

from fastapi.testclient import TestClient
from sqlalchemy import select

from laurel.audit.models import AuditEntry
from laurel.db import Database
from tests.conftest import Tenant

ITEM: dict[str, Any] = {
    "provider": "sandbox",
    "sku": "SBX-CINEMA-US",
    "brand": "Cinema Night",
    "kind": "gift_card",
    "currency": "USD",
    "countries": ["US"],
    "fixed_values": ["15.00", "25.00"],
}


def _errors(response: Any) -> dict[str, str]:
    assert response.status_code == 422, response.text
    return {d["field"]: d["message"] for d in response.json()["detail"]}


def test_create_read_update_deactivate(
    client: TestClient, tenant: Tenant, database: Database
) -> None:
    created = client.post("/api/v1/catalog/items", json=ITEM, headers=tenant.headers)
    assert created.status_code == 201, created.text
    item = created.json()
    assert item["source"] == "manual"
    assert item["fixed_values"] == [
        {"amount": "15.00", "currency": "USD"},
        {"amount": "25.00", "currency": "USD"},
    ]
    assert (item["active"], item["available"]) == (True, True)
    again = client.post("/api/v1/catalog/items", json=ITEM, headers=tenant.headers)
    assert again.status_code == 409
    assert again.json()["error"] == "catalog_item_exists"

    ranged = client.patch(
        f"/api/v1/catalog/items/{item['id']}",
        json={"min_value": "5.00", "max_value": "100.00"},
        headers=tenant.headers,
    )
    assert ranged.status_code == 200, ranged.text
    assert ranged.json()["fixed_values"] == []
    assert ranged.json()["min_value"] == {"amount": "5.00", "currency": "USD"}
    gone = client.post(f"/api/v1/catalog/items/{item['id']}/deactivate", headers=tenant.headers)
    assert gone.json()["active"] is False
    assert (
        client.get(f"/api/v1/catalog/items/{item['id']}", headers=tenant.headers).json()["active"]
        is False
    )
    with database.session() as session:
        actions = list(
            session.scalars(
                select(AuditEntry.action)
                .where(AuditEntry.target_id == item["id"])
                .order_by(AuditEntry.seq)
            )
        )
    assert actions == ["catalog:item:create", "catalog:item:update", "catalog:item:deactivate"]
    missing = client.get(
        "/api/v1/catalog/items/00000000-0000-7000-8000-000000000000", headers=tenant.headers
    )
    assert missing.status_code == 404


def test_bad_items_name_each_field_and_why(client: TestClient, tenant: Tenant) -> None:
    both = _errors(
        client.post(
            "/api/v1/catalog/items",
            json=ITEM | {"min_value": "1.00", "max_value": "2.00", "provider": "acme-gifts"},
            headers=tenant.headers,
        )
    )
    assert both == {
        "provider": "no provider 'acme-gifts'; configured: inventory, points, sandbox",
        "fixed_values": "give fixed_values or min_value and max_value, not both",
    }
    decimals = _errors(
        client.post(
            "/api/v1/catalog/items",
            json=ITEM | {"fixed_values": ["10.00", "12.345", "0"]},
            headers=tenant.headers,
        )
    )
    assert decimals == {
        "fixed_values[1]": "USD has 2 decimal places; '12.345' has 3",
        "fixed_values[2]": "must be above zero",
    }
    upside = _errors(
        client.post(
            "/api/v1/catalog/items",
            json={k: v for k, v in ITEM.items() if k != "fixed_values"}
            | {"min_value": "50.00", "max_value": "10.00"},
            headers=tenant.headers,
        )
    )
    assert upside == {"min_value": "must not be above max_value"}
    half = _errors(
        client.post(
            "/api/v1/catalog/items",
            json={k: v for k, v in ITEM.items() if k != "fixed_values"} | {"min_value": "5.00"},
            headers=tenant.headers,
        )
    )
    assert half == {"max_value": "a range needs both ends"}
    shape = _errors(
        client.post(
            "/api/v1/catalog/items",
            json=ITEM | {"kind": "points", "countries": ["usa"], "currency": "DOLLARS"},
            headers=tenant.headers,
        )
    )
    assert set(shape) == {"kind", "countries[0]", "currency"}
    created = client.post("/api/v1/catalog/items", json=ITEM, headers=tenant.headers).json()
    yen = _errors(
        client.patch(
            f"/api/v1/catalog/items/{created['id']}",
            json={"currency": "JPY"},
            headers=tenant.headers,
        )
    )
    assert yen == {
        "fixed_values[0]": "JPY has 0 decimal places; '15.00' has 2",
        "fixed_values[1]": "JPY has 0 decimal places; '25.00' has 2",
    }
    channel = _errors(
        client.post(
            "/api/v1/catalog/items", json=ITEM | {"provider": "link"}, headers=tenant.headers
        )
    )
    assert channel == {"provider": "no provider 'link'; configured: inventory, points, sandbox"}
    nulls = _errors(
        client.patch(
            f"/api/v1/catalog/items/{created['id']}", json={"brand": None}, headers=tenant.headers
        )
    )
    assert set(nulls) == {"brand"}


def test_reading_keys_cannot_edit(client: TestClient, tenant: Tenant, database: Database) -> None:
    from laurel.auth import service as auth

    with database.session() as session:
        reader = auth.create_key(
            session, organization_id=tenant.id, scopes=["read"], livemode=True, actor="test"
        )
    headers = {"Authorization": f"Bearer {reader.secret}"}
    assert client.get("/api/v1/catalog/items", headers=headers).status_code == 200
    assert client.post("/api/v1/catalog/items", json=ITEM, headers=headers).status_code == 403
    assert client.post("/api/v1/catalog/sync", headers=headers).status_code == 403
    assert (
        client.post("/api/v1/catalog/items", json=ITEM, headers=tenant.test_headers).status_code
        == 403
    )
