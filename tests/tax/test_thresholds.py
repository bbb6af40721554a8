"""Thresholds per tax year: the law's defaults, an organization's own figures, precise errors."""

from __future__ import annotations

from fastapi.testclient import TestClient
from sqlalchemy import select

from laurel.audit.models import AuditEntry
from laurel.db import Database
from laurel.tax import thresholds
from tests.conftest import Tenant


def _list(client: TestClient, tenant: Tenant, first: int, last: int) -> dict[int, tuple[str, str]]:
    response = client.get(f"/api/v1/tax/thresholds?from={first}&to={last}", headers=tenant.headers)
    assert response.status_code == 200, response.text
    return {t["tax_year"]: (t["amount"]["amount"], t["source"]) for t in response.json()}


def test_defaults_follow_the_law(client: TestClient, tenant: Tenant) -> None:
    assert _list(client, tenant, 2024, 2028) == {
        2024: ("600.00", "law"),
        2025: ("600.00", "law"),
        2026: ("2000.00", "law"),
        # Indexed from 2027: the IRS publishes the figure; until entered, $2,000 stays.
        2027: ("2000.00", "law"),
        2028: ("2000.00", "law"),
    }
    assert thresholds.default_minor(2025) == 60_000
    assert thresholds.default_minor(2026) == 200_000


def test_the_organization_sets_and_resets_a_year(
    client: TestClient, tenant: Tenant, database: Database
) -> None:
    put = client.put(
        "/api/v1/tax/thresholds/2027",
        json={"amount": {"amount": "2100.00", "currency": "USD"}},
        headers=tenant.headers,
    )
    assert put.status_code == 200, put.text
    assert put.json() == {
        "tax_year": 2027,
        "amount": {"amount": "2100.00", "currency": "USD"},
        "source": "organization",
    }
    again = client.put(
        "/api/v1/tax/thresholds/2027",
        json={"amount": {"amount": "2200.00", "currency": "USD"}},
        headers=tenant.headers,
    )
    assert again.json()["amount"]["amount"] == "2200.00"
    assert _list(client, tenant, 2026, 2027)[2027] == ("2200.00", "organization")
    reset = client.delete("/api/v1/tax/thresholds/2027", headers=tenant.headers)
    assert reset.status_code == 200
    assert reset.json()["source"] == "law"
    assert client.delete("/api/v1/tax/thresholds/2027", headers=tenant.headers).status_code == 404
    with database.session() as session:
        details = [
            (e.action, e.details)
            for e in session.scalars(
                select(AuditEntry)
                .where(AuditEntry.action.like("tax:threshold:%"))
                .order_by(AuditEntry.seq)
            )
        ]
    assert details == [
        ("tax:threshold:set", {"tax_year": 2027, "from": "2000.00", "to": "2100.00"}),
        ("tax:threshold:set", {"tax_year": 2027, "from": "2100.00", "to": "2200.00"}),
        ("tax:threshold:reset", {"tax_year": 2027, "from": "2200.00"}),
    ]


def test_bad_thresholds_name_the_field(client: TestClient, tenant: Tenant) -> None:
    def put(year: int, amount: str, code: str = "USD") -> tuple[int, list[str]]:
        response = client.put(
            f"/api/v1/tax/thresholds/{year}",
            json={"amount": {"amount": amount, "currency": code}},
            headers=tenant.headers,
        )
        detail = response.json().get("detail") or []
        return response.status_code, [d["field"] for d in detail if isinstance(d, dict)]

    assert put(2027, "2100.00", "EUR") == (422, ["amount.currency"])
    assert put(2027, "0.00") == (422, ["amount.amount"])
    assert put(1990, "600.00") == (422, ["tax_year"])
    test_mode = client.put(
        "/api/v1/tax/thresholds/2027",
        json={"amount": {"amount": "2100.00", "currency": "USD"}},
        headers=tenant.test_headers,
    )
    assert test_mode.status_code == 403


def test_settings_name_each_bad_field(client: TestClient, tenant: Tenant) -> None:
    response = client.patch(
        "/api/v1/tax/settings",
        json={
            "payer_tin": "12-345",
            "payer_state": "Illinois"[:2].lower(),
            "payer_zip": "6270",
            "timezone": "Mars/Olympus",
            "fire_tcc": "AB-1",
        },
        headers=tenant.headers,
    )
    assert response.status_code == 422
    detail = {d["field"]: d["message"] for d in response.json()["detail"]}
    assert detail == {
        "payer_tin": "An EIN has 9 digits; this one has 5.",
        "payer_state": "'il' is not a USPS state or territory code (e.g. NY)",
        "payer_zip": "a ZIP code has 5 digits, or 9 (12345-6789)",
        "timezone": "'Mars/Olympus' is not an IANA time zone (e.g. America/New_York)",
        "fire_tcc": "a Transmitter Control Code is 5 letters or digits",
    }
    good = client.patch(
        "/api/v1/tax/settings",
        json={"payer_tin": "12-3456780", "request_at": {"amount": "250.00", "currency": "USD"}},
        headers=tenant.headers,
    )
    assert good.status_code == 200, good.text
    assert good.json()["payer_tin"] == "**-***6780"
    assert good.json()["request_at"] == {"amount": "250.00", "currency": "USD"}
