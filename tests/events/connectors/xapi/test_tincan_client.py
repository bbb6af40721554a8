"""ADL's Python client (``tincan`` from PyPI) against a running Laurel on a loopback port."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest
import uvicorn
from fastapi.testclient import TestClient
from tincan import (
    Activity,
    ActivityDefinition,
    Agent,
    AgentAccount,
    LanguageMap,
    RemoteLRS,
    Result,
    Score,
    Statement,
    StatementList,
    StatementRef,
    Verb,
)

from laurel.app import create_app
from laurel.config import Settings
from laurel.db import Database
from laurel.delivery.providers import ProviderRegistry
from laurel.kit.clock import utcnow
from tests.conftest import Tenant
from tests.factories import fixed_program

ADL = "http://adlnet.gov/expapi/verbs/"


@dataclass
class Running:
    url: str
    client: TestClient
    """For reading results through the API (same app, same database)."""


@pytest.fixture
def running(
    settings: Settings, database: Database, providers: ProviderRegistry
) -> Iterator[Running]:
    app = create_app(settings, database, providers=providers)
    server = uvicorn.Server(
        uvicorn.Config(app, host="127.0.0.1", port=0, log_level="warning", access_log=False)
    )
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not server.started:
        assert thread.is_alive(), "the server did not start"
        assert time.monotonic() < deadline, "the server did not start in time"
        time.sleep(0.01)
    port = server.servers[0].sockets[0].getsockname()[1]
    with TestClient(app) as client:
        yield Running(url=f"http://127.0.0.1:{port}/xapi/", client=client)
    server.should_exit = True
    thread.join(timeout=10)


def _lrs(url: str, key: str) -> Any:
    # LRS clients send a key and secret as Basic auth; Laurel's key is the secret.
    return RemoteLRS(endpoint=url, version="1.0.3", username="lms-key", password=key)


def _statement(verb: str, actor: Any, *, scaled: float | None = None, **fields: Any) -> Any:
    result = Result(success=verb != "failed", completion=True)
    if scaled is not None:
        result.score = Score(scaled=scaled, raw=scaled * 100, min=0, max=100)
    return Statement(
        actor=actor,
        verb=Verb(id=ADL + verb, display=LanguageMap({"en-US": verb})),
        object=Activity(
            id="https://lms.example.com/courses/SEC-101",
            definition=ActivityDefinition(name=LanguageMap({"en-US": "Security Awareness"})),
        ),
        result=result,
        timestamp=utcnow(),
        **fields,
    )


def _rewards(client: TestClient, tenant: Tenant) -> list[dict[str, Any]]:
    found: list[dict[str, Any]] = client.get("/api/v1/rewards", headers=tenant.headers).json()[
        "data"
    ]
    return found


def test_tincan_client_completed_passed_and_voiding(running: Running, tenant: Tenant) -> None:
    client = running.client
    fixed_program(client, tenant, key="mailbox", amount="10.00")
    lrs = _lrs(running.url, tenant.live_key)

    ana = Agent(name="Ana Díaz", mbox="mailto:ana@example.com")
    completed = lrs.save_statement(_statement("completed", ana, scaled=0.95))
    assert completed.success, completed.data
    assert completed.response.status == 200
    completed_id = str(completed.content.id)

    bo = Agent(name="Bo", account=AgentAccount(home_page="https://lms.example.com", name="E1002"))
    passed_statement = _statement("passed", bo, scaled=0.8)
    passed_statement.id = "7ccd3322-e1a5-411a-a67d-6a735c76f119"
    passed = lrs.save_statement(passed_statement)  # has an id: the client PUTs it
    assert passed.success, passed.data
    assert passed.response.status == 204
    again = lrs.save_statement(passed_statement)
    assert again.success, again.data

    rewards = _rewards(client, tenant)
    assert sorted(r["state"] for r in rewards) == ["ready", "ready"]
    learners = client.get("/api/v1/learners", headers=tenant.headers).json()["data"]
    assert sorted(item["external_id"] for item in learners) == [
        "account:https://lms.example.com|E1002",
        "mbox:ana@example.com",
    ]

    cy = Agent(mbox_sha1sum="ebd31e95054c018b10727ccffd2ef2ec3a016ee9")
    batch = lrs.save_statements(
        StatementList(
            [
                Statement(
                    actor=Agent(name="Admin", mbox="mailto:admin@example.com"),
                    verb=Verb(id=ADL + "voided", display=LanguageMap({"en-US": "voided"})),
                    object=StatementRef(id=completed_id),
                ),
                _statement("failed", cy, scaled=0.4),
            ]
        )
    )
    assert batch.success, batch.data
    assert len(batch.content) == 2
    assert all(s.id is not None for s in batch.content)

    by_learner = {}
    for reward in _rewards(client, tenant):
        learner = client.get(f"/api/v1/learners/{reward['learner_id']}", headers=tenant.headers)
        by_learner[learner.json()["external_id"]] = reward
    assert set(by_learner) == {"mbox:ana@example.com", "account:https://lms.example.com|E1002"}
    assert by_learner["mbox:ana@example.com"]["state"] == "cancelled"
    assert by_learner["account:https://lms.example.com|E1002"]["state"] == "ready"


def test_tincan_client_sees_refusals(running: Running, tenant: Tenant) -> None:
    wrong = _lrs(running.url, "lrl_live_not-a-key")
    refused = wrong.save_statement(
        _statement("completed", Agent(mbox="mailto:ana@example.com"), scaled=0.9)
    )
    assert not refused.success
    assert refused.response.status == 401


def test_concurrent_copies_of_one_statement_pay_once(running: Running, tenant: Tenant) -> None:
    """Eight clients send the same statement at once (an LMS retrying through a proxy): every
    one is answered as stored, and one event and one reward exist."""
    import base64
    from concurrent.futures import ThreadPoolExecutor

    import httpx

    client = running.client
    fixed_program(client, tenant)
    body = {
        "id": "0b7a9b8e-6a2f-4d7e-9a51-3c1f2b7d8e11",
        "actor": {"mbox": "mailto:race@example.com"},
        "verb": {"id": ADL + "completed"},
        "object": {"id": "https://lms.example.com/courses/RACE-1"},
        "timestamp": utcnow().isoformat(),
    }
    token = base64.b64encode(f"lms:{tenant.live_key}".encode()).decode()
    headers = {"Authorization": f"Basic {token}", "X-Experience-API-Version": "1.0.3"}
    barrier = threading.Barrier(8)

    def send(_: int) -> int:
        barrier.wait()
        with httpx.Client(timeout=60) as http:
            return http.post(running.url + "statements", json=body, headers=headers).status_code

    with ThreadPoolExecutor(8) as pool:
        statuses = list(pool.map(send, range(8)))
    assert statuses == [200] * 8
    rewards = _rewards(client, tenant)
    assert len(rewards) == 1
    event = client.get(f"/api/v1/events/{rewards[0]['event_id']}", headers=tenant.headers)
    assert event.json()["event_id"] == body["id"]
