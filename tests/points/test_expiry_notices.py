"""Expiry notices: the worker emails a learner before points expire, once per expiring day,
in the learner's language, through the outbox and a real SMTP server (aiosmtpd)."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from datetime import timedelta

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select, update

from laurel.config import Settings
from laurel.db import Database
from laurel.delivery.providers import ProviderRegistry
from laurel.kit.clock import utcnow
from laurel.learners.models import Learner
from laurel.notifications.models import OutboxEmail
from laurel.points import ledger
from laurel.points.models import ExpiryNotice, TransactionKind
from laurel.worker import Worker
from tests.conftest import Tenant
from tests.notifications.support import HOST, SmtpServer, smtp_server
from tests.points.support import add_learner, add_program, scope


@pytest.fixture
def smtp() -> Iterator[SmtpServer]:
    with smtp_server() as server:
        yield server


def _earn(database: Database, tenant: Tenant, who: uuid.UUID, points: int, days: int) -> None:
    with database.session() as session:
        program = add_program(session, tenant, key=f"p-{uuid.uuid4().hex[:8]}")
        ledger.post(
            session,
            scope(tenant),
            key=f"seed:{who}:{days}",
            kind=TransactionKind.earn,
            legs=[(ledger.liability(program), -points), (ledger.wallet(who), points)],
            actor="test",
            program_id=program,
            occurred_at=utcnow(),
            expires_at=utcnow() + timedelta(days=days),
        )


def _worker(
    database: Database, settings: Settings, providers: ProviderRegistry, port: int
) -> Worker:
    mail = settings.model_copy(
        update={
            "smtp_host": HOST,
            "smtp_port": port,
            "smtp_security": "none",
            "smtp_timeout_seconds": 5.0,
            "public_url": "https://rewards.acme.test",
        }
    )
    return Worker(database, mail, providers)


def test_a_notice_is_emailed_once_before_points_expire_in_the_learners_language(
    client: TestClient,
    tenant: Tenant,
    database: Database,
    settings: Settings,
    providers: ProviderRegistry,
    smtp: SmtpServer,
) -> None:
    enabled = client.patch(
        "/api/v1/notifications/email-settings",
        headers=tenant.headers,
        json={"enabled": True, "sender_address": "rewards@acme.test"},
    )
    assert enabled.status_code == 200, enabled.text
    with database.session() as session:
        ana = add_learner(session, tenant, "A1", name="Ana Duval", country="FR")
        session.execute(update(Learner).where(Learner.id == ana).values(locale="fr-FR"))
        bo = add_learner(session, tenant, "B1", name="Bo Berg")
    _earn(database, tenant, ana, 1500, days=10)  # within the 30-day notice period
    _earn(database, tenant, bo, 700, days=90)  # not yet

    worker = _worker(database, settings, providers, smtp.port)
    assert worker.expire_points() == 1
    worker.run_outbox_once()
    (mail,) = smtp.mailbox.received
    assert mail.rcpt_tos == ["a1@example.com"]
    assert mail.message["Content-Language"] == "fr"
    assert "500 de vos points expirent le" in mail.message["Subject"]
    assert "1\u202f500 de vos points expirent le" in mail.text
    assert "Bonjour Ana Duval" in mail.text
    assert "https://rewards.acme.test/points/wallet" in mail.text

    # Again, and from a second worker: the notice is not sent twice.
    assert worker.expire_points() == 0
    assert _worker(database, settings, providers, smtp.port).expire_points() == 0
    worker.run_outbox_once()
    assert len(smtp.mailbox.received) == 1
    with database.read_session() as session:
        notices = [
            (n.id, n.learner_id, n.points, n.sent_at is not None)
            for n in session.scalars(select(ExpiryNotice))
        ]
        outbox = [
            (e.learner_id, e.status, e.dedupe_key)
            for e in session.scalars(
                select(OutboxEmail).where(OutboxEmail.template == "points_expiring")
            )
        ]
    ((notice_id, *notice),) = notices
    assert notice == [ana, 1500, True]
    assert outbox == [(ana, "sent", f"points_expiry:{notice_id}")]


def test_no_email_when_the_organization_sends_learners_none(
    tenant: Tenant,
    database: Database,
    settings: Settings,
    providers: ProviderRegistry,
    smtp: SmtpServer,
) -> None:
    with database.session() as session:
        ana = add_learner(session, tenant, "A1")
    _earn(database, tenant, ana, 100, days=5)
    worker = _worker(database, settings, providers, smtp.port)
    assert worker.expire_points() == 0
    worker.run_outbox_once()
    assert smtp.mailbox.received == []
    with database.read_session() as session:
        sent = session.scalars(select(ExpiryNotice.sent_at)).all()
    assert len(sent) == 1
    assert sent[0] is not None  # handled: enabling email later does not send old news
