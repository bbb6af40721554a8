"""Tenant isolation: a key or user of one organization gets nothing of another's data.

Organization B gets data of every kind the API can make; then every route in the OpenAPI
document (and every page) is called with organization A's admin key and A's org_admin user,
with B's ids in the path. Ids of B are 404 (never 403: existence does not leak), no answer
contains anything of B, and B's rows (audit entries included) are exactly as before.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy import select

from laurel.auth.permissions import PERMISSIONS, Role, Rule
from laurel.db import Database
from laurel.models import Base
from tests.auth.routes import app_routes, call, fill
from tests.auth.support import Browser, make_user, plain_client
from tests.conftest import Tenant, completion, make_tenant
from tests.factories import fixed_program

MARKER = "globex-private"
# Columns that record use, not data: reading with a key of B's may touch them, A may not.
VOLATILE = {"last_used_at", "last_seen_at"}
ID_PARAM = re.compile(r"{(\w+_id)}")


def _make_b_data(client: TestClient, b: Tenant) -> dict[str, str]:
    h = b.headers
    program = fixed_program(client, b, key="globex-program")
    body = completion("b-event-1", learner="B-LEARNER")
    body["learner"]["email"] = f"{MARKER}@globex.test"
    body["learner"]["name"] = MARKER
    event = client.post("/api/v1/completions", json=body, headers=h)
    assert event.status_code in {200, 201, 202}, event.text
    done = event.json()
    rules = client.get(f"/api/v1/programs/{program['id']}/rules", headers=h).json()
    user = client.post(
        "/api/v1/users",
        headers=h,
        json={"email": f"{MARKER}@globex.test", "roles": ["finance"], "name": MARKER},
    )
    assert user.status_code == 201, user.text
    key = client.post("/api/v1/api-keys", headers=h, json={"scopes": ["read"], "name": MARKER})
    assert key.status_code == 201
    secret = client.post("/api/v1/connectors/moodle/secrets", headers=h, json={"name": MARKER})
    assert secret.status_code == 201, secret.text
    mapping = client.put(
        "/api/v1/import-mappings/completions/default",
        headers=h,
        json={"columns": {"learner_id": MARKER}},
    )
    assert mapping.status_code == 200, mapping.text
    sso = client.put(
        "/api/v1/auth/oidc",
        headers=h,
        json={
            "issuer": "https://globex.example",
            "client_id": MARKER,
            "client_secret": "globex-client-secret",
            "role_mapping": {"Admins": "org_admin"},
        },
    )
    assert sso.status_code == 200, sso.text
    return {
        "event_id": done["id"],
        "learner_id": done["learner_id"],
        "course_id": done["course_id"],
        "reward_id": done["rewards"][0]["id"],
        "program_id": program["id"],
        "rule_id": rules[0]["id"],
        "user_id": user.json()["id"],
        "key_id": key.json()["id"],
        "secret_id": secret.json()["id"],
    }


def _snapshot(database: Database, organization_id: Any) -> dict[str, list[Any]]:
    found: dict[str, list[Any]] = {}
    with database.sessionmaker() as session:
        for table in Base.metadata.sorted_tables:
            if "organization_id" not in table.c:
                continue
            columns = [c for c in table.c if c.name not in VOLATILE]
            rows = session.execute(
                select(*columns).where(table.c.organization_id == organization_id)
            ).all()
            found[table.name] = sorted(tuple(str(v) for v in r) for r in rows)
    return found


def _key_rule(rule: Rule) -> bool:
    # Rows no key passes (the learner's own pages) refuse every key with 403 whatever the id:
    # a 403 there says nothing about B. Those pages take no id; tests/portal covers them.
    return bool(rule.keys)


def _org_admin_rule(rule: Rule) -> bool:
    return Role.org_admin in rule.roles


def test_nothing_of_another_organization_reaches_a_caller(app: FastAPI, database: Database) -> None:
    a = make_tenant(database, "acme")
    b = make_tenant(database, "globex")
    with plain_client(app, base_url="https://testserver") as client:
        b_ids = _make_b_data(client, b)
    secrets_of_b = {*b_ids.values(), MARKER, b.live_key, str(b.id)}
    before = _snapshot(database, b.id)
    assert before["learners"]
    assert before["rewards"]

    make_user(database, a.id, "admin@acme.test", ["org_admin"])
    user = Browser(app)
    user.sign_in("acme", "admin@acme.test")
    key = TestClient(app, base_url="https://testserver")
    callers: dict[str, tuple[TestClient, dict[str, str], Callable[[Rule], bool]]] = {
        "A's admin key": (key, {"Authorization": f"Bearer {a.live_key}"}, _key_rule),
        # Routes for keys only (intake) are not the org admin's: a 403 there says nothing.
        "A's org_admin user": (user.client, user.headers, _org_admin_rule),
    }

    leaks: list[str] = []
    checked = 0
    for method, template in sorted(app_routes(app)):
        rule = PERMISSIONS[(method, template)]
        if rule.public or (method, template) == ("POST", "/api/v1/auth/sign-out"):
            continue
        named = ID_PARAM.findall(template)
        unknown = [n for n in named if n not in b_ids]
        path = fill(template, b_ids)
        for who, (client, headers, granted) in callers.items():
            if not granted(rule):
                continue
            response = call(client, method, path, headers=headers)
            checked += 1
            where = f"{who}: {method} {path} -> {response.status_code}"
            if response.status_code == 403:
                leaks.append(f"{where} (403 tells that the id exists)")
            if response.status_code >= 500:
                leaks.append(f"{where} (server error)")
            text = response.text
            # A 404 may repeat the id the caller sent; anything else of B is a leak.
            shown = sorted(s for s in secrets_of_b if s in text and s not in path)
            if shown:
                leaks.append(f"{where} shows {shown}")
            if named and not unknown:
                # Every id in the path is B's: nothing may be found or done.
                allowed = {404} if method in {"GET", "DELETE"} else {404, 422}
                if response.status_code not in allowed:
                    leaks.append(f"{where} (expected {sorted(allowed)})")
    assert checked > 100
    assert not leaks, "\n".join(leaks)
    assert _snapshot(database, b.id) == before
