"""Form request emails: queued in the notifications outbox with the request, sent by the real
worker to a real SMTP server on loopback, in the learner's language, with the secure link that
opens the form page. The link is stored only encrypted in the outbox row."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from datetime import date
from urllib.parse import urlsplit

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

from laurel.config import Settings
from laurel.db import Database
from laurel.delivery.providers import ProviderRegistry
from laurel.learners import sealing
from laurel.notifications import render
from laurel.notifications.models import OutboxEmail
from laurel.tax.models import TaxFormRequest
from laurel.worker import Worker
from tests.conftest import Tenant
from tests.factories import opened
from tests.notifications.support import HOST, SmtpServer, smtp_server
from tests.tax.support import earn, reasons

LINK = re.compile(r"https?://[^\s/\"<>]+/tax/forms/[A-Za-z0-9_-]{20,}")
ENGLISH = [
    "needs your tax form",
    "Fill it in on this secure page:",
    "The link works once",
    "If you did not expect this email",
]


@pytest.fixture
def smtp() -> Iterator[SmtpServer]:
    with smtp_server() as server:
        yield server


def _worker(
    database: Database, settings: Settings, providers: ProviderRegistry, smtp: SmtpServer
) -> Worker:
    mail = settings.model_copy(
        update={
            "smtp_host": HOST,
            "smtp_port": smtp.port,
            "smtp_security": "none",
            "smtp_timeout_seconds": 5.0,
        }
    )
    return Worker(database, mail, providers)


def _rows(database: Database) -> list[OutboxEmail]:
    with database.read_session() as session:
        rows = list(
            session.scalars(
                select(OutboxEmail)
                .where(OutboxEmail.template == "tax_form_request")
                .order_by(OutboxEmail.id)
            )
        )
        session.expunge_all()
        return rows


def test_a_spanish_contractor_gets_the_w9_request_in_spanish(
    client: TestClient,
    tenant: Tenant,
    database: Database,
    settings: Settings,
    providers: ProviderRegistry,
    smtp: SmtpServer,
) -> None:
    from tests.factories import fixed_program

    fixed_program(client, tenant, amount="50.00")
    held = earn(client, tenant, "c-1", learner="C1", classification="contractor", locale="es-MX")
    assert reasons(held) == ["tax_form_required"]

    (row,) = _rows(database)
    assert (opened(database, row, sealing.OUTBOX_RECIPIENT), row.locale) == (
        "c1@example.com",
        "es-MX",
    )
    context = opened(database, row, sealing.OUTBOX_CONTEXT)
    stored = json.dumps(context)
    assert not LINK.search(stored), "the link is stored only encrypted"
    assert (row.secrets_sealed or "").startswith("lk1:")
    with database.read_session() as session:
        request_id = session.scalars(select(TaxFormRequest.id)).one()
    assert context["request_id"] == str(request_id)

    worker = _worker(database, settings, providers, smtp)
    assert worker.run_outbox_once() == 1
    (mail,) = smtp.mailbox.received
    assert mail.rcpt_tos == ["c1@example.com"]
    assert mail.message["Subject"] == "Acme necesita tu formulario fiscal W-9"
    assert mail.message["Content-Language"] == "es"
    text = mail.text
    assert "Hola, Ana Díaz:" in text
    assert "Para seguir pagándote tus recompensas, Acme necesita tu formulario fiscal W-9." in text
    assert "Rellénalo en esta página segura:" in text
    assert "El enlace funciona una sola vez, hasta el" in text
    for english in ENGLISH:
        assert english not in text
    links = LINK.findall(text)
    assert len(links) == 1
    assert links[0] in mail.html
    # The link opens the learner's form page, in Spanish.
    page = client.get(urlsplit(links[0]).path)
    assert page.status_code == 200, page.text
    assert 'lang="es"' in page.text
    # One email per request: nothing more to send, and a second reward asks for nothing new.
    assert worker.run_outbox_once() == 0
    earn(client, tenant, "c-2", learner="C1", classification="contractor", course="C-2")
    assert len(_rows(database)) == 1


def test_a_threshold_request_goes_out_once_the_aggregate_reaches_the_request_amount(
    client: TestClient,
    tenant: Tenant,
    database: Database,
    settings: Settings,
    providers: ProviderRegistry,
    smtp: SmtpServer,
) -> None:
    """A customer (1099-MISC) is asked when their year total reaches $500, not before."""
    from tests.factories import fixed_program

    fixed_program(client, tenant, amount="300.00")
    first = earn(client, tenant, "m-1", learner="M1", locale="en-US", course="M-1")
    assert first["state"] == "ready"
    assert _rows(database) == []
    second = earn(client, tenant, "m-2", learner="M1", locale="en-US", course="M-2")
    assert second["state"] == "ready"  # $600 is under the $2,000 threshold: paid, and asked
    (row,) = _rows(database)
    _worker(database, settings, providers, smtp).run_outbox_once()
    (mail,) = smtp.mailbox.received
    assert mail.message["Subject"] == "Acme needs your tax form W-9"
    assert "Fill it in on this secure page:" in mail.text
    assert LINK.search(mail.text)
    assert row.learner_id is not None


def test_a_learner_without_an_address_gets_no_email_but_the_request_stands(
    client: TestClient, tenant: Tenant, database: Database
) -> None:
    from tests.conftest import completion
    from tests.factories import fixed_program

    fixed_program(client, tenant, amount="50.00")
    body = completion("c-1", learner="C9")
    body["learner"].update(classification="contractor", country="US", email=None)
    response = client.post("/api/v1/completions", headers=tenant.headers, json=body)
    assert response.status_code == 202, response.text
    assert _rows(database) == []
    with database.read_session() as session:
        assert session.scalars(select(TaxFormRequest.status)).one() == "open"


@pytest.mark.parametrize("language", ["es", "fr", "de", "pt_BR", "ja"])
def test_every_sentence_of_the_email_is_translated(language: str) -> None:
    rendered = render.render(
        "tax_form_request",
        language,
        {
            "brand": render.brand("Acme", None),
            "form": "W-8BEN",
            "learner_name": "Kim",
            "expires_on": date(2026, 12, 26),
            "link": "https://laurel.example/tax/forms/abc",
        },
    )
    assert rendered.locale == language
    for part in (rendered.subject, rendered.text, rendered.html):
        for english in ENGLISH:
            assert english not in part, (language, english)
        assert "W-8BEN" in part
    assert "https://laurel.example/tax/forms/abc" in rendered.text
    assert "Acme" in rendered.subject
