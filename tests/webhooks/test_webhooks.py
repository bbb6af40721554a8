"""Outgoing webhooks end to end: subscriptions through the API, rewards moved by the real
worker, messages sent to a real HTTP receiver on loopback that verifies every signature."""

from __future__ import annotations

import json
import threading
import uuid
from collections.abc import Iterator
from typing import Any

import pytest
from fastapi.testclient import TestClient

from laurel.config import Settings
from laurel.db import Database
from laurel.delivery.providers import ProviderRegistry
from laurel.kit.actor import Actor
from laurel.kit.errors import Invalid
from laurel.rewards import service as rewards
from laurel.rewards.models import Reward, RewardState
from laurel.webhooks import service, signing
from laurel.webhooks.sender import WebhookSender
from laurel.worker import Worker
from tests.conftest import Tenant, completion
from tests.factories import fixed_program
from tests.webhooks.support import Receiver, Reply, receiver, verify


@pytest.fixture
def hooks() -> Iterator[Receiver]:
    with receiver() as server:
        yield server


@pytest.fixture
def hook_settings(settings: Settings) -> Settings:
    return settings.model_copy(
        update={"webhook_retry_schedule": "0.05,0.05,0.05", "webhook_timeout_seconds": 0.5}
    )


def _subscribe(
    client: TestClient,
    tenant: Tenant,
    url: str,
    types: list[str] | None = None,
    *,
    test_mode: bool = False,
) -> dict[str, Any]:
    response = client.post(
        "/api/v1/outgoing-webhooks/subscriptions",
        json={"url": url, "event_types": types or ["reward.delivered"], "description": "HR"},
        headers=tenant.test_headers if test_mode else tenant.headers,
    )
    assert response.status_code == 201, response.text
    body: dict[str, Any] = response.json()
    return body


def _complete(
    client: TestClient, tenant: Tenant, event_id: str = "lms-1", learner: str = "E1001"
) -> str:
    response = client.post(
        "/api/v1/completions", json=completion(event_id, learner=learner), headers=tenant.headers
    )
    assert response.status_code == 202, response.text
    (reward,) = response.json()["rewards"]
    reward_id: str = reward["id"]
    return reward_id


def _drain(worker: Worker, until: Any = None, rounds: int = 200) -> None:
    """Run issuance and the outbox until nothing is left (or ``until()`` holds)."""
    idle = 0
    for _ in range(rounds):
        handled = worker.run_once() + worker.run_outbox_once()
        if until is not None and until():
            return
        idle = idle + 1 if handled == 0 else 0
        if until is None and idle >= 3:
            return
        threading.Event().wait(0.02)
    raise AssertionError("the worker did not settle")


def _messages(client: TestClient, tenant: Tenant, subscription_id: str) -> list[dict[str, Any]]:
    response = client.get(
        f"/api/v1/outgoing-webhooks/subscriptions/{subscription_id}/messages",
        headers=tenant.headers,
    )
    assert response.status_code == 200, response.text
    data: list[dict[str, Any]] = response.json()["data"]
    return data


def _message(client: TestClient, tenant: Tenant, message_id: str) -> dict[str, Any]:
    response = client.get(
        f"/api/v1/outgoing-webhooks/messages/{message_id}", headers=tenant.headers
    )
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


def test_signatures_match_the_specifications_published_vector() -> None:
    secret = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
    body = b'{"test": 2432232314}'
    made = signing.sign(secret, "msg_p5jXN8AQM9LWM0D4loKWxJek", 1614265330, body)
    assert made == "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE="
    headers = {
        "webhook-id": "msg_p5jXN8AQM9LWM0D4loKWxJek",
        "webhook-timestamp": "1614265330",
        "webhook-signature": made,
    }
    assert verify(secret, headers, body, now=1614265330)
    assert not verify(secret, headers, body + b" ", now=1614265330)
    assert not verify(secret, headers, body, now=1614265330 + 3600)  # a replay, an hour on
    fresh = signing.new_secret()
    assert fresh.startswith("whsec_")
    assert len(signing.key_of(fresh)) == 32


def test_a_delivered_reward_reaches_the_receiver_signed_and_logged(
    database: Database,
    client: TestClient,
    tenant: Tenant,
    hook_settings: Settings,
    providers: ProviderRegistry,
    hooks: Receiver,
) -> None:
    fixed_program(client, tenant)
    sub = _subscribe(client, tenant, hooks.url)
    secret = sub["secret"]
    assert secret.startswith("whsec_")
    assert sub["secret_hint"] == secret[-4:]
    listed = client.get("/api/v1/outgoing-webhooks/subscriptions", headers=tenant.headers).json()
    assert [s["id"] for s in listed] == [sub["id"]]
    assert "secret" not in listed[0]

    reward_id = _complete(client, tenant)
    _drain(Worker(database, hook_settings, providers))
    (request,) = hooks.requests
    assert verify(secret, request.headers, request.body)
    assert request.headers["content-type"] == "application/json"
    assert request.headers["webhook-id"].startswith("msg_")
    event = json.loads(request.body)
    assert event["type"] == "reward.delivered"
    assert event["data"]["id"] == reward_id
    assert event["data"]["state"] == "delivered"
    assert event["data"]["amount"] == {"amount": "25.00", "currency": "USD"}
    assert event["data"]["learner_external_id"] == "E1001"
    assert event["data"]["course_external_id"] == "SEC-101"
    assert event["data"]["provider_reference"].startswith("sbx_")
    assert event["timestamp"].endswith("Z")

    (message,) = _messages(client, tenant, sub["id"])
    assert message["status"] == "succeeded"
    assert message["event_id"] == request.headers["webhook-id"]
    assert message["payload"] == event
    detail = _message(client, tenant, message["id"])
    (attempt,) = detail["attempt_log"]
    assert attempt["status_code"] == 200
    assert attempt["succeeded"] is True
    assert attempt["trigger"] == "scheduled"
    assert attempt["response_excerpt"] == '{"ok":true}'
    assert attempt["latency_ms"] >= 0


def test_a_failing_receiver_gets_the_same_message_again_until_it_accepts(
    database: Database,
    client: TestClient,
    tenant: Tenant,
    hook_settings: Settings,
    providers: ProviderRegistry,
    hooks: Receiver,
) -> None:
    fixed_program(client, tenant)
    sub = _subscribe(client, tenant, hooks.url)
    hooks.script = [
        Reply(500, body=b"database down"),
        Reply(503, headers={"Retry-After": "0"}),
        Reply(302, headers={"Location": "http://127.0.0.1:1/elsewhere"}),
    ]
    _complete(client, tenant)
    worker = Worker(database, hook_settings, providers)
    _drain(worker, until=lambda: len(hooks.requests) == 4)
    requests = hooks.wait_for(4)
    assert len({r.headers["webhook-id"] for r in requests}) == 1
    assert len({r.body for r in requests}) == 1
    assert all(verify(sub["secret"], r.headers, r.body) for r in requests)
    _drain(worker)
    (message,) = _messages(client, tenant, sub["id"])
    assert message["status"] == "succeeded"
    log = _message(client, tenant, message["id"])["attempt_log"]
    assert [a["status_code"] for a in log] == [500, 503, 302, 200]
    assert [a["number"] for a in log] == [1, 2, 3, 4]
    assert log[0]["response_excerpt"] == "database down"
    assert [a["succeeded"] for a in log] == [False, False, False, True]


def test_a_receiver_that_times_out_is_retried(
    database: Database,
    client: TestClient,
    tenant: Tenant,
    hook_settings: Settings,
    providers: ProviderRegistry,
    hooks: Receiver,
) -> None:
    fixed_program(client, tenant)
    sub = _subscribe(client, tenant, hooks.url)
    hooks.script = [Reply(200, delay=1.5)]
    _complete(client, tenant)
    _drain(Worker(database, hook_settings, providers), until=lambda: len(hooks.requests) == 2)
    _drain(Worker(database, hook_settings, providers))
    (message,) = _messages(client, tenant, sub["id"])
    assert message["status"] == "succeeded"
    first, second = _message(client, tenant, message["id"])["attempt_log"]
    assert first["status_code"] is None
    assert first["error"].startswith("timeout")
    assert 400 <= first["latency_ms"] < 1500
    assert second["status_code"] == 200


def test_410_gone_disables_the_subscription(
    database: Database,
    client: TestClient,
    tenant: Tenant,
    hook_settings: Settings,
    providers: ProviderRegistry,
    hooks: Receiver,
) -> None:
    fixed_program(client, tenant)
    sub = _subscribe(client, tenant, hooks.url)
    hooks.script = [Reply(410)]
    _complete(client, tenant)
    worker = Worker(database, hook_settings, providers)
    _drain(worker)
    assert len(hooks.requests) == 1
    (message,) = _messages(client, tenant, sub["id"])
    assert message["status"] == "failed"
    got = client.get(
        f"/api/v1/outgoing-webhooks/subscriptions/{sub['id']}", headers=tenant.headers
    ).json()
    assert got["enabled"] is False
    assert got["disabled_reason"] == "the receiver answered 410 Gone"
    # Nothing more is queued for it, and redelivery asks for it to be enabled first.
    _complete(client, tenant, "lms-2", "E2002")
    _drain(worker)
    assert len(_messages(client, tenant, sub["id"])) == 1
    response = client.post(
        f"/api/v1/outgoing-webhooks/messages/{message['id']}/redeliver", headers=tenant.headers
    )
    assert response.status_code == 409
    assert response.json()["error"] == "webhook_subscription_disabled"
    enabled = client.patch(
        f"/api/v1/outgoing-webhooks/subscriptions/{sub['id']}",
        json={"enabled": True},
        headers=tenant.headers,
    )
    assert enabled.json()["enabled"] is True
    assert enabled.json()["disabled_reason"] is None
    response = client.post(
        f"/api/v1/outgoing-webhooks/messages/{message['id']}/redeliver", headers=tenant.headers
    )
    assert response.status_code == 200, response.text
    _drain(worker)
    assert len(hooks.requests) == 2
    assert _message(client, tenant, message["id"])["status"] == "succeeded"


def test_out_of_attempts_then_manual_redelivery(
    database: Database,
    client: TestClient,
    tenant: Tenant,
    hook_settings: Settings,
    providers: ProviderRegistry,
    hooks: Receiver,
) -> None:
    fixed_program(client, tenant)
    sub = _subscribe(client, tenant, hooks.url)
    hooks.script = [Reply(500)] * 5
    _complete(client, tenant)
    short = hook_settings.model_copy(update={"webhook_retry_schedule": "0.01"})
    worker = Worker(database, short, providers)
    _drain(worker)
    (message,) = _messages(client, tenant, sub["id"])
    assert message["status"] == "failed"
    assert message["attempts"] == 2
    # A manual redelivery is one attempt: still failing, it settles as failed again.
    redeliver = f"/api/v1/outgoing-webhooks/messages/{message['id']}/redeliver"
    assert client.post(redeliver, headers=tenant.headers).status_code == 200
    _drain(worker)
    assert _message(client, tenant, message["id"])["status"] == "failed"
    hooks.script = []
    assert client.post(redeliver, headers=tenant.headers).status_code == 200
    _drain(worker)
    detail = _message(client, tenant, message["id"])
    assert detail["status"] == "succeeded"
    assert [a["trigger"] for a in detail["attempt_log"]] == [
        "scheduled",
        "scheduled",
        "manual",
        "manual",
    ]
    assert len({r.headers["webhook-id"] for r in hooks.requests}) == 1
    assert all(verify(sub["secret"], r.headers, r.body) for r in hooks.requests)
    again = client.post(redeliver, headers=tenant.headers)
    assert again.status_code == 200  # a delivered message can be sent again on request


def test_held_and_cancelled_rewards_are_announced(
    database: Database,
    client: TestClient,
    tenant: Tenant,
    hook_settings: Settings,
    providers: ProviderRegistry,
    hooks: Receiver,
) -> None:
    fixed_program(client, tenant, budget={"amount": "25.00", "currency": "USD"})
    sub = _subscribe(client, tenant, hooks.url, ["reward.held", "reward.cancelled"])
    _complete(client, tenant)
    held_id = _complete(client, tenant, "lms-2", "E2002")
    worker = Worker(database, hook_settings, providers)
    _drain(worker)
    (held,) = hooks.requests
    event = json.loads(held.body)
    assert event["type"] == "reward.held"
    assert event["data"]["id"] == held_id
    assert event["data"]["hold_reasons"] == [{"gate": "budget", "reason": "budget_exhausted"}]
    response = client.post(
        f"/api/v1/rewards/{held_id}/cancel", json={"reason": "duplicate"}, headers=tenant.headers
    )
    assert response.status_code == 200, response.text
    _drain(worker)
    cancelled = json.loads(hooks.wait_for(2)[1].body)
    assert cancelled["type"] == "reward.cancelled"
    assert cancelled["data"]["error"] == "duplicate"
    assert all(verify(sub["secret"], r.headers, r.body) for r in hooks.requests)
    assert {m["event_type"] for m in _messages(client, tenant, sub["id"])} == {
        "reward.held",
        "reward.cancelled",
    }


def test_test_mode_events_go_to_test_mode_subscriptions_only(
    database: Database,
    client: TestClient,
    tenant: Tenant,
    hook_settings: Settings,
    providers: ProviderRegistry,
) -> None:
    fixed_program(client, tenant)
    with receiver() as live, receiver() as test:
        _subscribe(client, tenant, live.url)
        test_sub = _subscribe(client, tenant, test.url, test_mode=True)
        response = client.post(
            "/api/v1/completions", json=completion("t-1"), headers=tenant.test_headers
        )
        assert response.status_code == 202, response.text
        _drain(Worker(database, hook_settings, providers))
        assert live.requests == []
        (request,) = test.requests
        assert json.loads(request.body)["data"]["livemode"] is False
        assert verify(test_sub["secret"], request.headers, request.body)
    listed = client.get(
        "/api/v1/outgoing-webhooks/subscriptions", headers=tenant.test_headers
    ).json()
    assert [s["id"] for s in listed] == [test_sub["id"]]


def test_subscription_input_is_checked_field_by_field(
    client: TestClient, tenant: Tenant, database: Database
) -> None:
    bad = client.post(
        "/api/v1/outgoing-webhooks/subscriptions",
        json={"url": "ftp://example.com/x", "event_types": ["reward.delivered"]},
        headers=tenant.headers,
    )
    assert bad.status_code == 422
    assert [d["field"] for d in bad.json()["detail"]] == ["url"]
    bad = client.post(
        "/api/v1/outgoing-webhooks/subscriptions",
        json={"url": "https://example.com/x", "event_types": ["reward.paid"]},
        headers=tenant.headers,
    )
    assert bad.status_code == 422
    assert "event_types" in bad.json()["detail"][0]["field"]
    bad = client.post(
        "/api/v1/outgoing-webhooks/subscriptions",
        json={"url": "https://user:pw@example.com/x", "event_types": ["reward.held"]},
        headers=tenant.headers,
    )
    assert bad.status_code == 422
    # In production only https is accepted (unless LAUREL_WEBHOOK_ALLOW_HTTP).
    actor = Actor("test", tenant.id, True, frozenset({"admin"}))
    with database.session() as session, pytest.raises(Invalid) as refused:
        service.create_subscription(
            session,
            actor,
            url="http://hr.example.com/hooks",
            event_types=["reward.held"],
            description=None,
            box=service.secret_box("k"),
            allow_http=False,
        )
    assert refused.value.detail[0]["field"] == "url"


def test_deleting_a_subscription_keeps_its_log(
    database: Database,
    client: TestClient,
    tenant: Tenant,
    hook_settings: Settings,
    providers: ProviderRegistry,
    hooks: Receiver,
) -> None:
    fixed_program(client, tenant)
    sub = _subscribe(client, tenant, hooks.url)
    _complete(client, tenant)
    worker = Worker(database, hook_settings, providers)
    _drain(worker)
    (message,) = _messages(client, tenant, sub["id"])
    deleted = client.delete(
        f"/api/v1/outgoing-webhooks/subscriptions/{sub['id']}", headers=tenant.headers
    )
    assert deleted.status_code == 204
    assert (
        client.get("/api/v1/outgoing-webhooks/subscriptions", headers=tenant.headers).json() == []
    )
    assert _message(client, tenant, message["id"])["status"] == "succeeded"
    _complete(client, tenant, "lms-2", "E2002")
    _drain(worker)
    assert len(hooks.requests) == 1
    missing = client.get(
        f"/api/v1/outgoing-webhooks/subscriptions/{sub['id']}", headers=tenant.headers
    )
    assert missing.status_code == 404


@pytest.mark.slow
def test_two_senders_never_post_the_same_message_twice(
    database: Database,
    client: TestClient,
    tenant: Tenant,
    hook_settings: Settings,
    hooks: Receiver,
) -> None:
    fixed_program(client, tenant)
    _subscribe(client, tenant, hooks.url, ["reward.cancelled"])
    count = 30
    ids = [uuid.UUID(_complete(client, tenant, f"lms-{n}", f"E{5000 + n}")) for n in range(count)]
    # Cancelling them in one transaction queues all the messages at once.
    with database.session() as session:
        found = [session.get_one(Reward, i) for i in ids]
        moved = rewards.transition_many(
            session, found, RewardState.ready, RewardState.cancelled, actor="test"
        )
    assert len(moved) == count
    tuned = hook_settings.model_copy(update={"worker_batch_size": 4, "worker_concurrency": 2})
    senders = [WebhookSender(database, tuned) for _ in range(2)]
    start = threading.Barrier(len(senders))
    errors: list[BaseException] = []

    def run(sender: WebhookSender) -> None:
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
    seen: dict[str, int] = {}
    for request in hooks.requests:
        seen[request.headers["webhook-id"]] = seen.get(request.headers["webhook-id"], 0) + 1
    assert len(seen) == count
    assert set(seen.values()) == {1}
