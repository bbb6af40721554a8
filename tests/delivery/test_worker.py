"""The issuance worker against providers that fail the ways real ones do.

Each test builds a live program on the provider ``giftco`` (with a 100.00 budget) through the
API, sends one completion and runs the real worker loop until the reward settles.
"""

from __future__ import annotations

import threading
import time
import uuid
from datetime import timedelta
from typing import Any

import pytest
from fastapi.testclient import TestClient

from laurel.config import Settings
from laurel.db import Database
from laurel.delivery import service as delivery
from laurel.delivery.providers import (
    IssueOrder,
    PermanentProviderError,
    ProviderRegistry,
    TransientProviderError,
)
from laurel.notifications import service as notifications
from laurel.notifications.sender import EmailSender
from laurel.webhooks import service as webhooks
from laurel.webhooks.sender import WebhookSender
from laurel.worker import Worker, default_providers, start_in_thread, stop_thread
from tests.conftest import Tenant, completion
from tests.delivery.support import ScriptedProvider, load_reward, settle, trail
from tests.factories import fixed_program, program_budget

BUDGET = {"amount": "100.00", "currency": "USD"}
UNTOUCHED = {"limit": "100.00", "reserved": "0.00", "spent": "0.00", "available": "100.00"}
RESERVED = {"limit": "100.00", "reserved": "25.00", "spent": "0.00", "available": "75.00"}
SPENT = {"limit": "100.00", "reserved": "0.00", "spent": "25.00", "available": "75.00"}


@pytest.fixture
def giftco() -> ScriptedProvider:
    return ScriptedProvider("giftco")


@pytest.fixture
def providers(database: Database, giftco: ScriptedProvider) -> ProviderRegistry:
    registry = default_providers(database)
    registry.add(giftco)
    return registry


def _worker(
    database: Database, settings: Settings, providers: ProviderRegistry, **overrides: Any
) -> Worker:
    return Worker(database, settings.model_copy(update=overrides), providers)


def _reward(client: TestClient, tenant: Tenant, *, test_mode: bool = False) -> uuid.UUID:
    headers = tenant.test_headers if test_mode else tenant.headers
    response = client.post("/api/v1/completions", json=completion(), headers=headers)
    assert response.status_code == 202, response.text
    (reward,) = response.json()["rewards"]
    assert reward["state"] == "ready"
    return uuid.UUID(reward["id"])


def _program(client: TestClient, tenant: Tenant, provider: str = "giftco") -> str:
    program = fixed_program(client, tenant, amount="25.00", provider=provider, budget=BUDGET)
    assert program["provider"] == provider
    program_id: str = program["id"]
    return program_id


def _api_reward(client: TestClient, tenant: Tenant, reward_id: uuid.UUID) -> dict[str, Any]:
    response = client.get(f"/api/v1/rewards/{reward_id}", headers=tenant.headers)
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


def test_transient_errors_are_retried_with_backoff_until_delivered(
    database: Database,
    client: TestClient,
    tenant: Tenant,
    settings: Settings,
    providers: ProviderRegistry,
    giftco: ScriptedProvider,
) -> None:
    program_id = _program(client, tenant)
    reward_id = _reward(client, tenant)
    assert program_budget(client, tenant, program_id) == RESERVED
    giftco.script = [TransientProviderError("503 from giftco"), TransientProviderError("timeout")]
    worker = _worker(
        database,
        settings,
        providers,
        worker_backoff_base_seconds=0.05,
        worker_backoff_max_seconds=0.2,
    )

    reward = settle(database, reward_id, worker)

    assert reward.state == "delivered"
    assert reward.attempts == 3
    assert reward.last_error is None
    assert [key for key, _ in giftco.calls] == [str(reward_id)] * 3  # one idempotency key
    # The last retry's due time was kept, and the call that delivered came after it.
    assert reward.next_attempt_at is not None
    assert giftco.calls[1][1] <= reward.next_attempt_at <= giftco.calls[2][1]
    retries = [d for action, d in trail(database, reward_id) if "retry_in_seconds" in d]
    assert [d["error"] for d in retries] == ["giftco: 503 from giftco", "giftco: timeout"]
    pairs = zip(giftco.calls[:-1], giftco.calls[1:], retries, strict=True)
    for (_, before), (_, after), retry in pairs:
        # Each retry waited at least the backoff it announced (rounded to the millisecond).
        assert after - before >= timedelta(seconds=retry["retry_in_seconds"] - 0.001)
        assert 0.025 <= retry["retry_in_seconds"] <= 0.2
    assert [action for action, _ in trail(database, reward_id)] == [
        "rewards:reward:create",
        "rewards:reward:ready",
        "rewards:reward:issuing",
        "rewards:reward:ready",
        "rewards:reward:issuing",
        "rewards:reward:ready",
        "rewards:reward:issuing",
        "rewards:reward:delivered",
    ]
    shown = _api_reward(client, tenant, reward_id)
    assert shown["state"] == "delivered"
    assert shown["attempts"] == 3
    issued = giftco.issued[str(reward_id)]
    assert shown["provider_reference"] == issued.reference
    assert shown["delivery"]["provider"] == "giftco"
    assert shown["delivery"]["details"] == issued.details
    assert program_budget(client, tenant, program_id) == SPENT


def test_permanent_error_fails_the_reward_and_releases_its_budget(
    database: Database,
    client: TestClient,
    tenant: Tenant,
    settings: Settings,
    providers: ProviderRegistry,
    giftco: ScriptedProvider,
) -> None:
    program_id = _program(client, tenant)
    reward_id = _reward(client, tenant)
    assert program_budget(client, tenant, program_id) == RESERVED
    giftco.script = [PermanentProviderError("card value not offered")]

    reward = settle(database, reward_id, _worker(database, settings, providers))

    assert reward.state == "failed"
    assert reward.attempts == 1
    assert reward.last_error == "giftco: card value not offered"
    assert len(giftco.calls) == 1
    assert giftco.issued == {}
    shown = _api_reward(client, tenant, reward_id)
    assert shown["state"] == "failed"
    assert shown["delivery"] is None
    assert shown["failed_at"] is not None
    assert program_budget(client, tenant, program_id) == UNTOUCHED


def test_gives_up_after_max_attempts_and_releases_the_budget(
    database: Database,
    client: TestClient,
    tenant: Tenant,
    settings: Settings,
    providers: ProviderRegistry,
    giftco: ScriptedProvider,
) -> None:
    program_id = _program(client, tenant)
    reward_id = _reward(client, tenant)
    giftco.script = [TransientProviderError(f"503 #{n}") for n in range(1, 10)]

    reward = settle(
        database, reward_id, _worker(database, settings, providers, worker_max_attempts=3)
    )

    assert reward.state == "failed"
    assert reward.attempts == 3
    assert len(giftco.calls) == 3
    assert reward.last_error == "gave up after 3 attempts: giftco: 503 #3"
    assert program_budget(client, tenant, program_id) == UNTOUCHED


def test_provider_bug_is_retried_and_the_worker_keeps_going(
    database: Database,
    client: TestClient,
    tenant: Tenant,
    settings: Settings,
    providers: ProviderRegistry,
    giftco: ScriptedProvider,
) -> None:
    program_id = _program(client, tenant)
    reward_id = _reward(client, tenant)
    giftco.script = [KeyError("card_id")]

    reward = settle(database, reward_id, _worker(database, settings, providers))

    assert reward.state == "delivered"
    assert reward.attempts == 2
    errors = [d["error"] for a, d in trail(database, reward_id) if "retry_in_seconds" in d]
    assert errors == ["giftco: unexpected KeyError: 'card_id'"]
    assert program_budget(client, tenant, program_id) == SPENT


def test_worker_without_the_programs_provider_fails_the_reward(
    database: Database, client: TestClient, tenant: Tenant, settings: Settings
) -> None:
    """A worker deployed without the provider the API accepted: refused, money given back."""
    program_id = _program(client, tenant)
    reward_id = _reward(client, tenant)

    reward = settle(database, reward_id, Worker(database, settings, default_providers(database)))

    assert reward.state == "failed"
    assert reward.attempts == 1
    assert reward.last_error == "giftco: no provider named 'giftco' is configured"
    assert program_budget(client, tenant, program_id) == UNTOUCHED


def test_test_mode_rewards_always_use_the_sandbox(
    database: Database,
    client: TestClient,
    tenant: Tenant,
    settings: Settings,
    providers: ProviderRegistry,
    giftco: ScriptedProvider,
) -> None:
    program_id = _program(client, tenant)
    giftco.script = [PermanentProviderError("never call a live provider from test mode")]
    reward_id = _reward(client, tenant, test_mode=True)

    reward = settle(database, reward_id, _worker(database, settings, providers))

    assert reward.state == "delivered"
    assert reward.provider == "sandbox"
    assert giftco.calls == []
    response = client.get(f"/api/v1/rewards/{reward_id}", headers=tenant.test_headers)
    assert response.json()["delivery"]["provider"] == "sandbox"
    assert response.json()["delivery"]["details"]["code"].startswith("SBX-")
    assert program_budget(client, tenant, program_id) == UNTOUCHED  # test mode has no budget


@pytest.mark.parametrize("provider_issued", [False, True], ids=["never-seen", "issued"])
def test_abandoned_claim_is_settled_with_the_provider_once(
    database: Database,
    client: TestClient,
    tenant: Tenant,
    settings: Settings,
    providers: ProviderRegistry,
    giftco: ScriptedProvider,
    provider_issued: bool,
) -> None:
    """A worker claimed the reward and died, before or after the provider issued."""
    program_id = _program(client, tenant)
    reward_id = _reward(client, tenant)
    with database.session() as session:
        (claim,) = delivery.claim(session, limit=10, lease_seconds=0.0)
    if provider_issued:
        first = giftco.record(claim.order)

    reward = settle(database, reward_id, _worker(database, settings, providers))

    assert reward.state == "delivered"
    assert giftco.lookups == [str(reward_id)]
    assert len(giftco.issued) == 1
    assert reward.provider_reference == giftco.issued[str(reward_id)].reference
    if provider_issued:
        assert giftco.issued[str(reward_id)] == first
        assert giftco.calls == []  # settled by asking, never issued again
        assert reward.attempts == 1
    else:
        assert [key for key, _ in giftco.calls] == [str(reward_id)]
        assert reward.attempts == 2
        reasons = [d.get("error") for a, d in trail(database, reward_id) if a.endswith(":ready")]
        assert reasons == [None, "reconciled: the provider has no issuance"]
    assert program_budget(client, tenant, program_id) == SPENT


def test_a_call_outliving_its_lease_still_issues_once(
    database: Database,
    client: TestClient,
    tenant: Tenant,
    settings: Settings,
    providers: ProviderRegistry,
    giftco: ScriptedProvider,
) -> None:
    """Worker A's call hangs past its lease; worker B reconciles, finds nothing and issues with
    the same key; then A's call returns. Both hold the same issuance; it is recorded once."""
    program_id = _program(client, tenant)
    reward_id = _reward(client, tenant)
    second_call = threading.Event()

    def hold_first_call(order: IssueOrder) -> None:
        if len(giftco.calls) == 1:
            assert second_call.wait(15), "no other worker took over the expired claim"
        else:
            second_call.set()

    giftco.gate = hold_first_call
    a, b = (_worker(database, settings, providers, worker_lease_seconds=0.2) for _ in "ab")

    reward = settle(database, reward_id, a, b)

    assert reward.state == "delivered"
    assert [key for key, _ in giftco.calls] == [str(reward_id)] * 2
    assert len(giftco.issued) == 1
    assert reward.provider_reference == giftco.issued[str(reward_id)].reference
    assert reward.attempts == 2
    actions = [a for a, _ in trail(database, reward_id)]
    assert actions.count("rewards:reward:delivered") == 1
    assert program_budget(client, tenant, program_id) == SPENT
    assert load_reward(database, reward_id).state == "delivered"


def test_a_slow_call_holds_back_no_reward_readied_after_it(
    database: Database,
    client: TestClient,
    tenant: Tenant,
    settings: Settings,
    providers: ProviderRegistry,
    giftco: ScriptedProvider,
) -> None:
    """The running worker claims again as soon as a provider call is free: a reward readied
    while another one's call hangs is issued at once, not after the hanging call returns."""
    _program(client, tenant)
    slow_id = _reward(client, tenant)
    release = threading.Event()

    def hang_the_first_reward(order: IssueOrder) -> None:
        if order.idempotency_key == str(slow_id):
            assert release.wait(15), "the test never let the slow call return"

    giftco.gate = hang_the_first_reward
    worker = _worker(database, settings, providers, worker_concurrency=2)
    thread, stop = start_in_thread(worker)
    try:
        deadline = time.monotonic() + 10
        while not giftco.calls and time.monotonic() < deadline:
            time.sleep(0.01)
        assert [key for key, _ in giftco.calls] == [str(slow_id)]  # hanging in its call
        body = completion("lms-2", learner="E2002")
        posted = client.post("/api/v1/completions", json=body, headers=tenant.headers)
        assert posted.status_code == 202, posted.text
        quick_id = uuid.UUID(posted.json()["rewards"][0]["id"])

        while load_reward(database, quick_id).state != "delivered":
            assert time.monotonic() < deadline, "the later reward waited for the slow call"
            time.sleep(0.01)
        assert load_reward(database, slow_id).state == "issuing"  # still in its call

        release.set()
        while load_reward(database, slow_id).state != "delivered":
            assert time.monotonic() < deadline + 10, "the slow call's reward never settled"
            time.sleep(0.01)
    finally:
        release.set()
        stop_thread(thread, stop, worker)
    assert [key for key, _ in giftco.calls] == [str(slow_id), str(quick_id)]


def test_a_commit_wakes_only_the_outbox_sender_it_wrote_for(
    database: Database, settings: Settings, providers: ProviderRegistry
) -> None:
    """An email queued wakes the email sender, not the webhook sender (whose empty pass would
    still take the write lock), and the other way round."""
    with_smtp = settings.model_copy(update={"smtp_host": "127.0.0.1"})  # never dialled here
    email, hooks = EmailSender(database, with_smtp), WebhookSender(database, settings)
    worker = Worker(database, settings, providers, outboxes=[email, hooks])
    worker.attach()
    email_wake, hook_wake = worker._outbox_wakes
    try:
        for signal, woken, asleep in (
            (notifications.OUTBOX_SIGNAL, email_wake, hook_wake),
            (webhooks.OUTBOX_SIGNAL, hook_wake, email_wake),
        ):
            with database.session() as session:
                session.info[signal] = True
            assert woken.is_set()
            assert not asleep.is_set()
            woken.clear()
    finally:
        email.close()
        hooks.close()
