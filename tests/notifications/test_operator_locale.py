"""Operator emails (held-reward digests, low-stock alerts) go out in the language of the user
the address belongs to, else the organization's email language, else English."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient

from laurel.config import Settings
from laurel.db import Database
from laurel.delivery.providers import ProviderRegistry
from laurel.worker import Worker
from tests.conftest import Tenant, completion
from tests.delivery.test_inventory import codes, csv_of, upload
from tests.factories import fixed_program
from tests.notifications.support import SmtpServer, smtp_server
from tests.notifications.test_email import _drain, _enable, _mail_settings

OPS = "ops@example.com"
FINANCE = "finanzen@example.com"
NOBODY = "alerts@example.com"


@pytest.fixture
def smtp() -> Iterator[SmtpServer]:
    with smtp_server() as server:
        yield server


def _finance_user(client: TestClient, tenant: Tenant, locale: str) -> None:
    created = client.post(
        "/api/v1/users",
        json={"email": FINANCE, "name": "Frieda", "roles": ["finance"]},
        headers=tenant.headers,
    )
    assert created.status_code == 201, created.text
    changed = client.patch(
        f"/api/v1/users/{created.json()['id']}", json={"locale": locale}, headers=tenant.headers
    )
    assert changed.status_code == 200, changed.text
    assert changed.json()["locale"] == locale


def _subjects(smtp: SmtpServer) -> dict[str, tuple[str, str]]:
    return {
        got.rcpt_tos[0]: (str(got.message["Subject"]), str(got.message["Content-Language"]))
        for got in smtp.mailbox.received
    }


def test_a_held_digest_is_written_in_each_recipients_language(
    database: Database,
    client: TestClient,
    tenant: Tenant,
    settings: Settings,
    providers: ProviderRegistry,
    smtp: SmtpServer,
) -> None:
    _finance_user(client, tenant, "de")
    settings_out = _enable(client, tenant, admin_recipients=[FINANCE, OPS], admin_locale="fr")
    assert settings_out["admin_locale"] == "fr"
    fixed_program(
        client, tenant, amount="200.00", approval_threshold={"amount": "100", "currency": "USD"}
    )
    response = client.post("/api/v1/completions", json=completion(), headers=tenant.headers)
    assert response.json()["rewards"][0]["state"] == "held"
    _drain(Worker(database, _mail_settings(settings, smtp), providers))

    assert _subjects(smtp) == {
        FINANCE: ("1 Prämie wird zurückgehalten", "de"),
        OPS: ("1 récompense est en attente", "fr"),
    }


def test_a_low_stock_alert_follows_the_same_rule(
    database: Database,
    client: TestClient,
    tenant: Tenant,
    settings: Settings,
    providers: ProviderRegistry,
    smtp: SmtpServer,
) -> None:
    _finance_user(client, tenant, "pt-BR")
    _enable(client, tenant, admin_recipients=[FINANCE, NOBODY])
    upload(client, tenant, csv_of(*codes(3)))
    _drain(Worker(database, _mail_settings(settings, smtp), providers))

    received = {got.rcpt_tos[0]: got for got in smtp.mailbox.received}
    assert set(received) == {FINANCE, NOBODY}
    assert received[FINANCE].message["Subject"] == "Estoque baixo: códigos Amazon de US$ 25,00"
    assert "Restam apenas 3 códigos Amazon de US$\xa025,00 no inventário." in received[FINANCE].text
    assert received[NOBODY].message["Subject"] == "Low stock: Amazon codes of $25.00"
    assert "The alert threshold is 10." in received[NOBODY].text


def test_a_locale_that_is_no_language_is_refused(client: TestClient, tenant: Tenant) -> None:
    response = client.patch(
        "/api/v1/notifications/email-settings",
        json={"admin_locale": "not a language!"},
        headers=tenant.headers,
    )
    assert response.status_code == 422
    assert response.json()["detail"][0]["field"] == "admin_locale"
