"""Small typed helpers that build programs and rules through the real API."""

from __future__ import annotations

from typing import Any

from fastapi.testclient import TestClient

from tests.conftest import Tenant


def fixed_program(
    client: TestClient,
    tenant: Tenant,
    *,
    key: str = "compliance",
    amount: str = "25.00",
    currency: str = "USD",
    conditions: dict[str, Any] | None = None,
    **fields: Any,
) -> dict[str, Any]:
    body: dict[str, Any] = {
        "key": key,
        "name": key.title(),
        "currency": currency,
        "rules": [
            {
                "name": "flat",
                "conditions": conditions or {},
                "value": {"kind": "fixed", "amount": {"amount": amount, "currency": currency}},
            }
        ],
        **fields,
    }
    response = client.post("/api/v1/programs", json=body, headers=tenant.headers)
    assert response.status_code == 201, response.text
    result: dict[str, Any] = response.json()
    return result
