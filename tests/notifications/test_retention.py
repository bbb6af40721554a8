"""Outbox retention: settled emails and webhook messages lose their personal data after the body
retention and disappear after the log retention; pending ones are never touched. Run by the
worker and by ``laurel outbox purge``."""

from __future__ import annotations

import uuid
from datetime import timedelta
from typing import Any

from fastapi.testclient import TestClient
from sqlalchemy import select

from laurel import retention
from laurel.config import Settings
from laurel.db import Database
from laurel.delivery.providers import ProviderRegistry
from laurel.kit.clock import utcnow
from laurel.learners import sealing
from laurel.notifications.models import OutboxEmail, OutboxStatus
from laurel.webhooks.models import Attempt, Message, MessageStatus, Subscription
from laurel.worker import Worker
from tests.cli.test_commands import laurel
from tests.conftest import Tenant

NOW = utcnow()


def _email(tenant: Tenant, status: str, age_days: float) -> dict[str, Any]:
    at = NOW - timedelta(days=age_days)
    row_id = uuid.uuid4()
    return {
        "id": row_id,
        "organization_id": tenant.id,
        "livemode": True,
        "template": "rewards_held",
        "recipient": "ops@example.com",
        "context": {"count": 1, "rewards": [{"learner_id": "someone"}]},
        "status": status,
        "attempts": 1,
        "message_id": f"<{row_id}@laurel>",
        "created_at": at,
        "updated_at": at,
    }


def _seed(database: Database, tenant: Tenant) -> dict[str, uuid.UUID]:
    emails = {
        "fresh_sent": _email(tenant, OutboxStatus.sent, 2),
        "old_sent": _email(tenant, OutboxStatus.sent, 40),
        "old_failed": _email(tenant, OutboxStatus.failed, 40),
        "ancient_sent": _email(tenant, OutboxStatus.sent, 400),
        "old_pending": _email(tenant, OutboxStatus.pending, 400),
    }
    ids = {name: row["id"] for name, row in emails.items()}
    with database.session() as session:
        session.add_all(OutboxEmail(**row) for row in emails.values())
        sub = Subscription(
            organization_id=tenant.id,
            livemode=True,
            url="https://hooks.example/laurel",
            event_types=["reward.delivered"],
            secret_sealed="sealed",
            secret_hint="abcd",
        )
        session.add(sub)
        session.flush()
        for name, status, age in (
            ("hook_fresh", MessageStatus.succeeded, 1),
            ("hook_old", MessageStatus.succeeded, 40),
            ("hook_ancient", MessageStatus.failed, 100),
            ("hook_pending", MessageStatus.pending, 100),
        ):
            at = NOW - timedelta(days=age)
            message = Message(
                organization_id=tenant.id,
                livemode=True,
                subscription_id=sub.id,
                event_id=f"msg_{name}",
                event_type="reward.delivered",
                body='{"data":{"learner_external_id":"E1001"}}',
                status=status,
                created_at=at,
                updated_at=at,
            )
            session.add(message)
            session.flush()
            session.add(
                Attempt(
                    organization_id=tenant.id,
                    message_id=message.id,
                    number=1,
                    trigger="scheduled",
                    status_code=200,
                    latency_ms=12,
                    succeeded=True,
                    created_at=at,
                )
            )
            ids[name] = message.id
    return ids


def _state(database: Database) -> dict[uuid.UUID, tuple[Any, ...]]:
    with database.read_session() as session:
        found: dict[uuid.UUID, tuple[Any, ...]] = {
            e.id: (
                sealing.value_of(e, sealing.OUTBOX_RECIPIENT),
                sealing.value_of(e, sealing.OUTBOX_CONTEXT),
                e.purged_at is not None,
            )
            for e in session.scalars(select(OutboxEmail))
        }
        for m in session.scalars(select(Message)):
            attempts = session.scalars(select(Attempt).where(Attempt.message_id == m.id)).all()
            found[m.id] = (m.body, len(attempts), m.purged_at is not None)
        return found


def _check(state: dict[uuid.UUID, tuple[Any, ...]], ids: dict[str, uuid.UUID]) -> None:
    kept = ("ops@example.com", {"count": 1, "rewards": [{"learner_id": "someone"}]}, False)
    assert state[ids["fresh_sent"]] == kept
    assert state[ids["old_sent"]] == (None, {}, True)
    assert state[ids["old_failed"]] == (None, {}, True)
    assert ids["ancient_sent"] not in state
    assert state[ids["old_pending"]] == kept  # never sent: nothing is purged
    body = '{"data":{"learner_external_id":"E1001"}}'
    assert state[ids["hook_fresh"]] == (body, 1, False)
    assert state[ids["hook_old"]] == ("", 1, True)  # the log of attempts stays
    assert ids["hook_ancient"] not in state
    assert state[ids["hook_pending"]] == (body, 1, False)


def test_the_worker_purges_settled_rows_past_their_retention(
    database: Database, tenant: Tenant, settings: Settings, providers: ProviderRegistry
) -> None:
    ids = _seed(database, tenant)
    worker = Worker(database, settings, providers, outboxes=[])
    done = worker.purge_outboxes()
    assert (done.emails_emptied, done.emails_deleted) == (2, 1)
    assert (done.webhooks_emptied, done.webhooks_deleted) == (1, 1)
    _check(_state(database), ids)
    again = retention.purge(database, settings)
    assert again.total == 0


def test_retention_is_configurable_and_purged_rows_are_not_resent(
    database: Database, tenant: Tenant, settings: Settings, client: TestClient
) -> None:
    ids = _seed(database, tenant)
    longer = settings.model_copy(update={"email_body_retention_days": 60.0})
    done = retention.purge(database, longer)
    assert done.emails_emptied == 0
    assert done.emails_deleted == 1
    retention.purge(database, settings)
    response = client.post(
        f"/api/v1/notifications/emails/{ids['old_failed']}/resend", headers=tenant.headers
    )
    assert response.status_code == 409, response.text
    assert "purged" in response.text


def test_laurel_outbox_purge_runs_it_once(database: Database, tenant: Tenant) -> None:
    ids = _seed(database, tenant)
    result = laurel(
        "outbox", "purge", url=database.url, env={"LAUREL_EMAIL_BODY_RETENTION_DAYS": "30"}
    )
    assert result.returncode == 0, result.stderr
    assert "emails: 2 emptied, 1 deleted; webhook messages: 1 emptied, 1 deleted" in result.stdout
    _check(_state(database), ids)
