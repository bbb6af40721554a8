"""Department managers see their departments' learners and rewards; learners only their own."""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI
from fastapi.testclient import TestClient

from laurel.db import Database
from tests.auth.support import Browser, make_user, plain_client
from tests.conftest import Tenant, completion
from tests.factories import fixed_program


def _complete(client: TestClient, tenant: Tenant, event: str, learner: str, dept: str) -> Any:
    body = completion(event, learner=learner)
    body["learner"]["department"] = dept
    response = client.post("/api/v1/completions", json=body, headers=tenant.headers)
    assert response.status_code in {200, 201, 202}, response.text
    return response.json()


def _ids(page: Any) -> set[str]:
    return {item["id"] for item in page.json()["data"]}


def test_department_manager_sees_only_its_departments(
    app: FastAPI, tenant: Tenant, database: Database
) -> None:
    with plain_client(app, base_url="https://testserver") as admin:
        fixed_program(admin, tenant)
        sales = _complete(admin, tenant, "e1", "S1", "Sales")
        ops = _complete(admin, tenant, "e2", "O1", "Operations")
        legal = _complete(admin, tenant, "e3", "L1", "Legal")
        learners = admin.get("/api/v1/learners", headers=tenant.headers).json()["data"]
    by_ext = {x["external_id"]: x["id"] for x in learners}
    reward = {name: done["rewards"][0]["id"] for name, done in [("S1", sales), ("O1", ops)]}
    reward["L1"] = legal["rewards"][0]["id"]

    make_user(
        database, tenant.id, "dm@acme.test", ["department_manager"], departments=["Sales", "Legal"]
    )
    manager = Browser(app)
    manager.sign_in("acme", "dm@acme.test")
    c = manager.client
    assert _ids(c.get("/api/v1/learners")) == {by_ext["S1"], by_ext["L1"]}
    assert c.get(f"/api/v1/learners/{by_ext['S1']}").status_code == 200
    assert c.get(f"/api/v1/learners/{by_ext['O1']}").status_code == 404
    # A department filter cannot widen the scope.
    assert _ids(c.get("/api/v1/learners?department=Operations")) == set()
    assert _ids(c.get("/api/v1/rewards")) == {reward["S1"], reward["L1"]}
    assert c.get(f"/api/v1/rewards/{reward['S1']}").status_code == 200
    assert c.get(f"/api/v1/rewards/{reward['O1']}").status_code == 404
    assert _ids(c.get(f"/api/v1/rewards?learner_id={by_ext['O1']}")) == set()
    me = c.get("/api/v1/auth/me").json()
    assert me["departments"] == ["Legal", "Sales"]

    # The same user with an organization-wide role too sees everything on those routes.
    with plain_client(app, base_url="https://testserver") as admin:
        user_id = admin.get("/api/v1/users", headers=tenant.headers).json()[0]["id"]
        changed = admin.patch(
            f"/api/v1/users/{user_id}",
            headers=tenant.headers,
            json={"roles": ["department_manager", "finance"]},
        )
        assert changed.status_code == 200
    assert c.get("/api/v1/rewards").status_code == 401  # new roles: sign in again
    manager.sign_in("acme", "dm@acme.test")
    assert _ids(manager.client.get("/api/v1/rewards")) == set(reward.values())


def test_learner_sees_only_its_own_wallet(app: FastAPI, tenant: Tenant, database: Database) -> None:
    with plain_client(app, base_url="https://testserver") as admin:
        fixed_program(admin, tenant)
        mine = _complete(admin, tenant, "e1", "ME", "Sales")["rewards"][0]
        theirs = _complete(admin, tenant, "e2", "THEM", "Sales")["rewards"][0]
        learners = admin.get("/api/v1/learners", headers=tenant.headers).json()["data"]
        unlinked = admin.post(
            "/api/v1/users",
            headers=tenant.headers,
            json={"email": "x@acme.test", "roles": ["learner"], "password": "a long password!"},
        )
        assert unlinked.status_code == 201
    by_ext = {x["external_id"]: x["id"] for x in learners}
    import uuid

    make_user(database, tenant.id, "me@acme.test", ["learner"], learner_id=uuid.UUID(by_ext["ME"]))
    me = Browser(app)
    me.sign_in("acme", "me@acme.test")
    assert _ids(me.client.get("/api/v1/rewards")) == {mine["id"]}
    assert me.client.get(f"/api/v1/rewards/{mine['id']}").status_code == 200
    assert me.client.get(f"/api/v1/rewards/{theirs['id']}").status_code == 404
    assert _ids(me.client.get("/api/v1/learners")) == {by_ext["ME"]}
    assert me.client.get(f"/api/v1/learners/{by_ext['THEM']}").status_code == 404
    assert me.client.get("/api/v1/programs").status_code == 403

    # A learner user linked to nobody sees nothing rather than everything.
    nobody = Browser(app)
    nobody.sign_in("acme", "x@acme.test", "a long password!")
    assert _ids(nobody.client.get("/api/v1/rewards")) == set()
    assert _ids(nobody.client.get("/api/v1/learners")) == set()
