"""Redeeming exactly once: simultaneous submissions from real HTTP clients, a provider that
fails transiently, and a redemption abandoned mid-way that the next visit finishes."""

from __future__ import annotations

import threading
import time
import uuid
from dataclasses import dataclass, field

import httpx
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select

from laurel.app import create_app
from laurel.audit.models import AuditEntry
from laurel.config import Settings
from laurel.db import Database
from laurel.delivery.providers import (
    Issued,
    IssueOrder,
    PermanentProviderError,
    ProviderRegistry,
    TransientProviderError,
)
from laurel.delivery.providers.sandbox import SandboxProvider
from laurel.worker import default_providers
from tests.conftest import Tenant
from tests.delivery.support import load_reward
from tests.links.server import serve
from tests.links.support import form, ledger_count, link_program, link_reward, sync_catalog


@dataclass
class SlowSandbox:
    """The real sandbox provider, slowed down so that racing requests overlap its call, and
    counting the calls; ``failures`` transient errors are raised first."""

    inner: SandboxProvider
    delay: float = 0.3
    failures: int = 0
    calls: list[IssueOrder] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)
    name: str = "sandbox"

    def issue(self, order: IssueOrder) -> Issued:
        with self.lock:
            self.calls.append(order)
            fail = self.failures > 0
            self.failures -= 1 if fail else 0
        time.sleep(self.delay)
        if fail:
            raise TransientProviderError("gateway timeout")
        return self.inner.issue(order)

    def lookup(self, idempotency_key: str) -> Issued | None:
        return self.inner.lookup(idempotency_key)

    def catalog(self) -> list:  # type: ignore[type-arg]
        return self.inner.catalog()


@pytest.fixture
def slow(database: Database) -> SlowSandbox:
    return SlowSandbox(SandboxProvider(database))


@pytest.fixture
def providers(database: Database, slow: SlowSandbox) -> ProviderRegistry:
    registry = default_providers(database)
    registry.add(slow)
    return registry


def test_simultaneous_submissions_issue_once(
    client: TestClient,
    tenant: Tenant,
    database: Database,
    settings: Settings,
    providers: ProviderRegistry,
    slow: SlowSandbox,
) -> None:
    link_program(client, tenant)
    sync_catalog(client, tenant)
    reward_id, path = link_reward(client, tenant, database, settings, providers)
    token, choices = form(client.get(path).text)
    picks = list(choices.values())
    racers = 8
    barrier = threading.Barrier(racers)
    answers: list[int] = []

    with serve(create_app(settings, database, providers=providers)) as base:

        def submit(n: int) -> None:
            with httpx.Client(base_url=base, timeout=30) as http:
                barrier.wait()
                # Each racer may even choose differently: still one issuance.
                response = http.post(
                    path, data={"form_token": token, "item_id": picks[n % len(picks)]}
                )
                answers.append(response.status_code)

        threads = [threading.Thread(target=submit, args=(n,)) for n in range(racers)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=60)

    assert sorted(answers) == [303] * racers
    assert len(slow.calls) == 1
    with database.session() as session:
        claims = session.scalar(
            select(func.count())
            .select_from(AuditEntry)
            .where(AuditEntry.action == "links:link:claim")
        )
    assert claims == 1
    assert ledger_count(database) == 1
    assert load_reward(database, reward_id).state == "redeemed"


def test_a_transient_failure_is_finished_later_with_the_same_item(
    client: TestClient,
    tenant: Tenant,
    database: Database,
    settings: Settings,
    providers: ProviderRegistry,
    slow: SlowSandbox,
) -> None:
    # Long enough that the early retry below lands inside it on a loaded CI machine (at 0.5 s
    # it once did not, and issued a second time); the wait for its end is what is left of it.
    settings.link_redeem_lease_seconds = 3.0
    slow.delay, slow.failures = 0.0, 1
    link_program(client, tenant)
    sync_catalog(client, tenant)
    reward_id, path = link_reward(client, tenant, database, settings, providers)
    token, choices = form(client.get(path).text)

    first = client.post(path, data={"form_token": token, "item_id": choices["Sandbox Books"]})
    leased = time.monotonic()  # the lease was taken before the answer: it ends before this + 3 s
    assert "Tu recompensa está en camino" in first.text
    assert load_reward(database, reward_id).state == "delivered"
    # Within the lease nobody may issue again, whatever they submit.
    early = client.post(path, data={"form_token": token, "item_id": choices["Sandbox Books"]})
    assert "Terminar el canje" not in early.text
    assert len(slow.calls) == 1
    time.sleep(max(0.0, leased + settings.link_redeem_lease_seconds + 0.1 - time.monotonic()))
    page = client.get(path).text
    assert "Terminar el canje" in page  # the lease ran out: the page offers to finish
    finished = client.post(
        path, data={"form_token": token, "item_id": choices["Sandbox Prepaid Visa"]}
    )
    assert "Tu recompensa ha sido canjeada" in finished.text
    assert "Sandbox Books" in finished.text  # the item chosen first, not the new pick
    assert len(slow.calls) == 2
    assert {o.idempotency_key for o in slow.calls} == {str(reward_id)}
    assert {(o.sku, o.amount.minor) for o in slow.calls} == {("SBX-BOOKS-US", 2500)}
    assert ledger_count(database) == 1
    assert load_reward(database, reward_id).state == "redeemed"


def test_test_mode_links_redeem_through_the_sandbox(
    client: TestClient,
    tenant: Tenant,
    database: Database,
    settings: Settings,
    providers: ProviderRegistry,
    slow: SlowSandbox,
) -> None:
    slow.delay = 0.0
    link_program(client, tenant)
    sync_catalog(client, tenant)
    reward_id, path = link_reward(client, tenant, database, settings, providers, test_mode=True)
    token, choices = form(client.get(path).text)
    client.post(path, data={"form_token": token, "item_id": choices["Sandbox Books"]})
    assert [o.livemode for o in slow.calls] == [False]
    assert load_reward(database, reward_id).state == "redeemed"
    assert uuid.UUID(slow.calls[0].idempotency_key) == reward_id


def test_a_refused_order_reopens_the_link_for_another_choice(
    client: TestClient,
    tenant: Tenant,
    database: Database,
    settings: Settings,
    providers: ProviderRegistry,
    slow: SlowSandbox,
) -> None:
    slow.delay = 0.0
    refuse = {"SBX-VISA-US"}
    original = slow.issue

    def picky(order: IssueOrder) -> Issued:
        if order.sku in refuse:
            with slow.lock:
                slow.calls.append(order)
            raise PermanentProviderError("card program suspended")
        return original(order)

    slow.issue = picky  # type: ignore[method-assign]
    link_program(client, tenant)
    sync_catalog(client, tenant)
    reward_id, path = link_reward(client, tenant, database, settings, providers)
    token, choices = form(client.get(path).text)

    client.post(path, data={"form_token": token, "item_id": choices["Sandbox Prepaid Visa"]})
    again = client.get(path).text
    assert "Canjear mi recompensa" in again  # choose again
    assert load_reward(database, reward_id).state == "delivered"
    link = client.get(f"/api/v1/rewards/{reward_id}/link", headers=tenant.headers).json()
    assert link["status"] == "open"
    assert link["chosen_item_id"] is None
    assert link["conversion"] is None
    client.post(path, data={"form_token": token, "item_id": choices["Sandbox Books"]})
    assert load_reward(database, reward_id).state == "redeemed"
    assert [o.sku for o in slow.calls] == ["SBX-VISA-US", "SBX-BOOKS-US"]
    assert ledger_count(database) == 1


def test_a_lost_response_is_replayed_and_pays_once(
    client: TestClient,
    tenant: Tenant,
    database: Database,
    settings: Settings,
    providers: ProviderRegistry,
    slow: SlowSandbox,
) -> None:
    """The provider issued but its answer never arrived: the retry after the lease asks again
    with the same idempotency key and gets the first code back."""
    settings.link_redeem_lease_seconds = 0.3
    slow.delay = 0.0
    lost = [True]
    original = slow.issue

    def forgetful(order: IssueOrder) -> Issued:
        issued = original(order)
        if lost.pop() if lost else False:
            raise TransientProviderError("connection reset after the order was sent")
        return issued

    slow.issue = forgetful  # type: ignore[method-assign]
    link_program(client, tenant)
    sync_catalog(client, tenant)
    reward_id, path = link_reward(client, tenant, database, settings, providers)
    token, choices = form(client.get(path).text)
    client.post(path, data={"form_token": token, "item_id": choices["Sandbox Books"]})
    assert ledger_count(database) == 1
    assert load_reward(database, reward_id).state == "delivered"
    first_code = slow.inner.lookup(str(reward_id))
    assert first_code is not None

    time.sleep(0.4)
    done = client.post(path, data={"form_token": token})
    assert "Tu recompensa ha sido canjeada" in done.text
    assert first_code.details["code"] in done.text
    assert ledger_count(database) == 1
    assert load_reward(database, reward_id).state == "redeemed"


def test_the_worker_expires_unvisited_links(
    client: TestClient,
    tenant: Tenant,
    database: Database,
    settings: Settings,
    providers: ProviderRegistry,
) -> None:
    from datetime import timedelta

    from sqlalchemy import update

    from laurel.kit.clock import utcnow
    from laurel.links.models import RewardLink
    from laurel.worker import Worker

    link_program(client, tenant)
    reward_id, _ = link_reward(client, tenant, database, settings, providers)
    with database.session() as session:
        session.execute(update(RewardLink).values(expires_at=utcnow() - timedelta(seconds=1)))
    assert Worker(database, settings, providers).run_once() >= 1
    assert load_reward(database, reward_id).state == "expired"
