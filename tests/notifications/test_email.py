"""Email through the outbox, sent by the real worker to a real SMTP server on loopback.

Each test builds a program through the API, sends a completion, lets the worker issue the
reward (sandbox provider) and send the outbox, then reads what the SMTP server accepted.
"""

from __future__ import annotations

import re
import threading
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select

from laurel.config import Settings
from laurel.db import Database
from laurel.delivery.providers import ProviderRegistry
from laurel.learners import sealing
from laurel.notifications import service
from laurel.notifications.models import OutboxEmail, OutboxStatus
from laurel.notifications.sender import EmailSender
from laurel.worker import Worker
from tests.conftest import Tenant, completion
from tests.factories import fixed_program, opened
from tests.notifications.support import HOST, SmtpServer, smtp_server

SENDER = "rewards@acme.example"


@pytest.fixture
def smtp() -> Iterator[SmtpServer]:
    with smtp_server() as server:
        yield server


def _mail_settings(settings: Settings, server: SmtpServer, **more: Any) -> Settings:
    return settings.model_copy(
        update={
            "smtp_host": HOST,
            "smtp_port": server.port,
            "smtp_security": "none",
            "smtp_timeout_seconds": 5.0,
            **more,
        }
    )


def _enable(client: TestClient, tenant: Tenant, **fields: Any) -> dict[str, Any]:
    body = {"enabled": True, "sender_address": SENDER, "sender_name": "Acme Rewards", **fields}
    response = client.patch(
        "/api/v1/notifications/email-settings", json=body, headers=tenant.headers
    )
    assert response.status_code == 200, response.text
    result: dict[str, Any] = response.json()
    return result


def _complete(
    client: TestClient, tenant: Tenant, *, locale: str, event_id: str = "lms-1", **learner: Any
) -> uuid.UUID:
    body = completion(event_id)
    body["learner"] |= {"locale": locale, **learner}
    response = client.post("/api/v1/completions", json=body, headers=tenant.headers)
    assert response.status_code == 202, response.text
    (reward,) = response.json()["rewards"]
    return uuid.UUID(reward["id"])


def _drain(worker: Worker, rounds: int = 20) -> None:
    """Issue what is ready, then send what the outbox holds, until nothing is left to do."""
    for _ in range(rounds):
        if worker.run_once() + worker.run_outbox_once() == 0:
            return
    raise AssertionError("the worker still had work after 20 passes")


def _outbox(database: Database) -> list[OutboxEmail]:
    with database.read_session() as session:
        rows = list(session.scalars(select(OutboxEmail).order_by(OutboxEmail.id)))
        session.expunge_all()  # read-only sessions roll back, which would expire the rows
        return rows


CASES = [
    # (learner locale, program currency and amount, subject, text must contain, html lang)
    (
        "ja",
        ("JPY", "3000"),
        "Acme から報酬が届きました",
        ["「Security Awareness 2026」の修了おめでとうございます。", "￥3,000", "年", "月"],
        "ja",
    ),
    (
        "pt-BR",
        ("BRL", "125.50"),
        "Sua recompensa de Acme chegou",
        ["Parabéns por concluir Security Awareness 2026", "R$\xa0125,50", "de 20"],
        "pt-BR",
    ),
    (
        "es-MX",
        ("MXN", "500.00"),
        "Tu recompensa de Acme ya está aquí",
        ["Enhorabuena por completar", "$500.00", " de 20"],
        "es",
    ),
    (
        "fr",
        ("EUR", "25.00"),
        "Votre récompense de Acme est arrivée",
        ["Félicitations pour avoir terminé", "25,00\xa0€"],
        "fr",
    ),
    (
        "de-DE",
        ("EUR", "1250.00"),
        "Ihre Prämie von Acme ist da",
        ["Herzlichen Glückwunsch zum Abschluss von", "1.250,00\xa0€"],
        "de",
    ),
    (
        "en-US",
        ("USD", "25.00"),
        "Your reward from Acme is here",
        ["Congratulations on completing Security Awareness 2026", "$25.00"],
        "en",
    ),
    # No Italian catalog: English words, Italian number format.
    ("it-IT", ("EUR", "25.00"), "Your reward from Acme is here", ["25,00\xa0€"], "en"),
]


@pytest.mark.parametrize(("locale", "money", "subject", "snippets", "lang"), CASES)
def test_delivered_reward_email_is_in_the_learners_language(
    database: Database,
    client: TestClient,
    tenant: Tenant,
    settings: Settings,
    providers: ProviderRegistry,
    smtp: SmtpServer,
    locale: str,
    money: tuple[str, str],
    subject: str,
    snippets: list[str],
    lang: str,
) -> None:
    currency, amount = money
    fixed_program(client, tenant, amount=amount, currency=currency)
    _enable(client, tenant)
    reward_id = _complete(client, tenant, locale=locale, email="ana.diaz@example.com")
    worker = Worker(database, _mail_settings(settings, smtp), providers)
    _drain(worker)

    (got,) = smtp.mailbox.received
    message = got.message
    assert message["Subject"] == subject
    assert message["From"] == f"Acme Rewards <{SENDER}>"
    assert message["To"] == "ana.diaz@example.com"
    assert got.rcpt_tos == ["ana.diaz@example.com"]
    assert got.mail_from == SENDER
    assert message["Content-Language"] == lang
    assert message.get_content_type() == "multipart/alternative"
    text, html = got.text, got.html
    for snippet in snippets:
        assert snippet in text, (snippet, text)
        assert snippet in html, (snippet, html)
    assert f'<html lang="{lang}">' in html
    # The sandbox provider's gift code reaches the learner in both parts.
    code = re.search(r"SBX-[A-Z0-9-]+", text)
    assert code is not None, text
    assert code.group(0) in html

    (row,) = _outbox(database)
    assert row.reward_id == reward_id
    assert row.status == OutboxStatus.sent
    assert opened(database, row, sealing.OUTBOX_RECIPIENT) == "ana.diaz@example.com"
    assert message["Message-ID"] == row.message_id
    assert row.sent_at is not None


def test_japanese_learner_sees_yen_and_a_japanese_date(
    database: Database,
    client: TestClient,
    tenant: Tenant,
    settings: Settings,
    providers: ProviderRegistry,
    smtp: SmtpServer,
) -> None:
    fixed_program(client, tenant, amount="3000", currency="JPY")
    _enable(client, tenant)
    _complete(client, tenant, locale="ja-JP", name="山田 花子")
    _drain(Worker(database, _mail_settings(settings, smtp), providers))
    (got,) = smtp.mailbox.received
    (row,) = _outbox(database)
    assert row.sent_at is not None
    delivered = row.sent_at.date()
    japanese_date = f"{delivered.year}年{delivered.month}月{delivered.day}日"
    assert "山田 花子 様" in got.text
    assert f"{japanese_date}にお届けしました。" in got.text
    assert "￥3,000" in got.html
    assert "$" not in got.text


def test_no_outbox_row_when_the_organization_has_email_off(
    database: Database,
    client: TestClient,
    tenant: Tenant,
    settings: Settings,
    providers: ProviderRegistry,
    smtp: SmtpServer,
) -> None:
    fixed_program(client, tenant)
    _complete(client, tenant, locale="en")
    _drain(Worker(database, _mail_settings(settings, smtp), providers))
    assert _outbox(database) == []
    assert smtp.mailbox.received == []
    # Turned on, then off again: still nothing for the next reward.
    _enable(client, tenant)
    _enable(client, tenant, enabled=False)
    _complete(client, tenant, locale="en", event_id="lms-2", external_id="E2002")
    _drain(Worker(database, _mail_settings(settings, smtp), providers))
    assert _outbox(database) == []


def test_test_mode_rewards_are_not_emailed_unless_asked(
    database: Database,
    client: TestClient,
    tenant: Tenant,
    settings: Settings,
    providers: ProviderRegistry,
    smtp: SmtpServer,
) -> None:
    fixed_program(client, tenant)
    _enable(client, tenant)
    response = client.post(
        "/api/v1/completions", json=completion("t-1"), headers=tenant.test_headers
    )
    assert response.status_code == 202, response.text
    worker = Worker(database, _mail_settings(settings, smtp), providers)
    _drain(worker)
    assert smtp.mailbox.received == []
    _enable(client, tenant, test_mode=True)
    response = client.post(
        "/api/v1/completions",
        json=completion("t-2", learner="E3003"),
        headers=tenant.test_headers,
    )
    assert response.status_code == 202, response.text
    _drain(worker)
    (got,) = smtp.mailbox.received
    assert got.message["To"] == "e3003@example.com"


def test_the_outbox_row_is_part_of_the_rewards_transaction(
    database: Database, client: TestClient, tenant: Tenant, settings: Settings
) -> None:
    """A delivery that rolls back leaves no email behind."""
    from laurel.delivery import service as delivery
    from laurel.delivery.providers import Issued
    from laurel.kit.crypto import ring_from_settings

    ring = ring_from_settings(settings)
    fixed_program(client, tenant)
    _enable(client, tenant)
    reward_id = _complete(client, tenant, locale="en")
    with database.session() as session:
        (claim,) = delivery.claim(session, limit=1, lease_seconds=30)
    assert claim.reward_id == reward_id

    class Boom(Exception):
        pass

    def deliver_then_fail() -> None:
        with database.session() as session:
            assert delivery.record_delivered(
                session, reward_id, "sandbox", Issued("ref-1"), ring=ring
            )
            assert session.scalar(select(func.count()).select_from(OutboxEmail)) == 1
            raise Boom

    with pytest.raises(Boom):
        deliver_then_fail()
    assert _outbox(database) == []
    with database.session() as session:
        delivery.record_delivered(session, reward_id, "sandbox", Issued("ref-1"), ring=ring)
    (row,) = _outbox(database)
    assert (row.template, row.reward_id, row.status) == ("reward_delivered", reward_id, "pending")


def test_a_server_that_refuses_at_first_is_retried_until_it_accepts(
    database: Database,
    client: TestClient,
    tenant: Tenant,
    settings: Settings,
    providers: ProviderRegistry,
    smtp: SmtpServer,
) -> None:
    fixed_program(client, tenant)
    _enable(client, tenant)
    _complete(client, tenant, locale="fr")
    smtp.mailbox.refuse = ["451 4.3.0 try again later", "421 4.7.0 too busy"]
    worker = Worker(database, _mail_settings(settings, smtp), providers)
    worker.run_once()
    assert worker.run_outbox_once() == 1
    (row,) = _outbox(database)
    assert row.status == OutboxStatus.pending
    assert row.last_error is not None
    assert "451" in row.last_error
    assert row.next_attempt_at is not None
    for _ in range(50):
        worker.run_outbox_once()
        if smtp.mailbox.received:
            break
        threading.Event().wait(0.02)  # the backoff in tests is at most 50 ms
    (got,) = smtp.mailbox.received
    assert smtp.mailbox.refused == 2
    (row,) = _outbox(database)
    assert (row.status, row.attempts) == (OutboxStatus.sent, 3)
    assert got.message["Message-ID"] == row.message_id
    assert got.message["Subject"] == "Votre récompense de Acme est arrivée"


def test_a_permanent_refusal_fails_the_email_without_retrying(
    database: Database,
    client: TestClient,
    tenant: Tenant,
    settings: Settings,
    providers: ProviderRegistry,
    smtp: SmtpServer,
) -> None:
    fixed_program(client, tenant)
    _enable(client, tenant)
    _complete(client, tenant, locale="en")
    smtp.mailbox.refuse = ["550 5.1.1 no such user"]
    _drain(Worker(database, _mail_settings(settings, smtp), providers))
    (row,) = _outbox(database)
    assert (row.status, row.attempts) == (OutboxStatus.failed, 1)
    assert row.last_error is not None
    assert "550" in row.last_error
    assert smtp.mailbox.received == []
    # An admin fixes things on the relay and asks for it again.
    response = client.post(f"/api/v1/notifications/emails/{row.id}/resend", headers=tenant.headers)
    assert response.status_code == 200, response.text
    assert response.json()["status"] == "pending"
    _drain(Worker(database, _mail_settings(settings, smtp), providers))
    assert len(smtp.mailbox.received) == 1
    assert _outbox(database)[0].status == OutboxStatus.sent
    again = client.post(f"/api/v1/notifications/emails/{row.id}/resend", headers=tenant.headers)
    assert again.status_code == 409


def test_an_unreachable_server_gives_up_after_the_configured_attempts(
    database: Database,
    client: TestClient,
    tenant: Tenant,
    settings: Settings,
    providers: ProviderRegistry,
) -> None:
    fixed_program(client, tenant)
    _enable(client, tenant)
    _complete(client, tenant, locale="en")
    with smtp_server() as gone:
        port = gone.port  # the server stops: nobody listens on this port any more
    mail_settings = settings.model_copy(
        update={
            "smtp_host": HOST,
            "smtp_port": port,
            "smtp_security": "none",
            "email_max_attempts": 3,
            "smtp_timeout_seconds": 2.0,
        }
    )
    worker = Worker(database, mail_settings, providers)
    worker.run_once()
    for _ in range(100):
        worker.run_outbox_once()
        if _outbox(database)[0].status == OutboxStatus.failed:
            break
        threading.Event().wait(0.02)
    (row,) = _outbox(database)
    assert (row.status, row.attempts) == (OutboxStatus.failed, 3)
    assert row.last_error is not None
    assert row.last_error.startswith("gave up after 3")


def test_a_learner_without_an_address_is_skipped(
    database: Database,
    client: TestClient,
    tenant: Tenant,
    settings: Settings,
    providers: ProviderRegistry,
    smtp: SmtpServer,
) -> None:
    fixed_program(client, tenant)
    _enable(client, tenant)
    body = completion()
    del body["learner"]["email"]
    response = client.post("/api/v1/completions", json=body, headers=tenant.headers)
    assert response.status_code == 202, response.text
    _drain(Worker(database, _mail_settings(settings, smtp), providers))
    (row,) = _outbox(database)
    assert row.status == OutboxStatus.skipped
    assert row.last_error == "the learner has no email address"
    assert smtp.mailbox.received == []


def test_held_rewards_are_told_to_admins_in_one_email_never_to_the_learner(
    database: Database,
    client: TestClient,
    tenant: Tenant,
    settings: Settings,
    providers: ProviderRegistry,
    smtp: SmtpServer,
) -> None:
    # A budget for one reward: the batch's other three are held for an exhausted budget.
    fixed_program(client, tenant, budget={"amount": "25.00", "currency": "USD"})
    _enable(client, tenant, admin_recipients=["finance@acme.example", "ops@acme.example"])
    events = [completion(f"b-{n}", learner=f"E{4000 + n}") for n in range(4)]
    response = client.post(
        "/api/v1/completions/batch", json={"events": events}, headers=tenant.headers
    )
    assert response.status_code in {200, 202, 207}, response.text
    _drain(Worker(database, _mail_settings(settings, smtp), providers))
    to_admins = [r for r in smtp.mailbox.received if r.message["To"].endswith("@acme.example")]
    assert sorted(r.message["To"] for r in to_admins) == [
        "finance@acme.example",
        "ops@acme.example",
    ]
    for got in to_admins:
        assert got.message["Subject"] == "3 rewards are on hold"
        assert "budget_exhausted: 3" in got.text
    to_learners = [r for r in smtp.mailbox.received if r.message["To"].endswith("@example.com")]
    # Only the one delivered reward reached its learner; nothing about the holds.
    (delivered,) = to_learners
    assert delivered.message["Subject"] == "Tu recompensa de Acme ya está aquí"  # es-MX learner


@pytest.mark.slow
def test_two_workers_never_send_the_same_email_twice(
    database: Database, tenant: Tenant, settings: Settings, smtp: SmtpServer
) -> None:
    count = 40
    with database.session() as session:
        ids = [
            service.enqueue_email(
                session,
                tenant.id,
                f"admin{n}@acme.example",
                "rewards_held",
                "de",
                {
                    "count": 1,
                    "reasons": [{"reason": "approval_required", "count": 1}],
                    "rewards": [],
                },
            )
            for n in range(count)
        ]
    assert all(ids)
    mail_settings = _mail_settings(settings, smtp, worker_batch_size=5, worker_concurrency=2)
    senders = [EmailSender(database, mail_settings) for _ in range(2)]
    start = threading.Barrier(len(senders))
    errors: list[BaseException] = []

    def run(sender: EmailSender) -> None:
        try:
            start.wait()
            idle = 0
            while idle < 3:
                idle = idle + 1 if sender.run_once() == 0 else 0
        except BaseException as exc:  # surfaced below
            errors.append(exc)
        finally:
            sender.close()

    threads = [threading.Thread(target=run, args=(s,)) for s in senders]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    assert errors == []
    counts = smtp.mailbox.by_message_id()
    assert len(counts) == count
    assert set(counts.values()) == {1}
    rows = _outbox(database)
    assert {r.status for r in rows} == {OutboxStatus.sent}
    assert {r.attempts for r in rows} == {1}
    assert all(
        r.message["Subject"] == "1 Prämie wird zurückgehalten" for r in smtp.mailbox.received
    )


def test_enqueue_email_refuses_unknown_templates_and_addresses(
    database: Database, tenant: Tenant
) -> None:
    with database.session() as session:
        with pytest.raises(ValueError, match="no email template"):
            service.enqueue_email(session, tenant.id, "a@acme.example", "nope", None, {})
        with pytest.raises(ValueError, match="not an email address"):
            service.enqueue_email(session, tenant.id, "not-an-address", "rewards_held", None, {})
        first = service.enqueue_email(
            session, tenant.id, "a@acme.example", "rewards_held", None, {}, dedupe_key="k"
        )
        again = service.enqueue_email(
            session, tenant.id, "a@acme.example", "rewards_held", None, {}, dedupe_key="k"
        )
    assert first is not None
    assert again is None


def test_settings_api_validates_addresses_field_by_field(
    client: TestClient, tenant: Tenant
) -> None:
    response = client.get("/api/v1/notifications/email-settings", headers=tenant.headers)
    assert response.status_code == 200
    assert response.json()["enabled"] is False
    response = client.patch(
        "/api/v1/notifications/email-settings",
        json={"sender_address": "nope", "admin_recipients": ["ok@acme.example", "bad"]},
        headers=tenant.headers,
    )
    assert response.status_code == 422
    fields = {d["field"] for d in response.json()["detail"]}
    assert fields == {"sender_address", "admin_recipients.1"}
    response = client.patch(
        "/api/v1/notifications/email-settings",
        json={"enabled": True},
        headers=tenant.test_headers,
    )
    assert response.status_code == 403
    body = _enable(client, tenant, reply_to="help@acme.example")
    assert body["sender_address"] == SENDER
    assert body["reply_to"] == "help@acme.example"
    cleared = client.patch(
        "/api/v1/notifications/email-settings", json={"reply_to": None}, headers=tenant.headers
    ).json()
    assert cleared["reply_to"] is None
    assert cleared["enabled"] is True


def test_outbox_is_listed_through_the_api(
    database: Database,
    client: TestClient,
    tenant: Tenant,
    settings: Settings,
    providers: ProviderRegistry,
    smtp: SmtpServer,
) -> None:
    fixed_program(client, tenant)
    _enable(client, tenant)
    reward_id = _complete(client, tenant, locale="pt-BR")
    _drain(Worker(database, _mail_settings(settings, smtp), providers))
    response = client.get(
        "/api/v1/notifications/emails", params={"reward_id": str(reward_id)}, headers=tenant.headers
    )
    assert response.status_code == 200, response.text
    (email,) = response.json()["data"]
    assert email["status"] == "sent"
    assert email["locale"] == "pt_BR"
    one = client.get(f"/api/v1/notifications/emails/{email['id']}", headers=tenant.headers)
    assert one.json() == email
    missing = client.get(f"/api/v1/notifications/emails/{uuid.uuid4()}", headers=tenant.headers)
    assert missing.status_code == 404


@pytest.mark.parametrize("tls", ["starttls", "implicit"])
def test_tls_and_credentials(
    database: Database,
    client: TestClient,
    tenant: Tenant,
    settings: Settings,
    providers: ProviderRegistry,
    tmp_path: Path,
    tls: str,
) -> None:
    fixed_program(client, tenant)
    _enable(client, tenant)
    _complete(client, tenant, locale="en")
    with smtp_server(tls=tls, directory=tmp_path, credentials=("laurel", "s3cret")) as server:
        mail_settings = _mail_settings(
            settings,
            server,
            smtp_security="starttls" if tls == "starttls" else "tls",
            smtp_username="laurel",
            smtp_password="s3cret",
            smtp_ca_file=str(server.ca_file),
        )
        _drain(Worker(database, mail_settings, providers))
        assert len(server.mailbox.received) == 1
        assert server.mailbox.logins == ["laurel"]
    (row,) = _outbox(database)
    assert row.status == OutboxStatus.sent


def test_an_internationalized_address_is_sent_with_smtputf8(
    database: Database,
    client: TestClient,
    tenant: Tenant,
    settings: Settings,
    providers: ProviderRegistry,
    smtp: SmtpServer,
) -> None:
    fixed_program(client, tenant)
    _enable(client, tenant)
    _complete(client, tenant, locale="es", email="josé.núñez@example.com")
    _drain(Worker(database, _mail_settings(settings, smtp), providers))
    (got,) = smtp.mailbox.received
    assert got.rcpt_tos == ["josé.núñez@example.com"]
    assert got.message["To"] == "josé.núñez@example.com"
    assert "Hola, Ana Díaz:" in got.text


def test_a_relay_without_smtputf8_fails_such_an_address_at_once(
    database: Database,
    client: TestClient,
    tenant: Tenant,
    settings: Settings,
    providers: ProviderRegistry,
) -> None:
    fixed_program(client, tenant)
    _enable(client, tenant)
    _complete(client, tenant, locale="es", email="josé@example.com")
    _complete(client, tenant, locale="es", event_id="lms-2", external_id="E2002")
    with smtp_server(smtputf8=False) as server:
        _drain(Worker(database, _mail_settings(server=server, settings=settings), providers))
        # The other learner's email went out in the same pass.
        assert [r.rcpt_tos for r in server.mailbox.received] == [["e1001@example.com"]]
    failed = [r for r in _outbox(database) if r.status == OutboxStatus.failed]
    (row,) = failed
    assert row.attempts == 1
    assert row.last_error is not None
    assert "SMTPUTF8" in row.last_error


def test_the_running_worker_sends_email_and_webhooks_in_its_own_threads(
    database: Database,
    client: TestClient,
    tenant: Tenant,
    settings: Settings,
    providers: ProviderRegistry,
    smtp: SmtpServer,
) -> None:
    """``laurel serve`` / ``laurel worker``: issuance wakes on the commit, the outbox loops
    wake on the delivery's commit; nobody calls a pass by hand."""
    from laurel.worker import start_in_thread, stop_thread
    from tests.webhooks.support import receiver, verify

    fixed_program(client, tenant)
    _enable(client, tenant)
    with receiver() as hooks:
        response = client.post(
            "/api/v1/outgoing-webhooks/subscriptions",
            json={"url": hooks.url, "event_types": ["reward.delivered"]},
            headers=tenant.headers,
        )
        assert response.status_code == 201, response.text
        secret = response.json()["secret"]
        worker = Worker(
            database, _mail_settings(settings, smtp, worker_poll_seconds=5.0), providers
        )
        worker.attach()
        running = start_in_thread(worker)
        try:
            reward_id = _complete(client, tenant, locale="de")
            (request,) = hooks.wait_for(1)
            for _ in range(500):
                if smtp.mailbox.received:
                    break
                threading.Event().wait(0.01)
        finally:
            stop_thread(*running, worker)
        assert verify(secret, request.headers, request.body)
    (got,) = smtp.mailbox.received
    assert got.message["Subject"] == "Ihre Prämie von Acme ist da"
    (row,) = _outbox(database)
    assert (row.reward_id, row.status) == (reward_id, OutboxStatus.sent)
