"""A learner's session sees that learner's data and nobody else's: another learner's wallet,
history, badges, rewards, redemptions and tax form requests are 404, as if they did not exist."""

from __future__ import annotations

import uuid

from fastapi.testclient import TestClient
from sqlalchemy import select

from laurel.db import Database
from laurel.learners.models import Learner
from laurel.points import grants
from tests.conftest import Tenant, completion
from tests.factories import fixed_program
from tests.portal.support import sign_in


def _learner(database: Database, external_id: str) -> uuid.UUID:
    with database.read_session() as session:
        found = session.scalar(select(Learner.id).where(Learner.external_id == external_id))
    assert found is not None
    return found


def test_a_learner_session_reads_only_its_own_learner(
    client: TestClient, tenant: Tenant, database: Database
) -> None:
    fixed_program(client, tenant)
    reward = {}
    for who in ("A1", "B1"):
        made = client.post(
            "/api/v1/completions",
            headers=tenant.headers,
            json=completion(f"{who}-1", learner=who),
        )
        assert made.status_code == 202, made.text
        reward[who] = made.json()["rewards"][0]["id"]
    a, b = _learner(database, "A1"), _learner(database, "B1")
    with database.session() as session:
        grants.request_grant(
            session, tenant.actor, learner_id=b, points=4321, reason="b only", activity="event"
        )
    asked = client.post(
        f"/api/v1/tax/learners/{b}/form-requests", headers=tenant.headers, json={"form": "W-9"}
    )
    assert asked.status_code == 201, asked.text

    sign_in(client, database, a)
    # Their own: yes.
    assert client.get(f"/api/v1/points/learners/{a}/wallet").status_code == 200
    assert client.get(f"/api/v1/rewards/{reward['A1']}").status_code == 200
    assert client.get(f"/api/v1/tax/learners/{a}/form-requests").json() == []
    mine = client.get("/api/v1/rewards").json()["data"]
    assert [r["id"] for r in mine] == [reward["A1"]]
    # Anyone else's: not found.
    for path in (
        f"/api/v1/points/learners/{b}/wallet",
        f"/api/v1/points/learners/{b}/transactions",
        f"/api/v1/points/learners/{b}/badges",
        f"/api/v1/rewards/{reward['B1']}",
        f"/api/v1/learners/{b}",
        f"/api/v1/tax/learners/{b}/form-requests",
    ):
        got = client.get(path)
        assert got.status_code == 404, (path, got.status_code, got.text)
    # The pages take no learner id: they show A's wallet and history, never B's points.
    wallet = client.get("/points/wallet")
    history = client.get("/points/history")
    assert wallet.status_code == history.status_code == 200
    assert "4321" not in wallet.text.replace(",", "").replace(".", "").replace("\u202f", "")
    assert "b only" not in history.text
    # A learner changes nothing organization-wide.
    assert client.get("/api/v1/programs").status_code == 403
    assert client.post(f"/api/v1/rewards/{reward['A1']}/cancel", json={}).status_code == 403

    sign_in(client, database, b)
    assert client.get(f"/api/v1/rewards/{reward['A1']}").status_code == 404
    (own,) = client.get(f"/api/v1/tax/learners/{b}/form-requests").json()
    assert (own["form"], own["link"]) == ("W-9", None)  # the link is never shown again


def test_me_says_a_learner_is_signed_in(
    client: TestClient, tenant: Tenant, database: Database
) -> None:
    with database.session() as session:
        from tests.points.support import add_learner

        ana = add_learner(session, tenant, "A1")
    sign_in(client, database, ana)
    me = client.get("/api/v1/auth/me").json()
    assert (me["kind"], me["roles"], me["learner_id"]) == ("learner", ["learner"], str(ana))
