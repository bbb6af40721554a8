"""The points API through HTTP: what an admin console or a learner portal would call."""

from __future__ import annotations

import uuid
from typing import Any

from fastapi.testclient import TestClient

from laurel.auth import service as auth
from laurel.config import Settings
from laurel.db import Database
from laurel.delivery.providers import ProviderRegistry
from laurel.points import openbadges
from laurel.worker import Worker
from tests.conftest import Tenant, completion, make_tenant
from tests.delivery.support import settle
from tests.factories import fixed_program
from tests.points.support import add_learner

POLICY = {
    "multipliers": [{"name": "priority", "course_types": ["compliance"], "factor": "2"}],
    "streak": {"min_weeks": 2, "bonus": 10},
    "caps": {"year": 10000},
    "expiry_months": 24,
}


def _ok(response: Any, status: int = 200) -> Any:
    assert response.status_code == status, response.text
    return response.json()


def test_earn_grant_badge_board_and_redeem_over_http(
    client: TestClient,
    tenant: Tenant,
    database: Database,
    settings: Settings,
    providers: ProviderRegistry,
) -> None:
    h = tenant.headers
    program = fixed_program(
        client, tenant, key="pts", amount="50", currency="PTS", reward_kind="points"
    )
    _ok(client.put(f"/api/v1/points/programs/{program['id']}/policy", json=POLICY, headers=h))
    assert _ok(client.get(f"/api/v1/points/programs/{program['id']}/policy", headers=h))[
        "caps"
    ] == {"year": 10000}
    _ok(
        client.post(
            "/api/v1/points/badges",
            json={
                "key": "starter",
                "name": "Starter",
                "criteria": {"kind": "count", "count": 1},
            },
            headers=h,
        ),
        201,
    )
    answer = _ok(client.post("/api/v1/completions", json=completion("c1"), headers=h), 202)
    (reward,) = answer["rewards"]
    settle(database, uuid.UUID(reward["id"]), Worker(database, settings, providers))
    learner = _ok(client.get(f"/api/v1/rewards/{reward['id']}", headers=h))["learner_id"]

    wallet = _ok(client.get(f"/api/v1/points/learners/{learner}/wallet", headers=h))
    assert wallet["balance"] == 100  # 50 × 2 for a compliance course
    assert wallet["badges"] == 1
    assert len(wallet["expiring"]) == 1
    history = _ok(client.get(f"/api/v1/points/learners/{learner}/transactions", headers=h))
    assert [(t["kind"], t["points"]) for t in history["data"]] == [("earn", 100)]

    # Grants above the threshold need a second admin.
    _ok(client.patch("/api/v1/points/settings", json={"grant_approval_threshold": 100}, headers=h))
    grant = _ok(
        client.post(
            "/api/v1/points/grants",
            json={"learner_id": learner, "points": 2400, "reason": "workshop", "activity": "event"},
            headers=h,
        ),
        201,
    )
    assert grant["state"] == "pending"
    refused = client.post(f"/api/v1/points/grants/{grant['id']}/approve", headers=h)
    assert refused.status_code == 403
    with database.session() as session:
        other = auth.create_key(
            session, organization_id=tenant.id, scopes=["admin"], livemode=True, actor="test"
        )
    approved = _ok(
        client.post(
            f"/api/v1/points/grants/{grant['id']}/approve",
            headers={"Authorization": f"Bearer {other.secret}"},
        )
    )
    assert approved["state"] == "posted"

    # The badge travels as a signed Open Badges 3.0 credential, checkable with the public keys.
    (award,) = _ok(client.get(f"/api/v1/points/learners/{learner}/badges", headers=h))
    signed = _ok(client.get(f"/api/v1/points/awards/{award['id']}/credential", headers=h))
    keys = _ok(client.get(f"/api/v1/points/issuers/{tenant.id}/jwks"))  # no key needed
    public = openbadges.key_from_jwk(keys["keys"][0])
    claims = openbadges.verify(signed["jwt"], public)
    assert claims["credentialSubject"]["achievement"]["name"] == "Starter"
    assert claims["issuer"]["id"].endswith(f"/api/v1/points/issuers/{tenant.id}")

    board = _ok(client.get("/api/v1/points/leaderboards", params={"period": "2026"}, headers=h))
    assert [(p["name"], p["points"]) for p in board["places"]] == [("Ana Díaz", 2500)]

    # Spend 25.00 USD worth at 100 points per dollar.
    store = fixed_program(client, tenant, key="store", amount="1.00")
    _ok(
        client.patch(
            "/api/v1/points/settings", json={"redemption_program_id": store["id"]}, headers=h
        )
    )
    offer = _ok(
        client.post(
            "/api/v1/points/offers",
            json={
                "catalog_item_id": str(uuid.uuid4()),
                "name": "Gift card",
                "value": {"amount": "25.00", "currency": "USD"},
            },
            headers=h,
        ),
        201,
    )
    assert offer["points"] == 2500
    body = {"learner_id": learner, "offer_id": offer["id"], "request_key": "k1"}
    made = _ok(client.post("/api/v1/points/redemptions", json=body, headers=h), 201)
    assert made["state"] == "pending"
    assert (
        _ok(client.post("/api/v1/points/redemptions", json=body, headers=h), 201)["id"]
        == made["id"]
    )
    short = client.post("/api/v1/points/redemptions", json={**body, "request_key": "k2"}, headers=h)
    assert short.status_code == 409
    assert short.json()["error"] == "insufficient_points"
    settle(database, uuid.UUID(made["reward_id"]), Worker(database, settings, providers))
    done = _ok(client.get(f"/api/v1/points/redemptions/{made['id']}", headers=h))
    assert done["state"] == "delivered"
    assert _ok(client.get(f"/api/v1/points/learners/{learner}/wallet", headers=h))["balance"] == 0

    check = _ok(client.get("/api/v1/points/reconcile", headers=h))
    assert check["ok"] is True
    assert check["total"] == 0
    assert _ok(client.post("/api/v1/points/expiry/run", headers=h)) == {
        "expired_lots": 0,
        "notices": 0,
    }


def test_bad_input_names_the_field_and_tenants_stay_apart(
    client: TestClient, tenant: Tenant, database: Database
) -> None:
    h = tenant.headers
    bad = client.put(
        f"/api/v1/points/programs/{uuid.uuid4()}/policy",
        json={"caps": {"month": -1}, "multipliers": [{"factor": "abc"}]},
        headers=h,
    )
    assert bad.status_code == 422
    fields = {d["field"] for d in bad.json()["detail"]}
    assert "caps.month" in fields
    money = fixed_program(client, tenant, key="cash")
    not_points = client.put(f"/api/v1/points/programs/{money['id']}/policy", json={}, headers=h)
    assert not_points.status_code == 422
    assert not_points.json()["detail"][0]["field"] == "program_id"
    badge = client.post(
        "/api/v1/points/badges",
        json={"key": "x", "name": "X", "criteria": {"kind": "count"}},
        headers=h,
    )
    assert badge.status_code == 422
    assert badge.json()["detail"][0]["field"] == "criteria.count"
    board = client.get("/api/v1/points/leaderboards", params={"period": "soon"}, headers=h)
    assert board.status_code == 422
    assert board.json()["detail"][0]["field"] == "period"
    other = make_tenant(database, "globex")
    with database.session() as session:
        theirs = add_learner(session, other, "G1")
    assert client.get(f"/api/v1/points/learners/{theirs}/wallet", headers=h).status_code == 404
    grant = client.post(
        "/api/v1/points/grants",
        json={"learner_id": str(theirs), "points": 5, "reason": "x"},
        headers=h,
    )
    assert grant.status_code == 404


def test_routes_are_documented(client: TestClient) -> None:
    spec = client.get("/openapi.json").json()
    paths = [p for p in spec["paths"] if p.startswith("/api/v1/points")]
    assert len(paths) >= 15
    redeem = spec["paths"]["/api/v1/points/redemptions"]["post"]
    assert {"201", "404", "409", "422"} <= set(redeem["responses"])


def test_an_admin_corrects_by_reversal(
    client: TestClient, tenant: Tenant, database: Database
) -> None:
    h = tenant.headers
    with database.session() as session:
        ana = add_learner(session, tenant, "A1")
    grant = _ok(
        client.post(
            "/api/v1/points/grants",
            json={
                "learner_id": str(ana),
                "points": 40,
                "reason": "role-play",
                "activity": "role_play",
            },
            headers=h,
        ),
        201,
    )
    assert grant["state"] == "posted"
    path = f"/api/v1/points/transactions/{grant['transaction_id']}/reverse"
    undone = _ok(client.post(path, json={"reason": "entered twice"}, headers=h), 201)
    assert (undone["kind"], undone["points"], undone["reverses_id"]) == (
        "reversal",
        -40,
        grant["transaction_id"],
    )
    assert _ok(client.post(path, json={"reason": "again"}, headers=h), 201)["id"] == undone["id"]
    assert _ok(client.get(f"/api/v1/points/learners/{ana}/wallet", headers=h))["balance"] == 0
    again = client.post(
        f"/api/v1/points/transactions/{undone['id']}/reverse", json={"reason": "x"}, headers=h
    )
    assert again.status_code == 409
    assert _ok(client.get("/api/v1/points/reconcile", headers=h))["ok"] is True
