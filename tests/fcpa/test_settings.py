"""FCPA limits per organization: defaults, changes by compliance through the API (audited,
validated field by field), and the gate judging each organization by its own limits."""

from __future__ import annotations

from typing import Any

from fastapi.testclient import TestClient
from sqlalchemy import select

from laurel.audit.models import AuditEntry
from laurel.db import Database
from tests.auth.support import Browser, make_user
from tests.conftest import Tenant, make_tenant
from tests.factories import fixed_program, role_key
from tests.fcpa.test_gate import earn, import_rates, partner_event, reasons

URL = "/api/v1/fcpa/settings"


def money(amount: str, currency: str = "USD") -> dict[str, str]:
    return {"amount": amount, "currency": currency}


def patch(client: TestClient, headers: dict[str, str], **body: Any) -> Any:
    return client.patch(URL, headers=headers, json=body)


def test_defaults_until_the_organization_sets_its_own(
    client: TestClient, tenant: Tenant, database: Database
) -> None:
    compliance = role_key(database, tenant, "compliance")
    found = client.get(URL, headers=compliance)
    assert found.status_code == 200, found.text
    assert found.json() == {
        "event_limit": money("250.00"),
        "yearly_limit": money("1000.00"),
        "custom": False,
    }


def test_compliance_changes_a_limit_and_the_change_is_audited(
    client: TestClient, tenant: Tenant, database: Database
) -> None:
    compliance = role_key(database, tenant, "compliance")
    changed = patch(client, compliance, event_limit=money("100.00"))
    assert changed.status_code == 200, changed.text
    assert changed.json() == {
        "event_limit": money("100.00"),
        "yearly_limit": money("1000.00"),
        "custom": True,
    }
    again = patch(client, compliance, yearly_limit=money("400.00"))
    assert again.json()["event_limit"] == money("100.00")
    assert again.json()["yearly_limit"] == money("400.00")
    assert client.get(URL, headers=compliance).json() == again.json()
    with database.sessionmaker() as session:
        entries = session.scalars(
            select(AuditEntry)
            .where(AuditEntry.action == "fcpa:settings:update")
            .order_by(AuditEntry.seq)
        ).all()
    assert [e.details for e in entries] == [
        {
            "before": {"event_limit": "250.00 USD", "yearly_limit": "1000.00 USD"},
            "after": {"event_limit": "100.00 USD", "yearly_limit": "1000.00 USD"},
        },
        {
            "before": {"event_limit": "100.00 USD", "yearly_limit": "1000.00 USD"},
            "after": {"event_limit": "100.00 USD", "yearly_limit": "400.00 USD"},
        },
    ]
    assert {e.actor for e in entries} == {entries[0].actor}
    assert entries[0].actor.startswith("apikey:")


def test_who_may_read_and_change_the_limits(
    client: TestClient, tenant: Tenant, database: Database
) -> None:
    body = {"event_limit": money("300.00")}
    assert client.patch(URL, headers=tenant.headers, json=body).status_code == 200  # org admin
    for headers in (role_key(database, tenant, "finance"), role_key(database, tenant)):
        assert client.patch(URL, headers=headers, json=body).status_code == 403
        assert client.get(URL, headers=headers).status_code == 403
    # A test-mode key never changes shared configuration.
    test_mode = role_key(database, tenant, "compliance", livemode=False)
    assert client.patch(URL, headers=test_mode, json=body).status_code == 403
    # Signed-in people: an auditor reads, a program manager does neither.
    for role, reads in (("auditor", True), ("program_manager", False)):
        make_user(database, tenant.id, f"{role}@acme.test", [role])
        browser = Browser(client.app)  # type: ignore[arg-type]
        browser.sign_in("acme", f"{role}@acme.test")
        read = browser.client.get(URL, headers=browser.headers)
        assert read.status_code == (200 if reads else 403), (role, read.text)
        changed = browser.client.patch(URL, headers=browser.headers, json=body)
        assert changed.status_code == 403, role


def test_bad_limits_are_named_field_by_field(
    client: TestClient, tenant: Tenant, database: Database
) -> None:
    compliance = role_key(database, tenant, "compliance")
    mixed = patch(
        client, compliance, event_limit=money("200.00", "EUR"), yearly_limit=money("900.00")
    )
    assert mixed.status_code == 422
    assert [d["field"] for d in mixed.json()["detail"]] == ["yearly_limit.currency"]
    alone = patch(client, compliance, event_limit=money("200.00", "EUR"))
    assert [d["field"] for d in alone.json()["detail"]] == ["event_limit.currency"]
    assert "send both limits" in alone.json()["detail"][0]["message"]
    negative = patch(client, compliance, event_limit=money("-1.00"), yearly_limit=money("5.00"))
    assert negative.status_code == 422
    assert [d["field"] for d in negative.json()["detail"]] == ["event_limit"]
    points = patch(
        client, compliance, event_limit=money("10", "PTS"), yearly_limit=money("20", "PTS")
    )
    assert {d["field"] for d in points.json()["detail"]} == {
        "event_limit.currency",
        "yearly_limit.currency",
    }
    unknown = patch(client, compliance, limit=money("1.00"))
    assert unknown.status_code == 422
    # Nothing was stored by the refused calls.
    assert client.get(URL, headers=compliance).json()["custom"] is False


def test_the_gate_uses_each_organizations_own_limits(
    client: TestClient, tenant: Tenant, database: Database
) -> None:
    other = make_tenant(database, "globex")
    fixed_program(client, tenant, amount="150.00")
    fixed_program(client, other, amount="150.00")
    patch(client, role_key(database, tenant, "compliance"), event_limit=money("100.00"))

    held = earn(client, tenant, partner_event("e-1"))
    assert (held["state"], reasons(held)) == ("held", ["fcpa_review"])
    assert "above the FCPA limit of 100.00 USD per reward" in held["hold_reasons"][0]["message"]
    # The other organization still has the defaults: 150.00 is under 250.00.
    passed = earn(client, other, partner_event("e-1"))
    assert passed["state"] == "ready", passed


def test_yearly_limit_in_the_organizations_currency(
    client: TestClient, tenant: Tenant, database: Database
) -> None:
    """Limits in EUR for a EUR program: the second reward crosses the yearly limit."""
    import_rates(client, tenant)  # the tax gate values EUR rewards in USD
    patch(
        client,
        role_key(database, tenant, "compliance"),
        event_limit=money("500.00", "EUR"),
        yearly_limit=money("700.00", "EUR"),
    )
    fixed_program(client, tenant, amount="400.00", currency="EUR")
    first = earn(client, tenant, partner_event("e-1", course="C-1"))
    assert first["state"] == "ready", first
    second = earn(client, tenant, partner_event("e-2", course="C-2"))
    assert reasons(second) == ["fcpa_review"]
    assert (
        "reach 800.00 EUR, above the FCPA yearly limit of 700.00 EUR"
        in second["hold_reasons"][0]["message"]
    )


def test_rewards_in_another_currency_are_converted_to_the_limits_currency(
    client: TestClient, tenant: Tenant, database: Database
) -> None:
    import_rates(client, tenant)  # 1 EUR = 1.0450 USD
    patch(
        client,
        role_key(database, tenant, "compliance"),
        event_limit=money("500.00", "EUR"),
        yearly_limit=money("5000.00", "EUR"),
    )
    fixed_program(client, tenant, amount="600.00")
    held = earn(client, tenant, partner_event("e-1"))
    # 600.00 USD / 1.0450 = 574.16 EUR: above 500.00 EUR.
    assert reasons(held) == ["fcpa_review"]
    assert (
        "reward of 574.16 EUR to a non-US channel partner is above the FCPA limit of 500.00 EUR"
        in held["hold_reasons"][0]["message"]
    )
