"""The learner's email shows what they received in their own currency, what it was converted
from and the fee kept, and carries the gift code (stored encrypted, decrypted to send)."""

from __future__ import annotations

import re
from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient

from laurel.config import Settings
from laurel.db import Database
from laurel.worker import Worker, default_providers
from tests.conftest import Tenant
from tests.delivery.test_currency import _rates
from tests.factories import fixed_program
from tests.notifications.support import SmtpServer, smtp_server
from tests.notifications.test_email import _complete, _drain, _enable, _mail_settings


@pytest.fixture
def smtp() -> Iterator[SmtpServer]:
    with smtp_server() as server:
        yield server


def test_a_converted_reward_email_shows_the_amount_paid_its_origin_and_the_fee(
    database: Database,
    client: TestClient,
    tenant: Tenant,
    settings: Settings,
    smtp: SmtpServer,
) -> None:
    _rates(database, tenant, fee_bps=150)
    fixed_program(client, tenant, amount="25.00", currency="USD")
    _enable(client, tenant)
    _complete(client, tenant, locale="de-DE", country="DE", email="ana.diaz@example.com")
    mail_settings = _mail_settings(settings, smtp, sandbox_currencies=["EUR"])
    _drain(Worker(database, mail_settings, default_providers(database, mail_settings)))

    (got,) = smtp.mailbox.received
    for part in (got.text, got.html):
        assert "23,56\xa0€" in part, part
        assert "Umgerechnet aus 25,00\xa0$ zum Wechselkurs vom" in part, part
        assert "Umrechnungsgebühr: 0,36\xa0€." in part, part
        assert re.search(r"SBX-[A-Z0-9]{4}-", part), part
