"""Every statement the intake (the API, xAPI) sends is compiled once, then taken from the cache.

A construct SQLAlchemy cannot key (a custom element without cache internals, a literal baked
into a statement) makes every statement that uses it compile afresh on every execution: the
reward transition did, at 3 % of a single event's server time. Warmed up by the same requests,
the intake must send nothing that had no cache key.
"""

from __future__ import annotations

from fastapi.testclient import TestClient

from laurel.db import Database
from tests.conftest import Tenant, completion
from tests.events.connectors.xapi.support import basic, statement
from tests.factories import fixed_program, statements_sent


def _send(client: TestClient, tenant: Tenant, run: str) -> None:
    single = client.post(
        "/api/v1/completions",
        headers=tenant.headers,
        json=completion(f"{run}-1", learner="E1", course=f"{run}-S"),
    )
    assert single.status_code == 202, single.text
    assert [r["state"] for r in single.json()["rewards"]] == ["ready"]
    events = [completion(f"{run}-b{i}", learner=f"E{i}", course=f"{run}-C") for i in range(1, 6)]
    batch = client.post(
        "/api/v1/completions/batch", headers=tenant.headers, json={"events": events}
    )
    assert batch.status_code == 200, batch.text
    assert all(item["status"] == 202 for item in batch.json()["results"]), batch.text
    xapi = [
        statement(
            "passed", email=f"{run}-{i}@example.com", activity=f"https://lms.example.com/{run}"
        )
        for i in range(3)
    ]
    for body in (xapi[0], xapi[1:]):
        sent = client.post("/xapi/statements", json=body, headers=basic(tenant.live_key))
        assert sent.status_code == 200, sent.text


def test_intake_statements_all_have_cache_keys(
    client: TestClient, tenant: Tenant, database: Database
) -> None:
    fixed_program(client, tenant, amount="25.00")
    _send(client, tenant, "warm")
    with statements_sent(database, without_cache_key=True) as seen:
        _send(client, tenant, "again")
    assert seen == []
